"""Peer: the 东至县 2021 rules (rules/anhui/dongzhi-2021.yaml) settled in DuckDB SQL.

    python -m bench.peers.duckdb_settle CLAIMS.parquet [MORE.parquet …] --out LEDGER.parquet

What an analyst with DuckDB would write: map the codes with CASE, order each person-year with
window functions, and compute every annual quantity as a running SUM() OVER the person-year —
basic insurance by class, the four annual caps in rule-file order, 大病 bands on the cumulative
compliant burden with the identity tilt, medical assistance with its annual limit — then write
the national output fields and the running totals as Parquet.  The rule parameters are typed in
here, as an analyst would; the arithmetic is the engine's (integer fen, half-up rounding, a
claim's annual share = F(cumulative after) − F(cumulative before)), so the payments agree with
``medclaim settle`` claim for claim (``python -m bench.peers.compare`` checks that).  Unlike medclaim it does no
input validation, no rejects, no invariant checks, no summary.
At the end it prints its peak RSS as one JSON line.
"""

from __future__ import annotations

import argparse
import time

import duckdb

from bench.measure import report_self

#: The whole settlement; rule parameters in fen and basis points, as in the rule file.
SQL = r"""
CREATE OR REPLACE TEMP VIEW claims AS
SELECT * FROM read_parquet({inputs});

CREATE OR REPLACE TEMP VIEW mapped AS
SELECT
    setl_id, psn_no, med_type, begndate, enddate, benefit_start,
    CAST(round(medfee_sumamt * 100) AS BIGINT) AS medfee,
    CAST(round(fulamt_ownpay_amt * 100) AS BIGINT) AS fulamt,
    CAST(round(overlmt_selfpay * 100) AS BIGINT) AS overlmt,
    CAST(round(preselfpay_amt * 100) AS BIGINT) AS presel,
    CAST(round(inscp_scp_amt * 100) AS BIGINT) AS inscp,
    year(enddate) AS year,
    CASE WHEN med_type IN ('11', '普通门诊') THEN 'go'
         WHEN med_type IN ('14', '门诊慢特病', '门诊慢性病', '门诊特殊病') THEN 'co'
         WHEN med_type IN ('21', '普通住院', '22', '外伤住院', '23', '转外诊治住院', '24', '急诊转住院') THEN 'ip'
         WHEN med_type IN ('9901', '两病门诊', '两病') THEN 'td'
         ELSE 'excluded' END AS cls,
    CASE WHEN hosp_lv IN ('01','02','03','04') OR hosp_lv LIKE '三级%' THEN 3
         WHEN hosp_lv IN ('05','06','07') OR hosp_lv LIKE '二级%' THEN 2
         ELSE 1 END AS tier,
    CASE coalesce(pay_loc, '') WHEN '省内异地' THEN 'prov' WHEN '跨省异地' THEN 'out'
                               WHEN '市内异地' THEN 'city' ELSE 'local' END AS place,
    coalesce(refl_flag, '') IN ('是', '1', 'Y', 'y', 'true') AS referred,
    CASE WHEN psn_idet_type IN ('农村特困供养', '城市特困供养', '特困人员', '特困供养人员', '孤儿', '事实无人抚养儿童') THEN 'tekun'
         WHEN psn_idet_type IN ('农村低保', '城市低保', '低保对象') THEN 'dibao'
         WHEN psn_idet_type IN ('致贫返贫人口', '返贫致贫人口', '脱贫人口') THEN 'fanpin'
         WHEN psn_idet_type = '低保边缘户' THEN 'edge'
         WHEN psn_idet_type IN ('监测户', '防返贫监测对象') THEN 'monitored'
         ELSE 'other' END AS ident
FROM claims;

CREATE OR REPLACE TEMP VIEW covered AS
SELECT *,
    (cls <> 'excluded' AND (benefit_start IS NULL OR begndate >= benefit_start)
     AND NOT (cls = 'go' AND tier <> 1)) AS is_covered
FROM mapped;

-- basic insurance per class; the admission number and the chronic annual total are running sums
CREATE OR REPLACE TEMP VIEW ordered AS
SELECT *,
    CASE WHEN is_covered THEN inscp ELSE 0 END AS scope,
    sum(CASE WHEN is_covered AND cls = 'ip' THEN 1 ELSE 0 END) OVER w AS admission_no,
    sum(CASE WHEN is_covered AND cls = 'co' THEN inscp ELSE 0 END) OVER w AS co_after,
    CASE WHEN is_covered AND cls = 'co' THEN inscp ELSE 0 END AS co_x
FROM covered
WINDOW w AS (PARTITION BY psn_no, year ORDER BY enddate, begndate, setl_id ROWS UNBOUNDED PRECEDING);

CREATE OR REPLACE TEMP VIEW ip_params AS
SELECT *,
    CASE place WHEN 'prov' THEN (CASE tier WHEN 1 THEN 50000 WHEN 2 THEN 80000 ELSE 100000 END)
               WHEN 'out' THEN 150000
               ELSE (CASE tier WHEN 1 THEN 20000 WHEN 2 THEN 50000 ELSE 80000 END) END::BIGINT AS ded_base,
    CASE WHEN admission_no >= 2 THEN 5000 ELSE 10000 END AS repeat_factor,
    CASE ident WHEN 'tekun' THEN 0 WHEN 'dibao' THEN 5000 WHEN 'fanpin' THEN 5000 ELSE 10000 END AS ident_factor,
    CASE place WHEN 'prov' THEN (CASE tier WHEN 1 THEN 7500 WHEN 2 THEN 7000 ELSE 6500 END)
               WHEN 'out' THEN 6000
               ELSE (CASE tier WHEN 1 THEN 8500 WHEN 2 THEN 8000 ELSE 7000 END) END
      + CASE WHEN NOT referred AND place <> 'local' THEN -1000 ELSE 0 END
      + CASE WHEN ident IN ('tekun', 'dibao', 'fanpin') THEN 500 ELSE 0 END AS ratio_raw
FROM ordered;

CREATE OR REPLACE TEMP VIEW basic_raw AS
SELECT *,
    CASE WHEN NOT is_covered THEN 0
         WHEN cls = 'ip' THEN least(scope, ip_ded)
         WHEN cls = 'co' THEN least(co_after, 50000) - least(co_after - co_x, 50000)
         ELSE 0 END AS dedc,
    CASE WHEN NOT is_covered THEN 0
         WHEN cls = 'ip' THEN (greatest(scope - ip_ded, 0) * ip_ratio + 5000) // 10000
         WHEN cls = 'go' THEN (scope * 5500 + 5000) // 10000
         WHEN cls = 'co' THEN (greatest(co_after - 50000, 0) * 6500 + 5000) // 10000
                            - (greatest(co_after - co_x - 50000, 0) * 6500 + 5000) // 10000
         WHEN cls = 'td' THEN (scope * 5000 + 5000) // 10000
         ELSE 0 END AS hifp_raw
FROM (SELECT *, (ded_base * repeat_factor * ident_factor + 50000000) // 100000000 AS ip_ded,
             least(greatest(ratio_raw, 0), 10000) AS ip_ratio FROM ip_params);

-- the four annual caps, in rule-file order, each on the payments the previous one left
CREATE OR REPLACE TEMP VIEW cap1 AS
SELECT *, CASE WHEN cls = 'co' THEN least(acc, 1000000) - least(acc - x, 1000000) ELSE hifp_raw END AS pay1
FROM (SELECT *, CASE WHEN cls = 'co' THEN hifp_raw ELSE 0 END AS x,
             sum(CASE WHEN cls = 'co' THEN hifp_raw ELSE 0 END) OVER w AS acc FROM basic_raw
      WINDOW w AS (PARTITION BY psn_no, year ORDER BY enddate, begndate, setl_id ROWS UNBOUNDED PRECEDING));

CREATE OR REPLACE TEMP VIEW cap2 AS
SELECT * EXCLUDE (x, acc), CASE WHEN cls IN ('ip', 'co') THEN least(acc2, 20000000) - least(acc2 - x2, 20000000) ELSE pay1 END AS pay2
FROM (SELECT *, CASE WHEN cls IN ('ip', 'co') THEN pay1 ELSE 0 END AS x2,
             sum(CASE WHEN cls IN ('ip', 'co') THEN pay1 ELSE 0 END) OVER w AS acc2 FROM cap1
      WINDOW w AS (PARTITION BY psn_no, year ORDER BY enddate, begndate, setl_id ROWS UNBOUNDED PRECEDING));

CREATE OR REPLACE TEMP VIEW basic AS
SELECT *,
    CASE WHEN cls = 'go' THEN least(acc3, 20000) - least(acc3 - pay2, 20000)
         WHEN cls = 'td' THEN least(acc4, 30000) - least(acc4 - pay2, 30000)
         ELSE pay2 END AS hifp_pay
FROM (SELECT *,
             sum(CASE WHEN cls = 'go' THEN pay2 ELSE 0 END) OVER w AS acc3,
             sum(CASE WHEN cls = 'td' THEN pay2 ELSE 0 END) OVER w AS acc4 FROM cap2
      WINDOW w AS (PARTITION BY psn_no, year ORDER BY enddate, begndate, setl_id ROWS UNBOUNDED PRECEDING));

-- 大病: bands on the cumulative compliant burden of inpatient and chronic claims
CREATE OR REPLACE TEMP VIEW ci_in AS
SELECT *,
    CASE WHEN is_covered AND cls IN ('ip', 'co') THEN scope - hifp_pay ELSE 0 END AS ci_base,
    CASE WHEN ident IN ('tekun', 'dibao', 'fanpin') THEN 750000 ELSE 1500000 END AS thr,
    CASE WHEN ident IN ('tekun', 'dibao', 'fanpin') THEN 500 ELSE 0 END AS pts,
    CASE WHEN ident IN ('tekun', 'dibao', 'fanpin') THEN 9223372036854775807 ELSE 30000000 END AS ci_cap
FROM basic;

CREATE OR REPLACE TEMP VIEW ci_cum AS
SELECT *, sum(ci_base) OVER w AS ci_after
FROM ci_in WINDOW w AS (PARTITION BY psn_no, year ORDER BY enddate, begndate, setl_id ROWS UNBOUNDED PRECEDING);

CREATE OR REPLACE MACRO ci_f(c, thr, pts, cap) AS least(cap, (
      least(greatest(c - thr, 0), greatest(5000000 - thr, 0)) * (6000 + pts)
    + least(greatest(c - 5000000, 0), 5000000) * (6500 + pts)
    + greatest(c - 10000000, 0) * (7500 + pts) + 5000) // 10000);

CREATE OR REPLACE TEMP VIEW critical AS
SELECT *, ci_f(ci_after, thr, pts, ci_cap) - ci_f(ci_after - ci_base, thr, pts, ci_cap) AS hifmi_pay FROM ci_cum;

-- medical assistance for assisted identities, one annual limit over all classes
CREATE OR REPLACE TEMP VIEW ma_in AS
SELECT *,
    CASE ident WHEN 'tekun' THEN 9000 WHEN 'dibao' THEN 7500 WHEN 'fanpin' THEN 7000
               WHEN 'edge' THEN 6000 WHEN 'monitored' THEN 6000 ELSE 0 END AS ma_ratio,
    CASE WHEN ident IN ('edge', 'monitored') THEN 100000 ELSE 0 END AS ma_ded,
    CASE ident WHEN 'tekun' THEN 5000000 WHEN 'dibao' THEN 3000000 WHEN 'fanpin' THEN 3000000 ELSE 2000000 END AS ma_limit,
    CASE WHEN is_covered AND cls <> 'excluded' AND ident IN ('tekun', 'dibao', 'fanpin', 'edge', 'monitored')
         THEN scope - hifp_pay - hifmi_pay ELSE 0 END AS ma_base
FROM critical;

CREATE OR REPLACE TEMP VIEW assistance AS
SELECT *,
    least(ma_limit, (greatest(ma_after - ma_ded, 0) * ma_ratio + 5000) // 10000)
  - least(ma_limit, (greatest(ma_after - ma_base - ma_ded, 0) * ma_ratio + 5000) // 10000) AS maf_pay
FROM (SELECT *, sum(ma_base) OVER w AS ma_after FROM ma_in
      WINDOW w AS (PARTITION BY psn_no, year ORDER BY enddate, begndate, setl_id ROWS UNBOUNDED PRECEDING));

CREATE OR REPLACE TEMP VIEW ledger AS
SELECT *,
    sum(medfee) OVER w AS ytd_medfee, sum(hifp_pay) OVER w AS ytd_hifp, sum(hifmi_pay) OVER w AS ytd_hifmi,
    sum(maf_pay) OVER w AS ytd_maf, sum(psn_part_amt) OVER w AS ytd_psn_part, count(*) OVER w AS ytd_claims
FROM (SELECT *, hifp_pay + hifmi_pay + maf_pay AS fund_pay_sumamt,
             medfee - hifp_pay - hifmi_pay - maf_pay AS psn_part_amt FROM assistance)
WINDOW w AS (PARTITION BY psn_no, year ORDER BY enddate, begndate, setl_id ROWS UNBOUNDED PRECEDING);

COPY (
    SELECT setl_id, psn_no, med_type, medfee AS medfee_sumamt, fulamt AS fulamt_ownpay_amt, overlmt AS overlmt_selfpay,
           presel AS preselfpay_amt, inscp AS inscp_scp_amt, dedc AS act_pay_dedc, hifp_pay, hifmi_pay, maf_pay,
           fund_pay_sumamt, psn_part_amt, year, cls, tier, place, ident, NOT is_covered AS not_covered,
           ytd_claims, ytd_medfee, ytd_hifp, ytd_hifmi, ytd_maf, ytd_psn_part, ci_after AS ytd_critical_base,
           ma_after AS ytd_assist_base, 'anhui/dongzhi-2021' AS ruleset_id, '2021.1' AS ruleset_version
    FROM ledger
) TO {out} (FORMAT parquet, COMPRESSION lz4);
"""


def quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.peers.duckdb_settle", description=__doc__.split("\n")[0])
    ap.add_argument("inputs", nargs="+")
    ap.add_argument("--out", required=True)
    ap.add_argument("--threads", type=int, default=None, help="DuckDB threads (default: all CPUs)")
    ap.add_argument("--memory-limit", default=None, help="DuckDB memory_limit, e.g. 2GB (default: DuckDB's own, 80 %% of RAM)")
    ap.add_argument("--temp-directory", default=None, help="where DuckDB may spill")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    con = duckdb.connect()
    if args.threads:
        con.execute(f"SET threads = {int(args.threads)}")
    if args.memory_limit:
        con.execute(f"SET memory_limit = {quote(args.memory_limit)}")
    if args.temp_directory:
        con.execute(f"SET temp_directory = {quote(args.temp_directory)}")
    con.execute("SET preserve_insertion_order = false")
    inputs = "[" + ", ".join(quote(p) for p in args.inputs) + "]"
    con.execute(SQL.format(inputs=inputs, out=quote(args.out)))
    report_self(t0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
