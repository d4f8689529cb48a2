"""Which Parquet compression to write the ledger with: time to write and read, and size.

    python -m bench.compression LEDGER.parquet [--repeat 3] [--rows N]

Reads a ledger written by ``medclaim settle`` (e.g. bench/out/settle-N/ledger.parquet, kept with
``python -m bench.run --keep``) into memory once, then writes it with each codec and level and
reads it back, best of ``--repeat`` runs each.  Prints a Markdown table (bench/README.md keeps the
one that chose ``medclaim.parquet.COMPRESSION``).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import polars as pl

CODECS: list[tuple[str, int | None]] = [
    ("uncompressed", None), ("lz4", None), ("snappy", None), ("zstd", 1), ("zstd", 3), ("zstd", 6), ("zstd", 9),
]


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.compression", description=__doc__.split("\n")[0])
    ap.add_argument("ledger", type=Path)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--rows", type=int, default=None, help="use only the first ROWS rows")
    args = ap.parse_args(argv)
    frame = pl.scan_parquet(args.ledger).head(args.rows).collect() if args.rows else pl.read_parquet(args.ledger)
    print(f"{frame.height:,} rows × {frame.width} columns, {frame.estimated_size() / 2**20:,.0f} MiB in memory\n")
    print("| codec | level | write s | read s | MiB on disk |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(dir=args.ledger.parent) as tmp:
        path = Path(tmp) / "x.parquet"
        for codec, level in CODECS:
            w = best(lambda: frame.write_parquet(path, compression=codec, compression_level=level, statistics=True), args.repeat)
            r = best(lambda: pl.read_parquet(path), args.repeat)
            size = os.path.getsize(path) / 2**20
            print(f"| {codec} | {'' if level is None else level} | {w:.2f} | {r:.2f} | {size:,.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
