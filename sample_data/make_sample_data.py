"""Regenerate the bundled sample month: 东至县, March 2021, three hospital exports.

    .venv/bin/python sample_data/make_sample_data.py            # rewrite sample_data/*
    .venv/bin/python sample_data/make_sample_data.py --out DIR  # write elsewhere (tests)

Deterministic: every run writes byte-identical files.  All people, names and ids are synthetic.
The ordinary claims come from ``medclaim.synth.generate_claims``; on top of them this script adds
heavy patients (2–4 large admissions each, enough to reach the basic-insurance annual cap and
every 大病 segment within the month), late enrollers, every assisted identity, and a handful of
deliberately defective rows (see ``BAD_ROWS`` and README.md).

Files
  dongzhi-2021-03-hospital-a.csv      GBK CSV, the real Anhui county export header row (+3 columns)
  dongzhi-2021-03-hospital-b.parquet  national field codes, typed columns (Decimal(12,2), Date)
  dongzhi-2021-03-hospital-c.xlsx     Excel, other common Chinese headers, numeric and date cells
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import polars as pl

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # runnable from a checkout without installing

from medclaim.synth import HOSP_LV_NAMES, IDENTITIES, MED_TYPE_CLASS, fen_to_decimal, generate_claims  # noqa: E402

SEED = 20210301
YEAR, MONTH = 2021, 3
N_BASE = 4550  # ordinary claims drawn by the generator
N_PEOPLE = 440
AREA = "341721"  # 东至县
FILE_A = "dongzhi-2021-03-hospital-a.csv"
FILE_B = "dongzhi-2021-03-hospital-b.parquet"
FILE_C = "dongzhi-2021-03-hospital-c.xlsx"

# (code, name, level code, place) — file A: 东至县人民医院医共体 (plus off-site reimbursements
# the county desk keys in by hand); file B: 东至县中医院医共体; file C: 池州 city hospitals.
INST_A = {
    "county": [("H34172100001", "东至县人民医院", "05")],
    "township": [
        ("H34172100011", "东至县尧渡镇卫生院", "08"),
        ("H34172100012", "东至县东流镇卫生院", "08"),
        ("H34172100013", "东至县大渡口镇卫生院", "09"),
        ("H34172100014", "东至县胜利镇中心卫生院", "08"),
    ],
    "village": [
        ("H34172100101", "东至县尧渡镇红旗村卫生室", "11"),
        ("H34172100102", "东至县东流镇新民村卫生室", "11"),
        ("H34172100103", "东至县大渡口镇河口村卫生室", "11"),
        ("H34172100104", "东至县胜利镇合兴村卫生室", "11"),
    ],
    "pharmacy": [("P34172100201", "东至县尧渡镇惠民大药房", "11")],
}
INST_B = {
    "county": [("H34172100002", "东至县中医院", "05")],
    "township": [
        ("H34172100015", "东至县张溪镇卫生院", "08"),
        ("H34172100016", "东至县洋湖镇卫生院", "09"),
        ("H34172100017", "东至县葛公镇卫生院", "10"),
    ],
    "village": [
        ("H34172100105", "东至县张溪镇长岭村卫生室", "11"),
        ("H34172100106", "东至县洋湖镇光明村卫生室", "11"),
        ("H34172100107", "东至县葛公镇向阳村卫生室", "11"),
    ],
    "pharmacy": [("P34172100202", "东至县张溪镇济民药店", "11")],
}
INST_C = [("H34170200001", "池州市人民医院", "02"), ("H34170200003", "池州市第二人民医院", "03")]
INST_OFFSITE = {
    "省内异地": ("H34010400001", "安徽医科大学第一附属医院", "02"),
    "跨省异地": ("H31010400001", "复旦大学附属中山医院", "02"),
}
TOWNS = {
    "尧渡镇": ["红旗村", "城东村", "西湖村"],
    "东流镇": ["新民村", "菊江村", "兴隆村"],
    "大渡口镇": ["河口村", "新洲村", "永安村"],
    "胜利镇": ["合兴村", "胜利村", "龙溪村"],
    "张溪镇": ["长岭村", "张溪村", "和平村"],
    "洋湖镇": ["光明村", "洋湖村", "前进村"],
    "葛公镇": ["向阳村", "葛公村", "同心村"],
    "香隅镇": ["香隅村", "新建村", "团结村"],
}
SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹")
GIVEN = list("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超霞平刚桂英华玉兰秀红建国志文春梅海燕")
DISEASES = {
    "outpatient": ["上呼吸道感染", "急性胃肠炎", "急性支气管炎", "腰肌劳损", "湿疹", "头痛"],
    "two_diseases": ["高血压", "2型糖尿病"],
    "chronic": ["恶性肿瘤门诊放化疗", "慢性肾功能衰竭（透析）", "慢性心力衰竭", "精神分裂症", "类风湿性关节炎", "慢性阻塞性肺疾病"],
    "inpatient": ["肺炎", "脑梗死", "冠状动脉粥样硬化性心脏病", "慢性阻塞性肺疾病急性加重", "腰椎间盘突出症", "胆囊结石伴慢性胆囊炎", "2型糖尿病伴并发症"],
    "trauma": ["股骨颈骨折", "桡骨远端骨折", "头皮裂伤"],
    "heavy": ["肺恶性肿瘤", "胃恶性肿瘤", "急性心肌梗死", "脑出血", "慢性肾脏病5期", "急性白血病"],
}
LV_CODE_BY_NAME = {v: k for k, v in HOSP_LV_NAMES.items()}

# Heavy patients: identity, admissions in March, total medical cost of those admissions (yuan).
HEAVY = [
    ("农村特困供养", 4, 680_000),
    ("农村低保", 3, 420_000),
    ("致贫返贫人口", 3, 260_000),
    ("稳定脱贫人口", 2, 180_000),
    ("", 4, 520_000),
    ("", 2, 140_000),
    ("", 2, 75_000),
    ("监测户", 3, 320_000),
]
N_LATE = 5

# The deliberately defective rows (see README.md).  id → (file, expected reason, description).
BAD_ROWS = {
    "BAD01": (FILE_A, "missing_field", "总费用 blank"),
    "BAD02": (FILE_A, "bad_amount", '全自费金额 "12,34a"'),
    "BAD03": (FILE_A, "bad_date", "开始日期 2021-02-30 (no such day)"),
    "BAD04": (FILE_A, "end_before_start", "结束日期 2021-03-12 before 开始日期 2021-03-20"),
    "BAD05": (FILE_A, "inconsistent_amounts", "全自费+超限价+先行自付 = 570.00 > 总费用 500.00 (范围内费用 blank)"),
    "BAD06": (FILE_A, "inconsistent_amounts", "范围内费用 950.00 but 总费用 − parts = 920.00"),
    "BAD07": (FILE_A, "unknown_code", '医疗类别 "99 未知类别"'),
    "BAD08": (FILE_A, "unknown_code", '医院等级 "特等"'),
    "BAD09": (FILE_A, "unknown_code", '人员身份类别 "外星人"'),
    "BAD10": (FILE_A, "bad_flag", '转诊标志 "也许"'),
    "BAD11": (FILE_A, "duplicate_setl_id", "结算ID of an earlier valid row, repeated with different amounts"),
    "BAD12": (FILE_A, "duplicate_setl_id", "exact copy of an earlier valid row"),
    "BAD13": (FILE_A, "missing_field", 'trailing "合计" (totals) line: no person, dates or class'),
    "BAD14": (FILE_B, "missing_field", "psn_no null"),
    "BAD15": (FILE_C, "negative_amount", "全自费金额 −35.00"),
}
ODD_BUT_VALID = "stray spaces around 个人编号/医疗类别/dates and full-width digits in 总费用/范围内费用 — must be ACCEPTED"

CSV_HEADER = [
    "结算ID", "就诊ID", "个人编号", "人员姓名", "证件号码", "人员类别", "定点医药机构编号", "定点医药机构名称",
    "医院等级", "医药机构地点类别", "开始日期", "结束日期", "结算日期", "总费用", "全自费金额", "超限价自费费用",
    "先行自付金额", "范围内费用", "起付线", "统筹基金支出", "大额医疗支出金额", "大病保险支出", "医疗救助支出",
    "基金支付总额", "个人现金支付", "个人账户支付", "病种名称", "医疗类别", "统筹基金支付比例", "乡镇", "村",
    "人员身份类别", "转诊标志", "待遇开始日期",
]
XLSX_HEADER = [
    "结算流水号", "人员编号", "人员姓名", "证件号码", "救助对象类别", "定点医药机构名称", "机构级别", "就医地",
    "转诊标志", "入院日期", "出院日期", "医疗费总额", "全自费金额", "超限价自付", "乙类先行自付",
    "符合政策范围金额", "医疗类别", "病种名称", "待遇开始日期",
]
AMOUNTS = ["medfee_sumamt", "fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt", "inscp_scp_amt"]


# ---------------------------------------------------------------------------------- helpers


def yuan(fen: int) -> str:
    q, r = divmod(abs(fen), 100)
    return f"{'-' if fen < 0 else ''}{q}.{r:02d}"


def yuan_text(fen: int, style: int) -> str:
    """Amount as HIS exports write it: 1234.50, 1,234.50, or 1234.5 / 1234."""
    q, r = divmod(fen, 100)
    if style == 1:
        return f"{q:,}.{r:02d}"
    if style == 2:
        return f"{q}" if r == 0 else f"{q}.{r:02d}".rstrip("0")
    return f"{q}.{r:02d}"


def date_text(d: dt.date, slash: bool) -> str:
    return f"{d.year}/{d.month}/{d.day}" if slash else d.isoformat()


def fullwidth(s: str) -> str:
    return "".join(chr(0xFF10 + int(c)) if c.isdigit() else c for c in s)


# ---------------------------------------------------------------------------------- build


def build(rng: np.random.Generator) -> tuple[list[dict], dict[str, dict]]:
    """All valid claim rows (dicts with canonical keys plus export extras) and the people."""
    base = generate_claims(N_BASE, n_people=N_PEOPLE, year=YEAR, month=MONTH, seed=SEED, heavy_share=0.0, late_share=0.0)
    base = base.with_columns(
        [(pl.col(c) * 100).cast(pl.Int64) for c in AMOUNTS]  # exact: Decimal(12,2) → fen
    )
    rows = base.to_dicts()
    for r in rows:
        r["cls"] = MED_TYPE_CLASS[r["med_type"]]
        r["trauma"] = r["med_type"] in ("22", "外伤住院")

    # ---- people: identity from the generator, plus names, masked ids, town/village
    people: dict[str, dict] = {}
    for r in rows:
        people.setdefault(r["psn_no"], {"idet": r["psn_idet_type"], "benefit_start": None})
    psn_list = sorted(people)
    towns = list(TOWNS)
    for psn in psn_list:
        p = people[psn]
        p["name"] = SURNAMES[rng.integers(len(SURNAMES))] + "".join(
            GIVEN[i] for i in rng.integers(len(GIVEN), size=int(rng.integers(1, 3)))
        )
        last = int(rng.integers(0, 10000))
        p["certno"] = f"{AREA}********{last:04d}" if rng.random() > 0.1 else f"{AREA}********{last // 10:03d}X"
        p["town"] = towns[int(rng.integers(len(towns)))]
        p["village"] = TOWNS[p["town"]][int(rng.integers(3))]
        p["psn_type"] = ["城乡居民", "城乡居民", "城乡居民", "学生儿童", "老年居民"][int(rng.integers(5))]

    # ---- every identity held by at least two people
    visits = Counter(r["psn_no"] for r in rows)
    by_visits = sorted(psn_list, key=lambda s: (-visits[s], s))
    ordinary = [s for s in by_visits if people[s]["idet"] == ""]
    for ident in IDENTITIES:
        while sum(1 for s in psn_list if people[s]["idet"] == ident) < 2:
            people[ordinary.pop(len(ordinary) // 2)]["idet"] = ident

    # ---- heavy patients: drop their generated admissions, add 2–4 large sequential ones
    heavy_ids: list[str] = []
    candidates = [s for s in ordinary if s not in heavy_ids]
    for ident, k, target in HEAVY:
        psn = candidates.pop(int(rng.integers(len(candidates) // 3)))
        people[psn]["idet"] = ident
        people[psn]["heavy"] = (k, target)
        heavy_ids.append(psn)
    rows = [r for r in rows if not (r["psn_no"] in heavy_ids and r["cls"] == "inpatient")]
    month_start = dt.date(YEAR, MONTH, 1)
    for psn, (_, k, target) in zip(heavy_ids, HEAVY):
        shares = rng.dirichlet(np.full(k, 2.0))
        slot = 31 // k
        for j in range(k):
            los = int(rng.integers(4, min(slot, 12) + 1))
            b = month_start + dt.timedelta(days=j * slot + int(rng.integers(0, slot - los + 1)))
            total = min(int(round(target * shares[j] * 100)), 40_000_000)
            own = int(total * (0.03 + 0.05 * rng.random()))
            over = int(total * 0.02 * rng.random())
            pre = int(total * (0.03 + 0.04 * rng.random()))
            # the first admission at the county hospital, later ones at a 三级 hospital
            where = "county" if j == 0 else ["c", "c", "省内异地", "跨省异地"][int(rng.integers(4))]
            rows.append(
                {
                    "setl_id": None,
                    "psn_no": psn,
                    "med_type": "普通住院" if rng.random() < 0.8 else "21",
                    "hosp_lv": None,
                    "pay_loc": None,
                    "refl_flag": None,
                    "begndate": b,
                    "enddate": b + dt.timedelta(days=los - 1),
                    "medfee_sumamt": total,
                    "fulamt_ownpay_amt": own,
                    "overlmt_selfpay": over,
                    "preselfpay_amt": pre,
                    "inscp_scp_amt": total - own - over - pre,
                    "cls": "inpatient",
                    "trauma": False,
                    "heavy": True,
                    "where": where,
                }
            )

    # ---- late enrollers: benefits start mid-month, some visits before (no stay straddles it)
    late_pool = [s for s in by_visits if s not in heavy_ids and people[s]["idet"] == ""][5:60]
    n_late = 0
    for psn in late_pool:
        mine = sorted((r["begndate"], r["enddate"]) for r in rows if r["psn_no"] == psn)
        if len(mine) < 4:
            continue
        cut = mine[len(mine) // 2][0]
        if cut <= mine[0][1] or any(b < cut <= e for b, e in mine):
            continue
        people[psn]["benefit_start"] = cut
        n_late += 1
        if n_late == N_LATE:
            break

    # ---- place every claim in a file and an institution
    for r in rows:
        assign_institution(r, rng)
        p = people[r["psn_no"]]
        r["psn_idet_type"] = p["idet"]
        r["benefit_start"] = p["benefit_start"]
        offsite = r["pay_loc"] != "本地"
        r["refl"] = bool(rng.random() < (0.6 if (r["cls"] == "inpatient" and offsite) else 0.02))
        kind = "heavy" if r.get("heavy") else ("trauma" if r["trauma"] else r["cls"])
        r["dise_name"] = "" if r["med_type"] in ("41", "定点药店购药") else DISEASES[kind][int(rng.integers(len(DISEASES[kind])))]
        r["setl_time"] = dt.datetime.combine(r["enddate"], dt.time(8, 0)) + dt.timedelta(seconds=int(rng.integers(0, 10 * 3600)))

    # ---- settlement ids in settlement-time order, like the platform assigns them
    rows.sort(key=lambda r: (r["setl_time"], r["psn_no"], r["medfee_sumamt"]))
    mdtrt = rng.permutation(len(rows) + 100)
    for i, r in enumerate(rows):
        r["setl_id"] = f"{AREA}{YEAR % 100:02d}{MONTH:02d}{i + 1:06d}"
        r["mdtrt_id"] = f"{AREA}{YEAR % 100:02d}{MONTH:02d}9{int(mdtrt[i]):05d}"
    return rows, people


def assign_institution(r: dict, rng: np.random.Generator) -> None:
    lv = r["hosp_lv"]
    lv = LV_CODE_BY_NAME.get(lv, lv)
    cls = r["cls"]
    pharmacy = r["med_type"] in ("41", "定点药店购药")
    where = r.pop("where", None)
    if where is None:
        if r["pay_loc"] in ("省内异地", "跨省异地"):
            where = r["pay_loc"]
        elif r["pay_loc"] == "市内异地" or (lv is not None and lv <= "04" and not pharmacy):
            where = "c"
        elif r.get("heavy"):
            where = "county"
        elif not pharmacy and rng.random() < (0.2 if cls in ("inpatient", "chronic") else 0.02):
            where = "c"  # referred up to the city hospital
        else:
            where = "ab"
    if where in INST_OFFSITE:
        r["file"], (r["fixmedins_code"], r["fixmedins_name"], r["lv"]), r["pay_loc"] = "A", INST_OFFSITE[where], where
        return
    if where == "c":
        r["file"], (r["fixmedins_code"], r["fixmedins_name"], r["lv"]), r["pay_loc"] = "C", INST_C[int(rng.random() < 0.3)], "市内异地"
        return
    r["file"] = "A" if (where == "county" and rng.random() < 0.7) or (where == "ab" and rng.random() < 0.62) else "B"
    inst = INST_A if r["file"] == "A" else INST_B
    if pharmacy:
        kind = "pharmacy"
    elif cls in ("inpatient", "chronic") or where == "county":
        kind = "county" if (r.get("heavy") or rng.random() < 0.65) else "township"
    else:
        kind = ["county", "township", "township", "village", "village", "village"][int(rng.integers(6))]
        if cls == "two_diseases" and kind == "county":
            kind = "township"
    choice = inst[kind][int(rng.integers(len(inst[kind])))]
    r["fixmedins_code"], r["fixmedins_name"], r["lv"] = choice
    r["pay_loc"] = "本地"


# ---------------------------------------------------------------------------------- writers


def csv_row(r: dict, people: dict, rng: np.random.Generator) -> list[str]:
    p = people[r["psn_no"]]
    slash = rng.random() < 0.3
    lv = r["lv"] if rng.random() < 0.2 else HOSP_LV_NAMES[r["lv"]]
    amt = {c: yuan_text(r[c], int(rng.choice(3, p=[0.7, 0.2, 0.1]))) for c in AMOUNTS}
    bs = r["benefit_start"]
    return [
        r["setl_id"], r["mdtrt_id"], r["psn_no"], p["name"], p["certno"], p["psn_type"],
        r["fixmedins_code"], r["fixmedins_name"], lv, r["pay_loc"],
        date_text(r["begndate"], slash), date_text(r["enddate"], slash), r["setl_time"].strftime("%Y-%m-%d %H:%M:%S"),
        amt["medfee_sumamt"], amt["fulamt_ownpay_amt"], amt["overlmt_selfpay"], amt["preselfpay_amt"], amt["inscp_scp_amt"],
        "", "", "", "", "", "", "", "",  # hospital-side payment columns: blank, the tool computes them
        r["dise_name"], r["med_type"], "", p["town"], p["village"],
        r["psn_idet_type"], "是" if r["refl"] else "否", "" if bs is None else date_text(bs, slash),
    ]


def bad_csv_rows(valid: list[dict], people: dict, rng: np.random.Generator) -> list[tuple[int, list[str]]]:
    """(insert-before index, row) for the defective CSV rows and the odd-but-valid one."""
    col = {h: i for i, h in enumerate(CSV_HEADER)}
    out: list[tuple[int, list[str]]] = []
    outpatients = [i for i, r in enumerate(valid) if r["cls"] == "outpatient" and r["pay_loc"] == "本地" and r["lv"] != "11"]
    inpatients = [i for i, r in enumerate(valid) if r["cls"] == "inpatient" and not r.get("heavy")]
    n = len(valid)

    def template(i: int, bad_id: str) -> list[str]:
        row = csv_row(valid[i], people, rng)
        row[col["结算ID"]] = f"{AREA}{YEAR % 100:02d}{MONTH:02d}{bad_id}"
        row[col["就诊ID"]] = f"{AREA}{YEAR % 100:02d}{MONTH:02d}8{bad_id[-2:]}000"
        return row

    def amounts(row: list[str], total: str, own: str, over: str, pre: str, scope: str) -> None:
        for h, v in zip(["总费用", "全自费金额", "超限价自费费用", "先行自付金额", "范围内费用"], [total, own, over, pre, scope]):
            row[col[h]] = v

    pick = lambda pool: pool[int(rng.integers(len(pool)))]  # noqa: E731
    pos = lambda k: (k * n) // 14 + int(rng.integers(1, 20))  # noqa: E731  spread through the file

    row = template(pick(outpatients), "BAD01"); row[col["总费用"]] = ""; out.append((pos(1), row))
    row = template(pick(outpatients), "BAD02"); row[col["全自费金额"]] = "12,34a"; out.append((pos(2), row))
    row = template(pick(outpatients), "BAD03"); row[col["开始日期"]] = row[col["结束日期"]] = "2021-02-30"; out.append((pos(3), row))
    row = template(pick(inpatients), "BAD04"); row[col["开始日期"]], row[col["结束日期"]] = "2021-03-20", "2021-03-12"; out.append((pos(4), row))
    row = template(pick(outpatients), "BAD05"); amounts(row, "500.00", "300.00", "150.00", "120.00", ""); out.append((pos(5), row))
    row = template(pick(inpatients), "BAD06"); amounts(row, "1,000.00", "50.00", "0.00", "30.00", "950.00"); out.append((pos(6), row))
    row = template(pick(outpatients), "BAD07"); row[col["医疗类别"]] = "99 未知类别"; out.append((pos(7), row))
    row = template(pick(inpatients), "BAD08"); row[col["医院等级"]] = "特等"; out.append((pos(8), row))
    row = template(pick(outpatients), "BAD09"); row[col["人员身份类别"]] = "外星人"; out.append((pos(9), row))
    row = template(pick(inpatients), "BAD10"); row[col["转诊标志"]] = "也许"; out.append((pos(10), row))
    # BAD11: an earlier valid row's 结算ID with different amounts
    i = pick([j for j in outpatients if j < n // 2])
    row = csv_row(valid[i], people, rng)
    amounts(row, "888.00", "8.00", "0.00", "0.00", "880.00")
    out.append((pos(11), row))
    # BAD12: exact copy of an earlier valid row (same text; the copy is what gets rejected)
    i = pick([j for j in outpatients if j < n // 2])
    out.append((pos(12), ("COPY", i)))  # resolved by the writer to the identical text
    # ODD but valid: stray spaces and full-width digits
    i = pick(outpatients)
    row = template(i, "ODD01")
    row[col["个人编号"]] = f"  {valid[i]['psn_no']} "
    row[col["医疗类别"]] = " 普通门诊  "
    row[col["开始日期"]] = f" {valid[i]['begndate'].isoformat()}"
    row[col["结束日期"]] = f"{valid[i]['enddate'].isoformat()}  "
    amounts(row, " " + fullwidth("123.50"), "０.００", "0.00", " 3.50", fullwidth("120") + "．００ ")
    row[col["医院等级"]] = " " + HOSP_LV_NAMES[valid[i]["lv"]]
    out.append((pos(13), row))
    return out


def write_csv(path: Path, valid: list[dict], people: dict, rng: np.random.Generator) -> None:
    lines = [csv_row(r, people, rng) for r in valid]
    inserts = bad_csv_rows(valid, people, rng)
    for idx, row in sorted(inserts, key=lambda t: t[0], reverse=True):
        if isinstance(row, tuple):  # exact repeat of line `row[1]`
            row = list(lines[row[1]])
        lines.insert(min(idx, len(lines)), row)
    # BAD13: trailing 合计 line (sums of the valid rows)
    col = {h: i for i, h in enumerate(CSV_HEADER)}
    total = [""] * len(CSV_HEADER)
    total[0] = "合计"
    for h, c in zip(["总费用", "全自费金额", "超限价自费费用", "先行自付金额", "范围内费用"], AMOUNTS):
        total[col[h]] = yuan_text(sum(r[c] for r in valid), 1)
    lines.append(total)
    with open(path, "w", encoding="gbk", newline="") as f:
        w = csv.writer(f, lineterminator="\r\n")
        w.writerow(CSV_HEADER)
        w.writerows(lines)


def write_parquet(path: Path, valid: list[dict], people: dict, rng: np.random.Generator) -> None:
    recs = []
    for r in valid:
        p = people[r["psn_no"]]
        recs.append(
            {
                "setl_id": r["setl_id"], "mdtrt_id": r["mdtrt_id"], "psn_no": r["psn_no"], "psn_name": p["name"],
                "certno": p["certno"], "psn_type": p["psn_type"], "psn_idet_type": r["psn_idet_type"],
                "fixmedins_code": r["fixmedins_code"], "fixmedins_name": r["fixmedins_name"], "hosp_lv": r["lv"],
                "pay_loc": r["pay_loc"], "refl_flag": "1" if r["refl"] else "0", "med_type": r["med_type"],
                "dise_name": r["dise_name"], "begndate": r["begndate"], "enddate": r["enddate"], "setl_time": r["setl_time"],
                **{c: r[c] for c in AMOUNTS}, "benefit_start": r["benefit_start"],
            }
        )
    # BAD14: person id missing
    bad = dict(recs[len(recs) // 3])
    bad.update(setl_id=f"{AREA}{YEAR % 100:02d}{MONTH:02d}BAD14", mdtrt_id=f"{AREA}{YEAR % 100:02d}{MONTH:02d}814000", psn_no=None)
    recs.insert(len(recs) // 3 + 7, bad)
    schema = {
        "setl_id": pl.String, "mdtrt_id": pl.String, "psn_no": pl.String, "psn_name": pl.String, "certno": pl.String,
        "psn_type": pl.String, "psn_idet_type": pl.String, "fixmedins_code": pl.String, "fixmedins_name": pl.String,
        "hosp_lv": pl.String, "pay_loc": pl.String, "refl_flag": pl.String, "med_type": pl.String, "dise_name": pl.String,
        "begndate": pl.Date, "enddate": pl.Date, "setl_time": pl.Datetime("us"),
        **{c: pl.Int64 for c in AMOUNTS}, "benefit_start": pl.Date,
    }
    df = pl.DataFrame(recs, schema=schema)
    df = df.with_columns([fen_to_decimal(c, df[c].to_numpy()) for c in AMOUNTS])
    df.write_parquet(path, compression="zstd", statistics=True)


def write_xlsx(path: Path, valid: list[dict], people: dict, rng: np.random.Generator) -> None:
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(path))
    wb.set_properties({"title": "池州市医院 结算明细 2021-03 (synthetic)", "author": "medclaim sample data",
                       "created": dt.datetime(2021, 4, 2, 9, 0, 0)})
    ws = wb.add_worksheet("结算明细")
    head = wb.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1})
    money = wb.add_format({"num_format": "#,##0.00"})
    date = wb.add_format({"num_format": "yyyy-mm-dd"})
    ws.write_row(0, 0, XLSX_HEADER, head)
    ws.freeze_panes(1, 0)
    rows = list(valid)
    bad = dict(rows[len(rows) // 2])
    bad.update(setl_id=f"{AREA}{YEAR % 100:02d}{MONTH:02d}BAD15", fulamt_ownpay_amt=-3500, bad=True)
    bad["inscp_scp_amt"] = bad["medfee_sumamt"] - bad["fulamt_ownpay_amt"] - bad["overlmt_selfpay"] - bad["preselfpay_amt"]
    rows.insert(len(rows) // 2 + 3, bad)
    for i, r in enumerate(rows, start=1):
        p = people[r["psn_no"]]
        ws.write_string(i, 0, r["setl_id"])
        ws.write_string(i, 1, r["psn_no"])
        ws.write_string(i, 2, p["name"])
        ws.write_string(i, 3, p["certno"])
        ws.write_string(i, 4, r["psn_idet_type"])
        ws.write_string(i, 5, r["fixmedins_name"])
        ws.write_string(i, 6, HOSP_LV_NAMES[r["lv"]])
        ws.write_string(i, 7, r["pay_loc"])
        ws.write_string(i, 8, "是" if r["refl"] else "否")
        ws.write_datetime(i, 9, r["begndate"], date)
        ws.write_datetime(i, 10, r["enddate"], date)
        for j, c in enumerate(AMOUNTS):
            ws.write_number(i, 11 + j, r[c] / 100, money)  # Excel stores doubles; 2-decimal values round-trip
        ws.write_string(i, 16, r["med_type"])
        ws.write_string(i, 17, r["dise_name"])
        if r["benefit_start"] is not None:
            ws.write_datetime(i, 18, r["benefit_start"], date)
    ws.set_column(0, 1, 20)
    ws.set_column(2, 8, 12)
    ws.set_column(9, 18, 14)
    ws.autofilter(0, 0, len(rows), len(XLSX_HEADER) - 1)
    wb.close()


def summary(rows: list[dict], people: dict) -> str:
    df = pl.DataFrame(
        [{k: r[k] for k in ("file", "psn_no", "cls", "med_type", "medfee_sumamt", "inscp_scp_amt")} for r in rows]
    )
    lines = [
        f"valid claims: {len(rows)} over {df['psn_no'].n_unique()} people",
        "by file: " + ", ".join(f"{f}={n}" for f, n in sorted(df.group_by("file").len().rows())),
        "by class: " + ", ".join(f"{c}={n}" for c, n in sorted(df.group_by("cls").len().rows())),
        "by med_type: " + ", ".join(f"{c}={n}" for c, n in sorted(df.group_by("med_type").len().rows())),
        "heavy patients (identity, admissions, total yuan): "
        + "; ".join(f"{s} {people[s]['idet'] or '普通居民'} {people[s]['heavy'][0]}×住院 {people[s]['heavy'][1]:,}"
                    for s in sorted(people) if people[s].get("heavy")),
        "late enrollers: " + ", ".join(f"{s} from {people[s]['benefit_start']}" for s in sorted(people) if people[s]["benefit_start"]),
        "people by identity: " + ", ".join(
            f"{i or '普通居民'}={sum(1 for s in people if people[s]['idet'] == i)}" for i in [""] + list(IDENTITIES)
        ),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=HERE, help="directory to write into (default: sample_data/)")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(SEED)
    rows, people = build(rng)
    args.out.mkdir(parents=True, exist_ok=True)
    by_file = {f: [r for r in rows if r["file"] == f] for f in "ABC"}
    write_csv(args.out / FILE_A, by_file["A"], people, np.random.default_rng([SEED, 1]))
    write_parquet(args.out / FILE_B, by_file["B"], people, np.random.default_rng([SEED, 2]))
    write_xlsx(args.out / FILE_C, by_file["C"], people, np.random.default_rng([SEED, 3]))
    if not args.quiet:
        print(summary(rows, people))
        print(f"bad rows: {len(BAD_ROWS)} (+1 odd-but-valid row in {FILE_A}); wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
