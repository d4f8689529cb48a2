"""`medclaim audit`: recompute the hospitals' settlements, flag claims for review, warn of high burdens.

One concern per module:

* ``compare`` — reported against computed, field by field (also used by ``settle``'s summary);
* ``causes``  — which engine step explains a difference (the engine replayed with one thing changed);
* ``review``  — review rules (overlapping stays, 分解住院, outliers …) as vectorised polars;
* ``burden``  — 高额费用负担患者预警 and 倾斜救助 lists;
* ``run``     — files in, files out, the summary.

The rule file's cited ``audit`` block (review-rule parameters, burden thresholds) is part of the
rule-file schema: its models are in ``medclaim.rules.audit``.  ``medclaim.rules`` imports nothing
of this package.
"""
