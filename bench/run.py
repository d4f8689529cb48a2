"""Benchmark medclaim against the read+write floor measured in the same run.

    python -m bench.run --claims N [--people M] [--keep] [--repeat K] [--scenario settle|continuation|report-compare|audit]

1. Synthetic claims are generated once and cached in ``bench/data/`` (git-ignored).
2. Each step of the scenario runs in a fresh subprocess under ``bench.measure``, which records
   the step's wall time and its own peak RSS.
3. With ``--repeat K`` the compared steps run K times, in rounds (every step once per round, in
   order, so that a step and its baseline alternate and a drift of the machine's speed reaches
   both); a step's figures are the median of its K runs, and each run's wall time is kept.
4. A table (step, wall s, claims/s, peak RSS MiB, ratio to the baseline step) is printed and
   written as JSON to ``bench/out/results-N.json``.

Scenarios are lists of ``Step`` objects built by a function registered in ``SCENARIOS``; to add
one (say, "settle 1M against a 9M ledger"), write a builder returning the data it needs and
its steps, and register it.  See bench/README.md for how to read the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
GEN_VERSION = 1  # bump when medclaim.synth changes what a seed produces (invalidates the cache)
RULES = "anhui/dongzhi-2021"


@dataclass
class Step:
    """One measured command."""

    name: str
    argv: list[str]
    description: str
    rows: int  # claims the step processes, for claims/s
    baseline: str | None = None  # name of the step it is compared with ("floor")
    prepare: Callable[[], None] | None = None  # runs before (not timed), e.g. clear old output
    available: Callable[[], str | None] | None = None  # None if runnable, else why not
    ok_rc: tuple[int, ...] = (0,)
    cleanup: list[Path] = field(default_factory=list)  # removed after the run unless --keep
    verify: Callable[[], str | None] | None = None  # after an ok exit: None if the output is there
    setup: bool = False  # a step that only builds state for a later one (shown, not compared; run once)
    requires: str | None = None  # name of an earlier step that must have succeeded


@dataclass
class DataSpec:
    """A cached synthetic input file and the generator arguments that produce it."""

    path: Path
    claims: int
    people: int | None
    seed: int
    months: str = "all"
    setl_start: int = 0

    def key(self) -> dict:
        return {"claims": self.claims, "people": self.people, "seed": self.seed, "months": self.months,
                "setl_start": self.setl_start, "gen_version": GEN_VERSION}


@dataclass
class Context:
    claims: int
    people: int | None
    seed: int
    width: int
    keep: bool
    data_dir: Path
    out_dir: Path
    python: str
    medclaim: Path

    def claims_path(self, n: int, tag: str = "") -> Path:
        people = "" if self.people is None else f"-p{self.people}"
        seed = "" if self.seed == 0 else f"-s{self.seed}"
        return self.data_dir / f"claims-{n}{tag}{people}{seed}.parquet"


# ------------------------------------------------------------------------------ steps


def floor_step(ctx: Context, name: str, inputs: list[Path], rows: int, tag: str) -> Step:
    out = ctx.out_dir / f"floor-{tag}.parquet"
    return Step(
        name=name,
        argv=[ctx.python, "-m", "bench.floor", *map(str, inputs), "--out", str(out), "--width", str(ctx.width)],
        description=f"read_parquet the input, write a {ctx.width}-column Parquet of the same rows (no settlement)",
        rows=rows,
        prepare=lambda: out.unlink(missing_ok=True),
        cleanup=[out],
    )


_AVAILABILITY: dict[str, str | None] = {}


def settle_available(ctx: Context) -> Callable[[], str | None]:
    def check() -> str | None:
        if "settle" not in _AVAILABILITY:
            exe = ctx.medclaim
            if not exe.exists():
                why = f"{exe} does not exist"
            else:
                try:
                    p = subprocess.run([str(exe), "settle", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120)
                    last = (p.stderr.strip().splitlines() or p.stdout.strip().splitlines() or [""])[-1]
                    why = None if p.returncode == 0 else f"`medclaim settle --help` exited {p.returncode}: {last[:200]}"
                except (OSError, subprocess.TimeoutExpired) as exc:
                    why = f"`medclaim settle --help` failed: {exc}"
            _AVAILABILITY["settle"] = why
        return _AVAILABILITY["settle"]

    return check


def settle_step(ctx: Context, name: str, input_: Path, out: Path, rows: int, *, fresh: bool, baseline: str | None,
                setup: bool = False, requires: str | None = None, description: str = "") -> Step:
    def prepare() -> None:
        if fresh:
            shutil.rmtree(out, ignore_errors=True)  # a leftover ledger would make this a no-op re-run

    return Step(
        name=name,
        argv=[str(ctx.medclaim), "settle", str(input_), "--rules", RULES, "--out", str(out), "--quiet"],
        description=description or f"medclaim settle {input_.name} --rules {RULES} into an empty output directory",
        rows=rows,
        baseline=baseline,
        prepare=prepare,
        available=settle_available(ctx),
        ok_rc=(0, 1),  # 1 = some rows rejected (a crash also exits 1: hence `verify`)
        cleanup=[out],
        requires=requires,
        verify=lambda: None if out.is_dir() and any(out.rglob("*.parquet")) else f"no Parquet ledger under {out}",
        setup=setup,
    )


# ------------------------------------------------------------------------------ scenarios


def peer_step(ctx: Context, name: str, module: str, inputs: list[Path], rows: int, what: str, needs: str) -> Step:
    """A peer implementation of the same rules (bench/peers/), writing its ledger to bench/out."""
    out = ctx.out_dir / f"{name}-{rows}.parquet"

    def available() -> str | None:
        try:
            __import__(needs)
        except ImportError as exc:
            return f"{exc} (pip install -e '.[test]')"
        return None

    return Step(
        name=name,
        argv=[ctx.python, "-m", module, *map(str, inputs), "--out", str(out)],
        description=what,
        rows=rows,
        prepare=lambda: out.unlink(missing_ok=True),
        available=available,
        cleanup=[out],
        verify=lambda: None if out.exists() else f"no {out.name} written",
    )


def scenario_settle(ctx: Context) -> tuple[list[DataSpec], list[Step]]:
    """One fresh ``medclaim settle --out`` of N claims against the same rules written as a DuckDB
    SQL query and as a plain polars script (bench/peers/), and the read+write floor."""
    data = DataSpec(ctx.claims_path(ctx.claims), ctx.claims, ctx.people, ctx.seed)
    n = ctx.claims
    return [data], [
        floor_step(ctx, "floor", [data.path], n, f"{n}"),
        peer_step(ctx, "duckdb", "bench.peers.duckdb_settle", [data.path], n,
                  "the same rules in DuckDB SQL with window functions (bench/peers/duckdb_settle.py)", "duckdb"),
        peer_step(ctx, "polars-script", "bench.peers.polars_settle", [data.path], n,
                  "the same rules as a plain polars script (bench/peers/polars_settle.py)", "polars"),
        settle_step(ctx, "settle", data.path, ctx.out_dir / f"settle-{n}", n, fresh=True, baseline="duckdb"),
    ]


def copy_ledger(src: Path, dst: Path) -> None:
    """A copy of the ledger ``src`` at ``dst``: its Parquet files hard-linked (a run never changes
    one it did not write: it writes new ones and renames them in), everything else copied."""

    def link_or_copy(a: str, b: str) -> None:
        if a.endswith(".parquet"):
            os.link(a, b)
        else:
            shutil.copy2(a, b)

    shutil.copytree(src, dst, copy_function=link_or_copy)


def ledger_step(ctx: Context, name: str, inputs: list[Path], ledger: Path, rows: int, *, fresh: bool, run: int,
                baseline: str | None = None, setup: bool = False, requires: str | None = None, description: str = "",
                extra: tuple[str, ...] = (), start_from: Path | None = None) -> Step:
    """``medclaim settle INPUTS --ledger LEDGER``: a monthly run against a persistent ledger.

    ``start_from``: a ledger an earlier step built, copied to ``ledger`` before each run of this
    one (so that every repeat continues the same ledger)."""

    def prepare() -> None:
        if fresh or start_from is not None:
            shutil.rmtree(ledger, ignore_errors=True)
        if start_from is not None:
            copy_ledger(start_from, ledger)

    def verify() -> str | None:
        try:
            head = json.loads((ledger / "HEAD.json").read_text())
        except (OSError, ValueError):
            return f"no committed ledger in {ledger}"
        return None if head.get("run") == run else f"ledger {ledger} is at run {head.get('run')}, expected {run}"

    return Step(
        name=name,
        argv=[str(ctx.medclaim), "settle", *map(str, inputs), "--rules", RULES, "--ledger", str(ledger), "--quiet", *extra],
        description=description,
        rows=rows,
        baseline=baseline,
        prepare=prepare,
        available=settle_available(ctx),
        ok_rc=(0, 1),
        cleanup=[ledger],
        verify=verify,
        setup=setup,
        requires=requires,
    )


def scenario_continuation(ctx: Context) -> tuple[list[DataSpec], list[Step]]:
    """December (0.1×N claims) settled into a ledger that already holds January–November (0.9×N
    claims of the same people and year), against settling all N from scratch with ``--out``.

    The ``× floor time`` column of ``settle-month`` is its ratio to ``settle-scratch``: what a
    monthly run costs relative to re-settling the whole year.  ``settle-base`` only builds the
    ledger (setup, not compared).
    """
    n = ctx.claims
    month_n = max(1, n // 10)
    base_n = n - month_n
    people = ctx.people if ctx.people is not None else max(1, n // 8)
    base = DataSpec(ctx.claims_path(base_n, "-jan-nov"), base_n, people, ctx.seed, months="1-11")
    new = DataSpec(ctx.claims_path(month_n, "-dec"), month_n, people, ctx.seed + 1, months="12", setl_start=base_n)
    base_ledger = ctx.out_dir / f"continuation-{n}-base"
    ledger = ctx.out_dir / f"continuation-{n}-ledger"
    scratch = ctx.out_dir / f"continuation-{n}-scratch"
    return [base, new], [
        floor_step(ctx, "floor", [base.path, new.path], n, f"continuation-{n}"),
        Step(
            name="settle-scratch",
            argv=[str(ctx.medclaim), "settle", str(base.path), str(new.path), "--rules", RULES, "--out", str(scratch), "--quiet"],
            description=f"medclaim settle Jan–Nov + Dec ({n:,} claims) --out: the whole year from scratch",
            rows=n,
            baseline="floor",
            prepare=lambda: shutil.rmtree(scratch, ignore_errors=True),
            available=settle_available(ctx),
            ok_rc=(0, 1),
            cleanup=[scratch],
            verify=lambda: None if (scratch / "ledger.parquet").exists() else f"no ledger.parquet in {scratch}",
        ),
        ledger_step(ctx, "settle-base", [base.path], base_ledger, base_n, fresh=True, run=1, setup=True,
                    description=f"build the ledger: settle {base_n:,} Jan–Nov claims --ledger (setup)"),
        ledger_step(ctx, "settle-month", [new.path], ledger, month_n, fresh=False, run=2, baseline="settle-scratch",
                    requires="settle-base", start_from=base_ledger,
                    description=f"settle {month_n:,} December claims --ledger, continuing the {base_n:,}-claim ledger"),
    ]


def scenario_report_compare(ctx: Context) -> tuple[list[DataSpec], list[Step]]:
    """``medclaim report`` and ``medclaim compare`` against the ``settle`` of the same N claims.

    ``report`` reads the ledger that ``settle`` wrote (target ≤ 0.3× the settle); ``compare``
    settles the same claims under the rule set and a ``--set`` variant (target ≤ 2.2×).  The
    ``× floor time`` column of both is their ratio to ``settle``.
    """
    data = DataSpec(ctx.claims_path(ctx.claims), ctx.claims, ctx.people, ctx.seed)
    n = ctx.claims
    settled = ctx.out_dir / f"rc-settle-{n}"
    report = ctx.out_dir / f"rc-report-{n}"
    compared = ctx.out_dir / f"rc-compare-{n}"
    override = "basic.inpatient.ratio.by_tier.primary=90%"
    return [data], [
        settle_step(ctx, "settle", data.path, settled, n, fresh=True, baseline=None),
        Step(
            name="report",
            argv=[str(ctx.medclaim), "report", "--ledger", str(settled), "--out", str(report), "--quiet"],
            description=f"medclaim report of the {n:,}-claim ledger settle wrote (xlsx + html + json)",
            rows=n,
            baseline="settle",
            prepare=lambda: shutil.rmtree(report, ignore_errors=True),
            available=settle_available(ctx),
            cleanup=[report],
            verify=lambda: None if (report / "report.html").exists() else f"no report.html in {report}",
            requires="settle",
        ),
        Step(
            name="compare",
            argv=[str(ctx.medclaim), "compare", str(data.path), "--rules", RULES, "--set", override, "--out", str(compared), "--quiet"],
            description=f"medclaim compare {data.path.name} --rules {RULES} --set {override}",
            rows=n,
            baseline="settle",
            prepare=lambda: shutil.rmtree(compared, ignore_errors=True),
            available=settle_available(ctx),
            ok_rc=(0, 1),
            cleanup=[compared, settled],
            verify=lambda: None if (compared / "compare.json").exists() else f"no compare.json in {compared}",
        ),
    ]


def scenario_audit(ctx: Context) -> tuple[list[DataSpec], list[Step]]:
    """``medclaim audit`` against ``medclaim settle`` of the same N claims (target ≤ 1.3×).

    A setup step writes the claims with the hospital's reported amounts (medclaim's own figures,
    one claim in 100 with basic insurance 1.00 yuan too high: ``bench.audit_input``); settle and
    audit then read that same file, so the ratio is the audit's own cost: comparison, cause
    attribution of the differing claims, review rules and the burden lists.
    """
    data = DataSpec(ctx.claims_path(ctx.claims), ctx.claims, ctx.people, ctx.seed)
    n = ctx.claims
    reported = ctx.out_dir / f"audit-input-{n}.parquet"
    settled = ctx.out_dir / f"audit-settle-{n}"
    audited = ctx.out_dir / f"audit-{n}"
    return [data], [
        Step(
            name="reported-input",
            argv=[ctx.python, "-m", "bench.audit_input", str(data.path), "--out", str(reported), "--rules", RULES],
            description=f"{data.path.name} with the hospital-reported amounts (1 claim in 100 wrong)",
            rows=n,
            setup=True,
            prepare=lambda: reported.unlink(missing_ok=True),
            verify=lambda: None if reported.exists() else f"{reported} not written",
        ),
        settle_step(ctx, "settle", reported, settled, n, fresh=True, baseline=None, requires="reported-input",
                    description=f"medclaim settle of the same file ({reported.name})"),
        Step(
            name="audit",
            argv=[str(ctx.medclaim), "audit", str(reported), "--rules", RULES, "--out", str(audited), "--quiet"],
            description=f"medclaim audit {reported.name} --rules {RULES} (target ≤ 1.3× settle)",
            rows=n,
            baseline="settle",
            prepare=lambda: shutil.rmtree(audited, ignore_errors=True),
            available=settle_available(ctx),
            ok_rc=(0, 1, 11),  # 11 = differences found, as planted
            cleanup=[audited, settled, reported],
            verify=lambda: None if (audited / "summary.json").exists() else f"no summary.json in {audited}",
            requires="reported-input",
        ),
    ]


def spark_available() -> str | None:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (pip install -e '.[spark]')"
    return None if shutil.which("java") or os.environ.get("JAVA_HOME") else "no Java runtime (JDK 17+) for Spark"


def same_ledgers(a: Path, b: Path) -> str | None:
    """None if the two ledgers hold the same settled amounts claim for claim (checked after the
    steps, untimed): a faster engine that pays differently is no result."""
    import polars as pl

    from medclaim.store import scan_ledger

    cols = ["setl_id", "act_pay_dedc", "hifp_pay", "hifmi_pay", "maf_pay", "psn_part_amt", "ytd_hifmi", "late"]
    x, y = (scan_ledger(p).select(cols).collect().sort("setl_id") for p in (a, b))
    return None if x.equals(y) else f"the ledgers in {a} and {b} differ"


def scenario_spark(ctx: Context) -> tuple[list[DataSpec], list[Step]]:
    """The same N claims settled into an empty ledger by the local engine and by ``--engine spark``
    (local mode on this machine, default partitions); the Spark step's ratio is to the local one,
    and its ledger must equal the local ledger claim for claim."""
    n = ctx.claims
    data = DataSpec(ctx.claims_path(n), n, ctx.people, ctx.seed)
    local, spark = ctx.out_dir / f"spark-{n}-local", ctx.out_dir / f"spark-{n}-spark"
    spark_step = ledger_step(ctx, "settle-spark", [data.path], spark, n, fresh=True, run=1, baseline="settle-local",
                             requires="settle-local", extra=("--engine", "spark"),
                             description=f"medclaim settle --ledger --engine spark ({n:,} claims, Spark local mode)")
    check_run = spark_step.verify
    spark_step.verify = lambda: check_run() or same_ledgers(local, spark)
    spark_step.available = lambda: settle_available(ctx)() or spark_available()
    return [data], [
        ledger_step(ctx, "settle-local", [data.path], local, n, fresh=True, run=1,
                    description=f"medclaim settle --ledger ({n:,} claims, local engine)"),
        spark_step,
    ]


SCENARIOS: dict[str, Callable[[Context], tuple[list[DataSpec], list[Step]]]] = {
    "settle": scenario_settle,
    "continuation": scenario_continuation,
    "report-compare": scenario_report_compare,
    "audit": scenario_audit,
    "spark": scenario_spark,
}


# ------------------------------------------------------------------------------ targets

GIB = 1024.0  # MiB
#: The goals of issue 12, for 10M claims (the continuation scenario's N = 10M: 9M ledger + 1M month).
TARGETS = {
    "settle": [
        ("settle --out: wall ≤ 1.00 × DuckDB", "settle", "ratio_wall", 1.00),
        ("settle --out: peak RSS ≤ 2 GiB", "settle", "peak_rss_mib", 2 * GIB),
    ],
    "continuation": [
        ("first --ledger load (0.9 N): peak RSS ≤ 3 GiB", "settle-base", "peak_rss_mib", 3 * GIB),
        ("a 0.1 N month into the 0.9 N ledger: wall ≤ 0.15 × settling all N", "settle-month", "ratio_wall", 0.15),
    ],
}


def fmt_targets(scenario: str, records: list[dict], claims: int) -> str:
    by_name = {r["name"]: r for r in records}
    lines = [f"targets (set for N = 10,000,000; this run N = {claims:,}):"]
    for label, step, key, limit in TARGETS.get(scenario, []):
        r = by_name.get(step, {})
        value = r.get(key)
        if value is None:
            lines.append(f"  {label}: not measured")
            continue
        shown = f"{value / GIB:.2f} GiB" if key == "peak_rss_mib" else f"{value:.3f}×"
        verdict = "met" if value <= limit else "NOT met"
        lines.append(f"  {label}: {shown} — {verdict}" + ("" if claims == 10_000_000 else " (at this N)"))
    return "\n".join(lines)


# ------------------------------------------------------------------------------ running


def measure(ctx: Context, step: Step, log: Path) -> dict:
    """Run ``step`` under bench.measure; return its result record."""
    rec: dict = {"name": step.name, "description": step.description, "argv": step.argv, "rows": step.rows,
                 "baseline": step.baseline, "setup": step.setup}
    why = step.available() if step.available else None
    if why:
        rec.update(status="not available", reason=why)
        return rec
    if step.prepare:
        step.prepare()
    result = ctx.out_dir / f".measure-{step.name}.json"
    result.unlink(missing_ok=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as lf:
        subprocess.run([ctx.python, "-m", "bench.measure", str(result), "--", *step.argv], cwd=ROOT,
                       stdout=lf, stderr=subprocess.STDOUT, check=False)
    try:
        m = json.loads(result.read_text())
    except (OSError, ValueError):
        rec.update(status="failed", reason=f"no measurement (see {log})")
        return rec
    finally:
        result.unlink(missing_ok=True)
    rec.update(rc=m["rc"], wall_s=round(m["wall_s"], 3), peak_rss_mib=round(m["peak_rss_bytes"] / 2**20, 1),
               user_s=round(m["user_s"], 2), sys_s=round(m["sys_s"], 2), log=str(log.relative_to(ROOT)))
    rec["claims_per_s"] = round(step.rows / m["wall_s"]) if m["wall_s"] > 0 else None
    text = log.read_text(errors="replace") if log.exists() else ""
    tail = (text.strip().splitlines() or [""])[-1][:200]
    if m["rc"] not in step.ok_rc:
        rec.update(status="failed", reason=f"exit {m['rc']}: {tail} (see {log.relative_to(ROOT)})")
    elif "Traceback (most recent call last)" in text:
        rec.update(status="failed", reason=f"traceback: {tail} (see {log.relative_to(ROOT)})")
    elif step.verify and (why := step.verify()):
        rec.update(status="failed", reason=f"{why} (see {log.relative_to(ROOT)})")
    else:
        rec["status"] = "ok"
    return rec


def run_steps(ctx: Context, steps: list[Step], tag: str, repeat: int = 1) -> list[dict]:
    """Measure ``steps`` in ``repeat`` rounds, each step once per round in the given order (a setup
    step only in the first; a step that failed is not run again); one record per step
    (``combine``)."""
    runs: dict[str, list[dict]] = {}
    for round_ in range(repeat):
        for step in steps:
            earlier = runs.get(step.name)
            if earlier is not None and (step.setup or earlier[-1].get("status") != "ok"):
                continue
            if step.requires and runs.get(step.requires, [{}])[-1].get("status") != "ok":
                runs[step.name] = [{"name": step.name, "description": step.description, "argv": step.argv, "rows": step.rows,
                                    "baseline": step.baseline, "setup": step.setup, "status": "skipped",
                                    "reason": f"needs {step.requires}"}]
                continue
            print(f"running {step.name}" + (f" ({round_ + 1}/{repeat})" if repeat > 1 and not step.setup else "") + " …",
                  flush=True)
            log = ctx.out_dir / "logs" / (f"{tag}-{step.name}" + (f"-r{round_ + 1}" if repeat > 1 else "") + ".log")
            runs.setdefault(step.name, []).append(measure(ctx, step, log))
    return [combine(runs[step.name], step.rows) for step in steps if step.name in runs]


def combine(recs: list[dict], rows: int) -> dict:
    """One record for a step's runs: the failed run if any failed, else the first run's record with
    the median wall, user and sys times, the largest peak RSS (a memory target must hold in every
    run), and each run's wall time (``wall_runs``, in round order: ``fmt_table`` pairs a step's
    rounds with its baseline's)."""
    if len(recs) == 1 or any(r.get("status") != "ok" for r in recs):
        return next((r for r in recs if r.get("status") != "ok"), recs[0])
    rec = dict(recs[0])
    for key in ("wall_s", "user_s", "sys_s"):
        rec[key] = round(statistics.median(r[key] for r in recs), 3)
    rec["peak_rss_mib"] = max(r["peak_rss_mib"] for r in recs)
    rec["wall_runs"] = [r["wall_s"] for r in recs]
    rec["claims_per_s"] = round(rows / rec["wall_s"]) if rec["wall_s"] > 0 else None
    return rec


def ensure_data(ctx: Context, spec: DataSpec) -> dict | None:
    """Generate ``spec`` unless a matching cached file exists; return the generate record if run."""
    sidecar = spec.path.with_suffix(".json")
    if spec.path.exists() and sidecar.exists():
        try:
            if json.loads(sidecar.read_text()) == spec.key():
                return None
        except ValueError:
            pass
    spec.path.parent.mkdir(parents=True, exist_ok=True)
    argv = [ctx.python, "-m", "bench.gen", "--claims", str(spec.claims), "--seed", str(spec.seed),
            "--months", spec.months, "--setl-start", str(spec.setl_start), "--out", str(spec.path)]
    if spec.people is not None:
        argv += ["--people", str(spec.people)]
    step = Step(f"generate {spec.path.name}", argv, "medclaim.synth.generate_claims + write_parquet", spec.claims)
    print(f"generating {spec.claims:,} claims → {spec.path.relative_to(ROOT)} …", flush=True)
    rec = measure(ctx, step, ctx.out_dir / "logs" / f"generate-{spec.path.stem}.log")
    if rec.get("status") != "ok":
        raise SystemExit(f"generation failed: {rec.get('reason')}")
    sidecar.write_text(json.dumps(spec.key()))
    return rec


def wall_ratio(rec: dict, base: dict) -> float:
    """``rec``'s wall time against ``base``'s: with the same number of rounds, the median of the
    ratios round by round (each pair ran minutes apart, so a slow stretch of the machine reaches
    both sides of a ratio); otherwise the ratio of the two medians."""
    a, b = rec.get("wall_runs"), base.get("wall_runs")
    if a and b and len(a) == len(b):
        ratios = [x / y for x, y in zip(a, b)]
        rec["ratio_wall_runs"] = [round(x, 3) for x in ratios]
        return statistics.median(ratios)
    return rec["wall_s"] / base["wall_s"]


def fmt_table(records: list[dict]) -> str:
    head = ["step", "wall s", "claims/s", "peak RSS MiB", "× base time", "× base RSS", "base", "status"]
    by_name = {r["name"]: r for r in records}
    rows = []
    for r in records:
        ok = r.get("status") == "ok"
        base = by_name.get(r.get("baseline") or "")
        rt = rr = ""
        if ok and base and base.get("status") == "ok":
            # (kept unrounded: a target is judged on the ratio itself, not on what the table shows)
            r["ratio_wall"], r["ratio_rss"] = wall_ratio(r, base), r["peak_rss_mib"] / base["peak_rss_mib"]
            rt, rr = f"{r['ratio_wall']:.2f}", f"{r['ratio_rss']:.2f}"
        status = r.get("status", "")
        if status != "ok":
            status += f": {r.get('reason', '')}"
        elif r.get("setup"):
            status = "ok (setup)"
        elif r.get("wall_runs"):
            walls = r["wall_runs"]
            status = f"ok, median of {len(walls)} ({min(walls):.2f}–{max(walls):.2f} s)"
        rows.append([
            r["name"],
            f"{r['wall_s']:.2f}" if ok else "—",
            f"{r['claims_per_s']:,}" if ok and r.get("claims_per_s") else "—",
            f"{r['peak_rss_mib']:,.0f}" if ok else "—",
            rt or "—",
            rr or "—",
            r.get("baseline") or "",
            status,
        ])
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    line = lambda cells: "  ".join(str(c).ljust(w) if i in (0, 6, 7) else str(c).rjust(w)  # noqa: E731
                                   for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
    return "\n".join([line(head), line(["-" * w for w in widths]), *map(line, rows)])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.run", description="Benchmark medclaim settle against the read+write floor.")
    ap.add_argument("--claims", type=int, required=True, help="number of synthetic claims")
    ap.add_argument("--people", type=int, default=None, help="number of people (default claims // 8)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scenario", choices=sorted(SCENARIOS), default="settle")
    ap.add_argument("--width", type=int, default=None,
                    help="columns of the floor's output (default: the real ledger's width for the bench rule set)")
    ap.add_argument("--keep", action="store_true", help="keep the steps' outputs under bench/out/")
    ap.add_argument("--only", action="append", default=[], help="run only the named step(s) (repeatable)")
    ap.add_argument("--repeat", type=int, default=1, metavar="K",
                    help="run the compared steps K times in alternating rounds; report medians (default 1)")
    args = ap.parse_args(argv)
    if args.claims < 1:
        ap.error("--claims must be >= 1")
    if args.repeat < 1:
        ap.error("--repeat must be >= 1")

    if args.width is None:  # the floor writes as many columns as settle's ledger really has
        from medclaim.rules import load_rulebook
        from medclaim.settle import ledger_schema

        args.width = len(ledger_schema(load_rulebook("anhui/dongzhi-2021")))
    bindir = Path(sys.executable).parent
    ctx = Context(claims=args.claims, people=args.people, seed=args.seed, width=args.width, keep=args.keep,
                  data_dir=BENCH / "data", out_dir=BENCH / "out", python=sys.executable,
                  medclaim=bindir / ("medclaim.exe" if os.name == "nt" else "medclaim"))
    ctx.out_dir.mkdir(parents=True, exist_ok=True)
    specs, steps = SCENARIOS[args.scenario](ctx)
    if args.only:
        steps = [s for s in steps if s.name in args.only]

    generated = [g for g in (ensure_data(ctx, s) for s in specs) if g]
    records = run_steps(ctx, steps, f"{args.scenario}-{args.claims}", args.repeat)
    if not args.keep:
        for step in steps:
            for p in step.cleanup:
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)

    table = fmt_table(records)
    print()
    print(f"scenario {args.scenario}: {args.claims:,} claims"
          + (f", {args.people:,} people" if args.people else "") + (f", medians of {args.repeat} rounds" if args.repeat > 1 else "")
          + f"  ({platform.node()}, {os.cpu_count()} CPUs)")
    if generated:
        print(fmt_table(generated))
        print()
    print(table)
    if TARGETS.get(args.scenario):
        print()
        print(fmt_targets(args.scenario, records, args.claims))

    def version(dist: str) -> str | None:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    name = f"results-{args.claims}.json" if args.scenario == "settle" else f"results-{args.scenario}-{args.claims}.json"
    out = ctx.out_dir / name
    out.write_text(json.dumps({
        "scenario": args.scenario,
        "claims": args.claims,
        "people": args.people,
        "seed": args.seed,
        "repeat": args.repeat,
        "width": args.width,
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"node": platform.node(), "platform": platform.platform(), "cpus": os.cpu_count(),
                    "python": platform.python_version(), "polars": version("polars"), "medclaim": version("medclaim")},
        "data": [dict(asdict(s), path=str(s.path.relative_to(ROOT))) for s in specs],
        "generated": generated,
        "steps": records,
    }, ensure_ascii=False, indent=2, default=str))
    print(f"\nwrote {out.relative_to(ROOT)}")
    return 0 if all(r.get("status") in ("ok", "not available", "skipped") for r in records) else 1


if __name__ == "__main__":
    raise SystemExit(main())
