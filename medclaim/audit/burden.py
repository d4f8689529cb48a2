"""高额费用负担患者预警: people whose burden for the year stays high after the three layers.

Two lists, one file (``high_burden.csv``, column ``list``):

* ``high_burden`` — everyone whose personal burden for the year exceeds the threshold of the rule
  file's ``audit.high_burden`` block (per identity where ``by_identity`` says so).  The burden is
  ``basis: psn_part_amt`` (all the patient paid: the running total ``ytd_psn_part``) or
  ``basis: policy_scope`` (the policy-scope part left after the three funds);
* ``tilt_assistance`` — assisted people (an identity with an assistance scheme) whose
  policy-scope burden after assistance (the assistance base counted this year minus what
  assistance paid) stays above the ``audit.tilt_assistance`` threshold: candidates for 倾斜救助
  (文医保发〔2023〕10号).  Only when the rule set has that block.

Figures are the year's running totals after the person's last audited claim, so with ``--ledger``
they include every claim the ledger already holds for that year.
"""

from __future__ import annotations

import polars as pl

from ..engine import KEYS
from ..rules import RuleSet
from ..rules.audit import DEFAULT_HIGH_BURDEN, HighBurden, TiltAssistance

BURDEN_SCHEMA = {
    "list": pl.String,
    "psn_no": pl.String,
    "year": pl.Int32,
    "identity": pl.String,
    "claims": pl.Int64,
    "medfee_sumamt": pl.Int64,
    "hifp_pay": pl.Int64,
    "hifmi_pay": pl.Int64,
    "maf_pay": pl.Int64,
    "psn_part_amt": pl.Int64,
    "burden": pl.Int64,
    "threshold": pl.Int64,
    "basis": pl.String,
    "rule_key": pl.String,
    "source": pl.String,
}


def year_totals(ledger: pl.DataFrame, prior_scope_burden: pl.DataFrame | None = None) -> pl.DataFrame:
    """Each person-year's running totals after its last claim in ``ledger`` (settlement order).

    ``scope_burden`` (policy scope + counted class-B self-pay − funds) is summed over the ledger's
    claims, plus ``prior_scope_burden`` (psn_no, year, scope_burden) for claims settled earlier.
    """
    last = ["ytd_claims", "ytd_medfee", "ytd_hifp", "ytd_hifmi", "ytd_maf", "ytd_psn_part", "ytd_assist_base"]
    out = ledger.group_by(KEYS, maintain_order=True).agg(
        *[pl.col(c).last() for c in last],
        pl.col("identity").last(),
        pl.col("ruleset_id").last(),
        (pl.col("scope") + pl.col("pre") - pl.col("fund_pay_sumamt")).sum().alias("scope_burden"),
    )
    return with_prior(out, prior_scope_burden)


def with_prior(totals: pl.DataFrame, prior_scope_burden: pl.DataFrame | None) -> pl.DataFrame:
    """``year_totals`` with the policy-scope burden of claims settled earlier added."""
    if prior_scope_burden is None or prior_scope_burden.height == 0:
        return totals
    return totals.join(prior_scope_burden.rename({"scope_burden": "_prior"}), on=KEYS, how="left").with_columns(
        scope_burden=pl.col("scope_burden") + pl.col("_prior").fill_null(0)
    ).drop("_prior")


def _threshold(block: HighBurden | TiltAssistance, rs: RuleSet) -> pl.Expr:
    mapping = {name: block.by_identity.get(name, block.threshold) for name in rs.identities}
    return pl.col("identity").replace_strict(mapping, default=block.threshold, return_dtype=pl.Int64)


def _rows(frame: pl.DataFrame, name: str, burden: pl.Expr, threshold: pl.Expr, basis: str, key: str, source: str) -> pl.DataFrame:
    return frame.with_columns(_burden=burden, _threshold=threshold).filter(pl.col("_burden") > pl.col("_threshold")).select(
        pl.lit(name).alias("list"),
        "psn_no", "year", "identity",
        pl.col("ytd_claims").alias("claims"),
        pl.col("ytd_medfee").alias("medfee_sumamt"),
        pl.col("ytd_hifp").alias("hifp_pay"),
        pl.col("ytd_hifmi").alias("hifmi_pay"),
        pl.col("ytd_maf").alias("maf_pay"),
        pl.col("ytd_psn_part").alias("psn_part_amt"),
        pl.col("_burden").alias("burden"),
        pl.col("_threshold").alias("threshold"),
        pl.lit(basis).alias("basis"),
        pl.lit(key).alias("rule_key"),
        pl.lit(source).alias("source"),
    ).cast(BURDEN_SCHEMA)


def burden_lists(totals: pl.DataFrame, periods: list[RuleSet]) -> pl.DataFrame:
    """Both lists over ``year_totals``, each person-year judged by the rule set of its last claim."""
    parts = [pl.DataFrame(schema=BURDEN_SCHEMA)]
    for rs in periods:
        part = totals.filter(pl.col("ruleset_id") == rs.id)
        if part.height == 0:
            continue
        audit = rs.audit
        hb = audit.high_burden if audit and audit.high_burden else DEFAULT_HIGH_BURDEN
        source = rs.cite(hb) if hb is not DEFAULT_HIGH_BURDEN else f"{hb.source}, unverified"
        burden = pl.col("ytd_psn_part") if hb.basis == "psn_part_amt" else pl.col("scope_burden")
        parts.append(_rows(part, "high_burden", burden, _threshold(hb, rs), hb.basis, "audit.high_burden", source))
        tilt = audit.tilt_assistance if audit else None
        if tilt is not None and rs.assistance is not None:
            assisted = part.filter(pl.col("identity").is_in(list(rs.assistance.schemes)))
            parts.append(_rows(assisted, "tilt_assistance", pl.col("ytd_assist_base") - pl.col("ytd_maf"), _threshold(tilt, rs),
                               "policy_scope_after_assistance", "audit.tilt_assistance", rs.cite(tilt)))
    return pl.concat(parts).sort("list", "burden", "psn_no", descending=[False, True, False])
