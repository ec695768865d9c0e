"""Rules as the engine sees them: immutable snapshots of ``CommissionRule`` rows,
their kind-specific parameters parsed and checked once.

``parse_parameters`` is the one validator of a rule's settings; the services
call it (through ``check_rule``) before saving, so a rule that reaches the
engine is always well-formed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.translation import gettext_lazy as _

KIND_TIER_COMMISSION = "tier_commission"
KIND_REFERRAL_FEE = "referral_fee"
KIND_REVENUE_SHARE = "revenue_share"
KIND_STEPPED_REBATE = "stepped_rebate"
KIND_NEW_CUSTOMER_BONUS = "new_customer_bonus"
KIND_SPIFF = "spiff"
KIND_TIER_PROMOTION_BONUS = "tier_promotion_bonus"
KIND_RENEWAL_RATE_BONUS = "renewal_rate_bonus"
KIND_USAGE_GROWTH_BONUS = "usage_growth_bonus"

# Which facts each kind is computed from.
DEAL_KINDS = frozenset(
    {
        KIND_TIER_COMMISSION,
        KIND_REFERRAL_FEE,
        KIND_NEW_CUSTOMER_BONUS,
        KIND_SPIFF,
        KIND_TIER_PROMOTION_BONUS,
    }
)
EVENT_KINDS = frozenset({KIND_REVENUE_SHARE})
PERIOD_KINDS = frozenset({KIND_STEPPED_REBATE, KIND_RENEWAL_RATE_BONUS})
USAGE_KINDS = frozenset({KIND_USAGE_GROWTH_BONUS})

# The priority policy: rules of one group exclude each other (the highest
# priority matching rule pays, ties go to the older rule); different groups
# add up. A tier commission and a referral fee are both "the" commission on a
# deal, so they share a group. SPIFFs are the exception: every matching
# product push pays, since each pushes its own products.
KIND_GROUP = {
    KIND_TIER_COMMISSION: "commission",
    KIND_REFERRAL_FEE: "commission",
    KIND_REVENUE_SHARE: "revenue_share",
    KIND_STEPPED_REBATE: "rebate",
    KIND_NEW_CUSTOMER_BONUS: "new_customer_bonus",
    KIND_SPIFF: "",  # stacks
    KIND_TIER_PROMOTION_BONUS: "tier_promotion_bonus",
    KIND_RENEWAL_RATE_BONUS: "renewal_rate_bonus",
    KIND_USAGE_GROWTH_BONUS: "usage_growth_bonus",
}

MARGINAL = "marginal"
RETROACTIVE = "retroactive"


class RuleError(ValueError):
    """A rule's settings are inconsistent; ``field`` names the culprit."""

    def __init__(self, message, *, field: str | None = None):
        self.message = message
        self.field = field
        super().__init__(str(message))


@dataclass(frozen=True)
class Band:
    """Volume up to ``up_to`` (inclusive; None = no upper limit) earns ``rate`` %."""

    up_to: Decimal | None
    rate: Decimal


@dataclass(frozen=True)
class Parameters:
    mode: str = ""
    bands: tuple[Band, ...] = ()
    threshold: Decimal | None = None
    min_renewals: int = 1
    tier_key: str = ""
    reached_by: date | None = None


def _decimal(value: Any, *, field: str) -> Decimal:
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise RuleError(_("Enter a number."), field=field) from None
    if not number.is_finite():
        raise RuleError(_("Enter a number."), field=field)
    return number


def parse_bands(raw: Iterable[Mapping[str, Any]]) -> tuple[Band, ...]:
    bands: list[Band] = []
    for item in raw:
        up_to_raw = item.get("up_to")
        up_to = None if up_to_raw in (None, "") else _decimal(up_to_raw, field="bands")
        rate = _decimal(item.get("rate"), field="bands")
        if not Decimal("0") <= rate <= Decimal("100"):
            raise RuleError(_("A band's rate is a percentage from 0 to 100."), field="bands")
        bands.append(Band(up_to, rate))
    if not bands:
        raise RuleError(_("A stepped rebate needs at least one band."), field="bands")
    if bands[-1].up_to is not None:
        raise RuleError(
            _("The last band must be open-ended (leave its limit empty)."), field="bands"
        )
    previous = Decimal("0")
    for band in bands[:-1]:
        if band.up_to is None:
            raise RuleError(_("Only the last band may be open-ended."), field="bands")
        if band.up_to <= previous:
            raise RuleError(
                _("Band limits must be positive and increase from one band to the next."),
                field="bands",
            )
        previous = band.up_to
    return tuple(bands)


def parse_parameters(kind: str, raw: Mapping[str, Any] | None) -> Parameters:
    """Check and type a rule's kind-specific parameters (stored as JSON strings)."""
    raw = raw or {}
    if kind == KIND_STEPPED_REBATE:
        mode = raw.get("mode") or ""
        if mode not in (MARGINAL, RETROACTIVE):
            raise RuleError(_("Choose marginal or retroactive."), field="mode")
        return Parameters(mode=mode, bands=parse_bands(raw.get("bands") or []))
    if kind in (KIND_RENEWAL_RATE_BONUS, KIND_USAGE_GROWTH_BONUS):
        if raw.get("threshold") in (None, ""):
            raise RuleError(_("Enter the threshold (%)."), field="threshold")
        threshold = _decimal(raw["threshold"], field="threshold")
        if threshold < 0 or (kind == KIND_RENEWAL_RATE_BONUS and threshold > 100):
            raise RuleError(_("Enter a percentage the rate can reach."), field="threshold")
        min_renewals = int(raw.get("min_renewals") or 1)
        if min_renewals < 1:
            raise RuleError(_("At least one renewal."), field="min_renewals")
        return Parameters(threshold=threshold, min_renewals=min_renewals)
    if kind == KIND_TIER_PROMOTION_BONUS:
        tier_key = (raw.get("tier_key") or "").strip()
        if not tier_key:
            raise RuleError(_("Choose the tier partners must reach."), field="tier_key")
        reached = raw.get("reached_by")
        if not reached:
            raise RuleError(
                _("Enter the date by which the tier must be reached."), field="reached_by"
            )
        try:
            reached_by = reached if isinstance(reached, date) else date.fromisoformat(reached)
        except ValueError:
            raise RuleError(_("Enter a valid date."), field="reached_by") from None
        return Parameters(tier_key=tier_key, reached_by=reached_by)
    return Parameters()


@dataclass(frozen=True)
class RuleSpec:
    """Everything the engine reads of one rule."""

    id: int
    version_id: int
    name: str
    kind: str
    priority: int = 0
    starts_on: date | None = None
    ends_on: date | None = None
    partner_type_keys: frozenset[str] = frozenset()
    tier_keys: frozenset[str] = frozenset()
    product_ids: frozenset[int] = frozenset()
    product_lines: frozenset[str] = frozenset()
    countries: frozenset[str] = frozenset()
    regions: frozenset[str] = frozenset()
    deal_types: frozenset[str] = frozenset()
    registered: str = "any"
    co_sell_role: str = "any"
    payout: str = "percentage"
    rate: Decimal | None = None
    base: str = "first_year_value"
    fixed_amount: Decimal | None = None
    currency: str = ""
    params: Parameters = Parameters()

    @property
    def group(self) -> str:
        return KIND_GROUP[self.kind]

    @property
    def has_product_filter(self) -> bool:
        return bool(self.product_ids or self.product_lines)

    @property
    def sort_key(self) -> tuple[int, int]:
        """Higher priority first, then the older rule."""
        return (-self.priority, self.id)

    @classmethod
    def from_model(cls, rule: Any) -> RuleSpec:
        return cls(
            id=rule.pk,
            version_id=rule.version_id,
            name=rule.name,
            kind=rule.kind,
            priority=rule.priority,
            starts_on=rule.starts_on,
            ends_on=rule.ends_on,
            partner_type_keys=frozenset(rule.partner_type_keys),
            tier_keys=frozenset(rule.tier_keys),
            product_ids=frozenset(rule.product_ids),
            product_lines=frozenset(rule.product_lines),
            countries=frozenset(c.upper() for c in rule.countries),
            regions=frozenset(r.casefold() for r in rule.regions),
            deal_types=frozenset(rule.deal_types),
            registered=rule.registered,
            co_sell_role=rule.co_sell_role,
            payout=rule.payout,
            rate=rule.rate,
            base=rule.base,
            fixed_amount=rule.fixed_amount,
            currency=rule.currency,
            params=parse_parameters(rule.kind, rule.parameters),
        )


@dataclass(frozen=True)
class CompiledPlan:
    """One plan version's rules, ready to run."""

    version_id: int
    rules: tuple[RuleSpec, ...]

    @classmethod
    def from_version(cls, version: Any) -> CompiledPlan:
        return cls(
            version_id=version.pk,
            rules=tuple(RuleSpec.from_model(rule) for rule in version.rules.all()),
        )


def check_rule(spec: RuleSpec) -> None:
    """Refuse settings that cannot mean anything for the rule's kind."""
    if spec.payout == "percentage":
        if spec.kind != KIND_STEPPED_REBATE:
            if spec.rate is None:
                raise RuleError(_("Enter the rate (%)."), field="rate")
            if not Decimal("0") <= spec.rate <= Decimal("100"):
                raise RuleError(_("The rate is a percentage from 0 to 100."), field="rate")
    else:
        if spec.kind == KIND_STEPPED_REBATE:
            raise RuleError(_("A stepped rebate pays its bands' rates."), field="payout")
        if spec.fixed_amount is None or spec.fixed_amount < 0:
            raise RuleError(_("Enter the fixed amount."), field="fixed_amount")
    if spec.starts_on and spec.ends_on and spec.ends_on < spec.starts_on:
        raise RuleError(_("The rule cannot end before it starts."), field="ends_on")
    if spec.kind == KIND_SPIFF and not (
        spec.has_product_filter and spec.starts_on and spec.ends_on
    ):
        raise RuleError(
            _("A product push names its products or product lines and its start and end dates."),
            field="product_lines",
        )
    if spec.kind == KIND_TIER_PROMOTION_BONUS and not (spec.starts_on and spec.ends_on):
        raise RuleError(
            _("A tier-promotion bonus applies to the deals of a period: enter its dates."),
            field="starts_on",
        )
    if spec.kind not in DEAL_KINDS:
        deal_only = {
            "product_lines": spec.has_product_filter,
            "deal_types": bool(spec.deal_types),
            "registered": spec.registered != "any",
            "co_sell_role": spec.co_sell_role != "any",
        }
        for field, used in deal_only.items():
            if used:
                raise RuleError(
                    _("This kind of rule is not computed from deals: leave this empty."),
                    field=field,
                )
    params = spec.params
    if (
        spec.kind == KIND_TIER_PROMOTION_BONUS
        and params.reached_by
        and spec.starts_on
        and params.reached_by >= spec.starts_on
    ):
        raise RuleError(
            _("The bonus period must start after the date the tier must be reached by."),
            field="starts_on",
        )
