"""Shared builders for the engine tests: claim rows in fen, rule books, a reference rounding.

Amounts are integer fen everywhere (``10_000_00`` = 10,000.00 yuan).  Expected values in the tests
are worked by hand from the policy arithmetic; the only arithmetic helper here is ``rhu``, a plain
integer half-up division used to write those hand calculations down.
"""

from __future__ import annotations

import copy
import datetime as dt
import itertools
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from medclaim.rules import RuleBook, load_rulebook
from medclaim.schema import CLAIM_SCHEMA
from medclaim.settle import Settlement, settle_claims

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "engine_rules"
MONEY = ["act_pay_dedc", "hifp_pay", "hifmi_pay", "maf_pay", "fund_pay_sumamt", "psn_part_amt"]

_ids = itertools.count(1)


def rhu(numerator: int, denominator: int = 10_000) -> int:
    """Round half up of a non-negative integer quotient (plain ints, independent of the engine)."""
    assert numerator >= 0 and denominator > 0
    return (2 * numerator + denominator) // (2 * denominator)


def d(s: str) -> dt.date:
    return dt.date.fromisoformat(s)


def claim(**overrides: Any) -> dict[str, Any]:
    """One canonical claim row (CLAIM_SCHEMA), money in fen.

    Defaults: an ordinary resident's local, unreferred admission (``med_type`` 21) at a secondary
    hospital (``hosp_lv`` 05), 2021-03-01 → 2021-03-10, policy scope 10,000.00 yuan and nothing
    else.  ``medfee_sumamt`` defaults to the sum of the four parts, so the national identity
    medfee = fulamt + overlmt + preselfpay + inscp always holds unless a test overrides it.
    Dates may be given as ISO strings.  ``reported_hifp_pay`` (fen) may be given for rule sets that
    take basic payments as reported.
    """
    row: dict[str, Any] = {
        "setl_id": f"C{next(_ids):06d}",
        "psn_no": "P1",
        "psn_idet_type": "",
        "med_type": "21",
        "hosp_lv": "05",
        "pay_loc": "本地",
        "refl_flag": False,
        "begndate": d("2021-03-01"),
        "enddate": d("2021-03-10"),
        "fulamt_ownpay_amt": 0,
        "overlmt_selfpay": 0,
        "preselfpay_amt": 0,
        "inscp_scp_amt": 10_000_00,
        "benefit_start": None,
        "source_file": "test.csv",
        "source_row": 1,
    }
    row.update(overrides)
    for k in ("begndate", "enddate", "benefit_start"):
        if isinstance(row[k], str):
            row[k] = d(row[k])
    if "medfee_sumamt" not in overrides:
        row["medfee_sumamt"] = (
            row["fulamt_ownpay_amt"] + row["overlmt_selfpay"] + row["preselfpay_amt"] + row["inscp_scp_amt"]
        )
    return row


def claims_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Rows → a frame with exactly the CLAIM_SCHEMA columns (+ ``reported_hifp_pay`` when any row has it)."""
    schema = dict(CLAIM_SCHEMA)
    if any("reported_hifp_pay" in r for r in rows):
        schema["reported_hifp_pay"] = pl.Int64()
        rows = [{"reported_hifp_pay": 0, **r} for r in rows]
    return pl.DataFrame([{k: r.get(k) for k in schema} for r in rows], schema=schema)


def book(name: str) -> RuleBook:
    """A fixture rule set under tests/fixtures/engine_rules/, or a real one such as 'anhui/dongzhi-2021'."""
    path = FIXTURES / f"{name}.yaml"
    return load_rulebook(path if path.exists() else name)


def _merge(base: Any, patch: Any) -> Any:
    if not isinstance(base, dict) or not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(base)
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = _merge(base.get(k), v)
    return out


def variant(tmp_path: Path, name: str, patch: dict[str, Any]) -> RuleBook:
    """A fixture rule set with one switch changed: ``patch`` is deep-merged (a ``None`` value deletes a key)."""
    data = yaml.safe_load((FIXTURES / f"{name}.yaml").read_text(encoding="utf-8"))
    out = tmp_path / f"{name}-variant-{next(_ids)}.yaml"
    out.write_text(yaml.safe_dump(_merge(data, patch), allow_unicode=True, sort_keys=False), encoding="utf-8")
    return load_rulebook(out)


def settle(rows: list[dict[str, Any]], rules: RuleBook | str, openings: pl.DataFrame | None = None) -> Settlement:
    rb = book(rules) if isinstance(rules, str) else rules
    return settle_claims(claims_frame(rows), rb, openings)


def by_id(s: Settlement) -> dict[str, dict[str, Any]]:
    """Ledger rows keyed by setl_id."""
    return {r["setl_id"]: r for r in s.ledger.iter_rows(named=True)}


def one(rows: list[dict[str, Any]] | dict[str, Any], rules: RuleBook | str) -> dict[str, Any]:
    """Settle one claim (or a few, returning the last by settlement order) and return its ledger row."""
    rows = [rows] if isinstance(rows, dict) else rows
    s = settle(rows, rules)
    assert s.rejects.height == 0, s.rejects.to_dicts()
    return by_id(s)[rows[-1]["setl_id"]]


def assert_conserved(row: dict[str, Any]) -> None:
    assert row["fund_pay_sumamt"] == row["hifp_pay"] + row["hifmi_pay"] + row["maf_pay"]
    assert row["fund_pay_sumamt"] + row["psn_part_amt"] == row["medfee_sumamt"]


def full_ledger(path: Path, rules: RuleBook | str) -> pl.DataFrame:
    """A stored ledger with the engine's working figures (ip_*, ci_* …) recomputed by the engine
    from the openings it holds; fails if any kept figure comes out differently."""
    from medclaim.recompute import recompute
    from medclaim.store import read_ledger

    rb = book(rules) if isinstance(rules, str) else rules
    again = recompute(read_ledger(path), {rs.id: rs for rs in rb.periods})
    assert again.differences.height == 0, again.differences.to_dicts()
    return again.rows
