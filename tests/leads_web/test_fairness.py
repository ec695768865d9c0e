"""The fairness report: how the offers of a period spread across partners, tiers
and regions, computed on a hand-built dataset, and its console page."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from deals.lead_selectors import fairness_report
from deals.models import Lead, LeadAssignment
from prm.tenancy.context import tenant_context
from tests.factories import PartnerFactory, TierFactory
from tests.leads_web.conftest import HOST_A, new_lead

pytestmark = pytest.mark.django_db
Outcome = LeadAssignment.Outcome
Status = Lead.Status
REPORT = reverse("admin:deals_lead_fairness")
KL = ZoneInfo("Asia/Kuala_Lumpur")


def past(tenant, partner, outcome: str, at: datetime, *, converted: bool = False) -> Lead:
    """One routing decision made at ``at``, already answered as ``outcome``."""
    lead = new_lead(tenant, f"Fair {partner.pk if partner else 'none'} {at.isoformat()}")
    with tenant_context(tenant):
        if outcome == Outcome.ACCEPTED:
            status = Status.CONVERTED if converted else Status.ACCEPTED
            Lead.objects.filter(pk=lead.pk).update(status=status, partner=partner)
        elif outcome == Outcome.PENDING:
            Lead.objects.filter(pk=lead.pk).update(
                status=Status.OFFERED, partner=partner, offered_at=at, due_at=at + timedelta(2)
            )
        elif outcome in (Outcome.DIRECT, Outcome.UNROUTED):
            Lead.objects.filter(pk=lead.pk).update(status=outcome)
        else:
            Lead.objects.filter(pk=lead.pk).update(status=Status.WITHDRAWN)
        assignment = LeadAssignment.objects.create(
            lead=lead,
            partner=partner,
            via=LeadAssignment.Via.SWEEP,
            outcome=outcome,
            due_at=at + timedelta(days=2) if partner else None,
            trace={},
        )
        LeadAssignment.objects.filter(pk=assignment.pk).update(offered_at=at)
    return lead


@pytest.fixture
def dataset(world):
    """Tenant A in Kuala Lumpur time; the period is the 30 days up to today.

    Partner X (CN, Shanghai, Gold): 4 offers — converted, accepted, rejected, pending.
    Partner Y (CN, no region, Silver): 3 offers — 2 expired, 1 accepted.
    Partner W (MY, Selangor, no tier): 1 offer — rejected.
    Plus one lead kept for direct sales, one without a partner, and offers just
    outside the period that must not count.
    """
    tenant = world.tenant_a
    tenant.time_zone = "Asia/Kuala_Lumpur"
    tenant.save()
    today = timezone.localtime(timezone.now(), KL).date()
    start = today - timedelta(days=29)
    first_minute = datetime.combine(start, time(0, 30), tzinfo=KL)
    before = datetime.combine(start, time.min, tzinfo=KL) - timedelta(minutes=1)
    recent = timezone.now() - timedelta(hours=1)
    with tenant_context(tenant):
        partner_w = PartnerFactory(
            legal_name="Wawasan Digital Sdn Bhd", country="MY", region="Selangor", tier=None
        )
        # Tiers list from the top of the ladder: Gold (rank 3) before Silver (rank 2).
        world.partner_y.tier = TierFactory(key="silver", name="Silver", rank=2)
        world.partner_y.save(update_fields=["tier"])
    x, y = world.partner_x, world.partner_y
    past(tenant, x, Outcome.ACCEPTED, first_minute, converted=True)
    past(tenant, x, Outcome.ACCEPTED, recent)
    past(tenant, x, Outcome.REJECTED, recent)
    past(tenant, x, Outcome.PENDING, recent)
    past(tenant, y, Outcome.EXPIRED, recent)
    past(tenant, y, Outcome.EXPIRED, recent)
    past(tenant, y, Outcome.ACCEPTED, recent)
    past(tenant, partner_w, Outcome.REJECTED, recent)
    past(tenant, None, Outcome.DIRECT, recent)
    past(tenant, None, Outcome.UNROUTED, recent)
    # Outside the period: a minute before it starts, and 40 days ago.
    past(tenant, x, Outcome.ACCEPTED, before, converted=True)
    old = past(tenant, y, Outcome.REJECTED, timezone.now() - timedelta(days=40))
    with tenant_context(tenant):
        Lead.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=40))
    return {"start": start, "end": today, "w": partner_w}


def numbers(row) -> tuple:
    return (row.offered, row.accepted, row.rejected, row.expired, row.pending, row.converted)


def test_fairness_report_counts_offers_by_partner_tier_and_region(world, dataset):
    with tenant_context(world.tenant_a):
        report = fairness_report(start=dataset["start"], end=dataset["end"])
        partners = report.partner_rows(report.by_partner)

    assert numbers(report.total) == (8, 3, 2, 2, 1, 1)
    assert (report.kept_direct, report.unrouted) == (1, 1)
    assert report.leads_received == 11  # every lead but the one from 40 days ago
    assert report.total.acceptance_rate == Decimal(3) / Decimal(7)
    assert report.total.conversion_rate == Decimal(1) / Decimal(3)

    x, y, w = world.partner_x, world.partner_y, dataset["w"]
    assert [(row.key, numbers(row)) for row in partners] == [
        (x.pk, (4, 2, 1, 0, 1, 1)),
        (y.pk, (3, 1, 0, 2, 0, 0)),
        (w.pk, (1, 0, 1, 0, 0, 0)),
    ]
    by_partner = {row.key: row for row in partners}
    assert by_partner[x.pk].share == Decimal("0.5")
    assert by_partner[y.pk].share == Decimal("0.375")
    assert by_partner[w.pk].share == Decimal("0.125")
    assert by_partner[x.pk].acceptance_rate == Decimal(2) / Decimal(3)
    assert by_partner[x.pk].conversion_rate == Decimal("0.5")
    assert by_partner[y.pk].acceptance_rate == Decimal(1) / Decimal(3)
    assert by_partner[y.pk].conversion_rate == Decimal(0)
    assert by_partner[w.pk].acceptance_rate == Decimal(0)
    assert by_partner[w.pk].conversion_rate is None  # nothing accepted: no rate
    assert by_partner[x.pk].detail == "Gold"

    assert [(row.label, numbers(row)) for row in report.by_tier] == [
        ("Gold", (4, 2, 1, 0, 1, 1)),
        ("Silver", (3, 1, 0, 2, 0, 0)),
        ("No tier", (1, 0, 1, 0, 0, 0)),
    ]
    assert [(row.label, row.detail, row.offered, row.share) for row in report.by_region] == [
        ("CN", "Shanghai", 4, Decimal("0.5")),
        ("CN", "", 3, Decimal("0.375")),
        ("MY", "Selangor", 1, Decimal("0.125")),
    ]


def test_an_empty_period_has_no_rates(world):
    with tenant_context(world.tenant_a):
        report = fairness_report(start=timezone.localdate(), end=timezone.localdate())

    assert numbers(report.total) == (0, 0, 0, 0, 0, 0)
    assert report.total.share is None and report.total.acceptance_rate is None
    assert report.by_tier == [] and report.by_region == []


def test_fairness_report_query_count_does_not_grow_with_offers_and_partners(world, dataset):
    def run() -> int:
        with tenant_context(world.tenant_a):
            with CaptureQueriesContext(connection) as queries:
                report = fairness_report(start=dataset["start"], end=dataset["end"])
                report.partner_rows(report.by_partner[:25])
        return len(queries)

    few = run()
    recent = timezone.now() - timedelta(hours=2)
    with tenant_context(world.tenant_a):
        more = [PartnerFactory(legal_name=f"More {n}", region=f"R{n}") for n in range(8)]
    for n, partner in enumerate(more * 2):
        past(world.tenant_a, partner, [Outcome.ACCEPTED, Outcome.REJECTED][n % 2], recent)
    assert run() == few


# --- the console page ------------------------------------------------------------------


@pytest.mark.parametrize("role", ["tenant_admin", "channel_manager", "finance"])
def test_fairness_page_defaults_to_the_last_30_days(english, world, people, dataset, role):
    english.force_login(people[role].user)

    response = english.get(REPORT, HTTP_HOST=HOST_A)

    assert response.status_code == 200
    report = response.context["report"]
    assert (report.start, report.end) == (dataset["start"], dataset["end"])
    html = response.content.decode()
    for text in (
        "By partner",
        "By tier",
        "By region",
        "Qiming Information Technology Co Ltd",
        "Wawasan Digital Sdn Bhd",
        "Selangor",
        "No tier",
        "50.0%",
        "37.5%",
        "12.5%",
        "66.7%",  # X's acceptance rate
        "42.9%",  # the overall acceptance rate, 3 of 7
    ):
        assert text in html, text
    assert 'style="width: 50.00%"' in html and 'style="width: 12.50%"' in html
    assert f'value="{dataset["start"].isoformat()}"' in html


def test_fairness_page_takes_a_period_and_validates_it(english, world, people, dataset):
    english.force_login(people["channel_manager"].user)
    long_ago = dataset["start"] - timedelta(days=60)

    old = english.get(
        REPORT,
        {"start": long_ago.isoformat(), "end": (dataset["start"] - timedelta(days=1)).isoformat()},
        HTTP_HOST=HOST_A,
    )
    wrong = english.get(
        REPORT,
        {"start": dataset["end"].isoformat(), "end": dataset["start"].isoformat()},
        HTTP_HOST=HOST_A,
    )

    assert numbers(old.context["report"].total) == (2, 1, 1, 0, 0, 1)
    assert "errornote" in wrong.content.decode()
    assert "end" in wrong.context["form"].errors
    # An invalid period falls back to the default one.
    assert wrong.context["report"].start == dataset["start"]


def test_fairness_partner_table_is_paginated_at_a_constant_cost(english, world, people):
    english.force_login(people["finance"].user)
    recent = timezone.now() - timedelta(hours=2)
    with tenant_context(world.tenant_a):
        many = [PartnerFactory(legal_name=f"Partner {n:02d} Ltd") for n in range(30)]
    for partner in many[:3]:
        past(world.tenant_a, partner, Outcome.ACCEPTED, recent)
    with CaptureQueriesContext(connection) as small:
        assert english.get(REPORT, HTTP_HOST=HOST_A).status_code == 200
    for partner in many[3:]:
        past(world.tenant_a, partner, Outcome.ACCEPTED, recent)

    with CaptureQueriesContext(connection) as large:
        first = english.get(REPORT, HTTP_HOST=HOST_A)
    second = english.get(REPORT, {"p": 2}, HTTP_HOST=HOST_A)

    assert len(large) == len(small)
    assert len(first.context["partner_rows"]) == 25
    assert len(second.context["partner_rows"]) == 5
    assert "Page 1 of 2" in first.content.decode()
    assert "?p=2#by-partner" in first.content.decode()
