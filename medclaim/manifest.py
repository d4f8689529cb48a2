"""A run's manifest (``runs/run-NNNNNN/manifest.json``): what was read, under which rules, what
was settled, on which machine — enough to say later exactly what produced a ledger run."""

from __future__ import annotations

import dataclasses
import getpass
import platform
import socket
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import polars as pl

from . import __version__
from .rules import RuleBook
from .store import RunPlan, sha256_file


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def rules_manifest(rules: str | Path | None, book: RuleBook) -> dict[str, Any]:
    return {
        "spec": None if rules is None else str(rules),
        "periods": [
            {
                "id": rs.id,
                "version": rs.ruleset.version,
                "effective": [str(rs.ruleset.effective_from), str(rs.ruleset.effective_to)],
                "file": str(f),
                "sha256": sha256_file(f) if Path(f).is_file() else None,
                "unverified_parameters": len(rs.unverified()),
            }
            for rs, f in zip(book.periods, book.files)
        ],
    }


def inputs_manifest(inputs: list[Path], stats: list[Any] | None = None) -> list[dict[str, Any]]:
    by_path = {s.path: dataclasses.asdict(s) for s in stats or [] if dataclasses.is_dataclass(s)}
    out = []
    for p in inputs:
        p = Path(p)
        entry: dict[str, Any] = {"path": str(p), "absolute": str(p.resolve()), "bytes": p.stat().st_size, "sha256": sha256_file(p)}
        extra = by_path.get(str(p)) or by_path.get(p.name) or {}
        entry.update({k: v for k, v in extra.items() if k != "path"})
        out.append(entry)
    return out


def environment() -> dict[str, Any]:
    try:
        user = getpass.getuser()
    except Exception:  # no user name in some containers
        user = None
    return {
        "medclaim": __version__,
        "python": platform.python_version(),
        "polars": pl.__version__,
        "pyarrow": _version("pyarrow"),
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "user": user,
        "argv": list(sys.argv),
    }


def build_manifest(plan: RunPlan, summary: dict[str, Any], started: str, rules: dict[str, Any],
                   inputs: list[dict[str, Any]], head_before: dict[str, Any], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    totals = summary["totals_fen"]
    m = {
        "schema": "medclaim.run/1",
        "run": plan.run,
        "kind": plan.kind,
        "started_utc": started,
        "ended_utc": None,  # filled at commit
        "inputs": inputs,
        "rules": rules,
        "counts": {
            "rows_read": summary["rows_read"],
            "entries": plan.rows,
            "claims_settled": summary["claims_settled"],
            "rows_rejected": summary["rows_rejected"],
            "people": summary["people_settled"],
            **plan.counts,
            "rejects_by_reason": summary["rejects_by_reason"],
        },
        "totals_fen": {k: totals[k] for k in ("medfee_sumamt", "inscp_scp_amt", "hifp_pay", "hifmi_pay", "maf_pay", "fund_pay_sumamt", "psn_part_amt")},
        "ledger_before": head_before,
        "environment": environment(),
    }
    m.update(extra or {})
    return m
