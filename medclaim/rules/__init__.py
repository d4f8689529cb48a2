"""Rule sets: policy parameters as data, with dates and citations, validated by a schema.

A rule-set file (YAML) holds one region's parameters for one policy period.  Every number sits in
a *cited block*: the block carries ``source`` (a key of the file's ``sources`` table), ``ref`` (the
article or page) and ``status`` (``verified`` against the document, or ``unverified`` placeholder).
Amounts are yuan in the file and integer fen once loaded; ratios are fractions (0.7) or
percentages ("70%") in the file and integer basis points once loaded.

Loading never raises a traceback at the user: problems come back as ``RuleSetError`` with one
line per problem naming the file, the key path and the fix.

The package by concern:

- ``units``   — yuan, ratios, points and factors as the file writes them → fen and basis points;
- ``params``  — the cited parameter blocks and the benefit layers (basic, 大病, 医疗救助, targets);
- ``audit``   — the ``audit`` block: review-rule parameters and burden thresholds (``medclaim audit``);
- ``ruleset`` — enrollment, contributions, code tables, the period's identity, ``RuleSet`` and its
  checks across sections;
- ``load``    — the strict YAML loader, bounds on a file, path resolution, ``RuleBook``;
- ``errors``  — ``RuleSetError`` and pydantic errors told as file, key path, did-you-mean and fix.
"""

from __future__ import annotations

from .errors import (  # noqa: F401
    RuleSetError,
    _did_you_mean,
    _fmt_loc,
    _model_at,
    _problems_of,
    _Problems,
    _unwrap,
)
from .load import (  # noqa: F401
    MAX_NUMBER_CHARS,
    MAX_RULE_FILE_BYTES,
    MAX_RULE_NODES,
    MAX_SCALAR_CHARS,
    RULES_DIR,
    RuleBook,
    _parse_ruleset,
    _StrictLoader,
    list_rulesets,
    load_rulebook,
    load_ruleset_file,
    resolve_rules_path,
)
from .params import (  # noqa: F401
    BENEFIT_CLASSES,
    EXCLUDED,
    FUNDS,
    ORDINARY,
    PLACES,
    AmountParam,
    AnnualCap,
    Assistance,
    AssistanceScheme,
    Band,
    Basic,
    ChronicOutpatient,
    Cited,
    CodeCaveat,
    Critical,
    CriticalTilt,
    GeneralOutpatient,
    IdentityAdjustment,
    Inpatient,
    RatioParam,
    ReferralPoints,
    ReferralRule,
    RepeatAdmission,
    Segments,
    Source,
    Target,
    TierAmounts,
    TierRatios,
    TwoDiseases,
    _Model,
)
from .ruleset import (  # noqa: F401
    Codes,
    CollectionPeriod,
    ContributionAid,
    Contributions,
    Enrollment,
    LateEnrollment,
    Meta,
    Newborn,
    RuleSet,
)
from .units import Factor, Points, Ratio, Yuan  # noqa: F401
