"""A small ledger worked by hand, for the report tests.

Every amount is fen.  Each row's funds and patient share add up to its total cost; the figures
the tests expect are summed by hand in the comments below, not computed by the program.

    row  person date        class  tier       place            identity  hosp  total      scope      basic      大病     assist  patient
    1    P1     2021-01-10  IP     secondary  local            ordinary  H1    1,000,000    800,000    500,000        0       0    500,000
    2    P1     2021-02-20  IP     tertiary   in_province      ordinary  H2    3,000,000  2,500,000  1,500,000  200,000       0  1,300,000  (大病 threshold)
    3    P2     2021-01-15  GO     primary    local            tekun     H1       10,000     10,000      6,000        0   2,000      2,000
    4    P2     2021-04-05  IP     primary    local            tekun     H1      500,000    500,000    400,000        0  60,000     40,000
    5    P3     2021-04-28  IP     tertiary   out_of_province  dibao     H3    2,000,000  1,800,000  1,000,000  300,000 100,000    600,000  (basic cap, 大病 threshold and cap)
    6    P4     2021-02-03  GO     primary    local            ordinary  H1       20,000     16,000      4,000        0       0     16,000
    7    P4     2021-02-03  GO     primary    local            ordinary  H1      -20,000    -16,000     -4,000        0       0    -16,000  (reversal of row 6)
    8    P1     2020-12-30  IP     primary    local            ordinary  H1      100,000    100,000     90,000        0       0     10,000  (benefit year 2020)
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

D = dt.date
ROWS = [
    # psn, enddate, class, tier, place, identity, hospital code, name, total, scope, basic, 大病, assist, flags (basic cap, 大病 threshold, 大病 cap), reversal
    ("P1", D(2021, 1, 10), "inpatient", "secondary", "local", "ordinary", "H1", "县人民医院", 1_000_000, 800_000, 500_000, 0, 0, (0, 0, 0), False),
    ("P1", D(2021, 2, 20), "inpatient", "tertiary", "in_province", "ordinary", "H2", "省立医院", 3_000_000, 2_500_000, 1_500_000, 200_000, 0, (0, 1, 0), False),
    ("P2", D(2021, 1, 15), "general_outpatient", "primary", "local", "tekun", "H1", "县人民医院", 10_000, 10_000, 6_000, 0, 2_000, (0, 0, 0), False),
    ("P2", D(2021, 4, 5), "inpatient", "primary", "local", "tekun", "H1", "县人民医院", 500_000, 500_000, 400_000, 0, 60_000, (0, 0, 0), False),
    ("P3", D(2021, 4, 28), "inpatient", "tertiary", "out_of_province", "dibao", "H3", None, 2_000_000, 1_800_000, 1_000_000, 300_000, 100_000, (1, 1, 1), False),
    ("P4", D(2021, 2, 3), "general_outpatient", "primary", "local", "ordinary", "H1", "县人民医院", 20_000, 16_000, 4_000, 0, 0, (0, 0, 0), False),
    ("P4", D(2021, 2, 3), "general_outpatient", "primary", "local", "ordinary", "H1", "县人民医院", -20_000, -16_000, -4_000, 0, 0, (0, 0, 0), True),
    ("P1", D(2020, 12, 30), "inpatient", "primary", "local", "ordinary", "H1", "县人民医院", 100_000, 100_000, 90_000, 0, 0, (0, 0, 0), False),
]


def hand_ledger(hospital: bool = True) -> pl.DataFrame:
    recs = []
    for i, (psn, end, cls, tier, place, ident, code, name, total, scope, basic, crit, assist, flags, rev) in enumerate(ROWS, 1):
        funds = basic + crit + assist
        recs.append({
            "setl_id": f"S{i}", "psn_no": psn, "med_type": cls, "medfee_sumamt": total, "inscp_scp_amt": scope,
            "hifp_pay": basic, "hifmi_pay": crit, "maf_pay": assist, "fund_pay_sumamt": funds, "psn_part_amt": total - funds,
            "year": end.year, "begndate": end, "enddate": end, "benefit_class": cls, "tier": tier, "place": place, "identity": ident,
            "ruleset_id": "anhui/dongzhi-2021" if end.year == 2021 else "anhui/dongzhi-2020",
            "basic_cap_reached": bool(flags[0]), "critical_threshold_reached": bool(flags[1]), "critical_cap_reached": bool(flags[2]),
            "not_covered": False, "is_reversal": rev, "fixmedins_code": code, "fixmedins_name": name,
        })
    frame = pl.DataFrame(recs).with_columns(pl.col("year").cast(pl.Int32))
    money = ["medfee_sumamt", "inscp_scp_amt", "hifp_pay", "hifmi_pay", "maf_pay", "fund_pay_sumamt", "psn_part_amt"]
    frame = frame.with_columns([pl.col(c).cast(pl.Int64) for c in money])
    return frame if hospital else frame.drop("fixmedins_code", "fixmedins_name")


def write_out_dir(tmp: Path, hospital: bool = True) -> Path:
    """The ledger as the --out directory of a settle run (ledger.parquet)."""
    d = tmp / "run"
    d.mkdir(parents=True, exist_ok=True)
    hand_ledger(hospital).write_parquet(d / "ledger.parquet")
    return d


BUDGET = """\
year: 2021
source: 测试预算
budget:
  basic: 100000        # 10,000,000 fen
  critical: 20000      # 2,000,000 fen
critical_premium: 18000
"""

#: A third target for the hand ledger: the assisted groups' in-province inpatient compliant overall
#: ratio (all three funds), as 文医保发〔2023〕10号 sets it.
ASSISTED_TARGET = """\
  assisted_inpatient_compliant_ratio:
    source: dz-2021-6
    status: unverified
    name: 困难群体省内住院合规综合报销比例
    classes: [inpatient]
    funds: [basic, critical, assistance]
    identities: [tekun, dibao, fanpin, monitored]
    places: [local, in_city, in_province]
    value: 80%
"""


def rules_with_assisted_target(tmp: Path) -> Path:
    from medclaim.rules import RULES_DIR

    text = (RULES_DIR / "anhui" / "dongzhi-2021.yaml").read_text(encoding="utf-8")
    assert text.rstrip().endswith("comparison: at_least"), "the targets block is expected at the end of the file"
    p = tmp / "dongzhi-targets.yaml"
    p.write_text(text.rstrip() + "\n" + ASSISTED_TARGET, encoding="utf-8")
    return p


def report_with_budget(tmp: Path, out: str = "out", lang: str = "zh", rules: str | None = None) -> Path:
    """The report of the hand ledger (year 2021) with BUDGET, written into tmp/out."""
    from medclaim.report import build_report

    ledger = write_out_dir(tmp)
    budget = tmp / "budget.yaml"
    budget.write_text(BUDGET, encoding="utf-8")
    build_report(ledger, tmp / out, year=2021, budget=budget, rules=rules, lang=lang)
    return tmp / out
