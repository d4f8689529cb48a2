"""Write synthetic claims to Parquet (used by bench.run; usable alone).

    python -m bench.gen --claims N --out claims.parquet [--people M] [--seed S]
                        [--year 2021] [--months 1-12] [--setl-start K] [--area 341721]

Writes to a temporary name and renames, so an interrupted run never leaves a half file that a
later run would take for a cached one.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path


def months(text: str) -> int | tuple[int, int] | None:
    if text in ("", "all"):
        return None
    if "-" in text:
        a, b = text.split("-", 1)
        return (int(a), int(b))
    return int(text)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.gen", description=__doc__.split("\n")[0])
    ap.add_argument("--claims", type=int, required=True)
    ap.add_argument("--people", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--year", type=int, default=2021)
    ap.add_argument("--months", default="all", help="'all', a month '3' or a range '1-11'")
    ap.add_argument("--setl-start", type=int, default=0)
    ap.add_argument("--area", default="341721", help="6-digit area code: the prefix of person and settlement ids")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)

    from medclaim.synth import generate_claims

    t0 = time.perf_counter()
    df = generate_claims(args.claims, args.people, year=args.year, month=months(args.months),
                         seed=args.seed, setl_start=args.setl_start, area=args.area)
    t_gen = time.perf_counter() - t0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(args.out.name + f".tmp{os.getpid()}")
    df.write_parquet(tmp)
    os.replace(tmp, args.out)
    ru = resource.getrusage(resource.RUSAGE_SELF)
    scale = 1 if sys.platform == "darwin" else 1024
    print(json.dumps({"rows": df.height, "generate_s": t_gen, "total_s": time.perf_counter() - t0,
                      "peak_rss_bytes": ru.ru_maxrss * scale}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
