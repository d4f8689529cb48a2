"""Find the header row of a table whose first rows may be a title, blank rows or merged cells.

Real exports start with "东至县医保结算明细表 2021年3月", a blank row, sometimes a "制表单位" line,
and only then the header.  The header is the first of the first ``SCAN_ROWS`` rows whose cells
name every required field (by alias, site mapping or stand-in); ``--header-row N`` names it
instead.  Works on rows of cell texts, so any reader (CSV, Excel, the enrollment roster) can
use it with its own ``Vocabulary``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from medclaim.io.errors import InputFileError
from medclaim.io.headers import CLAIMS, HeaderMap, Vocabulary, has_required, map_headers, recognised_fields

SCAN_ROWS = 30  # the header must be within the first 30 rows (titles are one to five)
_TITLE_CHARS = 80


@dataclass(frozen=True)
class HeaderRow:
    index: int  # 0-based among the rows given
    number: int  # 1-based line / sheet row, as a person sees it
    headers: HeaderMap
    title_rows: tuple[str, ...]  # non-blank rows above the header, as text (skipped)
    labels: list[str]


def _texts(cells: Sequence[object]) -> list[str]:
    return ["" if c is None else str(c) for c in cells]


def row_text(cells: Sequence[object]) -> str:
    """A row as one line of text: its non-blank cells joined (a merged title shows once)."""
    return " ".join(t.strip() for t in _texts(cells) if t.strip())[:_TITLE_CHARS]


def _found(index: int, rows: list[list[str]], file: str, vocabulary: Vocabulary, first_number: int) -> HeaderRow:
    number = first_number + index
    labels = rows[index]
    headers = map_headers(labels, file, vocabulary, header_row=number)
    titles = tuple(text for text in (row_text(r) for r in rows[:index]) if text)
    return HeaderRow(index=index, number=number, headers=headers, title_rows=titles, labels=labels)


def try_locate_header(rows: Sequence[Sequence[object]], vocabulary: Vocabulary = CLAIMS) -> int | None:
    """Index of the first row that names every required field, or None."""
    for index, cells in enumerate(rows[:SCAN_ROWS]):
        if has_required(recognised_fields(_texts(cells), vocabulary), vocabulary):
            return index
    return None


def locate_header(
    rows: Sequence[Sequence[object]],
    file: str,
    vocabulary: Vocabulary = CLAIMS,
    forced: int | None = None,
    first_number: int = 1,
) -> HeaderRow:
    """The header row among ``rows`` (the first rows of a table; ``first_number`` is the
    1-based number of ``rows[0]``).  Raises InputFileError saying what was found and what to do."""
    texts = [_texts(r) for r in rows]
    if forced is not None:
        index = forced - first_number
        if not 0 <= index < len(texts):
            raise InputFileError(file, f"--header-row {forced}: the table has no row {forced} (it has {len(texts)} rows from row {first_number})")
        return _found(index, texts, file, vocabulary, first_number)
    index = try_locate_header(texts, vocabulary)
    if index is not None:
        return _found(index, texts, file, vocabulary, first_number)
    # No row qualifies: report on the row that looks most like a header (or the first non-blank).
    scored = [(len(recognised_fields(r, vocabulary)), -i) for i, r in enumerate(texts[:SCAN_ROWS]) if row_text(r)]
    if not scored:
        raise InputFileError(file, f"no data: the first {SCAN_ROWS} rows are empty; export the {vocabulary.what} again")
    best = -max(scored)[1]
    try:
        map_headers(texts[best], file, vocabulary, header_row=first_number + best)
    except InputFileError as exc:
        if best > 0 or len(texts) > 1:
            raise InputFileError(
                file, exc.message + f" (no row among the first {min(len(texts), SCAN_ROWS)} names every required column)"
            ) from None
        raise
    raise AssertionError("unreachable: a row without the required fields mapped")  # pragma: no cover
