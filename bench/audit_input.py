"""Make the audit benchmark's input: synthetic claims carrying hospital-reported amounts.

    python -m bench.audit_input CLAIMS.parquet --out AUDIT.parquet [--rules R] [--wrong-every 100]

The claims are settled with the library (the same engine as ``medclaim settle``) and the computed
figures are written back as the hospital's reported columns (hifp_pay, hifmi_pay, maf_pay,
act_pay_dedc, fund_pay_sumamt, psn_part_amt, yuan as Decimal(14, 2)).  Every ``wrong-every``-th
claim gets a basic payment 1.00 yuan too high, so that the audit has differences to explain — as
a real month does — and its attribution work is measured too.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import polars as pl

from medclaim.io import read_claims
from medclaim.rules import load_rulebook
from medclaim.settle import settle_claims

FIELDS = ["act_pay_dedc", "hifp_pay", "hifmi_pay", "maf_pay", "fund_pay_sumamt", "psn_part_amt"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("claims", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--rules", default="anhui/dongzhi-2021")
    ap.add_argument("--wrong-every", type=int, default=100)
    a = ap.parse_args(argv)
    raw = pl.read_parquet(a.claims)
    ledger = settle_claims(read_claims([a.claims]).take_claims(), load_rulebook(a.rules)).ledger.select("setl_id", *FIELDS)
    out = raw.join(ledger, on="setl_id", how="left", maintain_order="left")
    wrong = (pl.int_range(pl.len()) % a.wrong_every) == 0
    out = out.with_columns(
        hifp_pay=pl.when(wrong).then(pl.col("hifp_pay") + 100).otherwise(pl.col("hifp_pay")),
    ).with_columns([(pl.col(f).cast(pl.Decimal(14, 2)) / 100).cast(pl.Decimal(14, 2)).alias(f) for f in FIELDS])
    a.out.parent.mkdir(parents=True, exist_ok=True)
    out.write_parquet(a.out)
    print(f"{a.out}: {out.height:,} claims, {out.filter(wrong).height:,} with a planted difference")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
