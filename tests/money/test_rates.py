"""Exchange rates: which rate applies on a day, conversions, recording,
corrections, permissions and the all-or-nothing CSV import."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.db import DatabaseError, transaction
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from prm.audit.models import AuditEvent
from prm.errors import Conflict, DomainError, PermissionDenied
from prm.money import imports, rates, services
from prm.money.models import ExchangeRate
from prm.tenancy.context import tenant_context

pytestmark = pytest.mark.django_db
D = Decimal
JAN_1, FEB_1, MAR_1 = (
    datetime.date(2026, 1, 1),
    datetime.date(2026, 2, 1),
    datetime.date(2026, 3, 1),
)


def record(member, base, quote, rate, day, source="PBoC reference"):
    return services.record_rate(
        membership=member,
        actor=member.user,
        base=base,
        quote=quote,
        rate=D(rate),
        effective_date=day,
        source=source,
    )


@pytest.fixture
def finance(money_world):
    with tenant_context(money_world.tenant_a):
        yield money_world.finance


@pytest.fixture
def cny_myr(finance):
    """CNY→MYR on Jan 1 (0.6400), Feb 1 (0.6500), Mar 1 (0.6600) and today (0.7000)."""
    for day, rate in ((JAN_1, "0.64"), (FEB_1, "0.65"), (MAR_1, "0.66")):
        record(finance, "CNY", "MYR", rate, day)
    record(finance, "CNY", "MYR", "0.70", timezone.localdate())


# --- which rate applies --------------------------------------------------------------


def test_rate_on_uses_the_latest_rate_effective_on_or_before_the_day(cny_myr):
    quote = rates.rate_on(base="CNY", quote="MYR", day=datetime.date(2026, 2, 20))
    assert (quote.rate, quote.effective_date, quote.inverted) == (D("0.65"), FEB_1, False)


def test_rate_on_the_effective_date_itself_uses_that_days_rate(cny_myr):
    assert rates.rate_on(base="CNY", quote="MYR", day=MAR_1).rate == D("0.66")
    assert rates.rate_on(base="CNY", quote="MYR", day=MAR_1 - datetime.timedelta(days=1)).rate == D(
        "0.65"
    )


def test_a_past_event_never_uses_todays_rate(cny_myr):
    converted = rates.convert(
        amount=D("1000"), from_currency="CNY", to_currency="MYR", day=datetime.date(2026, 1, 15)
    )
    assert (converted.amount, converted.rate, converted.rate_date) == (
        D("640.00"),
        D("0.64"),
        JAN_1,
    )


def test_no_rate_before_the_first_recorded_one_is_an_error(cny_myr):
    with pytest.raises(rates.RateMissing) as caught:
        rates.rate_on(base="CNY", quote="MYR", day=datetime.date(2025, 12, 31))
    assert caught.value.code == "rate_missing"
    assert "CNY" in str(caught.value.message) and "MYR" in str(caught.value.message)


def test_a_pair_without_any_rate_is_an_error(finance):
    record(finance, "CNY", "MYR", "0.65", JAN_1)
    with pytest.raises(rates.RateMissing):
        rates.convert(amount=D("10"), from_currency="CNY", to_currency="EUR", day=FEB_1)


def test_same_currency_converts_at_one_without_any_rate(finance):
    converted = rates.convert(amount=D("10.005"), from_currency="MYR", to_currency="MYR", day=FEB_1)
    assert (converted.amount, converted.rate, converted.rate_date) == (D("10.01"), D(1), None)


def test_a_rate_recorded_the_other_way_round_is_inverted(finance):
    record(finance, "CNY", "MYR", "0.65", JAN_1)
    converted = rates.convert(amount=D("100"), from_currency="MYR", to_currency="CNY", day=FEB_1)
    # 100 / 0.65 = 153.846153… → 153.85 (computed from the recorded rate, not the rounded inverse)
    assert converted.amount == D("153.85")
    assert converted.rate == D("1.5384615385")
    assert converted.rate_date == JAN_1
    assert converted.quote.inverted is True


def test_the_direct_rate_wins_over_the_inverse_recorded_for_the_same_day(finance):
    record(finance, "CNY", "MYR", "0.65", JAN_1)
    record(finance, "MYR", "CNY", "1.60", JAN_1)
    assert rates.rate_on(base="MYR", quote="CNY", day=JAN_1).rate == D("1.60")
    assert rates.rate_on(base="CNY", quote="MYR", day=JAN_1).rate == D("0.65")


def test_a_newer_inverse_rate_wins_over_an_older_direct_one(finance):
    record(finance, "MYR", "CNY", "1.60", JAN_1)
    record(finance, "CNY", "MYR", "0.50", FEB_1)
    quote = rates.rate_on(base="MYR", quote="CNY", day=MAR_1)
    assert (quote.rate, quote.effective_date) == (D("2.0000000000"), FEB_1)


def test_two_foreign_currencies_convert_through_the_tenants_currency(finance):
    # Tenant A keeps its books in CNY: MYR → CNY → SGD.
    record(finance, "CNY", "MYR", "0.65", datetime.date(2026, 1, 10))
    record(finance, "CNY", "SGD", "0.19", datetime.date(2026, 1, 5))
    converted = rates.convert(amount=D("1000"), from_currency="MYR", to_currency="SGD", day=FEB_1)
    # 1000 / 0.65 × 0.19 = 292.3076923… → 292.31; the older leg's date is shown
    assert converted.amount == D("292.31")
    assert converted.rate == D("0.2923076923")
    assert converted.rate_date == datetime.date(2026, 1, 5)
    assert converted.quote.via == "CNY"
    assert len(converted.quote.rate_ids) == 2


def test_converted_amounts_round_half_up_to_the_target_minor_units(finance):
    record(finance, "CNY", "JPY", "20.5", JAN_1)
    record(finance, "CNY", "IDR", "2150.25", JAN_1)
    record(finance, "CNY", "USD", "0.125", JAN_1)
    day = FEB_1
    assert rates.convert(
        amount=D("10.03"), from_currency="CNY", to_currency="JPY", day=day
    ).amount == D("206")  # 205.615
    assert rates.convert(
        amount=D("1.5"), from_currency="CNY", to_currency="IDR", day=day
    ).amount == D("3225")  # 3225.375
    assert rates.convert(
        amount=D("1"), from_currency="CNY", to_currency="USD", day=day
    ).amount == D("0.13")  # 0.125, half up


def test_convert_refuses_float_amounts(finance):
    record(finance, "CNY", "MYR", "0.65", JAN_1)
    with pytest.raises(TypeError):
        rates.convert(amount=10.5, from_currency="CNY", to_currency="MYR", day=FEB_1)  # type: ignore[arg-type]


def test_rates_are_per_tenant(money_world):
    with tenant_context(money_world.tenant_b):
        record(money_world.finance_b, "MYR", "CNY", "1.55", JAN_1)
    with tenant_context(money_world.tenant_a), pytest.raises(rates.RateMissing):
        rates.rate_on(base="MYR", quote="CNY", day=FEB_1)


# --- recording and correcting ----------------------------------------------------------


def test_recording_a_rate_writes_an_audit_row(finance):
    rate = record(finance, "cny", "myr", "0.6512", JAN_1)
    assert (rate.base_currency, rate.quote_currency, rate.revision) == ("CNY", "MYR", 1)
    assert rate.created_by == finance.user
    event = AuditEvent.objects.get(action="exchange_rate.recorded")
    assert event.object_id == str(rate.pk)
    assert event.data["rate"] == "0.6512"


def test_the_same_pair_and_day_cannot_be_recorded_twice(finance):
    record(finance, "CNY", "MYR", "0.65", JAN_1)
    with pytest.raises(Conflict) as caught:
        record(finance, "CNY", "MYR", "0.66", JAN_1)
    assert caught.value.code == "rate_exists"
    assert ExchangeRate.objects.count() == 1


def test_a_correction_supersedes_the_rate_and_keeps_the_original(finance):
    original = record(finance, "CNY", "MYR", "0.56", FEB_1)
    corrected = services.correct_rate(
        membership=finance, actor=finance.user, rate=original, new_rate="0.65", reason="Typo"
    )
    assert (corrected.revision, corrected.corrects_id) == (2, original.pk)
    quote = rates.rate_on(base="CNY", quote="MYR", day=FEB_1)
    assert (quote.rate, quote.rate_ids) == (D("0.65"), (corrected.pk,))
    original.refresh_from_db()
    assert original.rate == D("0.56")
    assert AuditEvent.objects.get(action="exchange_rate.corrected").data["reason"] == "Typo"


def test_only_the_latest_revision_can_be_corrected_and_a_reason_is_required(finance):
    original = record(finance, "CNY", "MYR", "0.56", FEB_1)
    with pytest.raises(DomainError) as caught:
        services.correct_rate(
            membership=finance, actor=finance.user, rate=original, new_rate="0.65", reason=" "
        )
    assert caught.value.code == "reason_required"
    services.correct_rate(
        membership=finance, actor=finance.user, rate=original, new_rate="0.65", reason="Typo"
    )
    with pytest.raises(Conflict):
        services.correct_rate(
            membership=finance, actor=finance.user, rate=original, new_rate="0.66", reason="Again"
        )


def test_the_database_refuses_to_edit_or_delete_a_recorded_rate(finance):
    rate = record(finance, "CNY", "MYR", "0.65", JAN_1)
    with pytest.raises(DatabaseError), transaction.atomic():
        ExchangeRate.objects.filter(pk=rate.pk).update(rate=D("0.99"))
    with pytest.raises(DatabaseError), transaction.atomic():
        ExchangeRate.objects.filter(pk=rate.pk).delete()


@pytest.mark.parametrize(
    ("base", "quote", "rate", "code"),
    [
        ("CNY", "CNY", "1", "same_currency"),
        ("CNY", "XXX", "1", "unknown_currency"),
        ("CNY", "MYR", "0", "invalid_rate"),
        ("CNY", "MYR", "-0.5", "invalid_rate"),
        ("CNY", "MYR", "0.00000000001", "invalid_rate"),  # 11 decimals
        ("CNY", "MYR", "10000000000", "invalid_rate"),
        ("CNY", "MYR", "abc", "invalid_rate"),
    ],
)
def test_invalid_rates_are_refused(finance, base, quote, rate, code):
    with pytest.raises(DomainError) as caught:
        services.record_rate(
            membership=finance,
            actor=finance.user,
            base=base,
            quote=quote,
            rate=rate,
            effective_date=JAN_1,
        )
    assert caught.value.code == code
    assert not ExchangeRate.objects.exists()


def test_a_float_rate_is_refused(finance):
    with pytest.raises(DomainError):
        services.record_rate(
            membership=finance,
            actor=finance.user,
            base="CNY",
            quote="MYR",
            rate=0.65,  # type: ignore[arg-type]
            effective_date=JAN_1,
        )


@pytest.mark.parametrize("who", ["tenant_admin", "manager", "partner_admin"])
def test_only_finance_records_corrects_and_imports_rates(money_world, who):
    member = getattr(money_world, who)
    with tenant_context(money_world.tenant_a):
        rate = record(money_world.finance, "CNY", "MYR", "0.65", JAN_1)
        with pytest.raises(PermissionDenied):
            record(member, "CNY", "MYR", "0.66", FEB_1)
        with pytest.raises(PermissionDenied):
            services.correct_rate(
                membership=member, actor=member.user, rate=rate, new_rate="0.7", reason="x"
            )
        with pytest.raises(PermissionDenied):
            imports.import_rates(
                membership=member, actor=member.user, data=b"quote_currency,rate,effective_date\n"
            )
        assert ExchangeRate.objects.count() == 1


# --- CSV import ---------------------------------------------------------------------


def import_file(member, text: str):
    return imports.import_rates(
        membership=member, actor=member.user, data=text.encode("utf-8-sig"), filename="rates.csv"
    )


def test_a_valid_file_records_every_rate_with_one_audit_row(finance):
    created = import_file(
        finance,
        "base_currency,quote_currency,rate,effective_date,source\n"
        "CNY,MYR,0.65,2026-01-01,BNM\n"
        ",USD,0.1380,2026-01-01,\n"
        "USD,JPY,150.25,2026-01-02,BoJ\n",
    )
    assert len(created) == 3
    stored = list(
        ExchangeRate.objects.order_by("effective_date", "base_currency").values_list(
            "base_currency", "quote_currency", "rate", "source"
        )
    )
    assert stored == [
        ("CNY", "MYR", D("0.65"), "BNM"),
        ("CNY", "USD", D("0.138"), "rates.csv"),  # blank base → tenant's CNY; source → filename
        ("USD", "JPY", D("150.25"), "BoJ"),
    ]
    event = AuditEvent.objects.get(action="exchange_rate.imported")
    assert event.data["count"] == 3


def test_one_bad_row_imports_nothing_and_every_problem_is_reported_by_line(finance):
    record(finance, "CNY", "SGD", "0.19", JAN_1)
    with pytest.raises(imports.RateImportError) as caught:
        import_file(
            finance,
            "quote_currency;rate;effective_date\n"  # semicolons, base defaults to CNY
            "MYR;0.65;2026-01-01\n"  # line 2: fine
            "EUR;zero;2026-01-01\n"  # line 3: not a number
            "USD;0.138;31/01/2026\n"  # line 4: date format
            "MYR;0.66;2026-01-01\n"  # line 5: same as line 2
            "SGD;0.20;2026-01-01\n"  # line 6: already recorded
            "CNY;1;2026-01-01\n",  # line 7: same currency
        )
    assert [problem.line for problem in caught.value.problems] == [3, 4, 5, 6, 7]
    messages = [problem.message for problem in caught.value.problems]
    assert "line 2" in messages[2]
    assert "already recorded" in messages[3]
    assert ExchangeRate.objects.count() == 1
    assert not AuditEvent.objects.filter(action="exchange_rate.imported").exists()


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"", "empty"),
        (b"currency,rate\nMYR,0.65\n", "lacks"),
        (b"quote_currency,rate,effective_date\n", "no rates"),
        (b"quote_currency,rate,effective_date\n\xff\xfe\x00bad", "UTF"),
    ],
)
def test_unreadable_files_are_refused_whole(finance, content, fragment):
    with pytest.raises(imports.RateImportError) as caught:
        imports.import_rates(membership=finance, actor=finance.user, data=content)
    assert fragment in caught.value.problems[0].message
    assert not ExchangeRate.objects.exists()


# --- the rate book: many conversions, one query ------------------------------------


def test_a_rate_book_answers_many_conversions_from_one_query(
    cny_myr, finance, django_assert_num_queries
):
    record(finance, "CNY", "SGD", "0.19", JAN_1)
    with django_assert_num_queries(1):
        book = rates.rate_book(currencies=["MYR", "SGD"], until=MAR_1)
    days = [JAN_1 + datetime.timedelta(days=n) for n in range(59)]
    with django_assert_num_queries(0):
        lines = [
            book.convert(amount=D("100"), from_currency="MYR", to_currency="SGD", day=day)
            for day in days
        ]
    assert {line.quote.via for line in lines} == {"CNY"}
    for day, line in zip(days, lines, strict=True):
        assert line == rates.convert(
            amount=D("100"), from_currency="MYR", to_currency="SGD", day=day
        )


def test_a_rate_book_refuses_days_after_the_day_it_was_loaded_for(finance):
    book = rates.rate_book(currencies=["MYR"], until=JAN_1)
    with pytest.raises(ValueError):
        book.rate_on(base="CNY", quote="MYR", day=FEB_1)


recorded_rows = st.lists(
    st.tuples(
        st.booleans(),  # recorded CNY→MYR (True) or MYR→CNY (False)
        st.dates(min_value=datetime.date(2026, 1, 1), max_value=datetime.date(2026, 1, 31)),
        st.integers(min_value=1, max_value=3),  # revision
        st.decimals(min_value=D("0.1"), max_value=D("9"), places=4),
    ),
    max_size=12,
    unique_by=lambda row: (row[0], row[1], row[2]),
)


@given(rows=recorded_rows, day=st.dates(datetime.date(2025, 12, 25), datetime.date(2026, 2, 5)))
def test_the_rate_of_a_day_is_the_latest_on_or_before_it_highest_revision_direct_first(rows, day):
    book = rates.RateBook(
        [
            ("CNY", "MYR", d, rev, rate, n) if direct else ("MYR", "CNY", d, rev, rate, n)
            for n, (direct, d, rev, rate) in enumerate(rows)
        ],
        until=day,
        pivot="CNY",
    )
    eligible = [n for n, row in enumerate(rows) if row[1] <= day]
    if not eligible:
        with pytest.raises(rates.RateMissing):
            book.rate_on(base="CNY", quote="MYR", day=day)
        return
    # Latest date; on that date the direct rate; then its highest revision.
    chosen = max(eligible, key=lambda n: (rows[n][1], rows[n][0], rows[n][2]))
    direct, chosen_day, _revision, rate = rows[chosen]
    quote = book.rate_on(base="CNY", quote="MYR", day=day)
    assert (quote.rate_ids, quote.effective_date, quote.inverted) == (
        (chosen,),
        chosen_day,
        not direct,
    )
    assert quote.apply(rate) == (rate * rate if direct else D(1))
