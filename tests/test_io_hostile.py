"""Hostile input files (issue 11): damage must never crash `settle`, invent or merge claims, or lose a
row — each case the fault campaign found, then the campaign itself as a property test: random damage
to valid UTF-8, GBK and xlsx exports → a documented exit status, no traceback, rows accounted for."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import openpyxl
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
import polars as pl
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from medclaim.cli import app
from medclaim.output import read_people_csv
from medclaim.status import Exit

MEDCLAIM = Path(sys.executable).parent / "medclaim"
HEADER = ["结算ID", "个人编号", "人员姓名", "医疗类别", "医院等级", "转诊标志", "开始日期", "结束日期",
          "总费用", "全自费金额", "超限价自付", "先行自付金额", "范围内费用", "待遇开始日期"]


def record(i: int, begin: str = "2021-03-01", end: str = "2021-03-05", total: str = "12000") -> list[str]:
    """One inpatient claim: 12,000 yuan of which 10,000 in the policy scope (12000 - 1000 - 500 - 500)."""
    return [f"S{i}", f"P{i}", "张三", "21", "02", "否", begin, end, total, "1000", "500", "500", "10000", ""]


def csv_text(*records: list[str], footer: str | None = None) -> str:
    lines = [",".join(HEADER), *(",".join(r) for r in records)]
    return "\n".join(lines + ([footer] if footer else [])) + "\n"


def settle(path: Path, out: Path):
    r = CliRunner().invoke(app, ["settle", str(path), "--rules", "anhui/dongzhi-2021", "--out", str(out), "--quiet"])
    assert "Traceback" not in r.output and r.exit_code != Exit.INTERNAL, r.output
    return r


def summary(out: Path) -> dict:
    s = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert s["rows_read"] == s["claims_settled"] + s["rows_rejected"] + s.get("footer_rows", 0), s
    return s


def settled_ids(out: Path) -> list[str]:
    return sorted(pl.read_parquet(out / "ledger.parquet")["setl_id"].to_list())


def rejects(out: Path) -> list[dict]:
    """rejects.csv, with the row number as a number"""
    frame = read_people_csv(out / "rejects.csv")
    return frame.with_columns(pl.col("source_row").cast(pl.Int64)).to_dicts()


# ---------------------------------------------------------------- the cases the campaign found


def test_two_digit_and_implausible_years_are_rejected_and_the_rest_settles(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text(csv_text(record(1), record(2, "24-03-05", "24-03-06"), record(3, "1989-12-30", "1989-12-31"),
                             record(4, "2099-01-01", "2099-01-02"), record(5)), encoding="utf-8")
    r = settle(path, tmp_path / "out")
    assert r.exit_code == Exit.REJECTS, r.output
    s = summary(tmp_path / "out")
    assert (s["rows_read"], s["claims_settled"], s["rows_rejected"]) == (5, 2, 3)
    assert settled_ids(tmp_path / "out") == ["S1", "S5"]
    rows = rejects(tmp_path / "out")
    assert [r["reason_code"] for r in rows] == ["bad_date"] * 3
    assert [r["source_row"] for r in rows] == [2, 3, 4]  # data rows, counted from the header
    message = [r["message"] for r in rows]
    assert "'24-03-05'" in message[0] and "four digits" in message[0]  # says why: not year 0024
    assert all("1990" in m for m in message)  # the plausible range is named


def test_bare_carriage_return_in_an_unquoted_cell_invents_no_claim(tmp_path):
    path = tmp_path / "m.csv"
    damaged = ",".join(record(2)).replace("S2,", "C2\r024000000000,", 1)
    path.write_bytes(("\n".join([",".join(HEADER), ",".join(record(1)), damaged, ",".join(record(3))]) + "\n").encode())
    r = settle(path, tmp_path / "out")
    assert r.exit_code == Exit.REJECTS, r.output
    s = summary(tmp_path / "out")
    assert (s["rows_read"], s["claims_settled"], s["rows_rejected"]) == (3, 2, 1)  # three lines a person sees
    assert settled_ids(tmp_path / "out") == ["S1", "S3"]  # neither 'C2' nor '024000000000' became a claim
    (reject,) = rejects(tmp_path / "out")
    assert reject["source_row"] == 2 and reject["reason_code"] == "bad_row"
    assert "carriage return" in reject["message"]


@pytest.mark.parametrize("header", ["\r" + ",".join(HEADER), ",".join(HEADER).replace("个人编号", "个人\r编号")],
                         ids=["before-the-header", "inside-a-header-cell"])
def test_stray_carriage_return_in_the_header_line_is_noise(tmp_path, header):
    """(found by the campaign below: it crashed with an internal error)"""
    path = tmp_path / "m.csv"
    path.write_bytes(("\n".join([header, ",".join(record(1)), ",".join(record(2))]) + "\n").encode())
    r = settle(path, tmp_path / "out")
    assert r.exit_code == Exit.OK, r.output
    assert (summary(tmp_path / "out")["rows_read"], settled_ids(tmp_path / "out")) == (2, ["S1", "S2"])


def test_one_absurd_amount_rejects_its_row_not_the_month(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text(csv_text(record(1), record(2, total="92233720368547758.07"), record(3)), encoding="utf-8")
    r = settle(path, tmp_path / "out")
    assert r.exit_code == Exit.REJECTS, r.output  # not INVARIANT: the rest of the month settles
    s = summary(tmp_path / "out")
    assert (s["rows_read"], s["claims_settled"], s["rows_rejected"]) == (3, 2, 1)
    assert settled_ids(tmp_path / "out") == ["S1", "S3"]
    (reject,) = rejects(tmp_path / "out")
    assert (reject["source_row"], reject["setl_id"], reject["reason_code"]) == (2, "S2", "bad_amount")
    # both sample rows settle: 2 × 12,000.00 yuan of cost in the totals, nothing of the absurd row
    assert s["totals_fen"]["medfee_sumamt"] == 2 * 1_200_000


@pytest.mark.parametrize(
    "encoded",
    [
        pytest.param(lambda t: t.encode("utf-16") + b"\x00", id="utf16-bom-odd-length"),
        pytest.param(lambda t: t.encode("utf-16")[:-1], id="utf16-bom-cut-mid-character"),
        pytest.param(lambda t: t.encode("utf-16-le")[:-1], id="utf16le-no-bom-odd-length"),
    ],
)
def test_utf16_with_an_odd_number_of_bytes_is_a_clean_file_error(tmp_path, encoded):
    path = tmp_path / "m.csv"
    path.write_bytes(encoded(csv_text(record(1), record(2))))
    r = settle(path, tmp_path / "out")
    assert r.exit_code == Exit.INVALID_INPUT, r.output
    assert "m.csv" in r.output and "odd number of bytes" in r.output


def test_utf16_without_bom_is_read(tmp_path):
    path = tmp_path / "m.csv"
    path.write_bytes(csv_text(record(1), record(2)).encode("utf-16-le"))
    r = settle(path, tmp_path / "out")
    assert r.exit_code == Exit.OK, r.output
    assert summary(tmp_path / "out")["claims_settled"] == 2
    assert settled_ids(tmp_path / "out") == ["S1", "S2"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this platform")
@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_non_regular_input_is_refused_promptly(tmp_path, kind):
    if kind == "fifo":
        path = tmp_path / "claims.csv"
        os.mkfifo(path)  # nobody writes to it: reading would block forever
    else:
        path = Path("/dev/zero")  # endless: reading would grow without bound
        if not path.exists():
            pytest.skip("no /dev/zero")
    # a subprocess with a timeout, so that a regression fails instead of hanging the suite
    r = subprocess.run([str(MEDCLAIM), "settle", str(path), "--rules", "anhui/dongzhi-2021", "--out", str(tmp_path / "out"),
                        "--quiet"], capture_output=True, text=True, timeout=60)
    assert r.returncode == Exit.INVALID_INPUT, r.stderr
    assert "regular file" in r.stderr and str(path) in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "out" / "summary.json").exists()


def test_old_excel_xls_with_a_title_row(tmp_path):
    xlwt = pytest.importorskip("xlwt")
    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("结算明细")
    sheet.write(0, 0, "东至县2021年3月住院结算明细")  # a title above the header, as county exports have
    for c, name in enumerate(HEADER):
        sheet.write(1, c, name)
    for r, values in enumerate([record(1), record(2)], start=2):
        for c, value in enumerate(values):
            sheet.write(r, c, float(value) if c >= 8 and value else value)  # amounts as numbers
    path = tmp_path / "m.xls"
    book.save(str(path))
    r = settle(path, tmp_path / "out")
    assert r.exit_code == Exit.OK, r.output
    s = summary(tmp_path / "out")
    assert (s["rows_read"], s["claims_settled"]) == (2, 2)
    assert s["totals_fen"]["medfee_sumamt"] == 2 * 1_200_000 and s["totals_fen"]["inscp_scp_amt"] == 2 * 1_000_000
    read = s["reading"]["files"][0]
    assert (read["format"], read["header_row"], read["sheet"]) == ("xls", 2, "结算明细")
    assert read["title_rows"] == ["东至县2021年3月住院结算明细"]


# ---------------------------------------------------------------- the campaign

RECORDS = [record(i) for i in range(1, 5)]
FOOTER = "合计,,,,,,,,48000,4000,2000,2000,40000,"


def _number(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text


def _xlsx(text: str) -> bytes:
    """A workbook whose sheet holds the cells of CSV text (amounts as numbers where they read as
    numbers): damage done to the text becomes damage in the cells, as a hand-edited sheet has."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "结算明细"
    sheet.append(["东至县2021年3月结算明细"])
    for line in text.split("\n"):
        cells = [ILLEGAL_CHARACTERS_RE.sub("", cell) for cell in line.split(",")]
        sheet.append([_number(v) if c >= 8 else v for c, v in enumerate(cells)])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


SAMPLES = {
    "utf8.csv": csv_text(*RECORDS, footer=FOOTER).encode("utf-8"),
    "gbk.csv": ("结算明细（2021年3月）\n" + csv_text(*RECORDS, footer=FOOTER)).encode("gbk"),
    "month.xlsx": csv_text(*RECORDS).encode("utf-8"),  # made a workbook after the damage
}

#: what a run on any file may end with; INTERNAL (a bug) and INVARIANT (one bad row stopping a month) may not
ALLOWED = {Exit.OK, Exit.REJECTS, Exit.INVALID_INPUT, Exit.NO_RULE_PERIOD}


def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\n")


@st.composite
def damage(draw, data: bytes) -> bytes:
    """One kind of damage a real file meets: cut short, bytes changed or added, lines repeated or
    lost, an unbalanced quote, line-end noise, header cells swapped."""
    kind = draw(st.sampled_from(["truncate", "flip", "insert", "duplicate", "delete", "quote", "crlf", "swap"]))
    at = draw(st.integers(0, max(0, len(data) - 1)))
    if kind == "truncate":
        return data[:at]
    if kind == "flip":
        return data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1:] if data else data
    if kind == "insert":
        return data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]
    if kind == "quote":
        return data[:at] + b'"' + data[at:]
    if kind == "crlf":
        return data[:at] + draw(st.sampled_from([b"\r", b"\n", b"\r\n", b"\n\r", b"\r\r"])) + data[at:]
    lines = _lines(data)
    i = draw(st.integers(0, len(lines) - 1))
    if kind == "duplicate":
        return b"\n".join(lines[: i + 1] + [lines[i]] + lines[i + 1:])
    if kind == "delete":
        return b"\n".join(lines[:i] + lines[i + 1:])
    # swap two cells of the header line (the first line holding 结算ID)
    h = next((n for n, line in enumerate(lines) if "结算ID".encode("gbk") in line or "结算ID".encode() in line), None)
    if h is None:
        return data
    cells = lines[h].split(b",")
    a, b = draw(st.integers(0, len(cells) - 1)), draw(st.integers(0, len(cells) - 1))
    cells[a], cells[b] = cells[b], cells[a]
    return b"\n".join(lines[:h] + [b",".join(cells)] + lines[h + 1:])


@st.composite
def hostile_file(draw) -> tuple[str, bytes]:
    name = draw(st.sampled_from(sorted(SAMPLES)))
    data = SAMPLES[name]
    if draw(st.integers(0, 19)) == 7:
        return name, b""  # an empty file, of any kind
    for _ in range(draw(st.integers(1, 3))):
        data = draw(damage(data))
    if name.endswith(".xlsx"):
        data = _xlsx(data.decode("utf-8", errors="replace"))
        if draw(st.integers(0, 4)) == 3:  # and sometimes the workbook's bytes themselves: cut or changed
            # (the position is drawn apart from the bytes: a saved workbook holds the time it was saved)
            at = draw(st.integers(0, 10**6)) % len(data)
            data = data[:at] if draw(st.booleans()) else data[:at] + bytes([data[at] ^ 0x5A]) + data[at + 1:]
    return name, data


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(hostile_file())
def test_damaged_files_end_cleanly_and_account_for_every_row(case):
    name, data = case
    with tempfile.TemporaryDirectory() as tmp:
        path, out = Path(tmp) / name, Path(tmp) / "out"
        path.write_bytes(data)
        r = CliRunner().invoke(app, ["settle", str(path), "--rules", "anhui/dongzhi-2021", "--out", str(out), "--quiet"])
        event(f"{name} → exit {r.exit_code}")  # (pytest --hypothesis-show-statistics: is the damage varied?)
        assert r.exit_code in ALLOWED, (r.exit_code, r.output)
        assert "Traceback" not in r.output and "internal error" not in r.output, r.output
        if r.exit_code in (Exit.OK, Exit.REJECTS):
            assert (out / "summary.json").exists()
        if (out / "summary.json").exists():
            s = summary(out)  # rows read = settled + rejected + footer rows
            if name.endswith(".csv"):  # damage never invents rows: at most one per physical line
                assert s["rows_read"] <= data.count(b"\n") + 1, s
