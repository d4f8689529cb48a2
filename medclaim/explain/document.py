"""The explain document of one person-year, built from the engine's own ledger columns.

Explain never does settlement arithmetic.  It *reports* the engine's intermediate columns — from
an in-memory settlement, or, for a stored ledger (which keeps what was paid, not the working
figures), from ``medclaim.recompute``, which runs the same engine again on the person-year's rows
from the openings the ledger holds and reports any figure that comes out differently: the
deductible and its factors, the ratio and its parts, the raw basic payment, each annual cap's
cumulative input and cut, the 大病 base, threshold and per-band bases, the assistance base, ratio
and limit, the running totals after the claim.  The only derived figures are "before" values, each
the pure difference of two kept columns (cumulative after − this claim's contribution); rule
parameters that are not per-row (band bounds, the cap values) are read from the rule set the
ledger row names, together with their citation.  When the claims carry the hospital's reported
amounts, ``reported.reported_by_claim`` puts them beside the computed figures, with the cause the
audit's own attribution gives.  The document's shape is ``model.ExplainDoc``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl

from ..rules import BENEFIT_CLASSES
from ..recompute import needs_recompute, recompute
from .load import RuleRef, years_of
from .mask import mask_id
from .model import SCHEMA_ID, conform
from .reported import reported_by_claim


def _place_suffix(table: Any, tier: str, place: str) -> str:
    """Which entry of a by-tier / by-place table the engine used (the place's own row where given)."""
    if tier in table.by_place.get(place, {}):
        return f".by_place.{place}.{tier}"
    return f".by_tier.{tier}"


def _iso(v: Any) -> str | None:
    return v.isoformat() if isinstance(v, (dt.date, dt.datetime)) else v


def _int(v: Any) -> int | None:
    return None if v is None else int(v)


def _cites(*items: dict[str, Any] | None) -> list[dict[str, Any]]:
    return [c for c in items if c is not None]


class _Row:
    """A ledger row; a column the ledger does not keep reads as None (the document says null)."""

    def __init__(self, row: dict[str, Any]):
        self.row = row

    def __getitem__(self, col: str) -> Any:
        return self.row.get(col)

    def int(self, col: str) -> int | None:
        return _int(self.row.get(col))

    def diff(self, after: str, contribution: str) -> int | None:
        a, x = self.row.get(after), self.row.get(contribution)
        return None if a is None or x is None else int(a) - int(x)


def _per_claim(ref: RuleRef) -> bool:
    return ref.rs.ruleset.rounding == "per_claim"


def _receipt(part: int | None, ratio_bp: int | None, exact: int | None, rounded: int | None) -> dict[str, Any] | None:
    """The engine's receipt figures (this claim's part × ratio, exactly, and as rounded), as kept."""
    if exact is None or rounded is None:
        return None
    return {"part": part, "ratio_bp": ratio_bp, "exact": exact, "rounded": rounded}


def explain_person(
    rows: pl.DataFrame,
    psn_no: str,
    year: int,
    rules: dict[str, RuleRef],
    *,
    show_ids: bool = False,
    source: dict[str, Any] | None = None,
    rejected: list[dict[str, Any]] | None = None,
    only: str | None = None,
) -> dict[str, Any]:
    """The explain document for one person-year (schema ``medclaim.explain/1``), checked against
    ``model.ExplainDoc`` before it is returned.

    ``only``: show just that settlement (its figures still come from the whole year's order).
    """
    years = years_of(rows)
    mine = rows.filter(pl.col("year") == year)
    differences = []
    if needs_recompute(mine):
        # a stored ledger keeps what was paid, not the engine's working figures: the same engine
        # settles the person-year's rows again from the openings the ledger holds
        again = recompute(mine, {rid: ref.rs for rid, ref in rules.items()})
        mine, differences = again.rows, again.differences.to_dicts()
    claims = [_claim(_Row(r), i + 1, rules) for i, r in enumerate(mine.iter_rows(named=True))]
    by_claim = reported_by_claim(mine, rules)  # the hospital's own figures, when the input carries them
    for c in claims:
        if not c["is_reversal"] and c["setl_id"] in by_claim:
            c["reported"] = by_claim[c["setl_id"]]
    n_year = len(claims)
    if only is not None:
        claims = [c for c in claims if c["setl_id"] == only]
    used = list(dict.fromkeys(mine["ruleset_id"].to_list()))
    rulesets = []
    warnings: list[dict[str, Any]] = []
    for rid in used:
        ref = rules[rid]
        ledger_versions = sorted(set(mine.filter(pl.col("ruleset_id") == rid)["ruleset_version"].to_list()))
        rulesets.append(
            {
                "id": rid,
                "version": ref.rs.ruleset.version,
                "file": ref.file,
                "name": ref.rs.ruleset.name,
                "unverified": len(ref.rs.unverified()),
                "parameters": len(ref.blocks),
            }
        )
        for v in ledger_versions:
            if v != ref.rs.ruleset.version:
                warnings.append({"code": "ruleset_version_changed", "ruleset_id": rid, "ledger_version": v, "file_version": ref.rs.ruleset.version})
    for d in differences:
        warnings.append({"code": "recomputed_differs", **d})
    for r in rejected or []:
        warnings.append({"code": "claim_rejected", "setl_id": r.get("setl_id"), "reason_code": r.get("reason_code"), "message": r.get("message")})
    last = _Row(mine.row(-1, named=True)) if mine.height else _Row({})
    return conform({
        "schema": SCHEMA_ID,
        "person": psn_no if show_ids else mask_id(psn_no),
        "person_masked": not show_ids,
        "year": int(year),
        "years_available": years,
        "source": source or {},
        "rulesets": rulesets,
        "warnings": warnings,
        "claims": claims,
        "claims_in_year": n_year,
        "only": only,
        "year_totals": _ytd(last, rules.get(last["ruleset_id"]) if last["ruleset_id"] else None),
    })


def _ytd(r: _Row, ref: RuleRef | None) -> dict[str, Any]:
    caps = {}
    if ref is not None:
        caps = {c.name: r.int(f"ytd_cap_{c.name}") for c in ref.rs.basic.annual_caps}
    return {
        "claims": r.int("ytd_claims"),
        "admissions": r.int("ytd_admissions"),
        "medfee_sumamt": r.int("ytd_medfee"),
        "hifp_pay": r.int("ytd_hifp"),
        "hifmi_pay": r.int("ytd_hifmi"),
        "maf_pay": r.int("ytd_maf"),
        "psn_part_amt": r.int("ytd_psn_part"),
        "critical_base": r.int("ytd_critical_base"),
        "assist_base": r.int("ytd_assist_base"),
        "chronic_scope": r.int("ytd_chronic_scope"),
        "caps": caps,
    }


def _claim(r: _Row, seq: int, rules: dict[str, RuleRef]) -> dict[str, Any]:
    ref = rules[r["ruleset_id"]]
    covered = bool(r["covered"]) if r["covered"] is not None else not bool(r["not_covered"])
    return {
        "seq": seq,
        "setl_id": r["setl_id"],
        "begndate": _iso(r["begndate"]),
        "enddate": _iso(r["enddate"]),
        "benefit_start": _iso(r["benefit_start"]),
        "med_type": r["med_type"],
        "hosp_lv": r["hosp_lv"],
        "pay_loc": r["pay_loc"],
        "psn_idet_type": r["psn_idet_type"],
        "refl_flag": r["refl_flag"],
        "benefit_class": r["benefit_class"],
        "tier": r["tier"],
        "place": r["place"],
        "identity": r["identity"],
        "is_reversal": bool(r["is_reversal"]),
        "entry_no": r.int("entry_no"),
        "run": r.int("run"),
        "reverses_entry": r.int("reverses_entry"),
        "reversal_reason": r["reversal_reason"],
        "late": r["late"],
        "ruleset_id": r["ruleset_id"],
        "ruleset_version": r["ruleset_version"],
        "covered": covered,
        "not_covered_reason": r["not_covered_reason"],
        "not_covered_cite": _not_covered_cite(r, ref),
        "flags": {
            "basic_cap_reached": bool(r["basic_cap_reached"]),
            "critical_threshold_reached": bool(r["critical_threshold_reached"]),
            "critical_cap_reached": bool(r["critical_cap_reached"]),
        },
        "steps": {
            "costs": {
                "medfee_sumamt": r.int("medfee_sumamt"),
                "fulamt_ownpay_amt": r.int("fulamt_ownpay_amt"),
                "overlmt_selfpay": r.int("overlmt_selfpay"),
                "preselfpay_amt": r.int("preselfpay_amt"),
                "inscp_scp_amt": r.int("inscp_scp_amt"),
                "scope": r.int("scope"),
                "pre": r.int("pre"),
            },
            "basic": _basic(r, ref, covered),
            "critical": _critical(r, ref, covered),
            "assistance": _assistance(r, ref, covered),
            "patient": {
                "hifp_pay": r.int("hifp_pay"),
                "hifmi_pay": r.int("hifmi_pay"),
                "maf_pay": r.int("maf_pay"),
                "fund_pay_sumamt": r.int("fund_pay_sumamt"),
                "psn_part_amt": r.int("psn_part_amt"),
                "act_pay_dedc": r.int("act_pay_dedc"),
            },
        },
        "ytd": _ytd(r, ref),
    }


def _not_covered_cite(r: _Row, ref: RuleRef) -> dict[str, Any] | None:
    reason = r["not_covered_reason"]
    if reason == "class_excluded":
        # code tables carry no citation of their own: point at the key
        return {"file": ref.file, "key": f"codes.med_type.{r['med_type']}", "doc_no": None, "ref": "", "status": None}
    if reason == "general_outpatient_tier_not_covered":
        return {"file": ref.file, "key": "basic.general_outpatient.covered_tiers", "doc_no": None, "ref": "", "status": None}
    return None


# -- basic insurance


def _basic(r: _Row, ref: RuleRef, covered: bool) -> dict[str, Any]:
    rs, cls = ref.rs, r["benefit_class"]
    b = rs.basic
    out: dict[str, Any] = {
        "applies": covered and cls in BENEFIT_CLASSES,
        "method": None,
        "deductible": None,
        "ratio": None,
        "raw": r.int("hifp_raw"),
        "caps": [],
        "pay": r.int("hifp_pay"),
        "cites": [],
    }
    if not out["applies"]:
        return out
    tier, place = r["tier"], r["place"]
    if b.reported is not None:
        out["method"] = "reported"
        out["cites"] = _cites(ref.cite("basic.reported"))
    elif cls == "inpatient" and b.inpatient is not None:
        ip = b.inpatient
        out["method"] = "inpatient"
        nth = r.int("ip_admission_no")
        repeat_cite = None
        if ip.repeat_admission and nth is not None:
            applicable = [n for n in sorted(ip.repeat_admission.deductible_factor_by_nth) if n <= nth]
            if applicable:
                repeat_cite = ref.cite("basic.inpatient.repeat_admission", f".deductible_factor_by_nth.{applicable[-1]}")
        ident = r["identity"]
        ident_cite = ref.cite(f"basic.inpatient.identity.{ident}") if ident in ip.identity else None
        out["deductible"] = {
            "kind": "per_admission",
            "borne": r.int("dedc"),
            "amount": r.int("ip_deductible"),
            "base": r.int("ip_deductible_base"),
            "admission_no": nth,
            "repeat_factor_bp": r.int("ip_repeat_factor"),
            "identity_factor_bp": r.int("ip_identity_factor"),
            "cumulative_before": None,
            "cumulative_after": None,
            "cites": _cites(ref.cite("basic.inpatient.deductible", _place_suffix(ip.deductible, tier, place)), repeat_cite, ident_cite),
        }
        referral_cite = None
        if ip.referral and r.int("ip_referral_points"):
            if place in ip.referral.by_place:
                key = f".by_place.{place}." + ("referred" if r["refl_flag"] else "unreferred")
            else:
                key = ".referred_points" if r["refl_flag"] else ".unreferred_offsite_points"
            referral_cite = ref.cite("basic.inpatient.referral", key)
        ident_ratio_cite = ident_cite if r.int("ip_identity_points") else None
        out["ratio"] = {
            "applied_bp": r.int("ratio_bp"),
            "base_bp": r.int("ip_ratio_base"),
            "referral_points_bp": r.int("ip_referral_points"),
            "identity_points_bp": r.int("ip_identity_points"),
            "cites": _cites(ref.cite("basic.inpatient.ratio", _place_suffix(ip.ratio, tier, place)), referral_cite, ident_ratio_cite),
        }
    elif cls == "general_outpatient" and b.general_outpatient is not None:
        go = b.general_outpatient
        out["method"] = "general_outpatient"
        out["deductible"] = None if go.per_visit_deductible is None else {
            "kind": "per_visit",
            "borne": r.int("dedc"),
            "amount": go.per_visit_deductible.value if go.per_visit_deductible else 0,
            "base": None, "admission_no": None, "repeat_factor_bp": None, "identity_factor_bp": None,
            "cumulative_before": None, "cumulative_after": None,
            "cites": _cites(ref.cite("basic.general_outpatient.per_visit_deductible")),
        }
        out["ratio"] = _plain_ratio(r, [ref.cite("basic.general_outpatient.ratio", _place_suffix(go.ratio, tier, place))])
        if go.per_visit_cap:
            out["per_visit_cap"] = go.per_visit_cap.value
            out["cites"] = _cites(ref.cite("basic.general_outpatient.per_visit_cap"))
    elif cls == "chronic_outpatient" and b.chronic_outpatient is not None:
        co = b.chronic_outpatient
        out["method"] = "chronic_outpatient"
        out["deductible"] = {
            "kind": "annual",
            "borne": r.int("dedc"),
            "amount": co.annual_deductible.value,
            "base": None, "admission_no": None, "repeat_factor_bp": None, "identity_factor_bp": None,
            # the year's chronic policy-scope total, before and after this claim
            "cumulative_before": r.diff("ytd_chronic_scope", "scope"),
            "cumulative_after": r.int("ytd_chronic_scope"),
            "cites": _cites(ref.cite("basic.chronic_outpatient.annual_deductible")),
        }
        out["ratio"] = _plain_ratio(r, [ref.cite("basic.chronic_outpatient.ratio")])
        if _per_claim(ref):
            out["receipt"] = _receipt(r.int("co_part"), co.ratio.value, r.int("co_product"), r.int("hifp_raw"))
    elif cls == "two_diseases" and b.two_diseases is not None:
        out["method"] = "two_diseases"
        out["ratio"] = _plain_ratio(r, [ref.cite("basic.two_diseases.ratio")])
    for i, cap in enumerate(b.annual_caps):
        if cls not in cap.classes:
            continue
        this, cut = r.int(f"cap_in_{cap.name}"), r.int(f"cap_cut_{cap.name}")
        before = r.diff(f"ytd_cap_{cap.name}", f"cap_in_{cap.name}")
        if _per_claim(ref) and None not in (before, cut):
            # per claim the running total is what was paid under the cap: before this claim it is
            # the total less what this claim paid (brought minus cut); shown as before + this claim
            before = before + cut
        out["caps"].append(
            {
                "name": cap.name,
                "classes": list(cap.classes),
                "limit": cap.value,
                "this_claim": this,
                "before": before,
                "after": None if None in (before, this) else before + this,
                "cut": cut,
                "cites": _cites(ref.cite(f"basic.annual_caps[{i}]")),
            }
        )
    return out


def _plain_ratio(r: _Row, cites: list[dict[str, Any] | None]) -> dict[str, Any]:
    return {
        "applied_bp": r.int("ratio_bp"),
        "base_bp": r.int("ratio_bp"),
        "referral_points_bp": None,
        "identity_points_bp": None,
        "cites": _cites(*cites),
    }


def _first_reason(*checks: tuple[bool, str]) -> str | None:
    """Why a layer does not apply to a claim: the first check that holds, None when it applies."""
    return next((reason for holds, reason in checks if holds), None)


# -- 大病


def _critical(r: _Row, ref: RuleRef, covered: bool) -> dict[str, Any]:
    ci = ref.rs.critical
    cls, ident = r["benefit_class"], r["identity"]
    reason = _first_reason(
        (ci is None, "no_layer"),
        (not covered, "not_covered"),
        (ci is not None and cls not in ci.classes, "class_not_counted"),
    )
    out: dict[str, Any] = {
        "applies": reason is None,
        "reason": reason,
        "base": r.int("ci_base"),
        "before": r.diff("ytd_critical_base", "ci_base"),
        "after": r.int("ytd_critical_base"),
        "threshold": r.int("ci_threshold"),
        "cap": r.int("ci_cap"),
        "ratio_points_bp": r.int("ci_ratio_points"),
        "tilt": None,
        "segments": [],
        "counts_preselfpay": ci is not None and ci.include_preselfpay is not None,
        "cap_cut": r.int("ci_cap_cut"),
        "pay": r.int("hifmi_pay"),
        "cites": [],
    }
    if ci is None:
        return out
    out["cites"] = _cites(ref.cite("critical.basis"), ref.cite("critical.include_preselfpay"))
    if ident in ci.identity_tilt:
        t = ci.identity_tilt[ident]
        out["tilt"] = {
            "identity": ident,
            "threshold_factor_bp": t.threshold_factor,
            "ratio_points_bp": r.int("ci_ratio_points"),
            "no_cap": t.no_cap,
            "cites": _cites(ref.cite(f"critical.identity_tilt.{ident}")),
        }
    for i, band in enumerate(ci.segments.bands):
        out["segments"].append(
            {
                "index": i,
                "from": r.int("ci_threshold") if i == 0 else band.from_,
                "to": band.to,
                "ratio_bp": r.int(f"ci_band{i}_ratio"),
                "base": r.int(f"ci_band{i}_base"),
                "pay": r.int(f"ci_band{i}_pay"),  # null while the engine does not keep per-band payments
                "cites": _cites(ref.cite("critical.segments", f".bands[{i}]")),
            }
        )
    out["cap_cites"] = _cites(ref.cite("critical.annual_cap"))
    if _per_claim(ref) and out["applies"]:
        out["receipt"] = _receipt(None, None, r.int("ci_product"), r.int("ci_before_cap"))
    return out


# -- medical assistance


def _assistance(r: _Row, ref: RuleRef, covered: bool) -> dict[str, Any]:
    ma = ref.rs.assistance
    cls, ident = r["benefit_class"], r["identity"]
    reason = _first_reason(
        (ma is None or not ma.schemes, "no_layer"),
        (ma is not None and ident not in ma.schemes, "no_scheme"),
        (not covered, "not_covered"),
        (ma is not None and cls not in ma.classes, "class_not_counted"),
    )
    out: dict[str, Any] = {
        "applies": reason is None,
        "reason": reason,
        "scheme": ident if ma is not None and ident in ma.schemes else None,
        "counts_preselfpay": ref.rs.critical is not None and ref.rs.critical.include_preselfpay is not None,
        "base": r.int("ma_base"),
        "before": r.diff("ytd_assist_base", "ma_base"),
        "after": r.int("ytd_assist_base"),
        "deductible": None,
        "ratio_bp": None,
        "limit": None,
        "used_before": r.diff("ytd_maf", "maf_pay"),
        "used_after": r.int("ytd_maf"),
        "left": None,
        "pay": r.int("maf_pay"),
        "cites": [],
    }
    if out["scheme"] is None:
        return out
    out["deductible"] = r.int("ma_deductible")
    out["ratio_bp"] = r.int("ma_ratio")
    out["limit"] = r.int("ma_limit")
    out["left"] = r.diff("ma_limit", "ytd_maf") if out["limit"] is not None else None
    out["cites"] = _cites(ref.cite("assistance.basis"), ref.cite(f"assistance.schemes.{ident}"))
    if _per_claim(ref) and out["applies"]:
        out["receipt"] = _receipt(r.int("ma_part"), out["ratio_bp"], r.int("ma_product"), r.int("ma_before_limit"))
    return out

