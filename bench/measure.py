"""Run one command and record its wall time and peak RSS.

    python -m bench.measure RESULT.json -- CMD [ARG...]

This wrapper is started fresh for every benchmark step, so ``RUSAGE_CHILDREN`` of this process
covers exactly one child (and whatever that child itself waited for): its ``ru_maxrss`` is the
step's own peak resident set, untouched by earlier steps or by the orchestrating process.
The child inherits stdout/stderr (the orchestrator points them at a log file).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time


def report_self(started: float, **extra) -> None:
    """A benchmark program's own figures, as one JSON line on stdout: wall time since ``started``
    (``time.perf_counter()``) and its peak RSS."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    scale = 1 if sys.platform == "darwin" else 1024
    print(json.dumps({**extra, "wall_s": time.perf_counter() - started, "peak_rss_bytes": ru.ru_maxrss * scale}))


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    result_path, cmd = argv[0], argv[2:]
    t0 = time.perf_counter()
    try:
        rc = subprocess.call(cmd)
    except OSError as exc:  # executable missing or not runnable
        print(f"bench.measure: cannot run {cmd[0]!r}: {exc}", file=sys.stderr)
        rc = 127
    wall = time.perf_counter() - t0
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    with open(result_path, "w", encoding="utf-8") as f:
        json.dump(
            {
                "rc": rc,
                "wall_s": wall,
                "peak_rss_bytes": ru.ru_maxrss * scale,
                "user_s": ru.ru_utime,
                "sys_s": ru.ru_stime,
            },
            f,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
