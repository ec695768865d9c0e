"""The exchange-rate console: finance records, corrects and imports; tenant
admins read; everyone else is refused; other tenants' rates are 404s; the list
costs the same number of queries however many rates there are."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from prm.audit.models import AuditEvent
from prm.money import imports, rates, services
from prm.money.models import ExchangeRate
from prm.tenancy.context import tenant_context
from tests.money.conftest import HOST_A

pytestmark = pytest.mark.django_db
LIST = reverse("admin:money_exchangerate_changelist")
ADD = reverse("admin:money_exchangerate_add")
IMPORT = reverse("admin:money_exchangerate_import")
JAN_1 = datetime.date(2026, 1, 1)


def as_member(client, member):
    client.force_login(member.user)
    client.cookies["django_language"] = "en"  # tenant A speaks Chinese; the assertions read English
    return client


def record(member, quote="MYR", rate="0.65", day=JAN_1, base="CNY"):
    with tenant_context(member.tenant):
        return services.record_rate(
            membership=member,
            actor=member.user,
            base=base,
            quote=quote,
            rate=Decimal(rate),
            effective_date=day,
        )


def test_finance_records_a_rate_through_the_form(client, money_world):
    as_member(client, money_world.finance)
    page = client.get(ADD, HTTP_HOST=HOST_A)
    assert page.status_code == 200
    assert page.context["form"].initial["base_currency"] == "CNY"
    response = client.post(
        ADD,
        {
            "base_currency": "CNY",
            "quote_currency": "MYR",
            "rate": "0.6512",
            "effective_date": "2026-01-01",
            "source": "BNM",
        },
        HTTP_HOST=HOST_A,
    )
    assert response.status_code == 302
    with tenant_context(money_world.tenant_a):
        rate = ExchangeRate.objects.get()
        assert (rate.rate, rate.created_by) == (Decimal("0.6512"), money_world.finance.user)
        assert AuditEvent.objects.filter(action="exchange_rate.recorded").count() == 1


def test_a_duplicate_rate_is_a_form_error_not_a_500(client, money_world):
    record(money_world.finance)
    as_member(client, money_world.finance)
    response = client.post(
        ADD,
        {
            "base_currency": "CNY",
            "quote_currency": "MYR",
            "rate": "0.7",
            "effective_date": "2026-01-01",
        },
        HTTP_HOST=HOST_A,
    )
    assert response.status_code == 200
    assert "already recorded" in str(response.context["form"].errors)


def test_finance_corrects_a_rate_from_its_page(client, money_world):
    rate = record(money_world.finance, rate="0.56")
    as_member(client, money_world.finance)
    page = client.get(reverse("admin:money_exchangerate_change", args=[rate.pk]), HTTP_HOST=HOST_A)
    correct_url = reverse("admin:money_exchangerate_correct", args=[rate.pk])
    assert correct_url in page.content.decode()
    response = client.post(
        correct_url, {"new_rate": "0.65", "reason": "Digits swapped"}, HTTP_HOST=HOST_A
    )
    assert response.status_code == 302
    with tenant_context(money_world.tenant_a):
        assert rates.rate_on(base="CNY", quote="MYR", day=JAN_1).rate == Decimal("0.65")


def test_finance_imports_a_file_or_sees_every_rows_problem(client, money_world):
    as_member(client, money_world.finance)
    bad = SimpleUploadedFile(
        "rates.csv", b"quote_currency,rate,effective_date\nMYR,0.65,2026-01-01\nUSD,-1,2026-01-01\n"
    )
    response = client.post(IMPORT, {"file": bad}, HTTP_HOST=HOST_A)
    assert response.status_code == 200
    assert [p.line for p in response.context["problems"]] == [3]
    assert 'id="import-problems"' in response.content.decode()
    with tenant_context(money_world.tenant_a):
        assert not ExchangeRate.objects.exists()
    good = SimpleUploadedFile(
        "rates.csv",
        b"quote_currency,rate,effective_date\nMYR,0.65,2026-01-01\nUSD,0.14,2026-01-01\n",
    )
    response = client.post(IMPORT, {"file": good}, HTTP_HOST=HOST_A)
    assert response.status_code == 302
    with tenant_context(money_world.tenant_a):
        assert ExchangeRate.objects.count() == 2


def test_the_import_template_names_the_columns(client, money_world):
    as_member(client, money_world.finance)
    response = client.get(reverse("admin:money_exchangerate_template"), HTTP_HOST=HOST_A)
    assert response.content.decode().strip() == ",".join(imports.IMPORT_COLUMNS)


def test_tenant_admins_read_rates_but_cannot_write(client, money_world):
    rate = record(money_world.finance)
    as_member(client, money_world.tenant_admin)
    assert client.get(LIST, HTTP_HOST=HOST_A).status_code == 200
    change = client.get(
        reverse("admin:money_exchangerate_change", args=[rate.pk]), HTTP_HOST=HOST_A
    )
    assert change.status_code == 200
    assert (
        reverse("admin:money_exchangerate_correct", args=[rate.pk]) not in change.content.decode()
    )
    assert IMPORT not in client.get(LIST, HTTP_HOST=HOST_A).content.decode()
    for url in (ADD, IMPORT, reverse("admin:money_exchangerate_correct", args=[rate.pk])):
        assert client.get(url, HTTP_HOST=HOST_A).status_code == 403
    response = client.post(
        ADD,
        {
            "base_currency": "CNY",
            "quote_currency": "USD",
            "rate": "0.14",
            "effective_date": "2026-01-01",
        },
        HTTP_HOST=HOST_A,
    )
    assert response.status_code == 403
    with tenant_context(money_world.tenant_a):
        assert ExchangeRate.objects.count() == 1


@pytest.mark.parametrize("who", ["manager", "partner_admin"])
def test_channel_managers_and_partners_do_not_see_rates(client, money_world, who):
    as_member(client, getattr(money_world, who))
    for url in (LIST, ADD, IMPORT):
        assert client.get(url, HTTP_HOST=HOST_A).status_code == 403


def test_another_tenants_rate_is_not_found(client, money_world):
    rate_b = record(money_world.finance_b, base="MYR", quote="CNY", rate="1.5")
    as_member(client, money_world.finance)
    for name in ("change", "correct"):
        url = reverse(f"admin:money_exchangerate_{name}", args=[rate_b.pk])
        assert client.get(url, HTTP_HOST=HOST_A).status_code == 404
    listing = client.get(LIST, HTTP_HOST=HOST_A)
    assert list(listing.context["cl"].result_list) == []


def test_the_list_filters_by_pair_and_date(client, money_world):
    record(money_world.finance, quote="MYR", day=JAN_1)
    record(money_world.finance, quote="USD", rate="0.14", day=JAN_1)
    record(money_world.finance, quote="USD", rate="0.15", day=datetime.date(2026, 2, 1))
    as_member(client, money_world.finance)
    response = client.get(
        LIST,
        {"quote_currency": "USD", "effective_date__gte": "2026-01-15"},
        HTTP_HOST=HOST_A,
    )
    assert [r.rate for r in response.context["cl"].result_list] == [Decimal("0.15")]


def test_the_list_query_count_does_not_grow_with_rates(
    client, money_world, django_assert_max_num_queries
):
    as_member(client, money_world.finance)
    record(money_world.finance, quote="MYR")
    client.get(LIST, HTTP_HOST=HOST_A)  # warm caches (site, content types)
    with CaptureQueriesContext(connection) as few:
        assert client.get(LIST, HTTP_HOST=HOST_A).status_code == 200
    for day in range(2, 22):
        record(money_world.finance, quote="USD", rate="0.14", day=datetime.date(2026, 1, day))
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(LIST, HTTP_HOST=HOST_A).status_code == 200
