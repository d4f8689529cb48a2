"""Rule sets: policy parameters as data, with dates and citations, validated by a schema.

A rule-set file (YAML) holds one region's parameters for one policy period.  Every number sits in
a *cited block*: the block carries ``source`` (a key of the file's ``sources`` table), ``ref`` (the
article or page) and ``status`` (``verified`` against the document, or ``unverified`` placeholder).
Amounts are yuan in the file and integer fen once loaded; ratios are fractions (0.7) or
percentages ("70%") in the file and integer basis points once loaded.

Loading never raises a traceback at the user: problems come back as ``RuleSetError`` with one
line per problem naming the file, the key path and the fix.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from .money import BP, ratio_to_bp, yuan_to_fen

RULES_DIR = Path(__file__).resolve().parent.parent / "rules"

#: Benefit classes of basic insurance, plus ``excluded`` for classes the rule set does not cover.
BENEFIT_CLASSES = ("inpatient", "general_outpatient", "chronic_outpatient", "two_diseases")
EXCLUDED = "excluded"
#: Places of care (就医地).
PLACES = ("local", "in_city", "in_province", "out_of_province")
ORDINARY = "ordinary"


class RuleSetError(Exception):
    """A rule set that cannot be used; ``problems`` are 'file: key.path: what is wrong — fix'."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


# ------------------------------------------------------------------ scalar value types


def _yuan(v: Any) -> int:
    if isinstance(v, bool) or v is None:
        raise ValueError("expected an amount in yuan, e.g. 800 or 1500.50")
    try:
        return yuan_to_fen(v)
    except (InvalidOperation, ValueError) as e:
        raise ValueError(f"expected an amount in yuan with at most two decimals, got {v!r}") from e


def _ratio(v: Any) -> int:
    if isinstance(v, bool) or v is None:
        raise ValueError("expected a ratio such as 0.7 or '70%'")
    try:
        bp = ratio_to_bp(v)
    except (InvalidOperation, ValueError) as e:
        raise ValueError(f"expected a ratio such as 0.7 or '70%', got {v!r}") from e
    if not 0 <= bp <= BP:
        raise ValueError(f"ratio {v!r} is outside 0–100 %")
    return bp


def _points(v: Any) -> int:
    """Percentage points (+5 → 500 bp)."""
    try:
        d = Decimal(str(v)) * 100
    except InvalidOperation as e:
        raise ValueError(f"expected percentage points such as 5 or -20, got {v!r}") from e
    if d != d.to_integral_value():
        raise ValueError(f"points {v!r} finer than 0.01")
    return int(d)


def _factor(v: Any) -> int:
    """A multiplier such as 0.5 → 5000 bp (deductible factors, threshold factors)."""
    bp = _ratio(v) if not (isinstance(v, str) and v.endswith("%")) else _ratio(v)
    return bp


Yuan = Annotated[int, BeforeValidator(_yuan)]
Ratio = Annotated[int, BeforeValidator(_ratio)]
Points = Annotated[int, BeforeValidator(_points)]
Factor = Annotated[int, BeforeValidator(_factor)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Cited(_Model):
    """Where a number comes from.  Every block holding numbers inherits this."""

    source: str = Field(description="key of the file's `sources` table")
    ref: str = Field("", description="article, section or page in the source")
    status: Literal["verified", "unverified"]
    note: str = ""


class Source(_Model):
    doc_no: str = Field(description="document number, e.g. 东医保〔2021〕6号")
    title: str = ""
    issuer: str = ""
    date: dt.date | None = None
    url: str = ""
    note: str = ""


# ------------------------------------------------------------------ cited parameter blocks


class AmountParam(Cited):
    value: Yuan


class RatioParam(Cited):
    value: Ratio


class TierAmounts(Cited):
    """An amount per hospital tier, optionally different by place of care."""

    by_tier: dict[str, Yuan]
    by_place: dict[str, dict[str, Yuan]] = {}


class TierRatios(Cited):
    """A ratio per hospital tier, optionally different by place of care."""

    by_tier: dict[str, Ratio]
    by_place: dict[str, dict[str, Ratio]] = {}


class ReferralRule(Cited):
    """Ratio adjustments by referral: referred care gains points; unreferred off-site care loses."""

    referred_points: Points = 0
    unreferred_offsite_points: Points = 0


class RepeatAdmission(Cited):
    """Deductible factor for the n-th covered admission of the year (n ≥ 2); the largest key ≤ n applies."""

    deductible_factor_by_nth: dict[int, Factor]


class IdentityAdjustment(Cited):
    deductible_factor: Factor = BP
    ratio_points: Points = 0


class Inpatient(_Model):
    deductible: TierAmounts
    ratio: TierRatios
    referral: ReferralRule | None = None
    repeat_admission: RepeatAdmission | None = None
    identity: dict[str, IdentityAdjustment] = {}


class GeneralOutpatient(_Model):
    ratio: TierRatios
    covered_tiers: list[str] | None = Field(None, description="tiers where visits are covered; None = all")
    per_visit_deductible: AmountParam | None = None
    per_visit_cap: AmountParam | None = None


class ChronicOutpatient(_Model):
    annual_deductible: AmountParam
    ratio: RatioParam


class TwoDiseases(_Model):
    ratio: RatioParam


class AnnualCap(Cited):
    """An annual limit on cumulative basic-fund payments of the named classes (applied in list order)."""

    name: str
    classes: list[str]
    value: Yuan


class Basic(_Model):
    reported: Cited | None = Field(
        None, description="take basic payments as reported in the input (统筹基金支出) instead of computing them"
    )
    inpatient: Inpatient | None = None
    general_outpatient: GeneralOutpatient | None = None
    chronic_outpatient: ChronicOutpatient | None = None
    two_diseases: TwoDiseases | None = None
    annual_caps: list[AnnualCap] = []


class Band(_Model):
    from_: Yuan = Field(alias="from")
    to: Yuan | None = None
    ratio: Ratio


class Segments(Cited):
    """Bands on the *absolute cumulative* base; the threshold is the first band's lower bound."""

    bands: list[Band]

    @model_validator(mode="after")
    def _contiguous(self) -> "Segments":
        if not self.bands:
            raise ValueError("at least one band is needed")
        for a, b in zip(self.bands, self.bands[1:]):
            if a.to is None or a.to != b.from_:
                raise ValueError("bands must be contiguous: each band's `to` equals the next band's `from`")
        for band in self.bands:
            if band.to is not None and band.to <= band.from_:
                raise ValueError("each band needs `to` above `from` (omit `to` for the open top band)")
        return self


class CriticalTilt(Cited):
    threshold_factor: Factor = BP
    ratio_points: Points = 0
    no_cap: bool = False


class Critical(_Model):
    classes: list[str]
    include_preselfpay: Cited | None = Field(
        None, description="present (cited) when the region counts class-B first self-pay toward the base"
    )
    segments: Segments
    annual_cap: AmountParam | None = None
    identity_tilt: dict[str, CriticalTilt] = {}


class AssistanceScheme(Cited):
    ratio: Ratio
    annual_deductible: Yuan = 0
    annual_limit: Yuan | None = None


class Assistance(_Model):
    classes: list[str]
    schemes: dict[str, AssistanceScheme]


class Codes(_Model):
    """Code tables: values as exported (codes and names) → the rule set's own keys."""

    hosp_lv: dict[str, str]
    med_type: dict[str, str]
    pay_loc: dict[str, str] = {"": "local", "本地": "local", "市内异地": "in_city", "省内异地": "in_province", "跨省异地": "out_of_province"}
    identity: dict[str, str] = {"": ORDINARY}


class Meta(_Model):
    id: str
    name: str
    region: str
    version: str
    effective_from: dt.date
    effective_to: dt.date
    benefit_year_by: Literal["enddate", "begndate"] = "enddate"
    description: str = ""


class RuleSet(_Model):
    ruleset: Meta
    sources: dict[str, Source]
    tiers: list[str]
    identities: list[str] = [ORDINARY]
    codes: Codes
    basic: Basic
    critical: Critical | None = None
    assistance: Assistance | None = None

    # -- derived views used by the engine and explain --------------------------------
    @property
    def id(self) -> str:
        return self.ruleset.id

    def cited_blocks(self) -> list[tuple[str, Cited]]:
        """Every cited block with its key path (for status reports and explain)."""
        out: list[tuple[str, Cited]] = []

        def walk(obj: Any, path: str) -> None:
            if isinstance(obj, Cited):
                out.append((path, obj))
            if isinstance(obj, BaseModel):
                for name in type(obj).model_fields:
                    walk(getattr(obj, name), f"{path}.{name}" if path else name)
            elif isinstance(obj, dict):
                for k, v in obj.items():
                    walk(v, f"{path}.{k}")
            elif isinstance(obj, list):
                for i, v in enumerate(obj):
                    walk(v, f"{path}[{i}]")

        walk(self, "")
        return out

    def unverified(self) -> list[str]:
        return [p for p, c in self.cited_blocks() if c.status == "unverified"]

    def cite(self, block: Cited) -> str:
        """'东医保〔2021〕6号 第三条, verified' — a human citation of one block."""
        src = self.sources.get(block.source)
        doc = src.doc_no if src else block.source
        ref = f" {block.ref}" if block.ref else ""
        return f"{doc}{ref}, {block.status}"

    @model_validator(mode="after")
    def _cross_check(self) -> "RuleSet":
        problems: list[str] = []
        m = self.ruleset
        if m.effective_to < m.effective_from:
            problems.append("ruleset.effective_to: before effective_from — swap the dates")
        tiers, ids = set(self.tiers), set(self.identities)
        classes = set(BENEFIT_CLASSES) | {EXCLUDED}
        if ORDINARY not in ids:
            problems.append(f"identities: must include '{ORDINARY}' (the ordinary resident)")
        for path, block in self.cited_blocks():
            if block.source not in self.sources:
                problems.append(f"{path}.source: '{block.source}' is not a key of `sources` — add it there or fix the key")
        for code, tier in self.codes.hosp_lv.items():
            if tier not in tiers:
                problems.append(f"codes.hosp_lv.{code}: tier '{tier}' is not in `tiers` {sorted(tiers)}")
        for code, cls in self.codes.med_type.items():
            if cls not in classes:
                problems.append(f"codes.med_type.{code}: '{cls}' is not one of {sorted(classes)}")
        for code, place in self.codes.pay_loc.items():
            if place not in PLACES:
                problems.append(f"codes.pay_loc.{code}: '{place}' is not one of {list(PLACES)}")
        for code, ident in self.codes.identity.items():
            if ident not in ids:
                problems.append(f"codes.identity.{code}: '{ident}' is not in `identities`")

        def need_tiers(path: str, table: TierAmounts | TierRatios) -> None:
            missing = tiers - set(table.by_tier)
            if missing:
                problems.append(f"{path}.by_tier: no value for tier(s) {sorted(missing)} — give one per tier")
            for t in set(table.by_tier) - tiers:
                problems.append(f"{path}.by_tier.{t}: unknown tier — tiers are {sorted(tiers)}")
            for place, row in table.by_place.items():
                if place not in PLACES:
                    problems.append(f"{path}.by_place.{place}: unknown place — use one of {list(PLACES)}")
                for t in set(row) - tiers:
                    problems.append(f"{path}.by_place.{place}.{t}: unknown tier")

        def need_ids(path: str, keys: Any) -> None:
            for k in keys:
                if k not in ids:
                    problems.append(f"{path}.{k}: identity not in `identities` {sorted(ids)}")

        def need_classes(path: str, names: list[str]) -> None:
            for c in names:
                if c not in BENEFIT_CLASSES:
                    problems.append(f"{path}: '{c}' is not a benefit class {list(BENEFIT_CLASSES)}")

        b = self.basic
        if b.inpatient:
            need_tiers("basic.inpatient.deductible", b.inpatient.deductible)
            need_tiers("basic.inpatient.ratio", b.inpatient.ratio)
            need_ids("basic.inpatient.identity", b.inpatient.identity)
        if b.general_outpatient:
            need_tiers("basic.general_outpatient.ratio", b.general_outpatient.ratio)
            for t in b.general_outpatient.covered_tiers or []:
                if t not in tiers:
                    problems.append(f"basic.general_outpatient.covered_tiers: unknown tier '{t}'")
        seen_caps: set[str] = set()
        for i, cap in enumerate(b.annual_caps):
            need_classes(f"basic.annual_caps[{i}].classes", cap.classes)
            if cap.name in seen_caps:
                problems.append(f"basic.annual_caps[{i}].name: '{cap.name}' used twice — names must be unique")
            seen_caps.add(cap.name)
        used = {v for v in self.codes.med_type.values() if v != EXCLUDED}
        for cls in sorted(used):
            if getattr(b, cls) is None and b.reported is None:
                problems.append(f"codes.med_type: maps codes to '{cls}' but basic.{cls} is not defined — define it or map the codes to 'excluded'")
        if self.critical:
            need_classes("critical.classes", self.critical.classes)
            need_ids("critical.identity_tilt", self.critical.identity_tilt)
        if self.assistance:
            need_classes("assistance.classes", self.assistance.classes)
            need_ids("assistance.schemes", self.assistance.schemes)
        if problems:
            raise ValueError("\n".join(problems))
        return self


# ------------------------------------------------------------------ loading


def _fmt_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _fix_hint(err: dict[str, Any]) -> str:
    t = err.get("type", "")
    if t == "missing":
        return "add this key"
    if t == "extra_forbidden":
        return "remove it or check its spelling (see docs/rules.md for the allowed keys)"
    return "fix the value"


def resolve_rules_path(spec: str | Path) -> Path:
    """`anhui/dongzhi-2021`, `rules/anhui/dongzhi-2021.yaml` or a directory of one region's periods."""
    p = Path(spec)
    candidates = [p, p.with_suffix(".yaml"), RULES_DIR / p, (RULES_DIR / p).with_suffix(".yaml")]
    for c in candidates:
        if c.exists():
            return c
    raise RuleSetError(
        [f"{spec}: no such rule-set file or directory — give a path, or an id under rules/ such as anhui/dongzhi-2021 (see `medclaim rules list`)"]
    )


def load_ruleset_file(path: Path) -> RuleSet:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise RuleSetError([f"{path}: cannot read ({e}) — check the path and that the file is UTF-8"]) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise RuleSetError([f"{path}:{where}: not valid YAML ({getattr(e, 'problem', e)}) — fix the syntax"]) from None
    if not isinstance(data, dict):
        raise RuleSetError([f"{path}: expected a mapping with keys ruleset, sources, tiers, codes, basic …"])
    try:
        return RuleSet.model_validate(data)
    except ValidationError as e:
        problems = []
        for err in e.errors():
            msg = err["msg"].removeprefix("Value error, ")
            loc = _fmt_loc(err["loc"])
            if "\n" in msg:  # cross-checks already carry their own key paths
                problems += [f"{path}: {line}" for line in msg.splitlines()]
            else:
                problems.append(f"{path}: {loc}: {msg} — {_fix_hint(err)}")
        raise RuleSetError(problems) from None


@dataclass(frozen=True)
class RuleBook:
    """One region's rule sets, one per policy period, without overlaps or gaps."""

    path: Path
    periods: tuple[RuleSet, ...]
    files: tuple[Path, ...]

    @property
    def name(self) -> str:
        return ", ".join(r.id for r in self.periods)

    def file_of(self, rs: RuleSet) -> Path:
        return self.files[self.periods.index(rs)]


def load_rulebook(spec: str | Path) -> RuleBook:
    path = resolve_rules_path(spec)
    files = sorted(path.glob("*.yaml")) if path.is_dir() else [path]
    if not files:
        raise RuleSetError([f"{path}: directory holds no *.yaml rule sets"])
    problems: list[str] = []
    loaded: list[tuple[RuleSet, Path]] = []
    for f in files:
        try:
            loaded.append((load_ruleset_file(f), f))
        except RuleSetError as e:
            problems += e.problems
    if problems:
        raise RuleSetError(problems)
    loaded.sort(key=lambda rf: rf[0].ruleset.effective_from)
    regions = {rs.ruleset.region for rs, _ in loaded}
    if len(regions) > 1:
        problems.append(f"{path}: mixes regions {sorted(regions)} — settle one region at a time")
    for (a, fa), (b, fb) in zip(loaded, loaded[1:]):
        gap = (b.ruleset.effective_from - a.ruleset.effective_to).days
        if gap < 1:
            problems.append(f"{fb}: ruleset.effective_from {b.ruleset.effective_from} overlaps {fa} (ends {a.ruleset.effective_to}) — periods must not overlap")
        elif gap > 1:
            problems.append(f"{fb}: ruleset.effective_from {b.ruleset.effective_from} leaves a gap after {fa} (ends {a.ruleset.effective_to}) — periods must be contiguous")
    if problems:
        raise RuleSetError(problems)
    return RuleBook(path=path, periods=tuple(rs for rs, _ in loaded), files=tuple(f for _, f in loaded))


def list_rulesets(root: Path = RULES_DIR) -> list[tuple[str, Path]]:
    return [(str(p.relative_to(root).with_suffix("")), p) for p in sorted(root.rglob("*.yaml"))]
