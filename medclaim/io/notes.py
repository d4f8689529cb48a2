"""What a run says about how its input was read: the header row found, title and footer rows
skipped, the sheets read and not read, columns not recognised, the person key, amounts assumed
zero.  ``read_summary`` is the data (kept in summary.json and the manifest); ``input_lines``
renders it for summary.txt and the terminal.  Nothing skipped or guessed goes unsaid.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from medclaim.io.reader import ReadResult

_LISTED_FOOTERS = 20


def read_summary(result: ReadResult) -> dict[str, Any]:
    by_name = {s.path: s for s in result.files}
    footers = []
    for r in result.footers.head(_LISTED_FOOTERS).iter_rows(named=True):  # (at most 20)
        stats = by_name.get(r["source_file"])
        first = stats.header_row if stats else 1
        footers.append({**r, "line": first + r["source_row"]})
    files = []
    for s in result.files:
        entry = {
            "path": s.path,
            "format": s.format,
            "rows_read": s.rows_read,
            "rows_rejected": s.rows_rejected,
            "footer_rows": s.footer_rows,
            "header_row": s.header_row,
            "title_rows": s.title_rows,
            "unrecognised_columns": s.unrecognised_columns,
            "ignored_columns": s.ignored_columns,
            "person_key": s.person_key,
            "assumed_zero": s.assumed_zero,
        }
        if s.encoding:
            entry["encoding"] = s.encoding
        if s.sheet is not None:
            entry["sheet"] = s.sheet
            entry["sheets_not_read"] = s.sheets_not_read
        files.append(entry)
    return {
        "footer_rows": result.footers.height,
        "reading": {"columns_file": result.columns_file, "files": files, "footers": footers},
    }


def _row_word(entry: dict[str, Any]) -> str:
    return "line" if entry["format"] == "csv" else "row"


def input_lines(summary: dict[str, Any]) -> list[str]:
    """One line per notable fact about the input, for summary.txt and the terminal."""
    reading = summary.get("reading")
    if not reading:
        return []
    lines = []
    if reading.get("columns_file"):
        lines.append(f"column mapping: {reading['columns_file']}")
    footers_by_file: dict[str, list[dict[str, Any]]] = {}
    for f in reading.get("footers", []):
        footers_by_file.setdefault(f["source_file"], []).append(f)
    for entry in reading["files"]:
        path, word = entry["path"], _row_word(entry)
        if entry.get("sheet") is not None:
            not_read = entry.get("sheets_not_read") or []
            lines.append(f"{path}: sheet '{entry['sheet']}' read" + (f"; not read: {'; '.join(not_read)}" if not_read else ""))
        if entry["header_row"] != 1 or entry["title_rows"]:
            titles = f" (skipped above it: {' | '.join(entry['title_rows'])})" if entry["title_rows"] else ""
            lines.append(f"{path}: header on {word} {entry['header_row']}{titles}")
        if entry["footer_rows"]:
            shown = footers_by_file.get(path, [])
            where = ", ".join(f"{word} {f['line']} ({f['kind']}: {f['text'][:40]})" for f in shown[:5])
            more = "" if len(shown) >= entry["footer_rows"] else " …"
            lines.append(f"{path}: {entry['footer_rows']} footer row(s) skipped, not claims: {where}{more}")
        if entry["person_key"] != "psn_no":
            lines.append(f"{path}: no person-number column; the ID-card number ({entry['person_key']}) identifies each person")
        if entry["assumed_zero"]:
            lines.append(f"{path}: column(s) absent and taken as zero (--assume-zero): {', '.join(entry['assumed_zero'])}")
        if entry["unrecognised_columns"]:
            cols = ", ".join(entry["unrecognised_columns"][:30]) + (" …" if len(entry["unrecognised_columns"]) > 30 else "")
            lines.append(f"{path}: columns not read (no field of that name; map one with --columns if it is a claim field): {cols}")
        if entry["ignored_columns"]:
            lines.append(f"{path}: columns left unread on purpose (mapping file, or a second column of one field): {', '.join(entry['ignored_columns'])}")
    return lines
