"""`medclaim explain`: one person's year, claim by claim, each step with its rule and source.

Explain never does settlement arithmetic.  It reads the rows the engine wrote — a saved ledger, or
the ledger ``settle_claims`` returns for that person's claims — and *reports* the engine's own
intermediate columns: the deductible and its factors, the ratio and its parts, the raw basic
payment, each annual cap's cumulative input and cut, the 大病 base, threshold and per-band bases,
the assistance base, ratio and limit, the running totals after the claim.  The only derived
figures are "before" values, each the pure difference of two kept columns (cumulative after −
this claim's contribution); rule parameters that are not per-row (band bounds, the cap values)
are read from the rule set the ledger row names, together with their citation.

The result is one language-neutral document (``explain_person`` → dict, JSON schema
``medclaim.explain/1``, see ``JSON_SCHEMA`` and docs/explain.md).  The renderers turn it into
plain text or a rich table using the label files in ``medclaim/labels/<lang>.yaml``, so a third
language is a new file, not a code change.
"""

from __future__ import annotations

import datetime as dt
import importlib
import importlib.util
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

import polars as pl
import yaml

from .money import fen_to_yuan_display, pct_str
from .rules import BENEFIT_CLASSES, RULES_DIR, Cited, RuleBook, RuleSet, RuleSetError, load_rulebook

SCHEMA_ID = "medclaim.explain/1"
LABELS_DIR = Path(__file__).resolve().parent / "labels"
DEFAULT_LANG = "zh"


class ExplainNotFound(Exception):
    """No claims for the person (or the year) asked about.  ``message`` is ready to print."""

    def __init__(self, message: str, years: list[int] | None = None):
        self.message = message
        self.years = years or []
        super().__init__(message)


class LedgerUnreadable(Exception):
    """The --ledger directory holds no ledger we can read."""


# ------------------------------------------------------------------ person ids


def mask_id(value: str | None) -> str:
    """Person and certificate numbers for terminals and logs: 3417**********0433.

    Ids of 10 characters or more keep their first 4 and last 4; shorter ids keep their last 2;
    ids of 1–2 characters are masked whole.
    """
    if value is None:
        return ""
    s = str(value)
    n = len(s)
    if n >= 10:
        return s[:4] + "*" * (n - 8) + s[-4:]
    if n > 2:
        return "*" * (n - 2) + s[-2:]
    return "*" * n


# ------------------------------------------------------------------ labels


def available_languages() -> list[str]:
    return sorted(p.stem for p in LABELS_DIR.glob("*.yaml"))


def _flatten(data: Any, prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    if isinstance(data, dict):
        for k, v in data.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    else:
        out[prefix] = str(data)
    return out


@dataclass(frozen=True)
class Labels:
    """All user-facing words of explain, in one language (``medclaim/labels/<lang>.yaml``)."""

    lang: str
    text: dict[str, str]

    def __call__(self, label: str, /, **kw: Any) -> str:
        return self.text[label].format(**kw)

    def name(self, group: str, key: str | None) -> str:
        """A rule-set key (class, tier, place, identity…) in words; the key itself when unlabelled."""
        if key is None:
            return "—"
        return self.text.get(f"{group}.{key}", str(key))


@lru_cache(maxsize=None)
def load_labels(lang: str = DEFAULT_LANG) -> Labels:
    """The one loader of label files.  Unknown language → ValueError listing the ones there are."""
    path = LABELS_DIR / f"{lang}.yaml"
    if not path.is_file():
        raise ValueError(f"no labels for language '{lang}' — available: {', '.join(available_languages())} (add {path.name} under {LABELS_DIR})")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return Labels(lang=lang, text=_flatten(data))


# ------------------------------------------------------------------ reading the person's rows


def _store_module():
    if importlib.util.find_spec("medclaim.store") is None:
        return None
    return importlib.import_module("medclaim.store")


def scan_ledger(ledger_dir: Path) -> pl.LazyFrame:
    """A lazy view of the ledger at ``ledger_dir``, never loaded whole (a ledger may hold 10M rows).

    Read through ``medclaim.store.scan_ledger`` (a persistent ledger directory, the ``--out``
    directory of ``medclaim settle``, or a ledger Parquet file); without the store module, the
    directory's ``ledger.parquet``.
    """
    ledger_dir = Path(ledger_dir)
    if not ledger_dir.exists():
        raise LedgerUnreadable(f"{ledger_dir}: no such ledger — give the --out directory of `medclaim settle` or a ledger directory")
    store = _store_module()
    if store is not None:
        try:
            if hasattr(store, "scan_ledger"):
                return store.scan_ledger(ledger_dir)
            return store.read_ledger(ledger_dir).lazy()
        except getattr(store, "LedgerError", ()) as e:
            raise LedgerUnreadable(str(e)) from None
    if ledger_dir.is_file():
        return pl.scan_parquet(ledger_dir)
    if (ledger_dir / "ledger.parquet").is_file():
        return pl.scan_parquet(ledger_dir / "ledger.parquet")
    raise LedgerUnreadable(
        f"{ledger_dir}: holds no ledger.parquet — give the --out directory of `medclaim settle` or a ledger directory"
    )


def person_rows_from_ledger(ledger_dir: Path, psn_no: str) -> pl.DataFrame:
    """That person's ledger rows, in ledger (settlement) order."""
    lf = scan_ledger(ledger_dir)
    rows = lf.filter(pl.col("psn_no") == psn_no).collect()
    if "entry_no" in rows.columns:  # a persistent ledger numbers its entries in settlement order
        rows = rows.sort("entry_no", maintain_order=True)
    return rows


@dataclass
class InputSettlement:
    rows: pl.DataFrame
    book: RuleBook
    rejected: list[dict[str, Any]] = field(default_factory=list)


def person_rows_from_input(files: list[Path], rules: str, psn_no: str) -> InputSettlement:
    """Read the extract(s), keep that person's claims (all of them: annual figures need the whole
    year) and settle them with ``settle_claims`` — the same engine as ``medclaim settle``."""
    from .io import read_claims
    from .settle import settle_claims

    book = load_rulebook(rules)
    read = read_claims(list(files))
    mine = read.claims.filter(pl.col("psn_no") == psn_no)
    if mine.height == 0:
        return InputSettlement(rows=mine, book=book)
    settlement = settle_claims(mine, book)
    return InputSettlement(rows=settlement.ledger, book=book, rejected=settlement.rejects.to_dicts())


def years_of(rows: pl.DataFrame) -> list[int]:
    return sorted(int(y) for y in rows["year"].unique().to_list()) if rows.height else []


def choose_year(
    rows: pl.DataFrame, psn_no: str, year: int | None, where: str, show_ids: bool, setl_id: str | None = None
) -> int:
    """The benefit year to explain (default: the latest, or that of ``setl_id``); ExplainNotFound if none."""
    who = psn_no if show_ids else mask_id(psn_no)
    if rows.height == 0:
        hint = " (that looks masked: give the full person number)" if "*" in psn_no else ""
        raise ExplainNotFound(
            f"no claims for person {who} in {where} — check the id{hint} and that this is the right ledger or input"
        )
    years = years_of(rows)
    if setl_id is not None:
        hit = rows.filter((pl.col("setl_id") == setl_id) & (pl.col("year") == year if year is not None else pl.lit(True)))
        if hit.height == 0:
            in_year = f" in benefit year {year}" if year is not None else ""
            raise ExplainNotFound(
                f"person {who} has no settlement {setl_id}{in_year} in {where} — run without --claim to list the person's claims",
                years,
            )
        return int(hit["year"][-1])
    if year is None:
        return years[-1]
    if year not in years:
        raise ExplainNotFound(
            f"person {who} has no claims in benefit year {year} in {where} — years available: {', '.join(map(str, years))}",
            years,
        )
    return year


# ------------------------------------------------------------------ rule sets and citations


def rules_display_path(path: Path) -> str:
    p = Path(path).resolve()
    for root in (RULES_DIR.parent, Path.cwd()):
        try:
            return str(p.relative_to(root.resolve()))
        except ValueError:
            continue
    return str(p)


@dataclass
class RuleRef:
    rs: RuleSet
    file: str  # display path, e.g. rules/anhui/dongzhi-2021.yaml
    blocks: dict[str, Cited] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.blocks = dict(self.rs.cited_blocks())

    def cite(self, block_path: str, suffix: str = "") -> dict[str, Any] | None:
        """A citation of the block at ``block_path`` (key shown as block path + ``suffix``)."""
        block = self.blocks.get(block_path)
        if block is None:
            return None
        src = self.rs.sources.get(block.source)
        return {
            "file": self.file,
            "key": block_path + suffix,
            "doc_no": src.doc_no if src else block.source,
            "ref": block.ref,
            "status": block.status,
        }


def rule_index(books: Iterable[RuleBook]) -> dict[str, RuleRef]:
    out: dict[str, RuleRef] = {}
    for book in books:
        for rs, f in zip(book.periods, book.files):
            out.setdefault(rs.id, RuleRef(rs, rules_display_path(f)))
    return out


def rules_for_ledger(ruleset_ids: Iterable[str], rules: str | None = None) -> dict[str, RuleRef]:
    """The rule sets named by the ledger rows (``ruleset_id``), loaded to cite their sources.

    ``rules`` overrides where to look (a file or region directory), for rule sets moved since.
    """
    books: list[RuleBook] = []
    if rules is not None:
        books.append(load_rulebook(rules))
    index = rule_index(books)
    for rid in sorted(set(ruleset_ids)):
        if rid in index:
            continue
        try:
            index.update(rule_index([load_rulebook(rid)]))
        except RuleSetError as e:
            raise RuleSetError(
                [f"the ledger was settled with rule set {rid}, which does not load here — give its file with --rules"] + e.problems
            ) from None
        if rid not in index:
            raise RuleSetError([f"rules/{rid}.yaml holds another rule set than {rid}, named by the ledger — give its file with --rules"])
    return index


def _place_suffix(table: Any, tier: str, place: str) -> str:
    """Which entry of a by-tier / by-place table the engine used (the place's own row where given)."""
    if tier in table.by_place.get(place, {}):
        return f".by_place.{place}.{tier}"
    return f".by_tier.{tier}"


# ------------------------------------------------------------------ the document


def _iso(v: Any) -> str | None:
    return v.isoformat() if isinstance(v, (dt.date, dt.datetime)) else v


def _int(v: Any) -> int | None:
    return None if v is None else int(v)


def _cites(*items: dict[str, Any] | None) -> list[dict[str, Any]]:
    return [c for c in items if c is not None]


class _Row:
    """A ledger row; a column the ledger does not keep reads as None (the document says null)."""

    def __init__(self, row: dict[str, Any]):
        self.row = row

    def __getitem__(self, col: str) -> Any:
        return self.row.get(col)

    def int(self, col: str) -> int | None:
        return _int(self.row.get(col))

    def diff(self, after: str, contribution: str) -> int | None:
        a, x = self.row.get(after), self.row.get(contribution)
        return None if a is None or x is None else int(a) - int(x)


def explain_person(
    rows: pl.DataFrame,
    psn_no: str,
    year: int,
    rules: dict[str, RuleRef],
    *,
    show_ids: bool = False,
    source: dict[str, Any] | None = None,
    rejected: list[dict[str, Any]] | None = None,
    only: str | None = None,
) -> dict[str, Any]:
    """The explain document for one person-year (schema ``medclaim.explain/1``).

    ``only``: show just that settlement (its figures still come from the whole year's order).
    """
    years = years_of(rows)
    mine = rows.filter(pl.col("year") == year)
    claims = [_claim(_Row(r), i + 1, rules) for i, r in enumerate(mine.iter_rows(named=True))]
    n_year = len(claims)
    if only is not None:
        claims = [c for c in claims if c["setl_id"] == only]
    used = list(dict.fromkeys(mine["ruleset_id"].to_list()))
    rulesets = []
    warnings: list[dict[str, Any]] = []
    for rid in used:
        ref = rules[rid]
        ledger_versions = sorted(set(mine.filter(pl.col("ruleset_id") == rid)["ruleset_version"].to_list()))
        rulesets.append(
            {
                "id": rid,
                "version": ref.rs.ruleset.version,
                "file": ref.file,
                "name": ref.rs.ruleset.name,
                "unverified": len(ref.rs.unverified()),
                "parameters": len(ref.blocks),
            }
        )
        for v in ledger_versions:
            if v != ref.rs.ruleset.version:
                warnings.append({"code": "ruleset_version_changed", "ruleset_id": rid, "ledger_version": v, "file_version": ref.rs.ruleset.version})
    for r in rejected or []:
        warnings.append({"code": "claim_rejected", "setl_id": r.get("setl_id"), "reason_code": r.get("reason_code"), "message": r.get("message")})
    last = _Row(mine.row(-1, named=True)) if mine.height else _Row({})
    return {
        "schema": SCHEMA_ID,
        "person": psn_no if show_ids else mask_id(psn_no),
        "person_masked": not show_ids,
        "year": int(year),
        "years_available": years,
        "source": source or {},
        "rulesets": rulesets,
        "warnings": warnings,
        "claims": claims,
        "claims_in_year": n_year,
        "only": only,
        "year_totals": _ytd(last, rules.get(last["ruleset_id"]) if last["ruleset_id"] else None),
    }


def _ytd(r: _Row, ref: RuleRef | None) -> dict[str, Any]:
    caps = {}
    if ref is not None:
        caps = {c.name: r.int(f"ytd_cap_{c.name}") for c in ref.rs.basic.annual_caps}
    return {
        "claims": r.int("ytd_claims"),
        "admissions": r.int("ytd_admissions"),
        "medfee_sumamt": r.int("ytd_medfee"),
        "hifp_pay": r.int("ytd_hifp"),
        "hifmi_pay": r.int("ytd_hifmi"),
        "maf_pay": r.int("ytd_maf"),
        "psn_part_amt": r.int("ytd_psn_part"),
        "critical_base": r.int("ytd_critical_base"),
        "assist_base": r.int("ytd_assist_base"),
        "chronic_scope": r.int("ytd_chronic_scope"),
        "caps": caps,
    }


def _claim(r: _Row, seq: int, rules: dict[str, RuleRef]) -> dict[str, Any]:
    ref = rules[r["ruleset_id"]]
    covered = bool(r["covered"]) if r["covered"] is not None else not bool(r["not_covered"])
    return {
        "seq": seq,
        "setl_id": r["setl_id"],
        "begndate": _iso(r["begndate"]),
        "enddate": _iso(r["enddate"]),
        "benefit_start": _iso(r["benefit_start"]),
        "med_type": r["med_type"],
        "hosp_lv": r["hosp_lv"],
        "pay_loc": r["pay_loc"],
        "psn_idet_type": r["psn_idet_type"],
        "refl_flag": r["refl_flag"],
        "benefit_class": r["benefit_class"],
        "tier": r["tier"],
        "place": r["place"],
        "identity": r["identity"],
        "is_reversal": bool(r["is_reversal"]),
        "entry_no": r.int("entry_no"),
        "run": r.int("run"),
        "reverses_entry": r.int("reverses_entry"),
        "reversal_reason": r["reversal_reason"],
        "late": r["late"],
        "ruleset_id": r["ruleset_id"],
        "ruleset_version": r["ruleset_version"],
        "covered": covered,
        "not_covered_reason": r["not_covered_reason"],
        "not_covered_cite": _not_covered_cite(r, ref),
        "flags": {
            "basic_cap_reached": bool(r["basic_cap_reached"]),
            "critical_threshold_reached": bool(r["critical_threshold_reached"]),
            "critical_cap_reached": bool(r["critical_cap_reached"]),
        },
        "steps": {
            "costs": {
                "medfee_sumamt": r.int("medfee_sumamt"),
                "fulamt_ownpay_amt": r.int("fulamt_ownpay_amt"),
                "overlmt_selfpay": r.int("overlmt_selfpay"),
                "preselfpay_amt": r.int("preselfpay_amt"),
                "inscp_scp_amt": r.int("inscp_scp_amt"),
                "scope": r.int("scope"),
                "pre": r.int("pre"),
            },
            "basic": _basic(r, ref, covered),
            "critical": _critical(r, ref, covered),
            "assistance": _assistance(r, ref, covered),
            "patient": {
                "hifp_pay": r.int("hifp_pay"),
                "hifmi_pay": r.int("hifmi_pay"),
                "maf_pay": r.int("maf_pay"),
                "fund_pay_sumamt": r.int("fund_pay_sumamt"),
                "psn_part_amt": r.int("psn_part_amt"),
                "act_pay_dedc": r.int("act_pay_dedc"),
            },
        },
        "ytd": _ytd(r, ref),
    }


def _not_covered_cite(r: _Row, ref: RuleRef) -> dict[str, Any] | None:
    reason = r["not_covered_reason"]
    if reason == "class_excluded":
        # code tables carry no citation of their own: point at the key
        return {"file": ref.file, "key": f"codes.med_type.{r['med_type']}", "doc_no": None, "ref": "", "status": None}
    if reason == "general_outpatient_tier_not_covered":
        return {"file": ref.file, "key": "basic.general_outpatient.covered_tiers", "doc_no": None, "ref": "", "status": None}
    return None


# -- basic insurance


def _basic(r: _Row, ref: RuleRef, covered: bool) -> dict[str, Any]:
    rs, cls = ref.rs, r["benefit_class"]
    b = rs.basic
    out: dict[str, Any] = {
        "applies": covered and cls in BENEFIT_CLASSES,
        "method": None,
        "deductible": None,
        "ratio": None,
        "raw": r.int("hifp_raw"),
        "caps": [],
        "pay": r.int("hifp_pay"),
        "cites": [],
    }
    if not out["applies"]:
        return out
    tier, place = r["tier"], r["place"]
    if b.reported is not None:
        out["method"] = "reported"
        out["cites"] = _cites(ref.cite("basic.reported"))
    elif cls == "inpatient" and b.inpatient is not None:
        ip = b.inpatient
        out["method"] = "inpatient"
        nth = r.int("ip_admission_no")
        repeat_cite = None
        if ip.repeat_admission and nth is not None:
            applicable = [n for n in sorted(ip.repeat_admission.deductible_factor_by_nth) if n <= nth]
            if applicable:
                repeat_cite = ref.cite("basic.inpatient.repeat_admission", f".deductible_factor_by_nth.{applicable[-1]}")
        ident = r["identity"]
        ident_cite = ref.cite(f"basic.inpatient.identity.{ident}") if ident in ip.identity else None
        out["deductible"] = {
            "kind": "per_admission",
            "borne": r.int("dedc"),
            "amount": r.int("ip_deductible"),
            "base": r.int("ip_deductible_base"),
            "admission_no": nth,
            "repeat_factor_bp": r.int("ip_repeat_factor"),
            "identity_factor_bp": r.int("ip_identity_factor"),
            "cumulative_before": None,
            "cumulative_after": None,
            "cites": _cites(ref.cite("basic.inpatient.deductible", _place_suffix(ip.deductible, tier, place)), repeat_cite, ident_cite),
        }
        referral_cite = None
        if ip.referral and r.int("ip_referral_points"):
            key = ".referred_points" if r["refl_flag"] else ".unreferred_offsite_points"
            referral_cite = ref.cite("basic.inpatient.referral", key)
        ident_ratio_cite = ident_cite if r.int("ip_identity_points") else None
        out["ratio"] = {
            "applied_bp": r.int("ratio_bp"),
            "base_bp": r.int("ip_ratio_base"),
            "referral_points_bp": r.int("ip_referral_points"),
            "identity_points_bp": r.int("ip_identity_points"),
            "cites": _cites(ref.cite("basic.inpatient.ratio", _place_suffix(ip.ratio, tier, place)), referral_cite, ident_ratio_cite),
        }
    elif cls == "general_outpatient" and b.general_outpatient is not None:
        go = b.general_outpatient
        out["method"] = "general_outpatient"
        out["deductible"] = None if go.per_visit_deductible is None else {
            "kind": "per_visit",
            "borne": r.int("dedc"),
            "amount": go.per_visit_deductible.value if go.per_visit_deductible else 0,
            "base": None, "admission_no": None, "repeat_factor_bp": None, "identity_factor_bp": None,
            "cumulative_before": None, "cumulative_after": None,
            "cites": _cites(ref.cite("basic.general_outpatient.per_visit_deductible")),
        }
        out["ratio"] = _plain_ratio(r, [ref.cite("basic.general_outpatient.ratio", _place_suffix(go.ratio, tier, place))])
        if go.per_visit_cap:
            out["per_visit_cap"] = go.per_visit_cap.value
            out["cites"] = _cites(ref.cite("basic.general_outpatient.per_visit_cap"))
    elif cls == "chronic_outpatient" and b.chronic_outpatient is not None:
        co = b.chronic_outpatient
        out["method"] = "chronic_outpatient"
        out["deductible"] = {
            "kind": "annual",
            "borne": r.int("dedc"),
            "amount": co.annual_deductible.value,
            "base": None, "admission_no": None, "repeat_factor_bp": None, "identity_factor_bp": None,
            # the year's chronic policy-scope total, before and after this claim
            "cumulative_before": r.diff("ytd_chronic_scope", "scope"),
            "cumulative_after": r.int("ytd_chronic_scope"),
            "cites": _cites(ref.cite("basic.chronic_outpatient.annual_deductible")),
        }
        out["ratio"] = _plain_ratio(r, [ref.cite("basic.chronic_outpatient.ratio")])
    elif cls == "two_diseases" and b.two_diseases is not None:
        out["method"] = "two_diseases"
        out["ratio"] = _plain_ratio(r, [ref.cite("basic.two_diseases.ratio")])
    for i, cap in enumerate(b.annual_caps):
        if cls not in cap.classes:
            continue
        out["caps"].append(
            {
                "name": cap.name,
                "classes": list(cap.classes),
                "limit": cap.value,
                "this_claim": r.int(f"cap_in_{cap.name}"),
                "before": r.diff(f"ytd_cap_{cap.name}", f"cap_in_{cap.name}"),
                "after": r.int(f"ytd_cap_{cap.name}"),
                "cut": r.int(f"cap_cut_{cap.name}"),
                "cites": _cites(ref.cite(f"basic.annual_caps[{i}]")),
            }
        )
    return out


def _plain_ratio(r: _Row, cites: list[dict[str, Any] | None]) -> dict[str, Any]:
    return {
        "applied_bp": r.int("ratio_bp"),
        "base_bp": r.int("ratio_bp"),
        "referral_points_bp": None,
        "identity_points_bp": None,
        "cites": _cites(*cites),
    }


# -- 大病


def _critical(r: _Row, ref: RuleRef, covered: bool) -> dict[str, Any]:
    ci = ref.rs.critical
    cls, ident = r["benefit_class"], r["identity"]
    if ci is None:
        reason = "no_layer"
    elif not covered:
        reason = "not_covered"
    elif cls not in ci.classes:
        reason = "class_not_counted"
    else:
        reason = None
    out: dict[str, Any] = {
        "applies": reason is None,
        "reason": reason,
        "base": r.int("ci_base"),
        "before": r.diff("ytd_critical_base", "ci_base"),
        "after": r.int("ytd_critical_base"),
        "threshold": r.int("ci_threshold"),
        "cap": r.int("ci_cap"),
        "ratio_points_bp": r.int("ci_ratio_points"),
        "tilt": None,
        "segments": [],
        "counts_preselfpay": ci is not None and ci.include_preselfpay is not None,
        "cap_cut": r.int("ci_cap_cut"),
        "pay": r.int("hifmi_pay"),
        "cites": [],
    }
    if ci is None:
        return out
    out["cites"] = _cites(ref.cite("critical.basis"), ref.cite("critical.include_preselfpay"))
    if ident in ci.identity_tilt:
        t = ci.identity_tilt[ident]
        out["tilt"] = {
            "identity": ident,
            "threshold_factor_bp": t.threshold_factor,
            "ratio_points_bp": r.int("ci_ratio_points"),
            "no_cap": t.no_cap,
            "cites": _cites(ref.cite(f"critical.identity_tilt.{ident}")),
        }
    for i, band in enumerate(ci.segments.bands):
        out["segments"].append(
            {
                "index": i,
                "from": r.int("ci_threshold") if i == 0 else band.from_,
                "to": band.to,
                "ratio_bp": r.int(f"ci_band{i}_ratio"),
                "base": r.int(f"ci_band{i}_base"),
                "pay": r.int(f"ci_band{i}_pay"),  # null while the engine does not keep per-band payments
                "cites": _cites(ref.cite("critical.segments", f".bands[{i}]")),
            }
        )
    out["cap_cites"] = _cites(ref.cite("critical.annual_cap"))
    return out


# -- medical assistance


def _assistance(r: _Row, ref: RuleRef, covered: bool) -> dict[str, Any]:
    ma = ref.rs.assistance
    cls, ident = r["benefit_class"], r["identity"]
    if ma is None or not ma.schemes:
        reason = "no_layer"
    elif ident not in ma.schemes:
        reason = "no_scheme"
    elif not covered:
        reason = "not_covered"
    elif cls not in ma.classes:
        reason = "class_not_counted"
    else:
        reason = None
    out: dict[str, Any] = {
        "applies": reason is None,
        "reason": reason,
        "scheme": ident if ma is not None and ident in ma.schemes else None,
        "counts_preselfpay": ref.rs.critical is not None and ref.rs.critical.include_preselfpay is not None,
        "base": r.int("ma_base"),
        "before": r.diff("ytd_assist_base", "ma_base"),
        "after": r.int("ytd_assist_base"),
        "deductible": None,
        "ratio_bp": None,
        "limit": None,
        "used_before": r.diff("ytd_maf", "maf_pay"),
        "used_after": r.int("ytd_maf"),
        "left": None,
        "pay": r.int("maf_pay"),
        "cites": [],
    }
    if out["scheme"] is None:
        return out
    out["deductible"] = r.int("ma_deductible")
    out["ratio_bp"] = r.int("ma_ratio")
    out["limit"] = r.int("ma_limit")
    out["left"] = r.diff("ma_limit", "ytd_maf") if out["limit"] is not None else None
    out["cites"] = _cites(ref.cite("assistance.basis"), ref.cite(f"assistance.schemes.{ident}"))
    return out


# ------------------------------------------------------------------ JSON schema (documented in docs/explain.md)


def _obj(props: dict[str, Any], required: list[str] | None = None, extra: bool = False) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": props,
        "required": list(props) if required is None else required,
        "additionalProperties": extra,
    }


_INT = {"type": "integer"}
_INT_N = {"type": ["integer", "null"]}
_STR = {"type": "string"}
_STR_N = {"type": ["string", "null"]}
_BOOL = {"type": "boolean"}
_CITE = _obj({"file": _STR, "key": _STR, "doc_no": _STR_N, "ref": _STR, "status": {"enum": ["verified", "unverified", None]}})
_CITES = {"type": "array", "items": _CITE}

JSON_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": SCHEMA_ID,
    "title": "medclaim explain: one person's benefit year, claim by claim (money in fen, ratios in basis points)",
    **_obj(
        {
            "schema": {"const": SCHEMA_ID},
            "person": _STR,
            "person_masked": _BOOL,
            "year": _INT,
            "years_available": {"type": "array", "items": _INT},
            "source": {"type": "object"},
            "rulesets": {
                "type": "array",
                "items": _obj({"id": _STR, "version": _STR, "file": _STR, "name": _STR, "unverified": _INT, "parameters": _INT}),
            },
            "warnings": {"type": "array", "items": {"type": "object", "required": ["code"], "properties": {"code": _STR}}},
            "claims_in_year": _INT,
            "only": _STR_N,
            "claims": {
                "type": "array",
                "items": _obj(
                    {
                        "seq": _INT,
                        "setl_id": _STR,
                        "begndate": _STR,
                        "enddate": _STR,
                        "benefit_start": _STR_N,
                        "med_type": _STR_N,
                        "hosp_lv": _STR_N,
                        "pay_loc": _STR_N,
                        "psn_idet_type": _STR_N,
                        "refl_flag": {"type": ["boolean", "null"]},
                        "benefit_class": _STR,
                        "tier": _STR_N,
                        "place": _STR_N,
                        "identity": _STR_N,
                        "is_reversal": _BOOL,
                        "entry_no": _INT_N,
                        "run": _INT_N,
                        "reverses_entry": _INT_N,
                        "reversal_reason": _STR_N,
                        "late": {"type": ["boolean", "null"]},
                        "ruleset_id": _STR,
                        "ruleset_version": _STR_N,
                        "covered": _BOOL,
                        "not_covered_reason": _STR_N,
                        "not_covered_cite": {"oneOf": [{"type": "null"}, _CITE]},
                        "flags": _obj({"basic_cap_reached": _BOOL, "critical_threshold_reached": _BOOL, "critical_cap_reached": _BOOL}),
                        "steps": _obj(
                            {
                                "costs": _obj({k: _INT_N for k in ("medfee_sumamt", "fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt", "inscp_scp_amt", "scope", "pre")}),
                                "basic": _obj(
                                    {
                                        "applies": _BOOL,
                                        "method": {"enum": ["inpatient", "general_outpatient", "chronic_outpatient", "two_diseases", "reported", None]},
                                        "deductible": {
                                            "oneOf": [
                                                {"type": "null"},
                                                _obj(
                                                    {
                                                        "kind": {"enum": ["per_admission", "per_visit", "annual"]},
                                                        "borne": _INT_N,
                                                        "amount": _INT_N,
                                                        "base": _INT_N,
                                                        "admission_no": _INT_N,
                                                        "repeat_factor_bp": _INT_N,
                                                        "identity_factor_bp": _INT_N,
                                                        "cumulative_before": _INT_N,
                                                        "cumulative_after": _INT_N,
                                                        "cites": _CITES,
                                                    }
                                                ),
                                            ]
                                        },
                                        "ratio": {
                                            "oneOf": [
                                                {"type": "null"},
                                                _obj({"applied_bp": _INT_N, "base_bp": _INT_N, "referral_points_bp": _INT_N, "identity_points_bp": _INT_N, "cites": _CITES}),
                                            ]
                                        },
                                        "raw": _INT_N,
                                        "per_visit_cap": _INT,
                                        "caps": {
                                            "type": "array",
                                            "items": _obj(
                                                {
                                                    "name": _STR,
                                                    "classes": {"type": "array", "items": _STR},
                                                    "limit": _INT,
                                                    "this_claim": _INT_N,
                                                    "before": _INT_N,
                                                    "after": _INT_N,
                                                    "cut": _INT_N,
                                                    "cites": _CITES,
                                                }
                                            ),
                                        },
                                        "pay": _INT_N,
                                        "cites": _CITES,
                                    },
                                    required=["applies", "method", "deductible", "ratio", "raw", "caps", "pay", "cites"],
                                ),
                                "critical": _obj(
                                    {
                                        "applies": _BOOL,
                                        "reason": {"enum": [None, "no_layer", "not_covered", "class_not_counted"]},
                                        "base": _INT_N,
                                        "before": _INT_N,
                                        "after": _INT_N,
                                        "threshold": _INT_N,
                                        "cap": _INT_N,
                                        "ratio_points_bp": _INT_N,
                                        "tilt": {
                                            "oneOf": [
                                                {"type": "null"},
                                                _obj({"identity": _STR, "threshold_factor_bp": _INT, "ratio_points_bp": _INT_N, "no_cap": _BOOL, "cites": _CITES}),
                                            ]
                                        },
                                        "segments": {
                                            "type": "array",
                                            "items": _obj({"index": _INT, "from": _INT_N, "to": _INT_N, "ratio_bp": _INT_N, "base": _INT_N, "pay": _INT_N, "cites": _CITES}),
                                        },
                                        "counts_preselfpay": _BOOL,
                                        "cap_cut": _INT_N,
                                        "pay": _INT_N,
                                        "cites": _CITES,
                                        "cap_cites": _CITES,
                                    },
                                    required=["applies", "reason", "base", "before", "after", "threshold", "cap", "ratio_points_bp", "tilt", "segments", "counts_preselfpay", "cap_cut", "pay", "cites"],
                                ),
                                "assistance": _obj(
                                    {
                                        "applies": _BOOL,
                                        "reason": {"enum": [None, "no_layer", "no_scheme", "not_covered", "class_not_counted"]},
                                        "scheme": _STR_N,
                                        "counts_preselfpay": _BOOL,
                                        "base": _INT_N,
                                        "before": _INT_N,
                                        "after": _INT_N,
                                        "deductible": _INT_N,
                                        "ratio_bp": _INT_N,
                                        "limit": _INT_N,
                                        "used_before": _INT_N,
                                        "used_after": _INT_N,
                                        "left": _INT_N,
                                        "pay": _INT_N,
                                        "cites": _CITES,
                                    }
                                ),
                                "patient": _obj({k: _INT_N for k in ("hifp_pay", "hifmi_pay", "maf_pay", "fund_pay_sumamt", "psn_part_amt", "act_pay_dedc")}),
                            }
                        ),
                        "ytd": {"$ref": "#/$defs/ytd"},
                    }
                ),
            },
            "year_totals": {"$ref": "#/$defs/ytd"},
        }
    ),
    "$defs": {
        "ytd": _obj(
            {
                **{k: _INT_N for k in ("claims", "admissions", "medfee_sumamt", "hifp_pay", "hifmi_pay", "maf_pay", "psn_part_amt", "critical_base", "assist_base", "chronic_scope")},
                "caps": {"type": "object", "additionalProperties": _INT_N},
            }
        )
    },
}

_TYPES = {
    "object": dict,
    "array": list,
    "string": str,
    "integer": int,
    "boolean": bool,
    "null": type(None),
}


def validate(doc: Any, schema: dict[str, Any] = JSON_SCHEMA, path: str = "$", root: dict[str, Any] | None = None) -> list[str]:
    """The JSON-Schema subset ``JSON_SCHEMA`` uses (type, const, enum, properties, required,
    additionalProperties, items, oneOf, $ref to #/$defs).  Returns the problems, [] when valid."""
    root = root or schema
    if "$ref" in schema:
        name = schema["$ref"].removeprefix("#/$defs/")
        return validate(doc, root["$defs"][name], path, root)
    problems: list[str] = []
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        ok = any(
            isinstance(doc, _TYPES[t]) and not (t == "integer" and isinstance(doc, bool)) for t in types
        )
        if not ok:
            return [f"{path}: expected {'/'.join(types)}, got {type(doc).__name__} {doc!r:.60}"]
    if "const" in schema and doc != schema["const"]:
        problems.append(f"{path}: expected {schema['const']!r}, got {doc!r}")
    if "enum" in schema and doc not in schema["enum"]:
        problems.append(f"{path}: {doc!r} not one of {schema['enum']}")
    if "oneOf" in schema:
        results = [validate(doc, s, path, root) for s in schema["oneOf"]]
        if sum(1 for r in results if not r) != 1:
            problems.append(f"{path}: matches none of the allowed shapes: " + "; ".join(p for r in results for p in r[:1]))
    if isinstance(doc, dict):
        props = schema.get("properties", {})
        for k in schema.get("required", []):
            if k not in doc:
                problems.append(f"{path}: missing key '{k}'")
        for k, v in doc.items():
            if k in props:
                problems += validate(v, props[k], f"{path}.{k}", root)
            elif schema.get("additionalProperties") is False:
                problems.append(f"{path}: unexpected key '{k}'")
            elif isinstance(schema.get("additionalProperties"), dict):
                problems += validate(v, schema["additionalProperties"], f"{path}.{k}", root)
    if isinstance(doc, list) and "items" in schema:
        for i, v in enumerate(doc):
            problems += validate(v, schema["items"], f"{path}[{i}]", root)
    return problems


# ------------------------------------------------------------------ rendering


def yuan(fen: int | None) -> str:
    return "—" if fen is None else fen_to_yuan_display(fen)


def pct(bp: int | None) -> str:
    return "—" if bp is None else pct_str(bp)


def points(bp: int | None) -> str:
    """Percentage points, signed: 500 → '+5', -1000 → '-10'."""
    if bp is None:
        return "—"
    d = (Decimal(int(bp)) / 100).normalize()
    return f"{'+' if bp >= 0 else ''}{d:f}"


@dataclass
class Line:
    """One line of the rendering: ``kind`` is title, note, claim, sub, step, row, cite, text or blank."""

    kind: str
    text: str = ""
    amount: str = ""
    detail: str = ""
    level: int = 0
    emphasis: bool = False


def cite_text(c: dict[str, Any], L: Labels) -> str:
    if c.get("status") is None:
        return L("cite.key_only", file=c["file"], key=c["key"])
    doc = c["doc_no"] + (f" {c['ref']}" if c.get("ref") else "")
    return L("cite.line", file=c["file"], key=c["key"], doc=doc, status=L(f"status.{c['status']}"))


def document_lines(doc: dict[str, Any], L: Labels) -> list[Line]:
    """The whole rendering as language-resolved lines (both renderers print these)."""
    out: list[Line] = []
    claims = doc["claims"]
    n = doc["claims_in_year"]
    out.append(Line("title", L("head.title", person=doc["person"], year=doc["year"], n=n)))
    if doc["only"] is not None:
        out.append(Line("note", L("head.only", setl_id=doc["only"])))
    others = [y for y in doc["years_available"] if y != doc["year"]]
    if others:
        out.append(Line("note", L("head.other_years", years=", ".join(map(str, others)))))
    for rset in doc["rulesets"]:
        out.append(Line("note", L("head.ruleset", id=rset["id"], version=rset["version"], file=rset["file"])))
        if rset["unverified"]:
            out.append(Line("note", L("head.unverified", n=rset["unverified"], total=rset["parameters"]), emphasis=True))
    for w in doc["warnings"]:
        out.append(Line("note", L(f"warning.{w['code']}", **{k: v for k, v in w.items() if k != "code"}), emphasis=True))
    for c in claims:
        out.append(Line("blank"))
        out += claim_lines(c, n, L)
    out.append(Line("blank"))
    out += totals_lines(doc["year_totals"], L, L("totals.year", year=doc["year"]))
    return out


def _cite_lines(cites: list[dict[str, Any]], L: Labels, level: int) -> list[Line]:
    return [Line("cite", cite_text(c, L), level=level) for c in cites]


def claim_lines(c: dict[str, Any], n: int, L: Labels) -> list[Line]:
    s = c["steps"]
    out: list[Line] = []
    head = L("claim.head", seq=c["seq"], n=n, setl_id=c["setl_id"], begndate=c["begndate"], enddate=c["enddate"])
    if c["is_reversal"]:
        head += L("claim.reversal")
        if c["reverses_entry"] is not None:
            head += L("claim.reversal_entry", entry=c["reverses_entry"], reason=c["reversal_reason"] or "—")
    out.append(Line("claim", head))
    if c["late"]:
        out.append(Line("sub", L("claim.late")))
    out.append(
        Line(
            "sub",
            L(
                "claim.context",
                cls=L.name("class", c["benefit_class"]),
                tier=L.name("tier", c["tier"]),
                place=L.name("place", c["place"]),
                identity=L.name("identity", c["identity"]),
            ),
        )
    )
    # 1 costs
    k = s["costs"]
    out.append(Line("step", L("step.costs")))
    for key in ("medfee_sumamt", "fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt", "inscp_scp_amt"):
        out.append(Line("row", L(f"costs.{key}"), yuan(k[key]), level=1))
    if not c["covered"]:
        out.append(Line("step", L("step.not_covered"), emphasis=True))
        out.append(Line("text", _not_covered_text(c, L), level=1))
        if c["not_covered_cite"]:
            out += _cite_lines([c["not_covered_cite"]], L, 1)
        out += _patient_lines(c, L, L("step.patient_uncovered"))
        return out
    out += _basic_lines(c, L)
    out += _critical_lines(c, L)
    out += _assistance_lines(c, L)
    out += _patient_lines(c, L, L("step.patient"))
    return out


def _not_covered_text(c: dict[str, Any], L: Labels) -> str:
    reason = c["not_covered_reason"] or "unknown"
    return L(
        f"not_covered.{reason}",
        begndate=c["begndate"],
        benefit_start=c["benefit_start"] or "—",
        med_type=c["med_type"],
        tier=L.name("tier", c["tier"]),
    )


def _basic_lines(c: dict[str, Any], L: Labels) -> list[Line]:
    b = c["steps"]["basic"]
    out = [Line("step", L("step.basic"))]
    if b["method"] == "reported":
        out.append(Line("row", L("basic.reported"), yuan(b["raw"]), level=1))
        out += _cite_lines(b["cites"], L, 2)
    d = b["deductible"]
    if d is not None:
        if d["kind"] == "per_admission":
            why = [L("basic.ded_per_admission", amount=yuan(d["base"]), tier=L.name("tier", c["tier"]), place=L.name("place", c["place"]))]
            if d["repeat_factor_bp"] not in (None, 10_000):
                why.append(L("basic.ded_repeat", factor=pct(d["repeat_factor_bp"]), n=d["admission_no"]))
            if d["identity_factor_bp"] not in (None, 10_000):
                why.append(L("basic.ded_identity", factor=pct(d["identity_factor_bp"]), identity=L.name("identity", c["identity"])))
            if len(why) > 1:
                why.append(L("basic.ded_result", amount=yuan(d["amount"])))
            out.append(Line("row", L("basic.deductible", n=d["admission_no"]), yuan(d["borne"]), " ".join(why), level=1))
            if d["borne"] is not None and d["amount"] is not None and d["borne"] != d["amount"]:
                out.append(Line("text", L("basic.ded_partly", amount=yuan(d["amount"]), borne=yuan(d["borne"])), level=2))
        elif d["kind"] == "annual":
            out.append(
                Line(
                    "row",
                    L("basic.deductible_annual"),
                    yuan(d["borne"]),
                    L("basic.ded_annual", amount=yuan(d["amount"]), before=yuan(d["cumulative_before"]), after=yuan(d["cumulative_after"])),
                    level=1,
                )
            )
        else:
            out.append(Line("row", L("basic.deductible_visit"), yuan(d["borne"]), L("basic.ded_visit", amount=yuan(d["amount"])), level=1))
        out += _cite_lines(d["cites"], L, 2)
    r = b["ratio"]
    if r is not None:
        parts = []
        if r["referral_points_bp"] or r["identity_points_bp"]:
            parts.append(L("basic.ratio_base", ratio=pct(r["base_bp"])))
            if r["referral_points_bp"]:
                parts.append(L("basic.ratio_referral", points=points(r["referral_points_bp"])))
            if r["identity_points_bp"]:
                parts.append(L("basic.ratio_identity", points=points(r["identity_points_bp"]), identity=L.name("identity", c["identity"])))
        detail = " ".join(parts) if parts else L("basic.ratio_where", tier=L.name("tier", c["tier"]), place=L.name("place", c["place"]), cls=L.name("class", c["benefit_class"]))
        out.append(Line("row", L("basic.ratio"), pct(r["applied_bp"]), detail, level=1))
        out += _cite_lines(r["cites"], L, 2)
    if b["method"] != "reported":
        how = L(f"basic.raw_how.{b['method']}") if b["method"] else ""
        out.append(Line("row", L("basic.raw"), yuan(b["raw"]), how, level=1))
        if "per_visit_cap" in b:
            out.append(Line("text", L("basic.per_visit_cap", amount=yuan(b["per_visit_cap"])), level=2))
            out += _cite_lines(b["cites"], L, 2)
    for cap in b["caps"]:
        classes = " + ".join(L.name("class", x) for x in cap["classes"])
        out.append(Line("row", L("basic.cap"), yuan(cap["limit"]), L("basic.cap_classes", classes=classes), level=1))
        out.append(
            Line("row", L("basic.cap_counted"), "", L("basic.cap_before_after", before=yuan(cap["before"]), this=yuan(cap["this_claim"]), after=yuan(cap["after"])), level=2)
        )
        out.append(Line("row", L("basic.cap_cut"), yuan(cap["cut"]), level=2, emphasis=bool(cap["cut"])))
        out += _cite_lines(cap["cites"], L, 2)
    out.append(Line("row", L("basic.pay"), yuan(b["pay"]), level=1, emphasis=True))
    return out


def _critical_lines(c: dict[str, Any], L: Labels) -> list[Line]:
    k = c["steps"]["critical"]
    if not k["applies"]:
        return [Line("step", L("step.critical") + L(f"critical.skip.{k['reason']}", cls=L.name("class", c["benefit_class"])))]
    out = [Line("step", L("step.critical"))]
    out.append(Line("row", L("critical.base"), yuan(k["base"]), L("critical.base_how_pre" if k["counts_preselfpay"] else "critical.base_how"), level=1))
    out += _cite_lines(k["cites"], L, 2)
    out.append(Line("row", L("critical.cumulative"), "", L("critical.before_after", before=yuan(k["before"]), after=yuan(k["after"])), level=1))
    out.append(Line("row", L("critical.threshold"), yuan(k["threshold"]), level=1))
    t = k["tilt"]
    if t is not None:
        detail = [L("critical.tilt_threshold", factor=pct(t["threshold_factor_bp"]))]
        if t["ratio_points_bp"]:
            detail.append(L("critical.tilt_points", points=points(t["ratio_points_bp"])))
        if t["no_cap"]:
            detail.append(L("critical.tilt_no_cap"))
        detail.insert(0, L.name("identity", t["identity"]))
        out.append(Line("row", L("critical.tilt"), "", L("sep").join(detail), level=1))
        out += _cite_lines(t["cites"], L, 2)
    crossed = [g for g in k["segments"] if g["base"]]
    if not crossed:
        out.append(Line("text", L("critical.below_threshold") if (k["after"] or 0) <= (k["threshold"] or 0) else L("critical.no_base"), level=1))
    for g in crossed:
        bound = L("critical.band_bounded", lo=yuan(g["from"]), hi=yuan(g["to"])) if g["to"] is not None else L("critical.band_open", lo=yuan(g["from"]))
        detail = L("critical.band_detail", base=yuan(g["base"]), ratio=pct(g["ratio_bp"]))
        out.append(Line("row", L("critical.band", bound=bound), yuan(g["pay"]) if g["pay"] is not None else "", detail, level=1))
        out += _cite_lines(g["cites"], L, 2)
    if k["cap"] is not None:
        out.append(Line("row", L("critical.cap"), yuan(k["cap"]), level=1))
        out += _cite_lines(k.get("cap_cites", []), L, 2)
    elif t is not None and t["no_cap"]:
        out.append(Line("row", L("critical.cap"), L("critical.no_cap"), level=1))
    if k["cap_cut"]:
        out.append(Line("row", L("critical.cap_cut"), yuan(k["cap_cut"]), level=1, emphasis=True))
    out.append(Line("row", L("critical.pay"), yuan(k["pay"]), level=1, emphasis=True))
    return out


def _assistance_lines(c: dict[str, Any], L: Labels) -> list[Line]:
    a = c["steps"]["assistance"]
    if not a["applies"]:
        return [
            Line("step", L("step.assistance") + L(f"assistance.skip.{a['reason']}", cls=L.name("class", c["benefit_class"]), identity=L.name("identity", c["identity"])))
        ]
    out = [Line("step", L("step.assistance"))]
    out.append(Line("row", L("assistance.scheme"), "", L.name("identity", a["scheme"]), level=1))
    out.append(Line("row", L("assistance.base"), yuan(a["base"]), L("assistance.base_how_pre" if a["counts_preselfpay"] else "assistance.base_how"), level=1))
    out.append(Line("row", L("assistance.cumulative"), "", L("critical.before_after", before=yuan(a["before"]), after=yuan(a["after"])), level=1))
    if a["deductible"]:
        out.append(Line("row", L("assistance.deductible"), yuan(a["deductible"]), level=1))
    out.append(Line("row", L("assistance.ratio"), pct(a["ratio_bp"]), level=1))
    if a["limit"] is not None:
        out.append(Line("row", L("assistance.limit"), yuan(a["limit"]), L("assistance.used", before=yuan(a["used_before"]), after=yuan(a["used_after"]), left=yuan(a["left"])), level=1))
    else:
        out.append(Line("row", L("assistance.limit"), L("assistance.no_limit"), level=1))
    out += _cite_lines(a["cites"], L, 2)
    out.append(Line("row", L("assistance.pay"), yuan(a["pay"]), level=1, emphasis=True))
    return out


def _patient_lines(c: dict[str, Any], L: Labels, title: str) -> list[Line]:
    p, k = c["steps"]["patient"], c["steps"]["costs"]
    out = [
        Line(
            "step",
            title,
            yuan(p["psn_part_amt"]),
            L("patient.how", total=yuan(k["medfee_sumamt"]), funds=yuan(p["fund_pay_sumamt"]), hifp=yuan(p["hifp_pay"]), hifmi=yuan(p["hifmi_pay"]), maf=yuan(p["maf_pay"])),
            emphasis=True,
        )
    ]
    t = c["ytd"]
    out.append(
        Line(
            "text",
            L(
                "totals.after_claim",
                claims=t["claims"],
                medfee=yuan(t["medfee_sumamt"]),
                hifp=yuan(t["hifp_pay"]),
                hifmi=yuan(t["hifmi_pay"]),
                maf=yuan(t["maf_pay"]),
                psn=yuan(t["psn_part_amt"]),
            ),
        )
    )
    return out


def totals_lines(t: dict[str, Any], L: Labels, title: str, level: int = 0) -> list[Line]:
    out = [Line("step", title, level=level)]
    out.append(Line("row", L("totals.claims"), str(t["claims"]) if t["claims"] is not None else "—", level=level + 1))
    for key in ("medfee_sumamt", "hifp_pay", "hifmi_pay", "maf_pay", "psn_part_amt"):
        out.append(Line("row", L(f"totals.{key}"), yuan(t[key]), level=level + 1))
    return out


# -- plain text


def _cells(s: str) -> int:
    from rich.cells import cell_len

    return cell_len(s)


def _pad(s: str, width: int) -> str:
    return s + " " * max(0, width - _cells(s))


LABEL_WIDTH = 36
AMOUNT_WIDTH = 14


def render_plain(doc: dict[str, Any], L: Labels) -> str:
    """Plain text for pipes, logs and the desk printer: fixed columns, no colour."""
    lines: list[str] = []
    for ln in document_lines(doc, L):
        indent = "  " * (1 + ln.level)
        if ln.kind == "blank":
            lines.append("")
        elif ln.kind in ("title", "claim", "note"):
            lines.append(ln.text)
        elif ln.kind in ("text", "sub"):
            lines.append(f"{indent}{ln.text}")
        elif ln.kind == "cite":
            lines.append(f"{indent}· {ln.text}")
        elif not ln.amount and not ln.detail:
            lines.append(f"{indent}{ln.text}")
        else:  # step or row with figures: label, amount right-aligned, detail
            label = f"{indent}{ln.text}"
            label = _pad(label, LABEL_WIDTH) if _cells(label) < LABEL_WIDTH else label + " "
            amount = " " * max(0, AMOUNT_WIDTH - _cells(ln.amount)) + ln.amount
            lines.append(f"{label}{amount}  {ln.detail}".rstrip())
    return "\n".join(lines) + "\n"


# -- rich


def render_rich(doc: dict[str, Any], L: Labels):
    """A rich renderable for terminals: one table per claim, citations dimmed."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    parts: list[Any] = []
    table: Table | None = None

    def new_table() -> Table:
        t = Table(show_header=False, box=None, pad_edge=False, padding=(0, 1), expand=False)
        t.add_column("item", no_wrap=True)
        t.add_column("amount", justify="right", no_wrap=True)
        t.add_column("detail", overflow="fold")
        return t

    def flush() -> None:
        nonlocal table
        if table is not None and table.row_count:
            parts.append(table)
        table = None

    for ln in document_lines(doc, L):
        if ln.kind in ("title", "claim", "note", "blank", "sub"):
            flush()
            style = {"title": "bold", "claim": "bold cyan", "note": "yellow" if ln.emphasis else "dim", "sub": "italic"}.get(ln.kind, "")
            parts.append(Text(("  " if ln.kind == "sub" else "") + ln.text, style=style))
            continue
        if table is None:
            table = new_table()
        indent = "  " * (1 + ln.level)
        if ln.kind == "cite":
            # citations are long: they go in the wide detail column, under the figure they support
            table.add_row("", "", Text(f"· {ln.text}", style="dim"))
        elif ln.kind == "text":
            table.add_row("", "", Text(ln.text))
        else:
            style = "bold" if ln.kind == "step" or ln.emphasis else ""
            table.add_row(Text(indent + ln.text, style=style), Text(ln.amount, style=style), Text(ln.detail))
    flush()
    return Group(*parts)


def render_json(doc: dict[str, Any]) -> str:
    import json

    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"
