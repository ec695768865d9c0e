"""A Hypothesis state machine drives random sequences of deal closes, reversals,
revenue events, manual adjustments and reruns of the nightly commission job,
and checks after every step that:

* what the partner is owed, derived from the ledger's entries, equals what an
  independent model of the same events says (hand arithmetic: Gold 26 % of
  first-year value, a 15 % revenue share, adjustments as posted, reversals
  giving back exactly what the deal earned);
* every transaction balances per currency (read back from the entries, on top
  of the database's own check at commit);
* nothing is posted twice: idempotency keys are unique and a rerun of the job
  right after a run posts nothing.

Each example works on a partner of its own, so examples never see each other's
rows. Payout periods join this machine when they land.
"""

from __future__ import annotations

import itertools
from decimal import ROUND_HALF_UP, Decimal
from uuid import uuid4

import pytest
from django.db.models import Count, Sum
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from deals import services as deal_services
from incentives import services
from incentives.commissions import run_commission_job
from prm.ledger.models import Account, LedgerEntry, LedgerTransaction
from prm.ledger.services import post_adjustment
from prm.tenancy.context import tenant_context
from tests.factories import MembershipFactory, PartnerFactory
from tests.incentives.test_commission_job import plan  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db

CENT = Decimal("0.01")
_serial = itertools.count()


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


amounts = st.integers(min_value=1, max_value=5_000_000).map(lambda n: Decimal(n) / 100)
terms = st.sampled_from([1, 6, 12, 24, 36])


def test_random_histories_keep_the_ledger_balanced_and_equal_to_the_model(plan_world, plan):  # noqa: F811
    world = plan_world
    today = timezone.localdate()

    class LedgerMachine(RuleBasedStateMachine):
        @initialize()
        def fresh_partner(self):
            with tenant_context(world.tenant):
                self.partner = PartnerFactory(
                    legal_name=f"Machine Partner {next(_serial)}",
                    tier=world.tiers["gold"],
                    partner_type=world.types["reseller"],
                    country="CN",
                    default_currency="CNY",
                )
                self.rep = MembershipFactory(role=world.rep.role, partner=self.partner)
            self.won: list[tuple[int, Decimal]] = []  # (deal id, what it earns)
            self.reversed: set[int] = set()
            self.computed: set[int] = set()  # deals the job has seen
            self.events: list[tuple[int, Decimal]] = []  # (event id, signed share)
            self.events_computed: set[int] = set()
            self.adjustments = Decimal("0")

        @rule(amount=amounts, term=terms)
        def close_a_deal(self, amount, term):
            name = uuid4().hex[:12]  # unrelated names: no conflict between examples
            with tenant_context(world.tenant):
                deal = deal_services.register_deal(
                    membership=self.rep,
                    actor=self.rep.user,
                    customer_company=f"{name} Ltd",
                    contact_name="Li Na",
                    contact_email=f"buyer@{name}.cn",
                    estimated_close_date=today,
                    currency="CNY",
                )
                deal_services.close_won(
                    deal=deal,
                    membership=self.rep,
                    actor=self.rep.user,
                    final_amount=amount,
                    currency="CNY",
                    closed_on=today,
                    contract_term_months=term,
                )
            first_year = amount * min(term, 12) / term
            self.won.append((deal.pk, cents(first_year * Decimal("26") / 100)))

        @precondition(lambda self: any(pk not in self.reversed for pk, _ in self.won))
        @rule(data=st.data())
        def reverse_a_deal(self, data):
            open_ = [pk for pk, _ in self.won if pk not in self.reversed]
            pk = data.draw(st.sampled_from(open_))
            with tenant_context(world.tenant):
                from deals.models import DealRegistration

                deal = DealRegistration.objects.get(pk=pk)
                deal_services.reverse_closed_won(
                    deal=deal, membership=world.manager, actor=world.manager.user, reason="Refund."
                )
            self.reversed.add(pk)

        @rule(amount=amounts, refund=st.booleans())
        def a_revenue_event(self, amount, refund):
            with tenant_context(world.tenant):
                event = services.record_revenue_event(
                    membership=world.finance,
                    actor=world.finance.user,
                    partner=self.partner,
                    kind="refund" if refund else "invoice_paid",
                    amount=amount,
                    currency="CNY",
                    occurred_on=today,
                    external_id=f"ev-{next(_serial)}",
                    customer_name="Acme",
                )
            share = cents(amount * Decimal("15") / 100)
            self.events.append((event.pk, -share if refund else share))

        @rule(amount=amounts, against=st.booleans())
        def an_adjustment(self, amount, against):
            signed = -amount if against else amount
            with tenant_context(world.tenant):
                post_adjustment(
                    membership=world.finance,
                    actor=world.finance.user,
                    partner=self.partner,
                    currency="CNY",
                    amount=signed,
                    reason="Correction agreed with the partner.",
                    effective_date=today,
                )
            self.adjustments += signed

        @rule()
        def run_the_job(self):
            with tenant_context(world.tenant):
                run_commission_job(size=3)
                rerun = run_commission_job()
            assert not any(rerun.values()), rerun
            self.computed = {pk for pk, _ in self.won}
            self.events_computed = {pk for pk, _ in self.events}
            self.clawed = set(self.reversed) & self.computed

        def expected(self) -> Decimal:
            clawed = getattr(self, "clawed", set())
            earned = sum(
                (earning for pk, earning in self.won if pk in self.computed and pk not in clawed),
                Decimal("0"),
            )
            shares = sum(
                (share for pk, share in self.events if pk in self.events_computed),
                Decimal("0"),
            )
            return earned + shares + self.adjustments

        @invariant()
        def owed_equals_the_model(self):
            with tenant_context(world.tenant):
                total = LedgerEntry.objects.filter(
                    partner=self.partner, account=Account.PARTNER_PAYABLE
                ).aggregate(total=Sum("amount"))["total"] or Decimal("0")
            assert -total == self.expected()

        @invariant()
        def every_transaction_balances_and_no_key_repeats(self):
            with tenant_context(world.tenant):
                mine = LedgerTransaction.objects.filter(partner=self.partner)
                unbalanced = (
                    LedgerEntry.objects.filter(transaction__in=mine)
                    .values("transaction_id", "currency")
                    .annotate(total=Sum("amount"))
                    .exclude(total=0)
                )
                assert not unbalanced.exists()
                repeated = mine.values("idempotency_key").annotate(n=Count("id")).filter(n__gt=1)
                assert not repeated.exists()

    LedgerMachine.TestCase.settings = settings(
        max_examples=8,
        stateful_step_count=8,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    LedgerMachine.TestCase().runTest()
