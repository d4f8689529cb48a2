"""Explain is the settlement engine's own figures, not a second implementation.

For random claim sets settled with rules/anhui/dongzhi-2021.yaml, every figure of every person's
explain document equals the ledger column it reports (the mapping below is written out here, not
taken from explain), every "before" is the ledger's running total after the claim minus the
claim's own contribution, and every other number is a rule-set parameter.  Settling one person's
rows alone (`--input`) explains exactly as the whole run's ledger does.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import claim, claims_frame
from medclaim import explain as ex
from medclaim.rules import load_rulebook
from medclaim.settle import settle_claims

BOOK = load_rulebook("anhui/dongzhi-2021")
RS = BOOK.periods[0]
INDEX = ex.rule_index([BOOK])
PEOPLE = ["341721000000000001", "341721000000000002", "341721000000000003", "P4"]
IDENTITIES = ["", "", "低保对象", "特困人员", "致贫返贫人口", "低保边缘户", "监测户", "稳定脱贫人口"]


@st.composite
def claim_sets(draw) -> list[dict[str, Any]]:
    ident = {p: draw(st.sampled_from(IDENTITIES)) for p in PEOPLE}
    n = draw(st.integers(1, 14))
    rows = []
    for i in range(n):
        psn = draw(st.sampled_from(PEOPLE))
        med_type = draw(st.sampled_from(["21", "21", "21", "11", "14", "9901", "41"]))
        big = med_type in ("21", "14")
        scope = draw(st.integers(0, 250_000_00 if big else 2_000_00))
        begin = dt.date(2021, 1, 1) + dt.timedelta(days=draw(st.integers(0, 330)))
        end = begin + dt.timedelta(days=draw(st.integers(0, 20)) if med_type == "21" else 0)
        start = draw(st.one_of(st.none(), st.just(dt.date(2021, 3, 1))))
        rows.append(
            claim(
                setl_id=f"S{i:03d}",
                psn_no=psn,
                psn_idet_type=ident[psn],
                med_type=med_type,
                hosp_lv=draw(st.sampled_from(["10", "08", "05", "02"])),
                pay_loc=draw(st.sampled_from(["本地", "本地", "市内异地", "省内异地", "跨省异地"])),
                refl_flag=draw(st.booleans()),
                begndate=begin,
                enddate=end,
                benefit_start=start,
                inscp_scp_amt=scope,
                fulamt_ownpay_amt=draw(st.integers(0, 5_000_00)),
                overlmt_selfpay=draw(st.integers(0, 500_00)),
                preselfpay_amt=draw(st.integers(0, 3_000_00)),
            )
        )
    return rows


# ------------------------------------------------------------------ the mapping: explain figure → ledger column


def expected(row: dict[str, Any]) -> dict[str, Any]:
    """Figure path → value, from the ledger row and the rule set only (no settlement arithmetic)."""
    def diff(a: str, b: str) -> int:
        return row[a] - row[b]

    e: dict[str, Any] = {}
    for k in ("medfee_sumamt", "fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt", "inscp_scp_amt", "scope", "pre"):
        e[f"steps.costs.{k}"] = row[k]
    for k in ("hifp_pay", "hifmi_pay", "maf_pay", "fund_pay_sumamt", "psn_part_amt", "act_pay_dedc"):
        e[f"steps.patient.{k}"] = row[k]
    e["steps.basic.raw"] = row["hifp_raw"]
    e["steps.basic.pay"] = row["hifp_pay"]
    cls = row["benefit_class"]
    if row["covered"]:
        if cls == "inpatient":
            e |= {
                "steps.basic.deductible.borne": row["dedc"],
                "steps.basic.deductible.amount": row["ip_deductible"],
                "steps.basic.deductible.base": row["ip_deductible_base"],
                "steps.basic.deductible.admission_no": row["ip_admission_no"],
                "steps.basic.deductible.repeat_factor_bp": row["ip_repeat_factor"],
                "steps.basic.deductible.identity_factor_bp": row["ip_identity_factor"],
                "steps.basic.ratio.applied_bp": row["ratio_bp"],
                "steps.basic.ratio.base_bp": row["ip_ratio_base"],
                "steps.basic.ratio.referral_points_bp": row["ip_referral_points"],
                "steps.basic.ratio.identity_points_bp": row["ip_identity_points"],
            }
        if cls == "chronic_outpatient":
            e |= {
                "steps.basic.deductible.borne": row["dedc"],
                "steps.basic.deductible.amount": RS.basic.chronic_outpatient.annual_deductible.value,
                "steps.basic.deductible.cumulative_after": row["ytd_chronic_scope"],
                "steps.basic.deductible.cumulative_before": diff("ytd_chronic_scope", "scope"),
            }
        if cls in ("general_outpatient", "chronic_outpatient", "two_diseases"):
            e |= {"steps.basic.ratio.applied_bp": row["ratio_bp"], "steps.basic.ratio.base_bp": row["ratio_bp"]}
        caps = [c for c in RS.basic.annual_caps if cls in c.classes]
        for i, cap in enumerate(caps):
            p = f"steps.basic.caps[{i}]"
            # per-claim rounding: the cap's running total is what was paid under it, so the total
            # before this claim is after − (brought − cut); shown as before + brought
            before = row[f"ytd_cap_{cap.name}"] - row[f"cap_in_{cap.name}"] + row[f"cap_cut_{cap.name}"]
            e |= {
                f"{p}.limit": cap.value,
                f"{p}.this_claim": row[f"cap_in_{cap.name}"],
                f"{p}.after": before + row[f"cap_in_{cap.name}"],
                f"{p}.before": before,
                f"{p}.cut": row[f"cap_cut_{cap.name}"],
            }
        if cls == "chronic_outpatient" and row["co_product"] is not None:  # the receipt: part above the deductible still to bear × ratio
            e |= {"steps.basic.receipt.part": row["co_part"], "steps.basic.receipt.ratio_bp": row["ratio_bp"],
                  "steps.basic.receipt.exact": row["co_product"], "steps.basic.receipt.rounded": row["hifp_raw"]}
    e |= {
        "steps.critical.base": row["ci_base"],
        "steps.critical.after": row["ytd_critical_base"],
        "steps.critical.before": diff("ytd_critical_base", "ci_base"),
        "steps.critical.threshold": row["ci_threshold"],
        "steps.critical.cap": row["ci_cap"],
        "steps.critical.ratio_points_bp": row["ci_ratio_points"],
        "steps.critical.cap_cut": row["ci_cap_cut"],
        "steps.critical.pay": row["hifmi_pay"],
    }
    if row["covered"] and cls in RS.critical.classes:  # the receipt: Σ band parts × ratios, rounded once
        e |= {"steps.critical.receipt.exact": row["ci_product"], "steps.critical.receipt.rounded": row["ci_before_cap"]}
    for i, band in enumerate(RS.critical.segments.bands):
        p = f"steps.critical.segments[{i}]"
        e |= {
            f"{p}.index": i,
            f"{p}.from": row["ci_threshold"] if i == 0 else band.from_,
            f"{p}.to": band.to,
            f"{p}.ratio_bp": row[f"ci_band{i}_ratio"],
            f"{p}.base": row[f"ci_band{i}_base"],
            f"{p}.pay": row.get(f"ci_band{i}_pay"),
        }
    tilt = RS.critical.identity_tilt.get(row["identity"])
    if tilt is not None:
        e |= {"steps.critical.tilt.threshold_factor_bp": tilt.threshold_factor, "steps.critical.tilt.ratio_points_bp": row["ci_ratio_points"]}
    e |= {
        "steps.assistance.base": row["ma_base"],
        "steps.assistance.after": row["ytd_assist_base"],
        "steps.assistance.before": diff("ytd_assist_base", "ma_base"),
        "steps.assistance.used_after": row["ytd_maf"],
        "steps.assistance.used_before": diff("ytd_maf", "maf_pay"),
        "steps.assistance.pay": row["maf_pay"],
    }
    if row["identity"] in RS.assistance.schemes:
        e |= {
            "steps.assistance.deductible": row["ma_deductible"],
            "steps.assistance.ratio_bp": row["ma_ratio"],
            "steps.assistance.limit": row["ma_limit"],
            "steps.assistance.left": None if row["ma_limit"] is None else diff("ma_limit", "ytd_maf"),
        }
        if row["covered"] and cls in RS.assistance.classes:
            e |= {
                "steps.assistance.receipt.part": row["ma_part"],
                "steps.assistance.receipt.ratio_bp": row["ma_ratio"],
                "steps.assistance.receipt.exact": row["ma_product"],
                "steps.assistance.receipt.rounded": row["ma_before_limit"],
            }
    ytd = {
        "claims": "ytd_claims", "admissions": "ytd_admissions", "medfee_sumamt": "ytd_medfee", "hifp_pay": "ytd_hifp",
        "hifmi_pay": "ytd_hifmi", "maf_pay": "ytd_maf", "psn_part_amt": "ytd_psn_part", "critical_base": "ytd_critical_base",
        "assist_base": "ytd_assist_base", "chronic_scope": "ytd_chronic_scope",
    }
    e |= {f"ytd.{k}": row[c] for k, c in ytd.items()}
    e |= {f"ytd.caps.{c.name}": row[f"ytd_cap_{c.name}"] for c in RS.basic.annual_caps}
    e |= {"seq": None}  # position, checked separately
    return e


def figures(obj: Any, path: str = "") -> dict[str, int]:
    """Every integer leaf (a figure) of a claim's document, by path."""
    out: dict[str, int] = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out |= figures(v, f"{path}.{k}" if path else k)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out |= figures(v, f"{path}[{i}]")
    elif isinstance(obj, int) and not isinstance(obj, bool):
        out[path] = obj
    return out


def get(doc: Any, path: str) -> Any:
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        doc = doc[int(part[1:-1])] if part.startswith("[") else doc[part]
    return doc


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(claim_sets())
def test_every_explained_figure_is_the_ledgers(rows):
    s = settle_claims(claims_frame(rows), BOOK)
    ledger = s.ledger
    for psn in ledger["psn_no"].unique().to_list():
        mine = ledger.filter(pl.col("psn_no") == psn)
        doc = ex.explain_person(mine, psn, 2021, INDEX)
        assert ex.validate(doc) == []
        ledger_rows = mine.to_dicts()
        assert [c["setl_id"] for c in doc["claims"]] == [r["setl_id"] for r in ledger_rows]
        for seq, (c, row) in enumerate(zip(doc["claims"], ledger_rows), start=1):
            want = expected(row)
            got = figures(c)
            assert c["seq"] == seq
            unexplained = set(got) - set(want)
            assert not unexplained, f"figures with no ledger column: {sorted(unexplained)}"
            for path, value in want.items():
                if path == "seq":
                    continue
                assert get(c, path) == value, (c["setl_id"], path, get(c, path), value)
        assert doc["year_totals"] == doc["claims"][-1]["ytd"]

        # --input: that person's rows alone, settled by the same engine, explain identically
        alone = settle_claims(claims_frame([r for r in rows if r["psn_no"] == psn]), BOOK).ledger
        assert ex.explain_person(alone, psn, 2021, INDEX) == doc


def test_explain_does_no_settlement_arithmetic():
    """A guard against a second implementation creeping in: explain never touches the engine's math."""
    src = "".join(p.read_text(encoding="utf-8") for p in Path(ex.__file__).parent.glob("*.py"))
    for forbidden in ("apply_ratio", "banded", "capped", "running_total", "from ..engine", "from ..annual", "from medclaim.engine", "BP //", "* BP"):
        assert forbidden not in src, forbidden
