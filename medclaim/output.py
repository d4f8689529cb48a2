"""Writing what a run produced: the ledger (Parquet, CSV/Excel copies), rejects.csv, the summary.

Every file is written to a temporary name in the same directory and renamed into place, so a
reader never sees half a file.  Parquet keeps money as Int64 fen; the CSV and Excel copies, made
for people, show yuan with two decimals (exact text, no floats).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import polars as pl

from .money import fen_to_yuan_expr

#: National output fields first (spec §5), then context, running totals, flags, intermediates.
NATIONAL = [
    "setl_id", "psn_no", "med_type", "medfee_sumamt", "fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt",
    "inscp_scp_amt", "act_pay_dedc", "hifp_pay", "hifmi_pay", "maf_pay", "fund_pay_sumamt", "psn_part_amt",
]
CONTEXT = [
    "year", "begndate", "enddate", "psn_idet_type", "identity", "benefit_class", "hosp_lv", "tier", "pay_loc", "place",
    "refl_flag", "benefit_start", "ruleset_id", "ruleset_version", "not_covered", "not_covered_reason",
    "basic_cap_reached", "critical_threshold_reached", "critical_cap_reached",
]
#: Columns that are money (fen) besides the national ones — formatted as yuan in CSV/Excel.
MONEY_PREFIXES = ("ytd_", "open_", "cap_cut_", "ip_deductible", "ci_base", "ci_threshold", "ci_cap", "ma_base",
                  "ma_deductible", "ma_limit", "scope", "pre", "dedc", "hifp_raw", "reported_hifp_pay")
NOT_MONEY = {"ytd_claims", "ytd_admissions", "ip_admission_no"}
EXCEL_MAX_ROWS = 1_048_575


def is_money(col: str, dtype: pl.DataType) -> bool:
    if not dtype.is_integer() or col in NOT_MONEY:
        return False
    return col in NATIONAL[3:] or col.startswith(MONEY_PREFIXES)


def ledger_order(ledger: pl.DataFrame) -> pl.DataFrame:
    first = [c for c in NATIONAL + CONTEXT if c in ledger.columns]
    rest = [c for c in ledger.columns if c not in first]
    return ledger.select(first + rest)


def for_people(frame: pl.DataFrame) -> pl.DataFrame:
    """Money columns as exact yuan text, for CSV and Excel."""
    return frame.with_columns(
        [fen_to_yuan_expr(pl.col(c)).alias(c) for c, t in frame.schema.items() if is_money(c, t)]
    )


TMP_MARK = ".tmp-"  # in-progress files: `.name.tmp-PID`, cleaned by the next run if a run dies


def atomic_path(path: Path) -> Path:
    return path.with_name(f".{path.name}{TMP_MARK}{os.getpid()}")


def write_atomic(path: Path, write) -> Path:
    """Write through a temporary name in the same directory: write, fsync, rename."""
    tmp = atomic_path(path)
    try:
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_ledger(ledger: pl.DataFrame, out_dir: Path, formats: list[str]) -> list[Path]:
    ledger = ledger_order(ledger)
    written = [write_atomic(out_dir / "ledger.parquet", lambda p: ledger.write_parquet(p, statistics=True))]
    if "csv" in formats:
        written.append(write_atomic(out_dir / "ledger.csv", lambda p: for_people(ledger).write_csv(p, include_bom=True)))
    if "xlsx" in formats:
        check_excel_fits(ledger.height)
        written.append(write_atomic(out_dir / "ledger.xlsx", lambda p: for_people(ledger).write_excel(p, worksheet="ledger")))
    return written


class LedgerWriter:
    """Writes the ledger chunk by chunk (Parquet row groups, CSV rows) to temporary files and
    renames them into place only on ``commit`` — an aborted run leaves no ledger behind.

    ``schema`` fixes the columns and their order for every chunk (a chunk lacking a column, e.g.
    the cap accumulator of another period's rule set, gets nulls).
    """

    def __init__(self, out_dir: Path, formats: list[str], schema: pl.Schema):
        import pyarrow.parquet as pq

        self.out_dir, self.formats = out_dir, formats
        self.schema = pl.Schema({c: schema[c] for c in ledger_order(pl.DataFrame(schema=schema)).columns})
        self.rows = 0
        self.final = {"parquet": out_dir / "ledger.parquet"}
        if "csv" in formats:
            self.final["csv"] = out_dir / "ledger.csv"
        self.tmp = {k: atomic_path(v) for k, v in self.final.items()}
        arrow_schema = pl.DataFrame(schema=self.schema).to_arrow().schema
        self.parquet = pq.ParquetWriter(self.tmp["parquet"], arrow_schema, compression="zstd")
        self.csv = open(self.tmp["csv"], "wb") if "csv" in formats else None
        if self.csv:
            self.csv.write("\ufeff".encode())  # BOM: Excel on a Chinese desktop opens it as UTF-8

    def align(self, chunk: pl.DataFrame) -> pl.DataFrame:
        extra = set(chunk.columns) - set(self.schema)
        if extra:
            raise ValueError(f"ledger chunk has columns the ledger schema lacks: {sorted(extra)}")
        return chunk.select(
            [(pl.col(c) if c in chunk.columns else pl.lit(None)).cast(t).alias(c) for c, t in self.schema.items()]
        )

    def write(self, chunk: pl.DataFrame) -> None:
        chunk = self.align(chunk)
        self.parquet.write_table(chunk.to_arrow())
        if self.csv:
            for_people(chunk).write_csv(self.csv, include_header=self.rows == 0)
        self.rows += chunk.height

    def commit(self) -> list[Path]:
        self.parquet.close()
        if self.csv:
            if self.rows == 0:
                for_people(pl.DataFrame(schema=self.schema)).write_csv(self.csv)
            self.csv.close()
        written = []
        for key, final in self.final.items():
            with open(self.tmp[key], "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(self.tmp[key], final)
            written.append(final)
        if "xlsx" in self.formats:  # small by construction (checked before settling)
            ledger = pl.read_parquet(self.final["parquet"])
            written.append(write_atomic(self.out_dir / "ledger.xlsx", lambda p: for_people(ledger).write_excel(p, worksheet="ledger")))
        return written

    def abort(self) -> None:
        try:
            self.parquet.close()
        except Exception:  # closing a half-written file may fail; it is deleted anyway
            pass
        if self.csv:
            self.csv.close()
        for tmp in self.tmp.values():
            tmp.unlink(missing_ok=True)


class OutputError(ValueError):
    """An output that cannot be made as asked (e.g. more rows than an Excel sheet holds)."""


def check_excel_fits(rows: int) -> None:
    if rows > EXCEL_MAX_ROWS:
        raise OutputError(f"{rows:,} claims are more than an Excel sheet holds ({EXCEL_MAX_ROWS:,}); use --format csv")


def write_rejects(rejects: pl.DataFrame, out_dir: Path) -> Path:
    # UTF-8 with BOM so that Excel on a Chinese Windows desktop opens it correctly
    return write_atomic(out_dir / "rejects.csv", lambda p: rejects.sort("source_file", "source_row").write_csv(p, include_bom=True))


def write_summary(summary: dict[str, Any], text: str, out_dir: Path) -> list[Path]:
    def dump(p: Path) -> None:
        p.write_text(json.dumps(summary, ensure_ascii=False, indent=2, default=str), encoding="utf-8")

    return [
        write_atomic(out_dir / "summary.json", dump),
        write_atomic(out_dir / "summary.txt", lambda p: p.write_text(text, encoding="utf-8")),
    ]
