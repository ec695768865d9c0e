"""A payout story told through the real services, shared by the API and portal tests.

Tenant A's two partners (from ``tests.api.conftest.build_world``), both with
complete payee details, paid in CNY. Posted with ``prm.ledger.services.post``,
closed with ``close_period`` and paid with ``mark_paid`` (never by hand):

* September (closed 5 Oct): the partner earns 1,000.00 and 500.00, loses 200.00
  to a clawback: its statement pays 1,300.00, marked paid on 10 Oct as
  "PAY-SEPT-1". The other partner earns 400.00 (statement unpaid).
* October (closed 5 Nov): the partner earns 800.00, gets a 50.00 adjustment and
  earns 100.00 USD (converted at 7.1 recorded on 1 Oct: 710.00 CNY): its
  statement pays 1,560.00, not paid yet. The other partner earns 600.00.
* November (open): the partner earns 300.00 CNY and 20.00 USD.

So the partner's pending is 300.00 CNY and 20.00 USD, approved 1,560.00 CNY,
paid 1,300.00 CNY.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from incentives.models import PayoutPeriod, Statement
from incentives.payouts.services import close_period, mark_paid
from partners.models import PartnerOrganization, PartnerPayee
from prm.accounts.roles import Role
from prm.ledger.models import Account, Kind, LedgerTransaction, SourceType
from prm.ledger.services import Line, post
from prm.money.models import ExchangeRate
from prm.money.sealed import seal, tail
from prm.tenancy.context import tenant_context
from tests.api.conftest import World

SEPTEMBER = (date(2026, 9, 1), date(2026, 9, 30))
_keys = itertools.count(1)

EXPENSE = {
    Kind.COMMISSION: Account.COMMISSION_EXPENSE,
    Kind.CLAWBACK: Account.COMMISSION_EXPENSE,
    Kind.ADJUSTMENT: Account.ADJUSTMENT_EXPENSE,
}


def give_payee(partner: PartnerOrganization, currency: str = "CNY") -> PartnerPayee:
    return PartnerPayee.objects.create(
        partner=partner,
        legal_name=partner.legal_name,
        payout_currency=currency,
        payment_method=PartnerPayee.Method.BANK_TRANSFER,
        bank_name="Bank of Test",
        account_number_sealed=seal("12345678"),
        account_number_tail=tail("12345678"),
        swift_bic="TESTMYKL",
        bank_country="MY",
        tax_id_sealed=seal("TAX-991"),
        tax_id_tail=tail("TAX-991"),
        tax_country="MY",
        tax_form_status=PartnerPayee.TaxForm.LOCAL,
    )


def book(
    partner: PartnerOrganization,
    amount: str,
    day: date,
    *,
    kind: str = Kind.COMMISSION,
    currency: str = "CNY",
) -> LedgerTransaction:
    """Credit (or, negative, debit) the partner's payable balance by ``amount``."""
    value = Decimal(amount)
    explanation: dict = (
        {"reason": "Goodwill"}
        if kind == Kind.ADJUSTMENT
        else {
            "rule": "Resale commission",
            "base": str(value * 5),
            "base_kind": "deal_amount",
            "rate": "20",
            "formula": f"{value * 5} × 20% = {value}",
        }
    )
    transaction, _created = post(
        key=f"story:{next(_keys)}",
        kind=kind,
        source_type=SourceType.ADJUSTMENT if kind == Kind.ADJUSTMENT else SourceType.DEAL,
        source_id=None if kind == Kind.ADJUSTMENT else 999_999,
        currency=currency,
        effective_date=day,
        lines=[
            Line(account=EXPENSE[kind], amount=value),
            Line(account=Account.PARTNER_PAYABLE, amount=-value),
        ],
        partner=partner,
        explanation=explanation,
    )
    return transaction


def close(period: PayoutPeriod, finance, today: date) -> PayoutPeriod:
    """Close ``period`` on ``today``; the period after it, which the close opens."""
    close_period(period=period, membership=finance, actor=finance.user, today=today)
    return PayoutPeriod.objects.get(start=period.end + timedelta(days=1))


@dataclass
class Story:
    world: World
    september: PayoutPeriod
    october: PayoutPeriod
    november: PayoutPeriod
    paid: Statement  # the partner's September statement, paid
    unpaid: Statement  # the partner's October statement
    theirs: Statement  # the other partner's October statement

    @property
    def finance(self):
        return self.world.members[Role.FINANCE]


def tell_story(world: World) -> Story:
    finance = world.members[Role.FINANCE]
    partner, other = world.partner, world.other_partner
    with tenant_context(world.tenant):
        give_payee(partner)
        give_payee(other)
        ExchangeRate.objects.create(
            base_currency="USD",
            quote_currency="CNY",
            rate=Decimal("7.1"),
            effective_date=date(2026, 10, 1),
        )
        september = PayoutPeriod.objects.create(start=SEPTEMBER[0], end=SEPTEMBER[1])
        book(partner, "1000.00", date(2026, 9, 10))
        book(partner, "500.00", date(2026, 9, 20))
        book(partner, "-200.00", date(2026, 9, 25), kind=Kind.CLAWBACK)
        book(other, "400.00", date(2026, 9, 12))
        october = close(september, finance, today=date(2026, 10, 5))
        paid = Statement.objects.get(period=september, partner=partner)
        mark_paid(
            statement=paid,
            reference="PAY-SEPT-1",
            paid_on=date(2026, 10, 10),
            membership=finance,
            actor=finance.user,
        )
        book(partner, "800.00", date(2026, 10, 3))
        book(partner, "50.00", date(2026, 10, 15), kind=Kind.ADJUSTMENT)
        book(partner, "100.00", date(2026, 10, 20), currency="USD")
        book(other, "600.00", date(2026, 10, 8))
        november = close(october, finance, today=date(2026, 11, 5))
        book(partner, "300.00", date(2026, 11, 2))
        book(partner, "20.00", date(2026, 11, 3), currency="USD")
        return Story(
            world=world,
            september=september,
            october=october,
            november=november,
            paid=Statement.objects.get(pk=paid.pk),
            unpaid=Statement.objects.get(period=october, partner=partner),
            theirs=Statement.objects.get(period=october, partner=other),
        )


def close_more(story: Story, months: int) -> None:
    """Close the open period and the ``months - 1`` after it, each with earnings of
    both partners, so every partner gets ``months`` more statements."""
    world = story.world
    finance = world.members[Role.FINANCE]
    with tenant_context(world.tenant):
        period = PayoutPeriod.objects.get(status=PayoutPeriod.Status.OPEN)
        for _month in range(months):
            book(world.partner, "10.00", period.start)
            book(world.other_partner, "10.00", period.start)
            period = close(period, finance, today=period.end + timedelta(days=5))
