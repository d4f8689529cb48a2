"""medclaim audit properties (hypothesis): the hospital reporting medclaim's own figures is never
a difference; changing any one reported figure of any one claim is found, on that claim and field only."""

from __future__ import annotations

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_engine_properties import claim_sets, rules

from helpers import claims_frame
from medclaim.audit.compare import FIELDS
from medclaim.audit.run import audit_claims
from medclaim.settle import settle_claims

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
RULE_SET = "anhui/dongzhi-2021"


def with_own_figures(rows):
    """The claims carrying, as reported amounts, what medclaim computes for them."""
    rb, _ = rules(RULE_SET)
    frame = claims_frame(rows)
    ledger = settle_claims(frame, rb).ledger
    own = ledger.select("setl_id", *[pl.col(f).alias(f"reported_{f}") for f in FIELDS])
    return frame.drop([c for c in own.columns if c != "setl_id" and c in frame.columns]).join(own, on="setl_id", how="inner"), rb


@SETTINGS
@given(claim_sets(RULE_SET, max_size=12), st.data())
def test_own_figures_never_differ_and_one_change_is_found(rows, data):
    frame, rb = with_own_figures(rows)
    clean = audit_claims(frame, rb)
    assert clean.differences.height == 0
    assert clean.summary["claims_compared"] == frame.height

    i = data.draw(st.integers(0, frame.height - 1))
    field = data.draw(st.sampled_from(list(FIELDS)))
    delta = data.draw(st.one_of(st.integers(-10**9, -1), st.integers(1, 10**9), st.sampled_from([-1, 1])))
    col = f"reported_{field}"
    changed = frame.with_columns(pl.when(pl.int_range(pl.len()) == i).then(pl.col(col) + delta).otherwise(pl.col(col)).alias(col))
    found = audit_claims(changed, rb).differences
    setl_id = frame["setl_id"][i]
    assert found.select("setl_id", "field").rows() == [(setl_id, field)]
    assert found["difference"][0] == delta
    assert found["cause"][0] is not None
