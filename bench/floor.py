"""The floor: the unavoidable cost of reading the claims and writing a ledger-sized output.

    python -m bench.floor IN.parquet [IN2.parquet ...] --out OUT.parquet [--width 40]

Reads the input Parquet file(s) with ``pl.read_parquet``, turns the Decimal yuan amounts into
Int64 fen (the ledger holds fen), pads the frame to ``--width`` columns with derived Int64
columns (like the ledger's payments and running totals) and a few String columns (like its
rule-set id, version and flags), and writes one Parquet file with the same row count.  No
settlement logic at all: whatever ``medclaim settle`` costs beyond this is the engine's.
At the end it prints its own peak RSS (``RUSAGE_SELF``) as one JSON line on stdout.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time

import polars as pl

#: The String columns a ledger carries besides the input's (rule set, version, flags …).
_STRING_FILLERS = ["anhui/dongzhi-2021", "2021.1", "", "covered"]


def ledger_like(df: pl.DataFrame, width: int) -> pl.DataFrame:
    amounts = [c for c, t in df.schema.items() if isinstance(t, pl.Decimal)]
    df = df.with_columns([(pl.col(c) * 100).cast(pl.Int64) for c in amounts])
    ints = [c for c, t in df.schema.items() if t == pl.Int64] or [None]
    extra = []
    for k in range(max(0, width - df.width)):
        if k % 4 == 3:
            extra.append(pl.lit(_STRING_FILLERS[(k // 4) % len(_STRING_FILLERS)], dtype=pl.String).alias(f"s{k}"))
        elif ints[0] is None:
            extra.append(pl.int_range(pl.len(), dtype=pl.Int64).alias(f"i{k}"))
        else:  # varied values, so the column compresses like a real payment column
            src = pl.col(ints[k % len(ints)])
            extra.append(((src * (k + 7)) // 10 + pl.int_range(pl.len(), dtype=pl.Int64) % (k + 3)).alias(f"i{k}"))
    return df.with_columns(extra)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.floor", description=__doc__.split("\n")[0])
    ap.add_argument("inputs", nargs="+")
    ap.add_argument("--out", required=True)
    ap.add_argument("--width", type=int, default=40, help="columns in the output (default 40, the ledger's width)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    frames = [pl.read_parquet(p) for p in args.inputs]
    df = frames[0] if len(frames) == 1 else pl.concat(frames, how="vertical_relaxed")
    del frames
    out = ledger_like(df, args.width)
    out.write_parquet(args.out)
    ru = resource.getrusage(resource.RUSAGE_SELF)
    scale = 1 if sys.platform == "darwin" else 1024
    print(json.dumps({"rows": out.height, "columns": out.width, "wall_s": time.perf_counter() - t0,
                      "peak_rss_bytes": ru.ru_maxrss * scale}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
