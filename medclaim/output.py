"""Writing what a run produced: the ledger (Parquet), files for people (CSV, Excel), rejects.csv,
the summary.

Every file is written to a temporary name in the same directory and renamed into place, so a
reader never sees half a file.

* The Parquet ledger keeps money as Int64 fen and ratios as basis points; each column's unit is in
  the file's metadata (``medclaim.columns``).
* Files for people (``ledger.csv``, ``ledger.xlsx``, ``rejects.csv``) have Chinese headers by
  default (``--headers zh|en|code``), money in yuan, ratios in percent, dates as dates, the
  class/tier/place/identity keys in words; CSV is UTF-8 with a BOM (Excel opens it) or GB18030
  (``--output-encoding gbk``).  Text cells that a spreadsheet would run as a formula (beginning
  with = + - @, tab or CR) are neutralised in CSV by a leading apostrophe (see ``escape_formula``);
  in Excel every text cell is written as a string, never as a formula.
* rejects.csv quotes the raw cells of each refused row; the personal ones (name, ID number) are
  masked unless ``show_ids``.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import polars as pl

from . import xlsx
from .columns import REJECTS, Unit, cells_as_text, people_columns, write_parquet
from .schema import DESCRIPTIVE_SCHEMA

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
HEADER_CHOICES = ("zh", "en", "code")
ENCODINGS = {"utf-8": "utf-8", "utf8": "utf-8", "gbk": "gb18030", "gb18030": "gb18030", "gb2312": "gb18030"}
#: Ledger columns whose values are rule-set keys, shown in words in files for people.
KEY_COLUMNS = {"benefit_class": "class", "tier": "tier", "place": "place", "identity": "identity"}


@dataclass(frozen=True)
class PeopleFiles:
    """How files for people are written (the settle options ``--headers``, ``--output-encoding``,
    ``--show-ids``, ``--lang``)."""

    headers: str = "zh"  # zh | en: headers and rule-set keys in words; code: field codes as they are
    encoding: str = "utf-8"  # CSV: utf-8 (with BOM) or gb18030
    show_ids: bool = False  # rejects.csv: personal cells in full
    lang: str = "zh"  # language of the summary (text and workbook sheet)

    def __post_init__(self) -> None:
        if self.headers not in HEADER_CHOICES:
            raise OutputError(f"--headers {self.headers}: choose one of {', '.join(HEADER_CHOICES)}")
        if self.encoding.lower() not in ENCODINGS:
            raise OutputError(f"--output-encoding {self.encoding}: choose utf-8 or gbk (written as GB18030)")
        object.__setattr__(self, "encoding", ENCODINGS[self.encoding.lower()])

    @property
    def labels(self):
        from .labels import load_labels

        return load_labels("en" if self.headers == "code" else self.headers)

    def header(self, column: str) -> str:
        if self.headers == "code":
            return column
        return self.labels.text.get(f"column.{column}", column)

    def flags(self) -> tuple[str, str]:
        if self.headers == "code":
            return ("true", "false")
        return (self.labels("value.yes"), self.labels("value.no"))

    def sheet(self, key: str) -> str:
        return key if self.headers == "code" else self.labels(f"sheet.{key}")


DEFAULT = PeopleFiles()


class OutputError(ValueError):
    """An output that cannot be made as asked (an unknown header language or encoding)."""


def ledger_order(ledger: pl.DataFrame) -> pl.DataFrame:
    first = [c for c in NATIONAL + list(DESCRIPTIVE_SCHEMA) + CONTEXT if c in ledger.columns]
    rest = [c for c in ledger.columns if c not in first]
    return ledger.select(first + rest)


# ------------------------------------------------------------------ cells for people


def escape_formula(text: pl.Expr) -> pl.Expr:
    """Neutralise a text cell a spreadsheet would evaluate (=, +, -, @, tab, CR first) by a
    leading apostrophe, as spreadsheet-safe CSV writers do.  A cell that already begins with an
    apostrophe gets one more, so the value is always recoverable: drop one leading apostrophe
    from a cell that begins with an apostrophe."""
    return pl.when(text.str.contains(r"^['=+\-@\t\r]")).then(pl.lit("'") + text).otherwise(text)


def unescape_formula(text: pl.Expr) -> pl.Expr:
    """The original text of a cell written by ``escape_formula``."""
    return pl.when(text.str.starts_with("'")).then(text.str.slice(1)).otherwise(text)


def bp_to_percent_expr(bp: pl.Expr) -> pl.Expr:
    """Int basis points → exact percent text '72.5%' (Excel reads it as the number 0.725)."""
    a = bp.abs()
    whole, frac = (a // 100).cast(pl.String), (a % 100)
    text = pl.when(frac == 0).then(whole).otherwise(
        pl.concat_str([whole, pl.lit("."), frac.cast(pl.String).str.zfill(2).str.strip_chars_end("0")])
    )
    return pl.when(bp < 0).then(pl.lit("-") + text).otherwise(text) + pl.lit("%")


def key_words(frame: pl.DataFrame, opts: PeopleFiles) -> pl.DataFrame:
    """Rule-set keys (inpatient, tertiary, out_of_province, dibao…) in the chosen language."""
    if opts.headers == "code":
        return frame
    text = opts.labels.text
    exprs = []
    for c, group in KEY_COLUMNS.items():
        if c in frame.columns:
            names = {k.split(".", 1)[1]: v for k, v in text.items() if k.startswith(group + ".")}
            exprs.append(pl.col(c).cast(pl.String).replace(names).alias(c))
    return frame.with_columns(exprs) if exprs else frame


def csv_cells(frame: pl.DataFrame, columns: dict[str, Unit], opts: PeopleFiles) -> pl.DataFrame:
    """A frame as CSV cells for people: yuan, percent, ISO dates, flags in words, text escaped,
    under the chosen headers.  Numbers stay numbers (a negative amount is not escaped)."""
    frame = key_words(frame, opts)
    cells = cells_as_text(frame, columns, opts.flags(), ratio=bp_to_percent_expr,
                          date=lambda d: d.dt.strftime("%Y-%m-%d"), text=escape_formula)
    return frame.select(e.alias(opts.header(c)) for c, e in cells.items())


class CsvFile:
    """A CSV file for people written chunk by chunk: BOM + UTF-8, or GB18030."""

    def __init__(self, path: Path, columns: dict[str, Unit], opts: PeopleFiles):
        self.columns, self.opts = columns, opts
        self.fh = open(path, "wb")
        self.rows = 0
        self.header_written = False
        if opts.encoding == "utf-8":
            self.fh.write("\ufeff".encode())  # BOM: Excel on a Chinese desktop opens it as UTF-8

    def write(self, chunk: pl.DataFrame) -> None:
        cells = csv_cells(chunk, self.columns, self.opts)
        if self.opts.encoding == "utf-8":  # straight into the file: no text copy of the chunk
            cells.write_csv(self.fh, include_header=not self.header_written)
        else:
            self.fh.write(cells.write_csv(include_header=not self.header_written).encode(self.opts.encoding))
        self.header_written = True
        self.rows += chunk.height

    def close(self) -> None:
        if not self.header_written:
            self.write(pl.DataFrame())
        self.fh.close()


def write_people_csv(frame: pl.DataFrame, path: Path, columns: dict[str, Unit], opts: PeopleFiles) -> None:
    f = CsvFile(path, columns, opts)
    try:
        f.write(frame)
    finally:
        f.close()


# ------------------------------------------------------------------ atomic files

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


# ------------------------------------------------------------------ rejects


def personal_labels() -> tuple[set[str], set[str]]:
    """Header texts naming the name and the ID-number columns (their canonical codes included)."""
    from .io import HEADER_ALIASES

    names = {"psn_name", *HEADER_ALIASES.get("psn_name", ())}
    ids = {"certno", *HEADER_ALIASES.get("certno", ())}
    return names, ids


def rejects_for_people(rejects: pl.DataFrame, opts: PeopleFiles) -> pl.DataFrame:
    rejects = rejects.sort("source_file", "source_row", nulls_last=True)
    if not opts.show_ids and "raw" in rejects.columns and rejects.height:
        from .privacy import mask_id_cards_in_text, mask_raw_cells

        from .io.headers import normalise_header

        names, ids = personal_labels()
        rejects = rejects.with_columns(mask_raw_cells(rejects["raw"], names, ids, normalise_header))
        if "message" in rejects.columns:  # a message may quote a cell
            rejects = rejects.with_columns(mask_id_cards_in_text(pl.col("message")))
    return rejects


def rejects_columns(rejects: pl.DataFrame) -> dict[str, Unit]:
    return {c: REJECTS.get(c, Unit.TEXT) for c in rejects.columns}


def write_rejects_csv(rejects: pl.DataFrame, path: Path, opts: PeopleFiles = DEFAULT) -> None:
    rejects = rejects_for_people(rejects, opts)
    write_people_csv(rejects, path, rejects_columns(rejects), opts)


def write_rejects(rejects: pl.DataFrame, out_dir: Path, opts: PeopleFiles = DEFAULT) -> Path:
    return write_atomic(out_dir / "rejects.csv", lambda p: write_rejects_csv(rejects, p, opts))


# ------------------------------------------------------------------ workbook


def sheets_needed(rows: int, max_rows: int | None = None) -> int:
    per_sheet = (max_rows or xlsx.SHEET_MAX_ROWS) - 1
    return max(1, math.ceil(rows / per_sheet))


def write_people_workbook(
    path: Path,
    ledger_chunks: Iterable[pl.DataFrame],
    rows: int,
    schema: pl.Schema | dict[str, pl.DataType],
    summary: dict[str, Any] | None,
    rejects: pl.DataFrame | None,
    opts: PeopleFiles = DEFAULT,
    on_rows: Callable[[int], None] | None = None,
) -> dict[str, list[str]]:
    """ledger.xlsx: the summary, the ledger (``rows`` rows in chunks; split over sheets when longer
    than one holds) and the rejects, each a sheet a clerk can sort, filter and sum."""
    from .summary import summary_sheet_rows

    columns = people_columns(schema)
    sheets: list[xlsx.Table | xlsx.KeyValues] = []
    if summary is not None:
        figures, headings = summary_sheet_rows(summary, opts.lang)
        sheets.append(xlsx.KeyValues(opts.sheet("summary"), figures, headings))
    sheets.append(
        xlsx.Table(
            opts.sheet("ledger"),
            columns,
            (key_words(c, opts) for c in ledger_chunks),
            headers={c: opts.header(c) for c in columns},
            flags=opts.flags(),
            rows=rows,
            on_rows=on_rows,
        )
    )
    if rejects is not None:
        rj = rejects_for_people(rejects, opts)
        rcols = rejects_columns(rj)
        sheets.append(xlsx.Table(opts.sheet("rejects"), rcols, [rj], headers={c: opts.header(c) for c in rcols},
                                 flags=opts.flags(), rows=rj.height))
    return xlsx.write_workbook(path, sheets, xlsx.SHEET_MAX_ROWS)


def parquet_chunks(path: Path, rows: int = 50_000) -> Iterator[pl.DataFrame]:
    import pyarrow.parquet as pq

    for batch in pq.ParquetFile(path).iter_batches(batch_size=rows):
        yield pl.from_arrow(batch)


# ------------------------------------------------------------------ the ledger of a run


def write_ledger(ledger: pl.DataFrame, out_dir: Path, formats: list[str], opts: PeopleFiles = DEFAULT) -> list[Path]:
    """The ledger held in memory, written at once (library use and tests).  Like every ledger it
    keeps no working figures of the engine (``settle.lean``)."""
    from .settle import lean

    ledger = ledger_order(lean(ledger))
    written = [write_atomic(out_dir / "ledger.parquet", lambda p: write_parquet(ledger, p))]
    columns = people_columns(ledger.schema)
    if "csv" in formats:
        written.append(write_atomic(out_dir / "ledger.csv", lambda p: write_people_csv(ledger, p, columns, opts)))
    if "xlsx" in formats:
        written.append(
            write_atomic(out_dir / "ledger.xlsx", lambda p: write_people_workbook(p, [ledger], ledger.height, ledger.schema, None, None, opts))
        )
    return written


class LedgerWriter:
    """Writes the ledger chunk by chunk (Parquet row groups, CSV rows) to temporary files and
    renames them into place only on ``commit`` — an aborted run leaves no ledger behind.
    The workbook, which also holds the summary and the rejects, is written by ``write_workbook``
    once those are known.

    ``schema`` fixes the columns and their order for every chunk (a chunk lacking a column, e.g.
    the cap accumulator of another period's rule set, gets nulls).
    """

    def __init__(self, out_dir: Path, formats: list[str], schema: pl.Schema, opts: PeopleFiles = DEFAULT):
        from .parquet import ParquetStream

        self.out_dir, self.formats, self.opts = out_dir, formats, opts
        self.schema = pl.Schema({c: schema[c] for c in ledger_order(pl.DataFrame(schema=schema)).columns})
        self.rows = 0
        self.final = {"parquet": out_dir / "ledger.parquet"}
        if "csv" in formats:
            self.final["csv"] = out_dir / "ledger.csv"
        self.tmp = {k: atomic_path(v) for k, v in self.final.items()}
        self.parquet = ParquetStream(self.tmp["parquet"], self.schema)
        self.csv = CsvFile(self.tmp["csv"], people_columns(self.schema), opts) if "csv" in formats else None

    def write(self, chunk: pl.DataFrame) -> None:
        chunk = self.parquet.write(chunk)
        if self.csv:
            self.csv.write(chunk)
        self.rows += chunk.height

    def commit(self) -> list[Path]:
        self.parquet.close()
        if self.csv:
            self.csv.close()
        written = []
        for key, final in self.final.items():
            with open(self.tmp[key], "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(self.tmp[key], final)
            written.append(final)
        return written

    def write_workbook(self, summary: dict[str, Any], rejects: pl.DataFrame,
                       on_rows: Callable[[int], None] | None = None) -> list[Path]:
        """ledger.xlsx from the committed Parquet ledger, read back in batches (bounded memory)."""
        if "xlsx" not in self.formats:
            return []
        path = self.out_dir / "ledger.xlsx"
        write_atomic(path, lambda p: write_people_workbook(p, parquet_chunks(self.final["parquet"]), self.rows, self.schema,
                                                          summary, rejects, self.opts, on_rows))
        return [path]

    def abort(self) -> None:
        self.parquet.abort()
        if self.csv:
            self.csv.fh.close()
        for tmp in self.tmp.values():
            tmp.unlink(missing_ok=True)


def workbook_note(rows: int, opts: PeopleFiles) -> dict[str, Any] | None:
    """For the summary: how the ledger sheet of ledger.xlsx is split (None when it fits one sheet)."""
    n = sheets_needed(rows, xlsx.SHEET_MAX_ROWS)
    if n == 1:
        return None
    names = [xlsx.sheet_name(opts.sheet("ledger"), i) for i in range(1, n + 1)]
    return {"rows": rows, "rows_per_sheet": xlsx.SHEET_MAX_ROWS - 1, "sheets": names}


def write_summary(summary: dict[str, Any], text: str, out_dir: Path) -> list[Path]:
    def dump(p: Path) -> None:
        p.write_text(json.dumps(summary, ensure_ascii=False, indent=2, default=str), encoding="utf-8")

    return [
        write_atomic(out_dir / "summary.json", dump),
        write_atomic(out_dir / "summary.txt", lambda p: p.write_text(text, encoding="utf-8")),
    ]


def read_people_csv(path: Path, encoding: str = "utf-8") -> pl.DataFrame:
    """Read back a CSV written for people (ledger.csv, rejects.csv): headers in any language are
    mapped back to field codes and escaped text cells (``escape_formula``) recovered.  All
    columns are text, as written (money in yuan)."""
    from .labels import available_languages, load_labels

    raw = Path(path).read_bytes()
    text = raw.decode("utf-8-sig") if ENCODINGS[encoding.lower()] == "utf-8" else raw.decode("gb18030")
    frame = pl.read_csv(text.encode(), infer_schema=False)
    codes: dict[str, str] = {}
    for lang in available_languages():
        codes.update({v: k.split(".", 1)[1] for k, v in load_labels(lang).text.items() if k.startswith("column.")})
    frame = frame.rename({c: codes[c] for c in frame.columns if c in codes})
    return frame.with_columns(unescape_formula(pl.col(pl.String)))
