"""Audit attribution replays an alternative only on the claims its changed step reaches
(``Alternative.reaches``: inpatient parameters on inpatient claims, 大病 on its classes, assistance
on assisted identities).  Leaving the others out must never change a cause: checked against the
same attribution with every alternative replayed on every claim, for hospitals that settled whole
years with one rule parameter changed."""

from __future__ import annotations

import dataclasses

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_engine_properties import claim_sets, rules

from helpers import claims_frame
from medclaim.audit import causes
from medclaim.audit.compare import FIELDS, differences
from medclaim.rules import RuleBook
from medclaim.settle import settle_claims

RULE_SET = "anhui/dongzhi-2021"


def attributed(ledger: pl.DataFrame, rb: RuleBook) -> pl.DataFrame:
    return causes.attribute(differences(ledger, 0), ledger, rb, None).sort("setl_id", "field")


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(claim_sets(RULE_SET, max_size=12), st.data())
def test_replaying_only_reached_claims_changes_no_cause(rows, data):
    rb, _ = rules(RULE_SET)
    rs = rb.periods[0]
    frame = claims_frame(rows)
    variants = [a for a in causes.alternatives(rs) if a.rs is not None]
    alt = data.draw(st.sampled_from(variants))
    hospital = settle_claims(frame, RuleBook(path=rb.path, periods=(alt.rs,), files=rb.files)).ledger
    ledger = settle_claims(frame, rb).ledger.drop([f"reported_{f}" for f in FIELDS], strict=False).join(
        hospital.select("setl_id", *[pl.col(f).alias(f"reported_{f}") for f in FIELDS]), on="setl_id", how="left")
    scoped = attributed(ledger, rb)
    everywhere = causes.alternatives
    with pytest.MonkeyPatch.context() as m:
        m.setattr(causes, "alternatives", lambda r: [dataclasses.replace(a, reaches=None) for a in everywhere(r)])
        unscoped = attributed(ledger, rb)
    assert scoped.to_dicts() == unscoped.to_dicts()
