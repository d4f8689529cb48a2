"""Peer: the 东至县 2021 rules (rules/anhui/dongzhi-2021.yaml) as a plain polars script.

    python -m bench.peers.polars_settle CLAIMS.parquet [MORE.parquet …] --out LEDGER.parquet

What an analyst fluent in polars would write in an afternoon: one lazy query, codes mapped with
``replace``, the person-years sorted once, every annual quantity a ``cum_sum().over(person, year)``,
the rule parameters typed in.  Same arithmetic as the engine (integer fen, half-up rounding, annual
share = F(after) − F(before)); ``python -m bench.peers.compare`` checks it settles like medclaim.
No validation, rejects, invariant checks or summary.  Prints its peak RSS as one JSON line.
"""

from __future__ import annotations

import argparse
import time

import polars as pl

from bench.measure import report_self

TEKUN = ["农村特困供养", "城市特困供养", "特困人员", "特困供养人员", "孤儿", "事实无人抚养儿童"]
DIBAO = ["农村低保", "城市低保", "低保对象"]
FANPIN = ["致贫返贫人口", "返贫致贫人口", "脱贫人口"]
CLS = {"11": "go", "普通门诊": "go", "14": "co", "门诊慢特病": "co", "门诊慢性病": "co", "门诊特殊病": "co",
       "21": "ip", "普通住院": "ip", "22": "ip", "外伤住院": "ip", "23": "ip", "转外诊治住院": "ip", "24": "ip",
       "急诊转住院": "ip", "9901": "td", "两病门诊": "td", "两病": "td"}
TIER = {**{c: 3 for c in ("01", "02", "03", "04")}, **{c: 2 for c in ("05", "06", "07")}}
PY = ["psn_no", "year"]


def col(name: str) -> pl.Expr:
    return pl.col(name)


def cum(x: pl.Expr) -> pl.Expr:
    return x.cum_sum().over(PY)


def rhu(x: pl.Expr) -> pl.Expr:  # round half up of a basis-point product
    return (x + 5000) // 10000


def share(after: pl.Expr, x: pl.Expr, f) -> pl.Expr:
    return f(after) - f(after - x)


def settle(lf: pl.LazyFrame) -> pl.LazyFrame:
    fen = {c: (col(c) * 100).cast(pl.Int64) for c in ("medfee_sumamt", "fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt", "inscp_scp_amt")}
    ident = col("psn_idet_type")
    lf = lf.with_columns(
        **fen,
        year=col("enddate").dt.year(),
        cls=col("med_type").replace_strict(CLS, default="excluded"),
        tier=pl.when(col("hosp_lv").str.starts_with("三级")).then(3).when(col("hosp_lv").str.starts_with("二级")).then(2)
        .otherwise(col("hosp_lv").replace_strict(TIER, default=1, return_dtype=pl.Int64)),
        place=col("pay_loc").fill_null("").replace_strict({"省内异地": "prov", "跨省异地": "out", "市内异地": "city"}, default="local"),
        referred=col("refl_flag").is_in(["是", "1", "Y", "y", "true"]),
        tilt=ident.is_in(TEKUN + DIBAO + FANPIN),
        ma_ratio=pl.when(ident.is_in(TEKUN)).then(9000).when(ident.is_in(DIBAO)).then(7500).when(ident.is_in(FANPIN)).then(7000)
        .when(ident.is_in(["低保边缘户", "监测户", "防返贫监测对象"])).then(6000).otherwise(0),
        ded_factor=pl.when(ident.is_in(TEKUN)).then(0).when(ident.is_in(DIBAO + FANPIN)).then(5000).otherwise(10000),
    ).sort("psn_no", "year", "enddate", "begndate", "setl_id")
    lf = lf.with_columns(
        covered=(col("cls") != "excluded") & (col("benefit_start").is_null() | (col("begndate") >= col("benefit_start")))
        & ~((col("cls") == "go") & (col("tier") != 1)),
    ).with_columns(scope=pl.when("covered").then(col("inscp_scp_amt")).otherwise(0))
    is_ = lambda c: col("covered") & (col("cls") == c)  # noqa: E731
    co_x = pl.when(is_("co")).then(col("scope")).otherwise(0)
    lf = lf.with_columns(admission_no=cum(is_("ip").cast(pl.Int64)), co_after=cum(co_x), co_x=co_x)
    prov, out = col("place") == "prov", col("place") == "out"
    tier = col("tier")
    ded_base = pl.when(prov).then(pl.when(tier == 1).then(50000).when(tier == 2).then(80000).otherwise(100000)) \
        .when(out).then(150000).otherwise(pl.when(tier == 1).then(20000).when(tier == 2).then(50000).otherwise(80000))
    ratio = pl.when(prov).then(pl.when(tier == 1).then(7500).when(tier == 2).then(7000).otherwise(6500)) \
        .when(out).then(6000).otherwise(pl.when(tier == 1).then(8500).when(tier == 2).then(8000).otherwise(7000))
    ratio = (ratio + pl.when(~col("referred") & (col("place") != "local")).then(-1000).otherwise(0)
             + pl.when("tilt").then(500).otherwise(0)).clip(0, 10000)
    repeat = pl.when(col("admission_no") >= 2).then(5000).otherwise(10000)
    ip_ded = (ded_base.cast(pl.Int64) * repeat * col("ded_factor") + 50_000_000) // 100_000_000
    co_f = lambda c: rhu((c - 50000).clip(0) * 6500)  # noqa: E731
    lf = lf.with_columns(
        dedc=pl.when(is_("ip")).then(pl.min_horizontal("scope", ip_ded))
        .when(is_("co")).then(pl.min_horizontal("co_after", 50000) - pl.min_horizontal(col("co_after") - col("co_x"), 50000)).otherwise(0),
        hifp_raw=pl.when(is_("ip")).then(rhu((col("scope") - ip_ded).clip(0) * ratio))
        .when(is_("go")).then(rhu(col("scope") * 5500))
        .when(is_("co")).then(share(col("co_after"), col("co_x"), co_f))
        .when(is_("td")).then(rhu(col("scope") * 5000)).otherwise(0),
    )
    # annual caps in rule-file order
    pay = col("hifp_raw")
    for name, classes, cap in [("c1", ["co"], 1_000_000), ("c2", ["ip", "co"], 20_000_000), ("c3", ["go"], 20_000), ("c4", ["td"], 30_000)]:
        member = col("cls").is_in(classes)
        x = pl.when(member).then(pay).otherwise(0)
        lf = lf.with_columns(**{f"{name}_x": x}).with_columns(**{f"{name}_acc": cum(col(f"{name}_x"))})
        acc, xx = col(f"{name}_acc"), col(f"{name}_x")
        lf = lf.with_columns(**{f"{name}_pay": pl.when(member).then(pl.min_horizontal(acc, cap) - pl.min_horizontal(acc - xx, cap)).otherwise(pay)})
        pay = col(f"{name}_pay")
    lf = lf.with_columns(hifp_pay=pay)
    # 大病
    thr = pl.when("tilt").then(750_000).otherwise(1_500_000)
    pts = pl.when("tilt").then(500).otherwise(0)
    cap = pl.when("tilt").then(pl.lit(2**62, pl.Int64)).otherwise(pl.lit(30_000_000, pl.Int64))  # tilted: no cap
    ci_base = pl.when(col("covered") & col("cls").is_in(["ip", "co"])).then(col("scope") - col("hifp_pay")).otherwise(0)
    lf = lf.with_columns(ci_base=ci_base).with_columns(ci_after=cum(col("ci_base")))

    def ci_f(c: pl.Expr) -> pl.Expr:
        f = rhu((c - thr).clip(0).clip(upper_bound=(5_000_000 - thr).clip(0)) * (6000 + pts)
                + (c - 5_000_000).clip(0, 5_000_000) * (6500 + pts) + (c - 10_000_000).clip(0) * (7500 + pts))
        return pl.min_horizontal(f, cap)

    lf = lf.with_columns(hifmi_pay=share(col("ci_after"), col("ci_base"), ci_f))
    # medical assistance
    edge = ident.is_in(["低保边缘户", "监测户", "防返贫监测对象"])
    ma_ded = pl.when(edge).then(100_000).otherwise(0)
    ma_limit = pl.when(ident.is_in(TEKUN)).then(5_000_000).when(ident.is_in(DIBAO + FANPIN)).then(3_000_000).otherwise(2_000_000)
    ma_base = pl.when(col("covered") & (col("cls") != "excluded") & (col("ma_ratio") > 0)) \
        .then(col("scope") - col("hifp_pay") - col("hifmi_pay")).otherwise(0)
    lf = lf.with_columns(ma_base=ma_base).with_columns(ma_after=cum(col("ma_base")))
    ma_f = lambda c: pl.min_horizontal(ma_limit, rhu((c - ma_ded).clip(0) * col("ma_ratio")))  # noqa: E731
    lf = lf.with_columns(maf_pay=share(col("ma_after"), col("ma_base"), ma_f))
    lf = lf.with_columns(fund_pay_sumamt=col("hifp_pay") + col("hifmi_pay") + col("maf_pay")).with_columns(
        psn_part_amt=col("medfee_sumamt") - col("fund_pay_sumamt"), act_pay_dedc=col("dedc"),
    )
    return lf.with_columns(
        ytd_claims=cum(pl.lit(1)), ytd_medfee=cum(col("medfee_sumamt")), ytd_hifp=cum(col("hifp_pay")),
        ytd_hifmi=cum(col("hifmi_pay")), ytd_maf=cum(col("maf_pay")), ytd_psn_part=cum(col("psn_part_amt")),
        not_covered=~col("covered"), ruleset_id=pl.lit("anhui/dongzhi-2021"), ruleset_version=pl.lit("2021.1"),
    ).select(
        "setl_id", "psn_no", "med_type", "medfee_sumamt", "fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt",
        "inscp_scp_amt", "act_pay_dedc", "hifp_pay", "hifmi_pay", "maf_pay", "fund_pay_sumamt", "psn_part_amt", "year",
        "cls", "tier", "place", "psn_idet_type", "not_covered", "ytd_claims", "ytd_medfee", "ytd_hifp", "ytd_hifmi",
        "ytd_maf", "ytd_psn_part", pl.col("ci_after").alias("ytd_critical_base"), pl.col("ma_after").alias("ytd_assist_base"),
        "ruleset_id", "ruleset_version",
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.peers.polars_settle", description=__doc__.split("\n")[0])
    ap.add_argument("inputs", nargs="+")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    settle(pl.scan_parquet(args.inputs)).collect().write_parquet(args.out, compression="lz4")
    report_self(t0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
