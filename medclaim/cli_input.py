"""Options that say how to read input files, shared by every command that reads extracts.

Each is an ``Annotated`` type to put in a command's signature; ``read_options`` turns the values
into ``medclaim.io.ReadOptions``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .io import ReadOptions
from .io.spill import SpillOptions

HeaderRow = Annotated[
    Optional[int],
    typer.Option(
        "--header-row", metavar="N", min=1, show_default=False,
        help="Line (CSV) or sheet row (Excel) of the header. Default: found automatically — title rows, blank "
        "rows and merged title cells above it are skipped and named in the summary.",
    ),
]
Columns = Annotated[
    Optional[Path],
    typer.Option(
        "--columns", metavar="FILE", show_default=False, dir_okay=False,
        help="Site column mapping, YAML lines 'my header: field' (e.g. '费用合计: medfee_sumamt', '备注: ~' to leave "
        "a column unread); adds to and overrides the built-in header names. See the README, 'Input files'.",
    ),
]
Sheet = Annotated[
    Optional[str],
    typer.Option(
        "--sheet", metavar="NAME", show_default=False,
        help="Excel: read this sheet. Default: the visible sheet(s) whose header names the claim fields; the "
        "summary says which sheets were read and which not.",
    ),
]
AssumeZero = Annotated[
    Optional[list[str]],
    typer.Option(
        "--assume-zero", metavar="COLUMN", show_default=False,
        help="A file without a policy-scope column (符合政策范围金额) must have 全自费金额, 超限价自费费用 and "
        "先行自付金额, or the run stops (exit 4); name a column here (repeatable: fulamt_ownpay_amt, "
        "overlmt_selfpay, preselfpay_amt) if it is absent because its amounts are zero. Recorded in the summary and manifest.",
    ),
]
SpillDir = Annotated[
    Optional[Path],
    typer.Option(
        "--spill-dir", metavar="DIR", show_default=False, file_okay=False,
        help="Where an input larger than memory is spilled: claims beyond 2,000,000 (MEDCLAIM_SPILL_ROWS) are parsed "
        "into person buckets in a scratch directory made here and settled bucket by bucket, so memory stays bounded "
        "whatever the input's size; removed when the run ends. Default: MEDCLAIM_SPILL_DIR, else the system's "
        "temporary directory (TMPDIR). Needs about 65 MB of free space per million claims.",
    ),
]
Encoding = Annotated[Optional[str], typer.Option(help="Force the CSV encoding (utf-8, gb18030, gbk, utf-16); detected if omitted.")]


def read_options(encoding: str | None, header_row: int | None, columns: Path | None, sheet: str | None,
                 assume_zero: list[str] | None, spill_dir: Path | None = None) -> ReadOptions:
    spill = SpillOptions(directory=spill_dir) if spill_dir is not None else None
    return ReadOptions(encoding=encoding, header_row=header_row, sheet=sheet, columns=columns, assume_zero=tuple(assume_zero or ()),
                       spill=spill)
