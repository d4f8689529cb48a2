"""Write the audit sample: one hospital's March 2021 export *with* the amounts it settled.

    .venv/bin/python sample_data/make_audit_sample.py            # rewrites dongzhi-2021-03-hospital-d.csv
    .venv/bin/python sample_data/make_audit_sample.py --out DIR  # writes elsewhere

东至县第二人民医院 (二级乙等, a made-up context: every person, id and amount is synthetic) settled
these claims at discharge.  Most of its figures are what the 东至 2021 rule set gives; a few carry
a planted mistake, each worked by hand below, so that `medclaim audit` has something to find.
The figures use the rule set's numbers (placeholders, see rules/anhui/dongzhi-2021.yaml): at a
secondary local hospital the inpatient deductible is 500 (250 from the 2nd admission of the
year), the ratio 80 %; tertiary deductible 800; 特困: no deductible, ratio + 5 points, 大病
threshold 7,500, assistance 90 %; general outpatient is covered at primary facilities only;
two-diseases 50 %; chronic outpatient: 500 a year, then 65 %.
"""

from __future__ import annotations

import argparse
from pathlib import Path

HERE = Path(__file__).resolve().parent
FILE_D = "dongzhi-2021-03-hospital-d.csv"
HEADER = [
    "结算ID", "个人编号", "人员姓名", "证件号码", "定点医药机构编号", "定点医药机构名称", "医院等级", "医药机构地点类别",
    "人员身份类别", "医疗类别", "开始日期", "结束日期", "总费用", "全自费金额", "超限价自费费用", "先行自付金额", "范围内费用",
    "起付线", "统筹基金支出", "大病保险支出", "医疗救助支出", "基金支付总额", "个人负担总金额",
]
HOSPITAL = ("H34172100206", "东至县第二人民医院", "二级乙等", "本地")
PEOPLE = {
    "341721000000900001": ("汪建华", "341721********2011"),
    "341721000000900002": ("方秀兰", "341721********1024"),
    "341721000000900003": ("程德福", "341721********3317"),
    "341721000000900004": ("吴丽萍", "341721********0528"),
    "341721000000900005": ("章国强", "341721********4419"),
    "341721000000900006": ("胡玉梅", "341721********2226"),
    "341721000000900007": ("黄志明", "341721********6131"),
    "341721000000900008": ("查桂英", "341721********5542"),
}

# setl_id, person (last digit), identity, med_type, start, end, total, fully self-paid, over limit,
# class-B first self-pay, policy scope, then what the hospital reported: deductible, basic, 大病,
# assistance, funds, patient.  Amounts in yuan.
CLAIMS = [
    # right: (10,000 − 500) × 80 % = 7,600
    ("3417212103900001", 1, "", "普通住院", "2021-03-01", "2021-03-06", "10800.00", "600.00", "200.00", "0", "10000.00",
     "500.00", "7600.00", "0", "0", "7600.00", "3200.00"),
    # PLANTED (deductible): 2nd admission, the deductible is 250: (8,000 − 250) × 80 % = 6,200; the
    # hospital charged 500 → 6,000.  Also a readmission 9 days after discharge (quick_readmission).
    ("3417212103900002", 1, "", "普通住院", "2021-03-15", "2021-03-19", "8000.00", "0", "0", "0", "8000.00",
     "500.00", "6000.00", "0", "0", "6000.00", "2000.00"),
    # PLANTED (deductible): the tertiary deductible 800 at this secondary hospital: (20,000 − 800) × 80 % = 15,360
    # instead of (20,000 − 500) × 80 % = 15,600
    ("3417212103900003", 2, "", "普通住院", "2021-03-02", "2021-03-09", "20000.00", "0", "0", "0", "20000.00",
     "800.00", "15360.00", "0", "0", "15360.00", "4640.00"),
    # PLANTED (not_covered): general outpatient at a secondary hospital is not covered; the hospital paid
    # 120 × 55 % = 66.  Dated inside the same person's stay above (outpatient_in_stay).
    ("3417212103900004", 2, "", "普通门诊", "2021-03-05", "2021-03-05", "120.00", "0", "0", "0", "120.00",
     "0", "66.00", "0", "0", "66.00", "54.00"),
    # right, 特困: no deductible, 85 %: 25,500; 大病 base 4,500 < 7,500; assistance 4,500 × 90 % = 4,050
    ("3417212103900005", 3, "特困人员", "普通住院", "2021-03-03", "2021-03-10", "30000.00", "0", "0", "0", "30000.00",
     "0", "25500.00", "0", "4050.00", "29550.00", "450.00"),
    # PLANTED (identity): an ordinary resident given the 特困 大病 tilt: base 40,000 − 31,600 = 8,400,
    # (8,400 − 7,500) × 65 % = 585 where the rules give 0 (threshold 15,000)
    ("3417212103900006", 4, "", "普通住院", "2021-03-04", "2021-03-12", "40000.00", "0", "0", "0", "40000.00",
     "500.00", "31600.00", "585.00", "0", "32185.00", "7815.00"),
    # PLANTED (rounding): two-diseases 1.01 × 50 % = 0.505 → 0.51 half-up; the hospital truncated to 0.50
    ("3417212103900007", 5, "", "两病门诊", "2021-03-08", "2021-03-08", "1.01", "0", "0", "0", "1.01",
     "0", "0.50", "0", "0", "0.50", "0.51"),
    # right: chronic outpatient (3,000 − 500) × 65 % = 1,625
    ("3417212103900008", 6, "", "门诊慢特病", "2021-03-09", "2021-03-09", "3000.00", "0", "0", "0", "3000.00",
     "500.00", "1625.00", "0", "0", "1625.00", "1375.00"),
    # right, but admitted and discharged the same day (zero_day_stay): (2,000 − 500) × 80 % = 1,200
    ("3417212103900009", 6, "", "普通住院", "2021-03-20", "2021-03-20", "2000.00", "0", "0", "0", "2000.00",
     "500.00", "1200.00", "0", "0", "1200.00", "800.00"),
    # right: (5,000 − 500) × 80 % = 3,600
    ("3417212103900010", 7, "", "普通住院", "2021-03-10", "2021-03-14", "5000.00", "0", "0", "0", "5000.00",
     "500.00", "3600.00", "0", "0", "3600.00", "1400.00"),
    # right as arithmetic (2nd admission: (5,000 − 250) × 80 % = 3,800), but the stay begins two days
    # before the one above ends (overlapping_stays)
    ("3417212103900011", 7, "", "普通住院", "2021-03-12", "2021-03-16", "5000.00", "0", "0", "0", "5000.00",
     "250.00", "3800.00", "0", "0", "3800.00", "1200.00"),
    # PLANTED (inconsistent): basic 9,200 is right ((12,000 − 500) × 80 %), but the hospital's total of
    # the funds says 9,300 and the patient's share 2,700
    ("3417212103900012", 8, "", "普通住院", "2021-03-01", "2021-03-05", "12000.00", "0", "0", "0", "12000.00",
     "500.00", "9200.00", "0", "0", "9300.00", "2700.00"),
]


def rows() -> list[list[str]]:
    out = []
    for c in CLAIMS:
        psn = f"34172100000090000{c[1]}"
        name, certno = PEOPLE[psn]
        out.append([c[0], psn, name, certno, *HOSPITAL, c[2], *c[3:]])
    return out


def write(out_dir: Path) -> Path:
    import csv

    path = out_dir / FILE_D
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh, lineterminator="\r\n")
        w.writerow(HEADER)
        w.writerows(rows())
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=HERE)
    args = ap.parse_args()
    print(write(args.out))


if __name__ == "__main__":
    main()
