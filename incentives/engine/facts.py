"""The facts the engine computes from: plain, immutable values, no database.

``incentives.selectors`` builds them from deals, revenue events and partners
(in sets, for the nightly job); tests build them by hand. Amounts are
``Decimal`` in the fact's currency.

Definitions the engine relies on:

* **first-year contract value** = amount × min(term, 12) / term when the
  contract term in months is known, else the whole amount (a contract of
  unknown length is treated as a one-year contract).
* **registered**: the deal went through registration and was approved (a deal
  that never was approved, e.g. imported later, is unregistered).
* **co-sell role** from the partner's share of the deal: 100 % → sole partner;
  50 % or more → partner-sourced co-sell; less → direct-sourced co-sell.
* **country / region**: the customer's (the deal's), falling back to the
  partner's when the deal does not say.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

HUNDRED = Decimal("100")
TWELVE = Decimal("12")


def co_sell_role_for(partner_share: Decimal) -> str:
    if partner_share >= HUNDRED:
        return "sole"
    if partner_share >= Decimal("50"):
        return "partner_sourced"
    return "direct_sourced"


@dataclass(frozen=True)
class PartnerFacts:
    partner_id: int
    partner_type_key: str
    # The partner's current tier ("" when none) and its name. Rules match the
    # tier held on the fact's day instead (``compute.held_tier``), worked out
    # from the fact's ``tier_history``; these are the fallback without one.
    tier_key: str
    country: str = ""
    region: str = ""
    tier_name: str = ""


@dataclass(frozen=True)
class LineFacts:
    product_id: int
    product_line: str
    amount: Decimal


@dataclass(frozen=True)
class TierStep:
    """One entry of a partner's tier history: on ``on`` they moved to ``tier_key``
    (``""`` = no tier; ``name`` is the tier's name, for explanations)."""

    on: date
    tier_key: str
    rank: int
    name: str = ""


@dataclass(frozen=True)
class DealFacts:
    """A closed-won deal (or, for an estimate, an open one at its estimated amount)."""

    deal_id: int | None
    partner: PartnerFacts
    deal_type: str
    registered: bool
    amount: Decimal
    currency: str
    closed_on: date
    contract_term_months: int | None = None
    partner_share: Decimal = HUNDRED
    country: str = ""
    region: str = ""
    lines: tuple[LineFacts, ...] = ()
    # The partner's tier history, oldest first: rules match the tier held on
    # ``closed_on`` (``compute.held_tier``); the ladder is for the tier-promotion bonus.
    tier_history: tuple[TierStep, ...] = ()
    tier_ranks: Mapping[str, int] = field(default_factory=dict)
    is_estimate: bool = False

    @property
    def first_year_value(self) -> Decimal:
        term = self.contract_term_months
        if not term or term <= 0:
            return self.amount
        return self.amount * min(Decimal(term), TWELVE) / Decimal(term)

    @property
    def co_sell_role(self) -> str:
        return co_sell_role_for(self.partner_share)

    @property
    def where(self) -> tuple[str, str]:
        return (self.country or self.partner.country, self.region or self.partner.region)


@dataclass(frozen=True)
class RevenueEventFacts:
    event_id: int | None
    partner: PartnerFacts
    kind: str  # invoice_paid, refund, usage_charge
    amount: Decimal  # always positive; a refund takes it back
    currency: str
    occurred_on: date
    customer_name: str = ""
    deal_id: int | None = None
    partner_share: Decimal = HUNDRED  # the linked deal's co-sell share, if any
    country: str = ""
    region: str = ""
    # The partner's tier history, oldest first: rules match the tier held on ``occurred_on``.
    tier_history: tuple[TierStep, ...] = ()

    @property
    def sign(self) -> Decimal:
        return Decimal("-1") if self.kind == "refund" else Decimal("1")

    @property
    def where(self) -> tuple[str, str]:
        return (self.country or self.partner.country, self.region or self.partner.region)


@dataclass(frozen=True)
class PeriodFacts:
    """One partner's results over a period, in one currency (rebates, renewal bonus).

    ``volume`` is the cumulative closed-won amount in the period; renewals
    count renewal deals closed won or lost in the period.
    """

    partner: PartnerFacts
    period_start: date
    period_end: date
    currency: str
    volume: Decimal = Decimal("0")
    renewals_won: int = 0
    renewals_lost: int = 0
    renewal_volume: Decimal = Decimal("0")
    # The partner's tier history, oldest first: rules match the tier held on ``period_end``.
    tier_history: tuple[TierStep, ...] = ()

    @property
    def renewal_rate(self) -> Decimal | None:
        total = self.renewals_won + self.renewals_lost
        if total == 0:
            return None
        return Decimal(self.renewals_won) * HUNDRED / Decimal(total)

    @property
    def where(self) -> tuple[str, str]:
        return (self.partner.country, self.partner.region)


@dataclass(frozen=True)
class UsageFacts:
    """A customer's usage charges over two consecutive periods (usage-growth bonus)."""

    partner: PartnerFacts
    customer_name: str
    period_start: date
    period_end: date
    currency: str
    previous_usage: Decimal
    current_usage: Decimal
    # The partner's tier history, oldest first: rules match the tier held on ``period_end``.
    tier_history: tuple[TierStep, ...] = ()

    @property
    def growth(self) -> Decimal:
        return self.current_usage - self.previous_usage

    @property
    def growth_percent(self) -> Decimal | None:
        """None when there was no usage before: growth from zero has no rate."""
        if self.previous_usage <= 0:
            return None
        return self.growth * HUNDRED / self.previous_usage

    @property
    def where(self) -> tuple[str, str]:
        return (self.partner.country, self.partner.region)
