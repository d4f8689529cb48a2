"""The three-layer settlement engine: basic insurance → 大病 → medical assistance.

Pure functions over polars LazyFrames, one per policy concept.  The frame flows:

    map_codes → order_claims → join_openings → coverage → basic_* → annual_caps
              → critical_illness → medical_assistance → waterfall

Claims are sorted once (integer person hash, year, end date, start date, settlement id) and every
annual quantity is a cumulative sum over that order (``medclaim.annual``).  Each person-year may
start from opening running totals (the ``ytd_*`` accumulator columns) left by earlier runs.
All money is Int64 fen; ratios are Int64 basis points.

The package by policy concept:

- ``order``      — exported codes as rule-set keys, the settlement order, opening and closing totals;
- ``scope``      — which claims the funds look at, and the class and identity lookups all layers use;
- ``basic``      — basic insurance (统筹基金): one layer per benefit class, then the annual caps;
- ``critical``   — critical-illness insurance (大病保险): bands on the cumulative burden, the cap;
- ``assistance`` — medical assistance (医疗救助) by identity under one annual limit;
- ``settlement`` — the layers in order, the totals after each claim, flags (``settle_ordered``).
"""

from __future__ import annotations

from .assistance import floored_running_total, medical_assistance  # noqa: F401
from .basic import (  # noqa: F401
    annual_caps,
    basic_chronic_outpatient,
    basic_general_outpatient,
    basic_inpatient,
    basic_reported,
    basic_two_diseases,
    reversal_fixed_amounts,
    tier_place_lookup,
)
from .scope import clamp_ratio, coverage, identity_lookup, in_classes, is_cls  # noqa: F401
from .critical import CAP_PASSES, critical_illness  # noqa: F401
from .order import (  # noqa: F401
    CLASS_ID,
    I64,
    KEYS,
    LAST_COLUMNS,
    PLACE_ID,
    REVERSAL_DEFAULTS,
    ROSTER_DEFAULTS,
    SORT_KEYS,
    CodeProblem,
    accumulator_columns,
    benefit_year,
    cap_accumulator,
    closing_balances,
    fixed_accumulators,
    join_openings,
    late_claim,
    map_codes,
    mark_runs,
    opening,
    order_claims,
    order_claims_by_string,
    per_claim_rounding,
    sorts_before,
    with_entry_defaults,
)
from .settlement import flags, needs_more_passes, settle_ordered, settle_period, waterfall  # noqa: F401
