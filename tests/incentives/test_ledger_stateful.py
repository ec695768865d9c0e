"""A Hypothesis state machine drives random sequences of deal closes, reversals,
revenue events, manual adjustments, reruns of the nightly commission job,
payout holds and releases, period closes and payments, and checks after every
step that:

* what the partner is owed, replayed from the ledger's entries, equals the
  totals the partner is shown (``incentives.earnings.earnings_totals``:
  balance, earned, clawed back, adjustments, paid) and what an independent
  model of the same events says (hand arithmetic: Gold 26 % of first-year
  value, a 15 % revenue share, adjustments as posted, reversals giving back
  exactly what the deal earned, payments as made);
* every transaction balances per currency (read back from the entries, on top
  of the database's own check at commit);
* nothing is posted twice: idempotency keys are unique and a rerun of the job
  right after a run posts nothing;
* each period close writes the statement the model predicts (carried in,
  earned, clawed back, adjustments, closing, payable, carried forward, status)
  and a closed statement never changes afterwards (its totals and lines are
  snapshotted at close and compared after every later step);
* on every statement ``payable + carried forward = closing`` and ``closing =
  carried in + its lines``; nothing is payable or paid negative, and each
  payment posts exactly the statement's payable amount.

Each example works on a partner of its own, so examples never see each other's
ledger rows. Payout periods are tenant-wide, so the examples share them: the
current month is closed before the machine starts; each close step then closes
the earliest open period (as of the day after it ends) and the next month
opens, so the periods march forward across examples. Everything is posted on
today's date (or the reversal's), before every period the machine closes, so
each close takes everything posted since the last one.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from uuid import uuid4

import pytest
from django.db.models import Count, Q, Sum
from django.utils import timezone
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from deals import services as deal_services
from deals.models import DealRegistration
from incentives import services
from incentives.commissions import run_commission_job
from incentives.earnings import earnings_totals
from incentives.models import Hold, PayoutPeriod, Statement, StatementLine
from incentives.payouts.services import (
    close_period,
    ensure_open_period,
    hold,
    mark_paid,
    release,
    set_minimum_payout,
)
from prm.ledger.models import Account, Kind, LedgerEntry, LedgerTransaction
from prm.ledger.services import post_adjustment
from prm.tenancy.context import tenant_context
from tests.factories import MembershipFactory, PartnerFactory
from tests.incentives.test_commission_job import plan  # noqa: F401 (fixture)
from tests.payouts.conftest import give_payee

pytestmark = pytest.mark.django_db

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
MINIMUM_PAYOUT = Decimal("100.00")
_serial = itertools.count()


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


# Hypothesis favours small numbers; half the draws are sizeable amounts, so
# statements clear the minimum payout as often as they fall below it.
amounts = st.one_of(
    st.integers(min_value=1, max_value=5_000_000),
    st.integers(min_value=10_000, max_value=5_000_000),
).map(lambda n: Decimal(n) / 100)
terms = st.sampled_from([1, 6, 12, 24, 36])


@dataclass
class Pending:
    """What the model says the next statement's lines hold."""

    earned: Decimal = ZERO
    clawed_back: Decimal = ZERO
    adjustments: Decimal = ZERO
    transactions: int = 0  # with a non-zero amount (only those become lines)

    def add(self, bucket: str, amount: Decimal) -> None:
        if amount:
            setattr(self, bucket, getattr(self, bucket) + amount)
            self.transactions += 1


@dataclass
class Snapshot:
    """A statement as it was closed."""

    figures: tuple
    lines: list[tuple] = field(default_factory=list)


STATEMENT_FIGURES = (
    "period_id",
    "partner_id",
    "currency",
    "opening_balance",
    "earned_total",
    "clawed_back_total",
    "adjustments_total",
    "closing_amount",
    "payable_amount",
    "carried_forward",
    "hold_reason",
)
PAYABLE = STATEMENT_FIGURES.index("payable_amount")
LINE_FIGURES = (
    "transaction_id",
    "kind",
    "effective_date",
    "original_amount",
    "original_currency",
    "amount",
)


def _figures(statement: Statement) -> tuple:
    return tuple(getattr(statement, name) for name in STATEMENT_FIGURES)


def _lines(statement: Statement) -> list[tuple]:
    return list(statement.lines.order_by("id").values_list(*LINE_FIGURES))


def test_random_histories_keep_ledger_and_statements_equal_to_the_model(plan_world, plan):  # noqa: F811
    world = plan_world
    today = timezone.localdate()
    with tenant_context(world.tenant):
        set_minimum_payout(
            membership=world.finance, actor=world.finance.user, minimum_payout=MINIMUM_PAYOUT
        )
        # Close this month up front (nothing is in it yet), so every period the
        # machine closes ends after today, and after any reversal made during the
        # run even if the clock passes midnight.
        current = ensure_open_period(today)
        close_period(
            period=current,
            membership=world.finance,
            actor=world.finance.user,
            today=current.end + timedelta(days=1),
        )

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
                give_payee(self.partner)  # complete: statements are payable
                self.rep = MembershipFactory(role=world.rep.role, partner=self.partner)
            self.won: list[tuple[int, Decimal]] = []  # (deal id, what it earns)
            self.reversed: set[int] = set()
            self.computed: set[int] = set()  # deals the job has seen
            self.clawed: set[int] = set()  # deals the job has clawed back
            self.events: list[tuple[int, Decimal]] = []  # (event id, signed share)
            self.events_computed: set[int] = set()
            self.adjustments = ZERO
            self.paid = ZERO
            self.pending = Pending()
            self.carried = ZERO  # the model's carried-forward balance
            self.hold: Hold | None = None
            self.snapshots: dict[int, Snapshot] = {}  # statement id → as closed
            self.paid_statements: set[int] = set()

        # --- sources ----------------------------------------------------------------

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
            self.pending.add("adjustments", signed)

        @rule()
        def run_the_job(self):
            with tenant_context(world.tenant):
                run_commission_job(size=3)
                rerun = run_commission_job()
            assert not any(rerun.values()), rerun
            earnings = dict(self.won)
            for pk, earning in self.won:
                if pk not in self.computed:
                    self.pending.add("earned", earning)
            for pk, share in self.events:
                if pk not in self.events_computed:
                    self.pending.add("earned", share)
            self.computed = set(earnings)
            self.events_computed = {pk for pk, _ in self.events}
            for pk in sorted(self.reversed - self.clawed):
                self.pending.add("clawed_back", -earnings[pk])
            self.clawed = set(self.reversed)

        # --- payouts ----------------------------------------------------------------

        @precondition(lambda self: self.hold is None)
        @rule()
        def hold_the_partner(self):
            with tenant_context(world.tenant):
                self.hold = hold(
                    partner=self.partner,
                    reason="Tax form under review.",
                    membership=world.finance,
                    actor=world.finance.user,
                )

        @precondition(lambda self: self.hold is not None)
        @rule()
        def release_the_partner(self):
            with tenant_context(world.tenant):
                release(hold=self.hold, membership=world.finance, actor=world.finance.user)
            self.hold = None

        @rule(after_the_job=st.booleans(), pay_now=st.booleans())
        def close_the_period(self, after_the_job, pay_now):
            # Usually finance closes after the nightly job; sometimes deals
            # closed since then are not computed yet and fall into a later period.
            if after_the_job:
                self.run_the_job()
            with tenant_context(world.tenant):
                period = (
                    PayoutPeriod.objects.filter(status=PayoutPeriod.Status.OPEN)
                    .order_by("start")
                    .first()
                )
                assert period is not None and period.start > today
                close_period(
                    period=period,
                    membership=world.finance,
                    actor=world.finance.user,
                    today=period.end + timedelta(days=1),
                )
                mine = list(Statement.objects.filter(period=period, partner=self.partner))
                for statement in mine:
                    self.snapshots[statement.pk] = Snapshot(_figures(statement), _lines(statement))
            expected = self.pending
            if not expected.transactions and not self.carried:
                assert mine == []
                event("close: no statement")
                return
            [statement] = mine
            closing = self.carried + expected.earned + expected.clawed_back + expected.adjustments
            held = self.hold is not None
            pays = not held and closing > 0 and closing >= MINIMUM_PAYOUT
            payable = closing if pays else ZERO
            assert (
                statement.opening_balance,
                statement.earned_total,
                statement.clawed_back_total,
                statement.adjustments_total,
                statement.closing_amount,
                statement.payable_amount,
                statement.carried_forward,
                statement.status,
                statement.currency,
                len(self.snapshots[statement.pk].lines),
            ) == (
                self.carried,
                expected.earned,
                expected.clawed_back,
                expected.adjustments,
                closing,
                payable,
                closing - payable,
                Statement.Status.HELD if held else Statement.Status.CLOSED,
                "CNY",
                expected.transactions,
            )
            self.carried = closing - payable
            self.pending = Pending()
            if payable and pay_now:
                self.pay(statement.pk)
            event(f"close: {statement.status}, {'payable' if payable else 'carried'}")

        @precondition(lambda self: self.payable_statements())
        @rule(data=st.data())
        def pay_a_statement(self, data):
            self.pay(data.draw(st.sampled_from(self.payable_statements())))

        def pay(self, pk: int) -> None:
            with tenant_context(world.tenant):
                closed = Statement.objects.select_related("period").get(pk=pk)
                statement = mark_paid(
                    statement=closed,
                    reference=f"PAY-{pk}",
                    paid_on=closed.period.end + timedelta(days=1),
                    membership=world.finance,
                    actor=world.finance.user,
                )
            self.paid += statement.payable_amount
            self.paid_statements.add(pk)
            event("statement paid")

        def payable_statements(self) -> list[int]:
            return sorted(
                pk
                for pk, snapshot in self.snapshots.items()
                if pk not in self.paid_statements and snapshot.figures[PAYABLE] > 0
            )

        # --- the model ----------------------------------------------------------------

        def expected_totals(self) -> dict[str, Decimal]:
            earned = sum((e for pk, e in self.won if pk in self.computed), ZERO) + sum(
                (s for pk, s in self.events if pk in self.events_computed), ZERO
            )
            clawed = -sum((e for pk, e in self.won if pk in self.clawed), ZERO)
            return {
                "earned": earned,
                "clawed_back": clawed,
                "adjustments": self.adjustments,
                "paid": self.paid,
                "balance": earned + clawed + self.adjustments - self.paid,
            }

        # --- invariants ---------------------------------------------------------------

        @invariant()
        def owed_replayed_from_entries_equals_the_partner_view_and_the_model(self):
            with tenant_context(world.tenant):
                entries = LedgerEntry.objects.filter(
                    partner=self.partner, account=Account.PARTNER_PAYABLE
                )
                replayed = -(entries.aggregate(total=Sum("amount"))["total"] or ZERO)
                paid = (
                    entries.filter(transaction__kind=Kind.PAYMENT).aggregate(total=Sum("amount"))[
                        "total"
                    ]
                    or ZERO
                )
                shown = earnings_totals(partner=self.partner)
            model = self.expected_totals()
            assert replayed == model["balance"]
            assert paid == model["paid"]
            if not shown:
                assert model == dict.fromkeys(model, ZERO)
                return
            [cny] = shown
            assert cny.currency == "CNY"
            assert {
                "earned": cny.earned,
                "clawed_back": cny.clawed_back,
                "adjustments": cny.adjustments,
                "paid": cny.paid,
                "balance": cny.balance,
            } == model
            assert cny.reimbursed == ZERO

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

        @invariant()
        def closed_statements_never_change(self):
            with tenant_context(world.tenant):
                statements = {
                    s.pk: s
                    for s in Statement.objects.filter(partner=self.partner).prefetch_related(
                        "lines"
                    )
                }
                assert set(statements) == set(self.snapshots)
                for pk, statement in statements.items():
                    snapshot = self.snapshots[pk]
                    assert _figures(statement) == snapshot.figures
                    assert sorted(
                        tuple(getattr(line, n) for n in LINE_FIGURES)
                        for line in statement.lines.all()
                    ) == sorted(snapshot.lines)
                    assert statement.status != Statement.Status.PAID or pk in self.paid_statements
                    assert (
                        pk not in self.paid_statements or statement.status == Statement.Status.PAID
                    )

        @invariant()
        def statements_add_up_and_nothing_is_paid_negative(self):
            with tenant_context(world.tenant):
                statements = list(
                    Statement.objects.filter(partner=self.partner)
                    .select_related("period", "payment_transaction")
                    .annotate(lines_total=Sum("lines__amount"))
                    .order_by("period__start")
                )
                payments = {
                    tx.pk: tx.payable  # the payment debits what the vendor owes
                    for tx in LedgerTransaction.objects.filter(
                        partner=self.partner, kind=Kind.PAYMENT
                    ).annotate(
                        payable=Sum(
                            "entries__amount", filter=Q(entries__account=Account.PARTNER_PAYABLE)
                        )
                    )
                }
                on_lines = StatementLine.objects.filter(statement__partner=self.partner)
                assert not on_lines.exclude(transaction__partner=self.partner).exists()
            carried_in = ZERO
            for statement in statements:
                lines = statement.lines_total or ZERO
                assert statement.opening_balance == carried_in
                assert (
                    statement.earned_total
                    + statement.clawed_back_total
                    + (statement.adjustments_total)
                    == lines
                )
                assert statement.closing_amount == statement.opening_balance + lines
                assert statement.payable_amount + statement.carried_forward == (
                    statement.closing_amount
                )
                assert statement.payable_amount >= 0
                if statement.status in (Statement.Status.HELD, Statement.Status.BLOCKED):
                    assert statement.payable_amount == 0
                if statement.payable_amount:
                    assert statement.payable_amount >= MINIMUM_PAYOUT
                    assert statement.carried_forward == 0
                carried_in = statement.carried_forward
            paid_statements = [s for s in statements if s.status == Statement.Status.PAID]
            assert sorted(payments.values()) == sorted(s.payable_amount for s in paid_statements)
            assert all(amount > 0 for amount in payments.values())
            assert {s.payment_transaction_id for s in paid_statements} == set(payments)

    LedgerMachine.TestCase.settings = settings(
        max_examples=35,
        stateful_step_count=25,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    LedgerMachine.TestCase().runTest()
