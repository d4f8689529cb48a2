"""A large CSV file is read as a stream (``medclaim.io.csv_stream``) with exactly the answers of
reading it whole: same claims, rejects, row numbers, footers, encodings and notes.

The streamed path is forced on small files with ``$MEDCLAIM_CSV_STREAM_BYTES=1`` and small blocks
(``$MEDCLAIM_CSV_BLOCK_BYTES``), so that block boundaries fall inside quoted multi-line values and
inside GBK characters.  The files are county exports as they come (title rows, a 合计 line, a
sign-off line, ragged and blank lines, quoted thousands, stray spaces); the expected row numbers
and amounts are counted by the builder below as it writes the lines, not taken from the reader."""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import medclaim.io.csv_stream as csv_stream
import medclaim.io.source_csv as source_csv
from medclaim.io import InputFileError, read_claims
from medclaim.io.sources import load_table
from test_io_hostile import damage

TITLE = "东至县医保结算明细表 2021年3月"
HEADER = ["结算ID", "个人编号", "人员姓名", "医疗类别", "医院等级", "转诊标志", "开始日期", "结束日期",
          "总费用", "全自费金额", "超限价自付", "先行自付金额", "备注"]  # fmt: skip
REMARK = "复诊\n转院至安庆市立医院"  # a quoted value spanning two lines


@dataclass
class Export:
    text: str
    header_line: int
    claims: dict[str, int] = field(default_factory=dict)  # setl_id -> source_row
    fen: dict[str, int] = field(default_factory=dict)  # setl_id -> 总费用 in fen
    rejects: dict[int, str] = field(default_factory=dict)  # source_row -> reason code
    footers: list[tuple[int, str]] = field(default_factory=list)  # (source_row, kind)


def export(kinds: list[str], newline: str = "\n") -> Export:
    """A county export with one record per kind: plain, remark (spans two lines), thousands
    ("1,234.50"), spaces (stray spaces around every cell), ragged (too few fields), blank (an
    empty line), bad_amount.  Then a 合计 line and a 制表人 sign-off."""
    records = [TITLE + "," * (len(HEADER) - 1), "", ",".join(HEADER)]
    header_line = 3
    out = Export("", header_line)
    line = header_line + 1  # physical line of the next record
    for i, kind in enumerate(kinds):
        sid = f"S{i:04d}"
        cells = [sid, f"P{i % 7}", "张三", "21", "02", "否", "2021-03-01", "2021-03-05", "1000.00", "100.00", "0", "50.00", ""]
        fen = 100000
        if kind == "remark":
            cells[-1] = f'"{REMARK}"'
        elif kind == "thousands":
            cells[8], fen = '"1,234.50"', 123450
        elif kind == "spaces":
            cells = [f" {c} " for c in cells]
        elif kind == "bad_amount":
            cells[8] = "12.345"
        text = "" if kind == "blank" else ",".join(cells[:3] if kind == "ragged" else cells)
        if kind in ("plain", "remark", "thousands", "spaces"):
            out.claims[sid], out.fen[sid] = line - header_line, fen
        elif kind != "blank":
            out.rejects[line - header_line] = {"ragged": "bad_row", "bad_amount": "bad_amount"}[kind]
        records.append(text)
        line += 1 + text.count("\n")
    total = sum(out.fen.values())
    records.append("合计" + "," * 7 + f",{total / 100:.2f},,,,")
    out.footers.append((line - header_line, "totals"))
    records.append("制表人：王五,审核人：赵六")
    out.footers.append((line + 1 - header_line, "sign-off"))
    out.text = newline.join(r.replace("\n", newline) for r in records) + newline
    return out


KINDS = (["plain", "remark", "thousands", "plain", "spaces", "ragged", "plain", "blank", "bad_amount", "remark"] * 4)[:37]


def read(path: Path, monkeypatch, block: int | None, *, streamed: bool = True):
    """read_claims of ``path``: whole (``block`` None) or streamed in blocks of ``block`` bytes
    (``streamed``: the stream must not fall back to the whole-file read)."""
    with monkeypatch.context() as m:
        if block is None:
            m.setenv(csv_stream.STREAM_BYTES_ENV, str(1 << 40))
        else:
            m.setenv(csv_stream.STREAM_BYTES_ENV, "1")
            m.setenv(csv_stream.BLOCK_BYTES_ENV, str(block))
            if streamed:
                def refuse(*args, **kwargs):
                    raise AssertionError("read whole, not streamed")
                m.setattr(source_csv, "load_whole_csv", refuse)
        return read_claims([path])


def assert_same(whole, streamed) -> None:
    assert streamed.rows_read == whole.rows_read
    assert streamed.files == whole.files
    assert streamed.claims.equals(whole.claims)
    assert streamed.rejects.equals(whole.rejects)
    assert streamed.footers.equals(whole.footers)


def assert_as_written(result, ex: Export) -> None:
    claims = dict(zip(result.claims["setl_id"], result.claims["source_row"]))
    assert claims == ex.claims
    assert dict(zip(result.claims["setl_id"], result.claims["medfee_sumamt"])) == ex.fen
    assert dict(zip(result.rejects["source_row"], result.rejects["reason_code"])) == ex.rejects
    assert result.footers.select("source_row", "kind").rows() == ex.footers
    assert result.files[0].header_row == ex.header_line and result.files[0].title_rows == [TITLE]


@pytest.mark.parametrize("encoding, newline", [("utf-8", "\n"), ("utf-8-sig", "\r\n"), ("gbk", "\r\n"), ("gbk", "\n")])
def test_streamed_equals_whole_on_a_county_export(tmp_path, monkeypatch, encoding, newline):
    ex = export(KINDS, newline)
    data = ex.text.encode(encoding)
    path = tmp_path / "dongzhi-2021-03.csv"
    path.write_bytes(data)
    whole = read(path, monkeypatch, None)
    assert_as_written(whole, ex)
    assert whole.files[0].encoding == {"gbk": "gb18030"}.get(encoding, encoding)
    blocks = [170, 171, 187, 199, 233, 311, 512, 4096]  # (the header line is the longest: 167 bytes)
    for block in blocks:
        streamed = read(path, monkeypatch, block)
        assert_as_written(streamed, ex)
        assert_same(whole, streamed)
    # the blocks above cut the text inside a quoted two-line value (the parser's blocks start at
    # the header line), and the GBK bytes inside a character (the decoder's start at byte 0)
    text = ex.text.encode("utf-8")
    header_at = text.index(",".join(HEADER).encode())
    quoted = len(f'"{REMARK}"'.replace("\n", newline).encode())
    cuts = {header_at + k for block in blocks for k in range(block, len(text) - header_at, block)}
    assert any(a < cut < a + quoted for cut in cuts for a in _find_all(text, '"复诊'.encode()))
    if encoding == "gbk":
        starts, at = set(), 0
        for ch in ex.text:
            starts.add(at)
            at += len(ch.encode("gbk"))
        assert any(k not in starts for block in blocks for k in range(block, len(data), block))


def _find_all(data: bytes, needle: bytes) -> list[int]:
    found, at = [], data.find(needle)
    while at >= 0:
        found.append(at)
        at = data.find(needle, at + 1)
    return found


KIND = st.sampled_from(["plain", "remark", "thousands", "spaces", "ragged", "blank", "bad_amount"])


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kinds=st.lists(KIND, min_size=1, max_size=40), encoding=st.sampled_from(["utf-8", "utf-8-sig", "gbk"]),
       newline=st.sampled_from(["\n", "\r\n"]), block=st.integers(170, 3000))
def test_streamed_equals_whole_for_any_block_size(tmp_path, kinds, encoding, newline, block):
    ex = export(kinds, newline)
    path = tmp_path / f"claims-{block}-{encoding}.csv"
    path.write_bytes(ex.text.encode(encoding))
    with pytest.MonkeyPatch.context() as monkeypatch:
        whole = read(path, monkeypatch, None)
        streamed = read(path, monkeypatch, block)
    assert_as_written(streamed, ex)
    assert_same(whole, streamed)


def ascii_claims(rows: int, *, name: str = "Zhang") -> list[str]:
    header = "setl_id,psn_no,psn_name,med_type,hosp_lv,refl_flag,begndate,enddate,medfee_sumamt,fulamt_ownpay_amt,overlmt_selfpay,preselfpay_amt"
    return [header] + [f"S{i},P{i},{name},21,02,0,2021-03-01,2021-03-05,100.00,0,0,0" for i in range(rows)]


def test_a_file_not_utf8_after_its_first_bytes_is_gb18030(tmp_path, monkeypatch):
    """The head looks like UTF-8 (all ASCII); a GBK name 40 lines down decides the encoding, as
    it does when the whole file is read."""
    monkeypatch.setattr(csv_stream, "_HEAD_BYTES", 256)
    lines = ascii_claims(60)
    lines[41] = lines[41].replace("Zhang", "张三")
    path = tmp_path / "claims.csv"
    path.write_bytes(("\n".join(lines) + "\n").encode("gbk"))
    whole, streamed = read(path, monkeypatch, None), read(path, monkeypatch, 200)
    assert streamed.files[0].encoding == "gb18030"
    assert streamed.claims.filter(pl.col("setl_id") == "S40")["psn_name"].to_list() == ["张三"]
    assert_same(whole, streamed)


@pytest.mark.parametrize("encoding, says", [
    (None, "neither UTF-8 nor GB18030/GBK text (bad byte at offset {at})"),
    ("gbk", "not valid gbk text at byte {at}; check the encoding option"),
])
def test_a_bad_byte_deep_in_the_file_is_named_by_its_offset(tmp_path, monkeypatch, encoding, says):
    monkeypatch.setattr(csv_stream, "_HEAD_BYTES", 256)
    text = "\n".join(ascii_claims(60)) + "\n"
    at = text.index("S50,")
    path = tmp_path / "claims.csv"
    path.write_bytes(text[:at].encode() + b"\xff" + text[at:].encode())
    for block in (None, 200):
        with monkeypatch.context() as m:
            m.setenv(csv_stream.STREAM_BYTES_ENV, str(1 << 40) if block is None else "1")
            m.setenv(csv_stream.BLOCK_BYTES_ENV, str(block or 200))
            with pytest.raises(InputFileError) as caught:
                load_table(path, "claims.csv", encoding)
        assert says.format(at=at) in str(caught.value)


def test_utf16_unicode_text_export_streams(tmp_path, monkeypatch):
    ex = export(KINDS)
    path = tmp_path / "claims.txt"
    path.write_bytes(codecs.BOM_UTF16_LE + ex.text.replace(",", "\t").replace('"1\t234.50"', '"1,234.50"').encode("utf-16-le"))
    whole, streamed = read(path, monkeypatch, None), read(path, monkeypatch, 333)
    assert streamed.files[0].encoding == "utf-16"
    assert_as_written(streamed, ex)
    assert_same(whole, streamed)


@pytest.mark.parametrize("damage", ["unclosed quote", "bare CR", "trailing separators"])
def test_damaged_line_structure_is_read_whole(tmp_path, monkeypatch, damage):
    """What needs the whole text (``source_csv._by_line``, the rescue of trailing separators)
    is not streamed: the streamed read hands the file to the whole-file read."""
    lines = ascii_claims(30)
    if damage == "unclosed quote":
        lines[5] = lines[5].replace("Zhang", '"Zhang')
    elif damage == "bare CR":
        lines[5] = lines[5].replace("Zhang", "Zh\rang")
    else:
        lines = lines[:1] + [line + ",," for line in lines[1:]]
    path = tmp_path / "claims.csv"
    path.write_bytes(("\n".join(lines) + "\n").encode())
    calls = []
    whole_read = source_csv.load_whole_csv
    monkeypatch.setattr(source_csv, "load_whole_csv", lambda *a: calls.append(a) or whole_read(*a))
    whole, streamed = read(path, monkeypatch, None), read(path, monkeypatch, 300, streamed=False)
    assert len(calls) == 2  # (once asked, once fallen back to)
    assert_same(whole, streamed)
    if damage == "trailing separators":
        assert streamed.claims.height == 30
    else:
        assert streamed.rejects["source_row"].to_list() == [5]


def test_row_texts_of_a_row_not_kept_aside_reads_the_file_again(tmp_path, monkeypatch):
    ex = export(KINDS)
    path = tmp_path / "claims.csv"
    path.write_bytes(ex.text.encode())
    monkeypatch.setenv(csv_stream.STREAM_BYTES_ENV, "1")
    monkeypatch.setenv(csv_stream.BLOCK_BYTES_ENV, "200")
    (table,) = load_table(path, "claims.csv")
    positions = sorted(set(table.headers.columns.values()))
    cut = len(ex.claims) + sum(reason == "bad_amount" for reason in ex.rejects.values()) + 1  # + 合计 (ragged lines are not)
    assert sum(frame.height for frame in table.batches(positions, 7)) == cut
    footer_row, s1 = ex.footers[0][0], ex.claims["S0001"]
    texts = table.row_texts([footer_row, s1])
    assert texts[footer_row][:2] == ["合计", ""]  # kept aside by the pass (its id cell is blank)
    assert texts[s1] == ["S0001", "P1", "张三", "21", "02", "否", "2021-03-01", "2021-03-05", "1000.00", "100.00", "0", "50.00", REMARK]


def test_no_block_ends_between_the_cr_and_lf_of_a_quoted_value(tmp_path, monkeypatch):
    """pyarrow drops the LF of a quoted value's CRLF when a block boundary falls between the two:
    the records after it would be numbered a line too early.  Neither read lets a block end there."""
    ex = export(KINDS, "\r\n")
    data = ex.text.encode()
    path = tmp_path / "claims.csv"
    path.write_bytes(data)
    text = data[data.index(",".join(HEADER).encode()):]  # (both reads parse from the header line on)
    crs = [at + len('"复诊'.encode()) for at in _find_all(text, '"复诊'.encode())]
    splitting = [block for block in range(170, 1200) if any((cr + 1) % block == 0 for cr in crs)]
    assert splitting
    for block in splitting[:4]:
        monkeypatch.setattr(source_csv, "WHOLE_BLOCK_BYTES", block)
        assert_as_written(read(path, monkeypatch, None), ex)
        assert_as_written(read(path, monkeypatch, block), ex)


def outcome(path: Path, monkeypatch, block: int | None):
    """What a read ends with: the result, or the file error's message."""
    try:
        return read(path, monkeypatch, block, streamed=False)
    except InputFileError as exc:
        return str(exc)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data(), encoding=st.sampled_from(["utf-8", "gbk"]), block=st.integers(170, 3000))
def test_damaged_files_stream_as_they_read_whole(tmp_path, data, encoding, block):
    """The fault campaign's damage (cut short, bytes changed, quotes, line ends …): the streamed
    read ends as the whole read does — the same result or the same file error — whether it
    streams the file or hands it to the whole read."""
    raw = export(KINDS[:12], "\r\n" if data.draw(st.booleans()) else "\n").text.encode(encoding)
    for _ in range(data.draw(st.integers(1, 3))):
        raw = data.draw(damage(raw))
    path = tmp_path / f"damaged-{block}.csv"
    path.write_bytes(raw)
    with pytest.MonkeyPatch.context() as monkeypatch:
        whole, streamed = outcome(path, monkeypatch, None), outcome(path, monkeypatch, block)
    if isinstance(whole, str):
        assert streamed == whole
    else:
        assert not isinstance(streamed, str), streamed
        assert_same(whole, streamed)


def test_a_block_of_ragged_lines_only(tmp_path, monkeypatch):
    """The fault campaign's case: a line break inserted after the first cell makes the first
    block after the header hold nothing but ragged lines; the records after them keep their lines."""
    ex = export(KINDS[:12])
    text = ex.text.replace("S0000,P0,", "S0000,\nP0,", 1)
    path = tmp_path / "claims.csv"
    path.write_bytes(text.encode("gbk"))
    whole, streamed = read(path, monkeypatch, None), read(path, monkeypatch, 170)
    assert_same(whole, streamed)
    assert streamed.rejects.filter(pl.col("source_row") <= 2)["reason_code"].to_list() == ["bad_row", "bad_row"]
    assert streamed.claims.filter(pl.col("setl_id") == "S0001")["source_row"].to_list() == [ex.claims["S0001"] + 1]


def test_a_file_cut_inside_its_first_character_is_judged_as_whole(tmp_path, monkeypatch):
    path = tmp_path / "claims.csv"
    path.write_bytes("东".encode()[:2])  # not UTF-8 any more: read as GB18030, as the whole file is
    for block in (None, 170):
        with monkeypatch.context() as m:
            m.setenv(csv_stream.STREAM_BYTES_ENV, str(1 << 40) if block is None else "1")
            with pytest.raises(InputFileError, match="'涓'"):
                load_table(path, "claims.csv")
