"""The run's own conservation checks fail loudly (InvariantError naming the claim) instead of
writing a ledger that does not add up — spec §3 "fails loudly if it ever breaks" — and a basic
payment taken as reported that cannot be right is rejected, never settled."""

from __future__ import annotations

import pytest

from helpers import claim, settle
from medclaim.settle import InvariantError


def test_total_below_the_policy_scope_is_refused_loudly():
    # medfee 100 < policy scope 10,000: the patient's part would be negative
    with pytest.raises(InvariantError, match="BAD"):
        settle([claim(setl_id="BAD", medfee_sumamt=100_00)], "full")


@pytest.mark.parametrize(
    "reported, reason",
    [(5_000_00, "inconsistent_amounts"), (-1, "inconsistent_amounts"), (None, "missing_field")],
    ids=["above-scope", "negative", "missing"],
)
def test_unusable_reported_basic_is_rejected_not_settled(reported, reason):
    # basic insurance cannot have paid more than the policy-scope amount (1,000 here), nor less than 0,
    # and a 大病-only rule set cannot settle without it: the row goes to rejects, the good one settles
    rows = [claim(setl_id="R1", inscp_scp_amt=1_000_00, reported_hifp_pay=reported),
            claim(setl_id="OK", inscp_scp_amt=1_000_00, reported_hifp_pay=400_00)]
    s = settle(rows, "critical")
    assert s.ledger["setl_id"].to_list() == ["OK"]
    rej = s.rejects.row(0, named=True)
    assert (rej["setl_id"], rej["column"], rej["reason_code"]) == ("R1", "reported_hifp_pay", reason)


def test_good_claims_pass_the_checks():
    s = settle([claim(setl_id="OK", fulamt_ownpay_amt=123_45, overlmt_selfpay=6_78, preselfpay_amt=9_00)], "full")
    assert s.ledger.height == 1 and s.rejects.height == 0
