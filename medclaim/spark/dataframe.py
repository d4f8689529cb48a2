"""The library call for a bureau's own PySpark jobs: a Spark DataFrame of claims in, Spark DataFrames out.

    from medclaim.spark import settle_dataframe
    result = settle_dataframe(spark.table("ods.setl_claims_2024"), "anhui/dongzhi-2021",
                              openings=spark.read.parquet("/data/medclaim/accumulator.parquet"))
    result.cache()                                  # when more than one of the frames below is used
    result.ledger.write.mode("append").saveAsTable("dw.medclaim_ledger")
    result.rejects.write.saveAsTable("dw.medclaim_rejects")
    result.closing.write.parquet("/data/medclaim/accumulator-next.parquet")

Claims are repartitioned by person (hash of ``psn_no``), so every person's claims — and their
opening balances — are in one partition; each partition is settled by ``settle_claims``, the
engine of every local run, over Arrow batches (``mapInArrow``).  The result equals the local
engine's claim for claim.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl

from ..engine import KEYS, accumulator_columns
from ..roster import ROSTER_SCHEMA, Roster
from ..rules import RuleBook, load_rulebook
from ..schema import CLAIM_SCHEMA, DESCRIPTIVE_SCHEMA, empty_rejects
from ..settle import lean, ledger_schema
from .frames import arrow_schema, spark_ddl, to_batches
from .partition import OPENING, ROSTER, Layout, Partition, read_partition, settle_partition

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import Column, DataFrame, SparkSession

#: Claim columns a DataFrame must have; the others default as the readers default them.
REQUIRED = ("setl_id", "psn_no", "med_type", "hosp_lv", "begndate", "enddate", "medfee_sumamt", "inscp_scp_amt")
DEFAULTS = {
    "psn_idet_type": "''",  # ordinary resident
    "pay_loc": "''",  # local
    "refl_flag": "false",
    "fulamt_ownpay_amt": "0",
    "overlmt_selfpay": "0",
    "preselfpay_amt": "0",
    "reported_hifp_pay": "null",
    "benefit_start": "null",
    "source_row": "null",
}
RECORD = "record"  # which frame a row of the combined output belongs to: ledger | reject | closing


class ClaimsSchemaError(ValueError):
    """The claims DataFrame lacks a column or holds one in a type that cannot be taken exactly."""


def canonical_claims(claims: "DataFrame", source: str) -> "DataFrame":
    """The canonical claim columns (``medclaim.schema.CLAIM_SCHEMA``) of a Spark DataFrame.

    Money: an integer column is fen; a ``decimal(p, s)`` column with ``s ≤ 2`` is yuan and is
    converted exactly (× 100); floating-point money is refused (not exact).  Ids given as integers
    become strings.  A missing optional column takes the readers' default.  Descriptive columns
    (``medclaim.schema.DESCRIPTIVE_SCHEMA``: names, hospital, diagnosis) the DataFrame has come
    along, as the readers carry them to the ledger; other columns are left out.
    """
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    have = {f.name: f.dataType for f in claims.schema.fields}
    missing = [c for c in REQUIRED if c not in have]
    if missing:
        raise ClaimsSchemaError(
            f"the claims DataFrame lacks {', '.join(missing)} (it has {', '.join(have) or 'no columns'}); "
            "it must hold canonical claim columns — see medclaim.schema.CLAIM_SCHEMA and docs/spark.md"
        )
    problems: list[str] = []

    def column(name: str, want: pl.DataType) -> "Column":
        if name not in have:
            default = f"'{source}'" if name == "source_file" else DEFAULTS.get(name, "null")  # other optional fields: absent
            return F.expr(default).cast(spark_ddl({name: want}).split(" ", 1)[1]).alias(name)
        got, col = have[name], F.col(f"`{name}`")
        if want == pl.Int64():
            if isinstance(got, T.IntegralType):
                return col.cast("bigint").alias(name)
            if isinstance(got, T.DecimalType) and got.scale <= 2 and name != "source_row":
                return (col * F.lit(100)).cast("bigint").alias(name)  # yuan → fen, exact for scale ≤ 2
            problems.append(f"{name}: {got.simpleString()} — money must be integer fen (bigint) or yuan as decimal(p,2)")
        elif want == pl.String():
            if isinstance(got, (T.StringType, T.IntegralType)):
                return col.cast("string").alias(name)
            problems.append(f"{name}: {got.simpleString()} — expected a string")
        elif want == pl.Date():
            if isinstance(got, T.DateType):
                return col.alias(name)
            problems.append(f"{name}: {got.simpleString()} — expected a date (to_date(...) it first)")
        elif want == pl.Boolean():
            if isinstance(got, T.BooleanType):
                return col.alias(name)
            problems.append(f"{name}: {got.simpleString()} — expected a boolean")
        return col.alias(name)

    cols = [column(name, dtype) for name, dtype in CLAIM_SCHEMA.items()]
    cols += [column(name, dtype) for name, dtype in DESCRIPTIVE_SCHEMA.items() if name in have]
    if problems:
        raise ClaimsSchemaError("the claims DataFrame has columns of the wrong type: " + "; ".join(problems))
    return claims.select(cols)


def with_openings_and_roster(claims: "DataFrame", openings: "DataFrame | None", roster: "Roster | None" = None) -> tuple["DataFrame", Layout]:
    """Claims, accumulator rows (marked ``OPENING``) and the roster rows of the claims' persons
    (marked ``ROSTER``) in one frame, and the ``Layout`` that tells a task how to split it."""
    from pyspark.sql import functions as F

    acc_columns: list[str] = []
    both = claims
    if openings is not None:
        missing = [c for c in KEYS if c not in openings.columns]
        if missing:
            raise ClaimsSchemaError(f"the openings DataFrame lacks {', '.join(missing)}; give a ledger's accumulator (psn_no, year, ytd_*)")
        acc_columns = [c for c in openings.columns if c in KEYS or c.startswith("ytd_") or c.startswith("last_")]
        openings = openings.select([F.col(c) for c in acc_columns]).withColumn("year", F.col("year").cast("int"))
        both = both.withColumn(OPENING, F.lit(False)).unionByName(openings.withColumn(OPENING, F.lit(True)), allowMissingColumns=True)
    if roster is not None:
        rows = roster_frame(claims.sparkSession, roster).join(claims.select("psn_no").distinct(), on="psn_no", how="left_semi")
        both = both.withColumn(ROSTER, F.lit(False)).unionByName(rows.withColumn(ROSTER, F.lit(True)), allowMissingColumns=True)
    return both, Layout(accumulator_columns=acc_columns, roster_files=None if roster is None else list(roster.files))


def roster_frame(spark: "SparkSession", roster: "Roster") -> "DataFrame":
    """A roster read on the driver (``medclaim.roster.read_roster``: checked there) as a Spark DataFrame."""
    rows = roster.rows.select([pl.col(c).cast(t) for c, t in ROSTER_SCHEMA.items()])
    return spark.createDataFrame(rows.to_arrow().cast(arrow_schema(rows.schema)), schema=spark_ddl(rows.schema))


def by_person(frame: "DataFrame", partitions: int | None) -> "DataFrame":
    """Every person's rows in one partition."""
    n = partitions or int(frame.sparkSession.conf.get("spark.sql.shuffle.partitions"))
    return frame.repartition(n, "psn_no")


def carried(claims: "DataFrame") -> pl.Schema:
    """The descriptive columns a (canonical) claims DataFrame carries to the ledger."""
    return pl.Schema({c: t for c, t in DESCRIPTIVE_SCHEMA.items() if c in claims.columns})


def output_schema(book: RuleBook, acc_columns: list[str], descriptive: pl.Schema | None = None) -> dict[str, pl.DataType]:
    """The combined output: ``record``, then the ledger's (with the ``descriptive`` columns the
    claims carry), the rejects' and the closing balances' columns."""
    closing = {"psn_no": pl.String(), "year": pl.Int32()}
    for rs in book.periods:
        closing |= {c: pl.Int64() for c in accumulator_columns(rs)}
    closing |= {c: pl.Int64() for c in acc_columns if c.startswith("ytd_")}
    schema: dict[str, pl.DataType] = {RECORD: pl.String()}
    for part in (ledger_schema(book, descriptive), empty_rejects().schema, closing):
        for c, t in part.items():
            if schema.setdefault(c, t) != t:
                raise TypeError(f"column {c} is {schema[c]} in one output and {t} in another")
    return schema


@dataclass
class SparkSettlement:
    """The settled claims as Spark DataFrames (lazy: nothing runs until one is used)."""

    output: "DataFrame"  # all three, told apart by ``record``
    ledger_columns: list[str]
    reject_columns: list[str]
    closing_columns: list[str]

    def _only(self, record: str, columns: list[str]) -> "DataFrame":
        from pyspark.sql import functions as F

        return self.output.filter(F.col(RECORD) == record).select(columns)

    @property
    def ledger(self) -> "DataFrame":
        """One row per settled claim, exactly the columns and values of the local engine's ledger."""
        return self._only("ledger", self.ledger_columns)

    @property
    def rejects(self) -> "DataFrame":
        """Rows the rule book could not settle (no period in force, unknown code …), with reasons."""
        return self._only("reject", self.reject_columns)

    @property
    def closing(self) -> "DataFrame":
        """Each person-year's running totals after these claims (the openings carried forward)."""
        return self._only("closing", self.closing_columns)

    def cache(self) -> "SparkSettlement":
        """Keep the settled output (settle once even when ledger, rejects and closing are all used)."""
        self.output.persist()
        return self


def settle_dataframe(
    claims: "DataFrame",
    rules: str | RuleBook,
    openings: "DataFrame | None" = None,
    partitions: int | None = None,
    source: str = "spark",
    roster: Roster | None = None,
) -> SparkSettlement:
    """Settle a Spark DataFrame of claims per partition of persons with the polars engine.

    ``claims``: canonical claim columns (see ``canonical_claims``).  ``openings``: the running
    totals the persons' years continue from — a ledger's accumulator (``psn_no, year, ytd_*``);
    none: every person-year starts from zero.  ``partitions``: how many partitions of persons
    (default ``spark.sql.shuffle.partitions``); a partition is settled in one Python worker, so
    size them to its memory (about 1 GiB per 500,000 claims).  ``source`` names the input in rejects.
    ``roster``: the enrollment roster (``medclaim.roster.read_roster``), applied to the claims as
    ``settle --roster`` applies it — identity by date, benefit start, end of coverage, claims of
    persons not on it rejected as ``not_enrolled``; its rows travel with their persons' claims.
    """
    book = rules if isinstance(rules, RuleBook) else load_rulebook(rules)
    claims = canonical_claims(claims, source)
    descriptive = carried(claims)
    prepared, layout = with_openings_and_roster(claims, openings, roster)
    schema = output_schema(book, layout.accumulator_columns, descriptive)
    target = arrow_schema(schema)
    ledger_cols, reject_cols = list(ledger_schema(book, descriptive)), list(empty_rejects().schema)
    closing_cols = [c for c in schema if c in KEYS or c.startswith("ytd_")]

    def settle(batches):
        part = read_partition(batches, layout)
        yield from settled_batches(part, book, target)

    output = by_person(prepared, partitions).mapInArrow(settle, spark_ddl(schema))
    return SparkSettlement(output=output, ledger_columns=ledger_cols, reject_columns=reject_cols, closing_columns=closing_cols)


def settled_batches(part: Partition, book: RuleBook, target):
    if part.claims.height == 0 and part.accumulator is None:
        return
    s = settle_partition(part, book)
    for record, frame in (("ledger", lean(s.ledger)), ("reject", s.rejects), ("closing", s.closing)):
        if frame.height:
            yield from to_batches(frame.with_columns(pl.lit(record).alias(RECORD)), target)


__all__ = ["ClaimsSchemaError", "SparkSettlement", "canonical_claims", "settle_dataframe"]
