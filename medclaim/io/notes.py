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
    reading: dict[str, Any] = {"columns_file": result.columns_file, "files": files, "footers": footers}
    if result.spilled is not None:  # claims, buckets, where
        reading["spilled"] = result.spilled.note()
    return {"footer_rows": result.footers.height, "reading": reading}


def input_lines(summary: dict[str, Any], L: Any) -> list[str]:
    """One line per notable fact about the input, in the language of the labels ``L``
    (``medclaim.explain.load_labels``; section ``summary.input``)."""
    reading = summary.get("reading")
    if not reading:
        return []

    def say(key: str, **kw: Any) -> str:
        return L(f"summary.input.{key}", **kw)

    sep = L("sep")
    lines = []
    if reading.get("columns_file"):
        lines.append(say("columns_file", path=reading["columns_file"]))
    if reading.get("spilled"):
        lines.append(say("spilled", **reading["spilled"]))
    footers_by_file: dict[str, list[dict[str, Any]]] = {}
    for f in reading.get("footers", []):
        footers_by_file.setdefault(f["source_file"], []).append(f)
    for entry in reading["files"]:
        path = entry["path"]
        if entry.get("sheet") is not None:
            not_read = entry.get("sheets_not_read") or []
            lines.append(say("sheet", path=path, sheet=entry["sheet"]) + (say("sheets_not_read", sheets=sep.join(not_read)) if not_read else ""))
        if entry["header_row"] != 1 or entry["title_rows"]:
            titles = say("titles", titles=" | ".join(entry["title_rows"])) if entry["title_rows"] else ""
            lines.append(say("header", path=path, row=entry["header_row"]) + titles)
        if entry["footer_rows"]:
            shown = footers_by_file.get(path, [])
            where = sep.join(
                say("footer_item", row=f["line"], kind=say(f"kind.{f['kind']}"), text=f["text"][:40]) for f in shown[:5]
            ) + ("" if len(shown) >= entry["footer_rows"] else " …")
            lines.append(say("footers", path=path, n=entry["footer_rows"], where=where))
        if entry["person_key"] != "psn_no":
            lines.append(say("person_key", path=path, column=entry["person_key"]))
        if entry["assumed_zero"]:
            lines.append(say("assumed_zero", path=path, columns=sep.join(entry["assumed_zero"])))
        if entry["unrecognised_columns"]:
            cols = entry["unrecognised_columns"]
            lines.append(say("unrecognised", path=path, columns=sep.join(cols[:30]) + (" …" if len(cols) > 30 else "")))
        if entry["ignored_columns"]:
            lines.append(say("ignored", path=path, columns=sep.join(entry["ignored_columns"])))
    return lines
