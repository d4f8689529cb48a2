"""What ``read_claims`` is asked (``ReadOptions``: the settle/explain options of the same names)
and what it returns (``ReadResult``: the claims, one reject row per refused row, and per file
what was read and how — ``FileStats``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from medclaim.io.checks import AMOUNT_PARTS
from medclaim.io.errors import InputFileError
from medclaim.io.footers import FOOTER_SCHEMA
from medclaim.io.headers import CLAIMS, Vocabulary
from medclaim.io.spill import SpilledClaims, SpillOptions


#: Amount columns the policy-scope amount is derived from (符合政策范围金额 = 总费用 − these) when
#: the file has no scope column: absent, each claim would count them as zero and the funds would
#: pay on too much — so such a file is refused unless --assume-zero says the absence is meant.
SCOPE_AMOUNTS = AMOUNT_PARTS


@dataclass(frozen=True)
class ReadOptions:
    """How to read the input files (the ``settle`` / ``explain`` options of the same names)."""

    encoding: str | None = None  # --encoding: force the CSV text encoding
    header_row: int | None = None  # --header-row: 1-based line / sheet row of the header (found if None)
    sheet: str | None = None  # --sheet: the Excel sheet to read
    columns: Path | str | None = None  # --columns: site mapping file (YAML, header: field)
    assume_zero: tuple[str, ...] = ()  # --assume-zero: amount columns absent on purpose (fields or headers)
    spill: SpillOptions | None = None  # spill claims to disk past a size (settle); None: always in memory

    def vocabulary(self) -> Vocabulary:
        if self.columns is None:
            return CLAIMS
        from medclaim.io.sitemap import load_column_map

        return load_column_map(self.columns)

    def assumed_fields(self, vocabulary: Vocabulary = CLAIMS) -> tuple[str, ...]:
        """--assume-zero names as fields; raises InputFileError for a name that is not one of
        the scope-changing amount columns."""
        fields = []
        for name in self.assume_zero:
            field = vocabulary.field_of(name)
            if field not in SCOPE_AMOUNTS:
                raise InputFileError(
                    "--assume-zero", f"'{name}' is not an amount column that may be assumed zero; use one of {', '.join(SCOPE_AMOUNTS)}"
                )
            fields.append(field)
        return tuple(dict.fromkeys(fields))


@dataclass
class FileStats:
    path: str  # as given (an Excel sheet read with others: "book.xlsx [sheet]")
    format: str  # csv | xlsx | xls | parquet
    encoding: str | None  # detected or forced text encoding (CSV only)
    rows_read: int  # data rows, blank lines not counted (footer rows counted)
    rows_rejected: int
    footer_rows: int = 0  # 合计 / 小计 rows set aside: neither claims nor rejects
    header_row: int = 1  # line / sheet row of the header
    title_rows: list[str] = field(default_factory=list)  # non-blank rows above the header (skipped)
    sheet: str | None = None  # Excel: the sheet read
    sheets_not_read: list[str] = field(default_factory=list)  # Excel: each other sheet, with why
    unrecognised_columns: list[str] = field(default_factory=list)  # headers that match no field: not read
    ignored_columns: list[str] = field(default_factory=list)  # headers not read on purpose (mapping ~, second copies)
    person_key: str = "psn_no"  # certno when the ID-card number identifies the person
    assumed_zero: list[str] = field(default_factory=list)  # absent amount columns taken as 0 (--assume-zero)


@dataclass
class ReadResult:
    claims: pl.DataFrame  # CLAIM_SCHEMA (+ the descriptive columns some file has), valid rows only
    rejects: pl.DataFrame  # empty_rejects() schema, one row per refused input row
    rows_read: int
    files: list[FileStats]
    footers: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=FOOTER_SCHEMA))  # rows set aside
    columns_file: str | None = None  # the --columns mapping used
    spilled: SpilledClaims | None = None  # the claims are on disk in person buckets (``claims`` is then empty)

    def summary_fields(self) -> dict:
        """What the run summary says about reading (see ``medclaim.io.notes``)."""
        from medclaim.io.notes import read_summary

        return read_summary(self)

    def take_claims(self) -> pl.DataFrame | SpilledClaims:
        """Hand the claims over (the result keeps none): lets a large run free them early.  Spilled
        claims are handed over as they are (``medclaim.settle.settle_claims`` takes both)."""
        if self.spilled is not None:
            return self.spilled
        claims, self.claims = self.claims, self.claims.clear()
        return claims

    @property
    def claims_schema(self) -> pl.Schema:
        return self.spilled.schema if self.spilled is not None else self.claims.schema

    @property
    def claim_count(self) -> int:
        return self.spilled.rows if self.spilled is not None else self.claims.height

    def cleanup(self) -> None:
        """Remove the spilled claims' scratch files (nothing to do for claims in memory)."""
        if self.spilled is not None:
            self.spilled.cleanup()
