"""Basic insurance, inpatient: per-admission deductible by tier and place, 2nd/3rd-admission
reduction, ratio by tier/place/referral, identity deductible factor and ratio points, ratio clamp,
rounding half-up to the fen, act_pay_dedc = deductible actually borne.

Rule set: tests/fixtures/engine_rules/inpatient.yaml (no caps, no 大病, no assistance), so
hifp_pay = round_half_up((policy − deductible)⁺ × ratio) on each admission.
  deductible  primary 200 / secondary 500 / tertiary 1000; in-province secondary 800, tertiary 1500;
              out-of-province 2000 everywhere
  ratio       primary 90 % / secondary 80 % / tertiary 60 %; in-province secondary 70 %, tertiary 55 %;
              out-of-province 50 %
  referral    referred +5 points; unreferred off-site −20 points
  repeat      2nd admission deductible × 0.5; 3rd and later × 0.25
  identity    tekun deductible × 0, +10 points; dibao deductible × 0.5, +5 points
"""

from __future__ import annotations

import pytest

from helpers import assert_conserved, by_id, claim, one, rhu, settle, variant

R = "inpatient"
SCOPE = 10_000_00  # policy-scope amount of the default claim, fen


@pytest.fixture
def no_referral(tmp_path):
    """The same rule set without the referral rule, to see the place table alone."""
    return variant(tmp_path, R, {"basic": {"inpatient": {"referral": None}}})


# ------------------------------------------------------------------ deductible and ratio by tier


@pytest.mark.parametrize(
    "hosp_lv, deductible, ratio_bp",
    [("08", 200_00, 9000), ("05", 500_00, 8000), ("02", 1000_00, 6000)],
    ids=["primary", "secondary", "tertiary"],
)
def test_first_admission_by_tier(hosp_lv, deductible, ratio_bp):
    row = one(claim(hosp_lv=hosp_lv), R)
    assert row["act_pay_dedc"] == deductible
    assert row["hifp_pay"] == (SCOPE - deductible) * ratio_bp // 10_000  # exact: no rounding needed
    assert row["hifmi_pay"] == 0 and row["maf_pay"] == 0
    assert row["fund_pay_sumamt"] == row["hifp_pay"]
    assert row["psn_part_amt"] == SCOPE - row["hifp_pay"]
    assert_conserved(row)


def test_secondary_local_worked_example():
    # 10,000 − 500 = 9,500; × 80 % = 7,600 yuan; the patient pays 2,400.
    row = one(claim(), R)
    assert (row["act_pay_dedc"], row["hifp_pay"], row["psn_part_amt"]) == (500_00, 7_600_00, 2_400_00)


def test_self_paid_parts_are_patient_burden():
    # full self-pay 1,000 + over-limit 200 + class-B first self-pay 300 + scope 10,000 = 11,500;
    # the fund looks at the scope only: 7,600; the patient pays 11,500 − 7,600 = 3,900.
    row = one(claim(fulamt_ownpay_amt=1_000_00, overlmt_selfpay=200_00, preselfpay_amt=300_00), R)
    assert row["medfee_sumamt"] == 11_500_00
    assert row["hifp_pay"] == 7_600_00
    assert row["psn_part_amt"] == 3_900_00
    assert_conserved(row)


# ------------------------------------------------------------------ place of care


@pytest.mark.parametrize(
    "hosp_lv, pay_loc, deductible, ratio_bp",
    [
        ("05", "省内异地", 800_00, 7000),  # in-province row for secondary
        ("02", "省内异地", 1500_00, 5500),  # in-province row for tertiary
        ("08", "省内异地", 200_00, 9000),  # in-province row has no primary → the tier's value
        ("02", "跨省异地", 2000_00, 5000),  # out-of-province row
        ("05", "市内异地", 500_00, 8000),  # no in-city row at all → the tier's value
    ],
)
def test_deductible_and_ratio_by_place(no_referral, hosp_lv, pay_loc, deductible, ratio_bp):
    row = one(claim(hosp_lv=hosp_lv, pay_loc=pay_loc), no_referral)
    assert row["act_pay_dedc"] == deductible
    assert row["hifp_pay"] == (SCOPE - deductible) * ratio_bp // 10_000


# ------------------------------------------------------------------ referral


@pytest.mark.parametrize(
    "hosp_lv, pay_loc, referred, deductible, ratio_bp",
    [
        ("05", "本地", False, 500_00, 8000),  # local, unreferred: no change
        ("05", "本地", True, 500_00, 8000 + 500),  # referred: +5 points
        ("05", "省内异地", False, 800_00, 7000 - 2000),  # unreferred off-site: −20 points
        ("05", "省内异地", True, 800_00, 7000 + 500),  # referred off-site: +5 points, no penalty
        ("02", "跨省异地", False, 2000_00, 5000 - 2000),
        ("02", "跨省异地", True, 2000_00, 5000 + 500),
        ("05", "市内异地", False, 500_00, 8000 - 2000),  # 市内异地 is off-site too
    ],
)
def test_referral_points_and_unreferred_offsite_penalty(hosp_lv, pay_loc, referred, deductible, ratio_bp):
    row = one(claim(hosp_lv=hosp_lv, pay_loc=pay_loc, refl_flag=referred), R)
    assert row["hifp_pay"] == rhu((SCOPE - deductible) * ratio_bp)
    assert row["ratio_bp"] == ratio_bp


@pytest.fixture
def referral_table(tmp_path):
    """−10 points only for unreferred care out of the province, 0 inside it; +3 for referred care
    out of the province; the other places fall back to the shorthand (+5 referred, −20 off-site)."""
    return variant(tmp_path, R, {"basic": {"inpatient": {"referral": {"by_place": {
        "in_province": {"referred": 0, "unreferred": 0},
        "out_of_province": {"referred": 3, "unreferred": -10},
    }}}}})


@pytest.mark.parametrize(
    "pay_loc, referred, deductible, ratio_bp",
    [
        ("省内异地", False, 800_00, 7000),  # table: 0 inside the province
        ("省内异地", True, 800_00, 7000),  # table: referred 0 too
        ("跨省异地", False, 2000_00, 5000 - 1000),  # table: −10 out of the province
        ("跨省异地", True, 2000_00, 5000 + 300),  # table: +3 referred out of the province
        ("市内异地", False, 500_00, 8000 - 2000),  # not in the table: shorthand −20 off-site
        ("本地", True, 500_00, 8000 + 500),  # not in the table: shorthand +5 referred
        ("本地", False, 500_00, 8000),  # local unreferred: 0
    ],
)
def test_referral_table_by_place_and_referral(referral_table, pay_loc, referred, deductible, ratio_bp):
    row = one(claim(hosp_lv="05", pay_loc=pay_loc, refl_flag=referred, inscp_scp_amt=10_000_00), referral_table)
    assert (row["act_pay_dedc"], row["ip_ratio"]) == (deductible, ratio_bp)
    # (10,000 − deductible) × ratio, rounded half-up
    assert row["hifp_pay"] == rhu((10_000_00 - deductible) * ratio_bp)


def test_unknown_referral_flag_counts_as_unreferred():
    # refl_flag null: neither the referral bonus nor immunity from the off-site penalty
    row = one(claim(hosp_lv="05", pay_loc="省内异地", refl_flag=None), R)
    assert row["hifp_pay"] == (SCOPE - 800_00) * (7000 - 2000) // 10_000


# ------------------------------------------------------------------ 2nd / 3rd admission


def test_second_and_third_admission_deductible_reduction():
    rows = [
        claim(setl_id="A1", begndate="2021-02-01", enddate="2021-02-05"),
        claim(setl_id="A2", begndate="2021-05-01", enddate="2021-05-05"),
        claim(setl_id="A3", begndate="2021-08-01", enddate="2021-08-05"),
        claim(setl_id="A4", begndate="2021-11-01", enddate="2021-11-05"),
    ]
    led = by_id(settle(rows, R))
    # secondary local deductible 500: 1st 500, 2nd 500 × 0.5 = 250, 3rd and 4th 500 × 0.25 = 125
    expected_dedc = {"A1": 500_00, "A2": 250_00, "A3": 125_00, "A4": 125_00}
    for sid, dedc in expected_dedc.items():
        assert led[sid]["act_pay_dedc"] == dedc, sid
        assert led[sid]["hifp_pay"] == (SCOPE - dedc) * 8000 // 10_000, sid
    assert [led[s]["ip_admission_no"] for s in ("A1", "A2", "A3", "A4")] == [1, 2, 3, 4]


def test_no_repeat_reduction_when_the_rule_set_has_none(tmp_path):
    rb = variant(tmp_path, R, {"basic": {"inpatient": {"repeat_admission": None}}})
    rows = [
        claim(setl_id="A1", begndate="2021-02-01", enddate="2021-02-05"),
        claim(setl_id="A2", begndate="2021-05-01", enddate="2021-05-05"),
    ]
    led = by_id(settle(rows, rb))
    assert led["A2"]["act_pay_dedc"] == 500_00
    assert led["A2"]["hifp_pay"] == (SCOPE - 500_00) * 8000 // 10_000


def test_admission_count_is_per_person():
    rows = [
        claim(setl_id="A1", psn_no="P1", begndate="2021-02-01", enddate="2021-02-05"),
        claim(setl_id="B1", psn_no="P2", begndate="2021-05-01", enddate="2021-05-05"),
    ]
    led = by_id(settle(rows, R))
    assert led["A1"]["act_pay_dedc"] == 500_00
    assert led["B1"]["act_pay_dedc"] == 500_00  # P2's first admission, whatever P1 did


def test_admission_order_is_end_date_then_start_date_then_setl_id():
    # Input order is deliberately scrambled, and settlement ids are chosen so that sorting by id
    # alone would give a different order.  Same end date: the earlier start is the 1st admission;
    # same start and end: the smaller settlement id is.
    rows = [
        claim(setl_id="A", begndate="2021-03-05", enddate="2021-03-10"),  # 2nd (same end as B, later start)
        claim(setl_id="X2", begndate="2021-06-01", enddate="2021-06-09"),  # 5th
        claim(setl_id="B", begndate="2021-03-01", enddate="2021-03-10"),  # 1st
        claim(setl_id="X1", begndate="2021-06-01", enddate="2021-06-09"),  # 4th (same dates as X2, smaller id)
        claim(setl_id="0", begndate="2021-01-20", enddate="2021-04-01"),  # 3rd: earliest start, but ends 04-01
    ]
    led = by_id(settle(rows, R))
    order = sorted(led, key=lambda s: led[s]["ip_admission_no"])
    assert order == ["B", "A", "0", "X1", "X2"]
    assert [led[s]["act_pay_dedc"] for s in order] == [500_00, 250_00, 125_00, 125_00, 125_00]


def test_benefit_year_is_the_discharge_year_and_count_restarts():
    # full.yaml spans 2020–2022: deductible 500 everywhere local, 2nd+ admission × 0.5, ratio 80 %.
    rows = [
        claim(setl_id="A", begndate="2020-11-01", enddate="2020-11-10"),  # 2020, 1st
        claim(setl_id="B", begndate="2020-12-28", enddate="2021-01-04"),  # spans New Year → 2021, 1st
        claim(setl_id="C", begndate="2021-03-01", enddate="2021-03-10"),  # 2021, 2nd
    ]
    led = by_id(settle(rows, "full"))
    assert [led[s]["year"] for s in "ABC"] == [2020, 2021, 2021]
    assert [led[s]["act_pay_dedc"] for s in "ABC"] == [500_00, 500_00, 250_00]


def test_benefit_year_by_admission_date_when_the_rule_set_says_so(tmp_path):
    rb = variant(tmp_path, "full", {"ruleset": {"benefit_year_by": "begndate"}})
    rows = [
        claim(setl_id="A", begndate="2020-11-01", enddate="2020-11-10"),  # 2020, 1st
        claim(setl_id="B", begndate="2020-12-28", enddate="2021-01-04"),  # admitted 2020 → 2020, 2nd
    ]
    led = by_id(settle(rows, rb))
    assert [led[s]["year"] for s in "AB"] == [2020, 2020]
    assert [led[s]["act_pay_dedc"] for s in "AB"] == [500_00, 250_00]


# ------------------------------------------------------------------ identity


@pytest.mark.parametrize(
    "identity, deductible, ratio_bp",
    [
        ("", 500_00, 8000),
        ("低保边缘户", 500_00, 8000),  # a listed identity without an inpatient adjustment
        ("低保对象", 500_00 * 5000 // 10_000, 8000 + 500),  # dibao: deductible × 0.5, +5 points
        ("特困人员", 0, 8000 + 1000),  # tekun: no deductible, +10 points
    ],
)
def test_identity_deductible_factor_and_ratio_points(identity, deductible, ratio_bp):
    row = one(claim(psn_idet_type=identity), R)
    assert row["act_pay_dedc"] == deductible
    assert row["hifp_pay"] == rhu((SCOPE - deductible) * ratio_bp)


def test_identity_factor_combines_with_repeat_admission():
    rows = [
        claim(setl_id="A1", psn_idet_type="低保对象", begndate="2021-02-01", enddate="2021-02-05"),
        claim(setl_id="A2", psn_idet_type="低保对象", begndate="2021-05-01", enddate="2021-05-05"),
    ]
    led = by_id(settle(rows, R))
    # 2nd admission of a dibao person: 500 × 0.5 (repeat) × 0.5 (identity) = 125; ratio 80 + 5 = 85 %
    assert led["A2"]["act_pay_dedc"] == 125_00
    assert led["A2"]["hifp_pay"] == (SCOPE - 125_00) * 8500 // 10_000


def test_ratio_clamped_to_100_percent():
    # tekun at a primary hospital, referred: 90 + 5 + 10 = 105 % → 100 %; deductible 0 → the whole scope
    row = one(claim(psn_idet_type="特困人员", hosp_lv="08", refl_flag=True), R)
    assert row["ratio_bp"] == 10_000
    assert row["hifp_pay"] == SCOPE
    assert row["psn_part_amt"] == 0


def test_ratio_clamped_at_zero(tmp_path):
    # out-of-province primary 10 %, unreferred off-site −20 points → −10 % → 0 %: pays nothing, never negative
    rb = variant(tmp_path, R, {"basic": {"inpatient": {"ratio": {"by_place": {"out_of_province": {"primary": "10%"}}}}}})
    row = one(claim(hosp_lv="08", pay_loc="跨省异地"), rb)
    assert row["ratio_bp"] == 0
    assert row["hifp_pay"] == 0
    assert row["psn_part_amt"] == SCOPE


# ------------------------------------------------------------------ rounding half-up to the fen


@pytest.mark.parametrize(
    "overrides, scope, expected",
    [
        # primary 90 %: (10,000.05 − 200) × 0.9 = 980,005 fen × 0.9 = 882,004.5 → 882,005 (half up, not to even)
        ({"hosp_lv": "08"}, 10_000_05, 882_005),
        # 980,006 × 0.9 = 882,005.4 → 882,005
        ({"hosp_lv": "08"}, 10_000_06, 882_005),
        # 980,007 × 0.9 = 882,006.3 → 882,006;  980,004 × 0.9 = 882,003.6 → 882,004
        ({"hosp_lv": "08"}, 10_000_07, 882_006),
        ({"hosp_lv": "08"}, 10_000_04, 882_004),
        # dibao secondary 85 %, deductible 250: 975,010 × 0.85 = 828,758.5 → 828,759
        ({"psn_idet_type": "低保对象"}, 10_000_10, 828_759),
        # 1 fen above the primary deductible: 1 × 0.9 = 0.9 → 1;  5 fen: 4.5 → 5
        ({"hosp_lv": "08"}, 200_01, 1),
        ({"hosp_lv": "08"}, 200_05, 5),
    ],
)
def test_payment_rounded_half_up_to_the_fen(overrides, scope, expected):
    row = one(claim(inscp_scp_amt=scope, **overrides), R)
    assert row["hifp_pay"] == expected
    assert_conserved(row)


def test_deductible_factor_rounded_half_up_to_the_fen(tmp_path):
    # secondary deductible 333.33 yuan × dibao factor 0.5 = 16,666.5 fen → 16,667 fen
    rb = variant(tmp_path, R, {"basic": {"inpatient": {"deductible": {"by_tier": {"secondary": "333.33"}}}}})
    row = one(claim(psn_idet_type="低保对象"), rb)
    assert row["act_pay_dedc"] == 16_667
    assert row["hifp_pay"] == rhu((SCOPE - 16_667) * 8500)  # 983,333 × 0.85 = 835,833.05 → 835,833


# ------------------------------------------------------------------ deductible actually borne


@pytest.mark.parametrize(
    "scope, dedc, hifp",
    [
        (0, 0, 0),
        (300_00, 300_00, 0),  # below the 500 deductible: all of it is borne as deductible
        (500_00, 500_00, 0),  # exactly the deductible
        (500_01, 500_00, 1),  # 1 fen over: 0.8 → 1
    ],
)
def test_act_pay_dedc_is_the_deductible_actually_borne(scope, dedc, hifp):
    row = one(claim(inscp_scp_amt=scope), R)
    assert row["act_pay_dedc"] == dedc
    assert row["act_pay_dedc"] <= row["inscp_scp_amt"]
    assert row["hifp_pay"] == hifp
    assert row["psn_part_amt"] == scope - hifp


def test_small_admission_still_counts_as_an_admission():
    # the 1st admission costs less than its deductible; the next one is still the 2nd
    rows = [
        claim(setl_id="A1", inscp_scp_amt=100_00, begndate="2021-02-01", enddate="2021-02-05"),
        claim(setl_id="A2", begndate="2021-05-01", enddate="2021-05-05"),
    ]
    led = by_id(settle(rows, R))
    assert led["A1"]["act_pay_dedc"] == 100_00 and led["A1"]["hifp_pay"] == 0
    assert led["A2"]["act_pay_dedc"] == 250_00


def test_no_critical_no_assistance_layer_pays_nothing_there():
    # inpatient.yaml has neither 大病 nor assistance: even a tekun person with a huge bill gets basic only
    row = one(claim(psn_idet_type="特困人员", inscp_scp_amt=500_000_00), R)
    assert row["hifmi_pay"] == 0 and row["maf_pay"] == 0
    assert row["hifp_pay"] == 500_000_00 * 9000 // 10_000
