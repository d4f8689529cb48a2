"""Explain as text: the document turned into language-resolved lines, printed plain (pipes, logs,
the desk printer) or as rich tables (terminals)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ..money import fen_to_yuan_display, pct_str
from .labels import Labels


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
        out += _reported_lines(c, L, L("reported.title_uncovered"))
        return out
    out += _basic_lines(c, L)
    out += _critical_lines(c, L)
    out += _assistance_lines(c, L)
    out += _patient_lines(c, L, L("step.patient"))
    out += _reported_lines(c, L, L("reported.title"))
    return out


def signed_yuan(fen: int) -> str:
    return ("+" if fen > 0 else "") + fen_to_yuan_display(fen)


def _reported_lines(c: dict[str, Any], L: Labels, title: str) -> list[Line]:
    """The hospital's own figures beside the computed ones, and the audit's cause of each difference."""
    rep = c.get("reported")
    if not rep:
        return []
    def why(f: dict[str, Any]) -> Line:
        return Line("text", L("reported.cause", cause=L.name("cause", f["cause"]), key=f["rule_key"] or "—", message=f["message"] or "—"),
                    level=2)

    causes = {(f["cause"], f["rule_key"], f["message"]) for f in rep["fields"] if f["difference"]}
    out = [Line("step", title), Line("text", L("reported.columns"), level=1)]
    for f in rep["fields"]:
        differs = f["difference"] != 0
        detail = (L("reported.vs", computed=yuan(f["computed"]), difference=signed_yuan(f["difference"])) if differs
                  else L("reported.same", computed=yuan(f["computed"])))
        out.append(Line("row", L(f"reported.field.{f['field']}"), yuan(f["reported"]), detail, level=1, emphasis=differs))
        if differs and len(causes) > 1:  # each field its own cause
            out.append(why(f))
    if len(causes) == 1:  # one cause explains every difference: said once
        out.append(why(next(f for f in rep["fields"] if f["difference"])))
    if rep["differing"]:
        out.append(Line("text", L("reported.differing", n=rep["differing"], of=len(rep["fields"])), level=1))
    if rep["not_reported"] and rep["fields"]:
        names = L("sep").join(L(f"reported.field.{f}") for f in rep["not_reported"])
        out.append(Line("text", L("reported.not_reported", fields=names), level=1))
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
        out += _receipt_lines(b.get("receipt"), L)
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


def exact_yuan(fen_bp: int) -> str:
    """fen × basis points as yuan with every digit it has: 65,000 → '0.065' (6.5 fen)."""
    sign = "-" if fen_bp < 0 else ""
    fen, rest = divmod(abs(fen_bp), 10_000)
    text = f"{fen // 100:,}.{fen % 100:02d}{rest:04d}".rstrip("0")
    whole, _, dec = text.partition(".")
    return f"{sign}{whole}.{dec.ljust(2, '0')}"


def _receipt_lines(rc: dict[str, Any] | None, L: Labels) -> list[Line]:
    """The receipt's arithmetic: this claim's part × ratio (or Σ over the segments), exactly, and
    the figure it rounds to — once per claim and layer."""
    if not rc:
        return []
    exact = exact_yuan(rc["exact"])
    if rc["part"] is not None:
        how = L("receipt.product", part=yuan(rc["part"]), ratio=pct(rc["ratio_bp"]), exact=exact)
    else:
        how = L("receipt.sum", exact=exact)
    return [Line("row", L("receipt.rounded"), yuan(rc["rounded"]), how, level=1)]


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
    out += _receipt_lines(k.get("receipt"), L)
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
    out += _receipt_lines(a.get("receipt"), L)
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

