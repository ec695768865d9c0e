"""The revenue-event list's filters: day range, customer, kind and partner; and
their constant query count."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from prm.accounts.roles import Role
from tests.api.conftest import build_world

pytestmark = pytest.mark.django_db

EVENTS = "/api/v1/revenue-events/"


@pytest.fixture
def events(tenant_a):
    world = build_world(tenant_a)
    finance = world.client(Role.FINANCE)
    rows = [
        ("INV-1", world.partner, "Acme Trading", "invoice_paid", "2026-03-05"),
        ("INV-2", world.partner, "Beta Foods", "refund", "2026-03-20"),
        ("INV-3", world.other_partner, "Acme Logistics", "invoice_paid", "2026-04-02"),
        ("INV-4", world.partner, "Gamma Ltd", "invoice_paid", "2026-04-30"),
    ]
    for external_id, partner, customer, kind, day in rows:
        response = finance.post(
            EVENTS,
            {
                "external_id": external_id,
                "partner": partner.pk,
                "customer_name": customer,
                "kind": kind,
                "amount": "100.00",
                "currency": "CNY",
                "occurred_on": day,
            },
            format="json",
        )
        assert response.status_code == 201, response.content
    return world


def ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["external_id"] for row in response.json()["results"]]


def test_filters_by_day_range(events):
    finance = events.client(Role.FINANCE)
    assert ids(finance.get(EVENTS)) == ["INV-4", "INV-3", "INV-2", "INV-1"]
    in_range = finance.get(EVENTS, {"occurred_from": "2026-03-20", "occurred_to": "2026-04-02"})
    assert ids(in_range) == ["INV-3", "INV-2"]
    assert ids(finance.get(EVENTS, {"occurred_from": "2026-04-03"})) == ["INV-4"]
    assert ids(finance.get(EVENTS, {"occurred_to": "2026-03-05"})) == ["INV-1"]


def test_filters_by_customer_kind_and_partner(events):
    finance = events.client(Role.FINANCE)
    assert ids(finance.get(EVENTS, {"customer": "acme"})) == ["INV-3", "INV-1"]
    assert ids(finance.get(EVENTS, {"kind": "refund"})) == ["INV-2"]
    assert ids(finance.get(EVENTS, {"partner": events.other_partner.pk})) == ["INV-3"]
    combined = {"customer": "acme", "partner": events.partner.pk, "kind": "invoice_paid"}
    assert ids(finance.get(EVENTS, combined)) == ["INV-1"]


def test_invalid_filters_answer_400_per_field(events):
    finance = events.client(Role.FINANCE)
    bad = finance.get(EVENTS, {"occurred_from": "March", "kind": "gift"})
    assert bad.status_code == 400
    assert set(bad.json()) == {"occurred_from", "kind"}
    backwards = finance.get(EVENTS, {"occurred_from": "2026-05-01", "occurred_to": "2026-04-01"})
    assert backwards.status_code == 400
    assert set(backwards.json()) == {"occurred_to"}


def test_a_detail_url_ignores_list_filters(events):
    finance = events.client(Role.FINANCE)
    (first,) = finance.get(EVENTS, {"kind": "refund"}).json()["results"]
    found = finance.get(f"{EVENTS}{first['id']}/", {"kind": "invoice_paid"})
    assert found.status_code == 200


def test_filtered_list_queries_stay_constant(events):
    finance = events.client(Role.FINANCE)
    with CaptureQueriesContext(connection) as few:
        assert len(ids(finance.get(EVENTS, {"customer": "a"}))) == 4
    for index in range(5):
        finance.post(
            EVENTS,
            {
                "external_id": f"INV-{10 + index}",
                "partner": events.partner.pk,
                "customer_name": f"Delta {index}",
                "kind": "invoice_paid",
                "amount": "5.00",
                "currency": "CNY",
                "occurred_on": "2026-05-01",
            },
            format="json",
        )
    with CaptureQueriesContext(connection) as many:
        assert len(ids(finance.get(EVENTS, {"customer": "a"}))) == 9
    assert len(many.captured_queries) == len(few.captured_queries)
