"""A format's reader is imported when a file of that format is read, not by every run."""

from __future__ import annotations

import subprocess
import sys

import polars as pl

READERS = ("fastexcel", "pyarrow.csv", "medclaim.io.source_csv", "medclaim.io.source_excel")


def readers_loaded(path) -> list[str]:
    """The format readers a fresh interpreter has imported after reading ``path``."""
    script = (
        "import sys\nfrom pathlib import Path\nfrom medclaim.io import read_claims\n"
        f"result = read_claims([Path({str(path)!r})])\n"
        "assert result.claims.height == 1, result.rejects\n"
        f"print(','.join(m for m in {READERS!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return [m for m in out.stdout.strip().split(",") if m]


CLAIM = {"setl_id": "S1", "psn_no": "P1", "med_type": "11", "hosp_lv": "3", "begndate": "2021-03-01", "enddate": "2021-03-01",
         "medfee_sumamt": "100.00", "fulamt_ownpay_amt": "0", "overlmt_selfpay": "0", "preselfpay_amt": "0", "inscp_scp_amt": "100.00"}


def test_reading_parquet_imports_neither_the_csv_nor_the_excel_reader(tmp_path):
    pl.DataFrame([CLAIM]).write_parquet(tmp_path / "claims.parquet")
    assert readers_loaded(tmp_path / "claims.parquet") == []


def test_reading_a_csv_imports_its_reader(tmp_path):
    pl.DataFrame([CLAIM]).write_csv(tmp_path / "claims.csv")
    assert "medclaim.io.source_csv" in readers_loaded(tmp_path / "claims.csv")
