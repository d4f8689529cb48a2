"""The budget file, the year-end projection, the 基金风险预警 and the 大病 premium result.

A budget file (YAML or JSON), amounts in yuan like the rule files:

    year: 2021
    source: 东至县2021年城乡居民医保基金收支预算     # optional, shown in the report
    budget:                                          # annual budget per fund, any of the three
      basic: 150000000
      critical: 20000000
      assistance: 3000000
    critical_premium: 18000000                       # 大病保险 premium paid to the insurer (optional)

Projection: the year's outlay so far ÷ months elapsed × 12 (a linear run rate: each month of the
rest of the year is assumed to cost the average month so far).  Months elapsed = the month of the
latest discharge date in the ledger's year.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from ..money import BP
from ..rules import FUNDS, Yuan, _problems_of
from .figures import Figures, ReportError, rate_bp

METHOD = "linear_run_rate"
#: Where the budget file's keys are documented (its errors point there, not to the rule files' page).
BUDGET_DOC = "docs/report.md, “The budget file”"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FundBudgets(_Model):
    basic: Yuan | None = None
    critical: Yuan | None = None
    assistance: Yuan | None = None


class BudgetFile(_Model):
    year: int | None = None
    source: str = ""
    budget: FundBudgets = FundBudgets()
    critical_premium: Yuan | None = None


def load_budget(path: Path) -> BudgetFile:
    """The budget file (``--budget``); ``ReportError`` naming the budget file, the key and the fix."""
    where = f"budget file {path}"
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise ReportError(f"{where}: cannot be read ({e}) — give a UTF-8 YAML or JSON file") from None
    except yaml.YAMLError as e:
        raise ReportError(f"{where}: not valid YAML/JSON ({str(e).splitlines()[0]}) — fix the syntax") from None
    if not isinstance(data, dict):
        raise ReportError(f"{where}: expected a mapping with keys year, budget (basic, critical, assistance), critical_premium — see {BUDGET_DOC}")
    try:
        b = BudgetFile.model_validate(data)
    except ValidationError as e:
        raise ReportError("\n".join(f"{where}: {p}" for p in _problems_of(e, data, BudgetFile, BUDGET_DOC))) from None
    if all(getattr(b.budget, f) is None for f in FUNDS) and b.critical_premium is None:
        raise ReportError(f"{where}: gives neither a budget (budget.basic / critical / assistance) nor critical_premium — "
                          f"nothing to compare; see {BUDGET_DOC}")
    return b


def project(ytd: int, months: int) -> int:
    """Year-end outlay at the average monthly rate so far (half-up to the fen)."""
    if months >= 12:
        return ytd
    return (2 * ytd * 12 + months) // (2 * months)


@dataclass
class FundBudget:
    fund: str  # basic | critical | assistance
    budget: int
    ytd: int
    projected: int

    @property
    def used_bp(self) -> int | None:
        return rate_bp(self.ytd, self.budget)

    @property
    def projected_bp(self) -> int | None:
        return rate_bp(self.projected, self.budget)

    @property
    def warning(self) -> bool:
        return self.projected > self.budget


@dataclass
class PremiumResult:
    premium: int
    paid: int
    projected: int

    @property
    def payout_bp(self) -> int | None:
        return rate_bp(self.paid, self.premium)

    @property
    def projected_payout_bp(self) -> int | None:
        return rate_bp(self.projected, self.premium)

    @property
    def projected_result(self) -> int:
        """Premium − projected payments: a surplus (结余) when positive, a loss (亏损) when negative."""
        return self.premium - self.projected


@dataclass
class BudgetView:
    file: str
    source: str
    months: int
    funds: list[FundBudget]
    premium: PremiumResult | None

    @property
    def warnings(self) -> list[FundBudget]:
        return [f for f in self.funds if f.warning]


def budget_view(b: BudgetFile, path: Path, fig: Figures) -> tuple[BudgetView, list[str]]:
    notes = []
    if b.year is not None and b.year != fig.year:
        notes.append(f"the budget file {path} is for {b.year}, the report for {fig.year} — check --year or the file")
    funds = []
    for fund, col in FUNDS.items():
        value = getattr(b.budget, fund)
        if value is None:
            continue
        ytd = fig.totals[col]
        funds.append(FundBudget(fund, value, ytd, project(ytd, fig.months)))
    premium = None
    if b.critical_premium is not None:
        paid = fig.totals["hifmi_pay"]
        premium = PremiumResult(b.critical_premium, paid, project(paid, fig.months))
    return BudgetView(str(path), b.source, fig.months, funds, premium), notes


def as_json(v: BudgetView | None) -> dict[str, Any] | None:
    if v is None:
        return None
    return {
        "file": v.file,
        "source": v.source,
        "projection": {"method": METHOD, "months_elapsed": v.months, "formula": f"outlay to date / {v.months} * 12"},
        "funds": [
            {"fund": f.fund, "budget_fen": f.budget, "ytd_fen": f.ytd, "used_bp": f.used_bp, "projected_fen": f.projected,
             "projected_bp": f.projected_bp, "risk_warning": f.warning}
            for f in v.funds
        ],
        "critical_premium": None if v.premium is None else {
            "premium_fen": v.premium.premium, "paid_fen": v.premium.paid, "payout_bp": v.premium.payout_bp,
            "projected_paid_fen": v.premium.projected, "projected_payout_bp": v.premium.projected_payout_bp,
            "projected_result_fen": v.premium.projected_result,
        },
    }


__all__ = ["BP", "BudgetFile", "BudgetView", "budget_view", "load_budget", "project", "as_json", "METHOD"]
