"""Does a peer settle like medclaim?  Compare two ledgers' payments claim by claim.

    python -m bench.peers.compare PEER.parquet MEDCLAIM_LEDGER.parquet

Joins on ``setl_id`` and counts the claims whose ``act_pay_dedc``, ``hifp_pay``, ``hifmi_pay``,
``maf_pay`` or ``psn_part_amt`` differ (and claims only one side has), with a few examples.
Exit status 0 when the two agree on every claim.
"""

from __future__ import annotations

import sys

import polars as pl

FIELDS = ["act_pay_dedc", "hifp_pay", "hifmi_pay", "maf_pay", "psn_part_amt"]


def compare(peer: str, ours: str) -> dict:
    a = pl.scan_parquet(peer).select("setl_id", *FIELDS)
    b = pl.scan_parquet(ours).filter(~pl.col("is_reversal")).select("setl_id", *FIELDS)
    both = a.join(b, on="setl_id", how="full", suffix="__ours", coalesce=True).collect()
    only_peer = both.filter(pl.col("hifp_pay__ours").is_null()).height
    only_ours = both.filter(pl.col("hifp_pay").is_null()).height
    matched = both.filter(pl.col("hifp_pay").is_not_null() & pl.col("hifp_pay__ours").is_not_null())
    out = {"claims": matched.height, "only_peer": only_peer, "only_medclaim": only_ours, "differ": {}}
    for f in FIELDS:
        bad = matched.filter(pl.col(f) != pl.col(f"{f}__ours"))
        if bad.height:
            out["differ"][f] = {"claims": bad.height, "examples": bad.select("setl_id", f, f"{f}__ours").head(3).to_dicts()}
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    result = compare(*argv)
    print(result)
    return 0 if not result["differ"] and not result["only_peer"] and not result["only_medclaim"] else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
