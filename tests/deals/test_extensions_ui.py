"""Extension requests on both surfaces — the partner asks on the deal page, staff
decide from the console queue — with who may do what across partners, roles and
tenants, and constant query counts; plus the rate limit on the claimed-customer
check."""

from __future__ import annotations

import re
from datetime import timedelta
from uuid import uuid4

import pytest
from django.contrib import messages
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from deals import services, window
from deals.models import DealRegistration, ExtensionRequest
from deals.views import CLAIM_CHECK_RATE
from prm.accounts.roles import Role
from prm.notifications.models import Notification
from prm.tenancy.context import tenant_context
from tests.factories import MembershipFactory, PartnerFactory
from tests.portal import fixtures as portal_fixtures
from tests.portal.fixtures import HOST_A

pytestmark = pytest.mark.django_db
world = portal_fixtures.world
english = portal_fixtures.english
Stage = DealRegistration.Stage
Status = ExtensionRequest.Status
QUEUE = reverse("admin:deals_extensionrequest_changelist")
CHECK = "/deals/check/"


def register(tenant, membership, company="Acme Holdings Sdn Bhd"):
    with tenant_context(tenant):
        return services.register_deal(
            membership=membership,
            actor=membership.user,
            customer_company=company,
            contact_name="Siti Aminah",
            contact_email=f"siti@{company.split()[0].lower()}.com.my",
            estimated_close_date=timezone.localdate() + timedelta(days=60),
        )


def ask(tenant, deal, membership, days=15, reason="The customer's board meets in March."):
    with tenant_context(tenant):
        return window.request_extension(
            deal=deal, membership=membership, actor=membership.user, days=days, reason=reason
        )


def decide(tenant, request, membership, *, approve: bool, reason: str = ""):
    with tenant_context(tenant):
        return window.decide_extension(
            request=request,
            membership=membership,
            actor=membership.user,
            approve=approve,
            reason=reason,
        )


def deal_url(deal, suffix: str = "") -> str:
    return reverse("deals:detail", args=[deal.reference]) + suffix


def extension_url(deal) -> str:
    return reverse("deals:extension", args=[deal.reference])


def html_of(response) -> str:
    return response.content.decode()


def requests_of(tenant, deal) -> list[ExtensionRequest]:
    with tenant_context(tenant):
        return list(ExtensionRequest.objects.filter(deal_id=deal.pk).order_by("id"))


def member(tenant, role, partner=None):
    with tenant_context(tenant):
        if partner is None and role in (Role.PARTNER_ADMIN, Role.PARTNER_REP):
            partner = PartnerFactory()
        return MembershipFactory(role=role, partner=partner)


@pytest.fixture
def deal(world):
    """Partner X's approved, protected registration in tenant A."""
    registered = register(world.tenant_a, world.rep_x)
    assert registered.stage == Stage.APPROVED and registered.protected_until
    return registered


# --- the portal: asking -------------------------------------------------------------------


def test_a_protected_deal_offers_the_extension_form(english, world, deal):
    english.force_login(world.rep_x.user)
    html = html_of(english.get(deal_url(deal), HTTP_HOST=HOST_A))
    assert f'action="{extension_url(deal)}"' in html
    assert "Request an extension" in html
    assert 'name="days"' in html and 'name="reason"' in html
    assert 'max="90"' in html and 'min="1"' in html


@pytest.mark.parametrize("stage", [Stage.SUBMITTED, Stage.REJECTED, Stage.EXPIRED])
def test_an_unprotected_deal_offers_no_extension(english, world, deal, stage):
    with tenant_context(world.tenant_a):
        DealRegistration.objects.filter(pk=deal.pk).update(stage=stage)
    english.force_login(world.rep_x.user)
    html = html_of(english.get(deal_url(deal), HTTP_HOST=HOST_A))
    assert extension_url(deal) not in html


def test_a_lapsed_window_offers_no_extension(english, world, deal):
    with tenant_context(world.tenant_a):
        DealRegistration.objects.filter(pk=deal.pk).update(
            protected_until=window.tenant_today() - timedelta(days=1)
        )
    english.force_login(world.rep_x.user)
    assert extension_url(deal) not in html_of(english.get(deal_url(deal), HTTP_HOST=HOST_A))


@pytest.mark.parametrize("who", ["rep_x", "admin_x"])
def test_a_partner_user_asks_for_more_time(english, world, deal, who):
    english.force_login(getattr(world, who).user)

    response = english.post(
        extension_url(deal), {"days": "21", "reason": "Legal review."}, HTTP_HOST=HOST_A
    )

    assert response.status_code == 302
    assert response["Location"] == deal_url(deal, "#extension")
    (request,) = requests_of(world.tenant_a, deal)
    assert (request.requested_days, request.reason, request.status) == (
        21,
        "Legal review.",
        Status.PENDING,
    )
    assert request.requested_by == getattr(world, who).user
    page = english.get(response["Location"], HTTP_HOST=HOST_A)
    html = html_of(page)
    assert "Your extension request is sent." in html
    assert 'data-extension="pending"' in html and "21 more days" in html
    assert "Waiting for a channel manager" in html
    assert extension_url(deal) not in html  # one pending request at a time


@pytest.mark.parametrize(
    "data, field",
    [
        ({"days": "0", "reason": "x"}, "days"),
        ({"days": "91", "reason": "x"}, "days"),
        ({"days": "", "reason": "x"}, "days"),
        ({"days": "10", "reason": ""}, "reason"),
    ],
)
def test_an_invalid_request_shows_the_form_again_with_its_errors(english, world, deal, data, field):
    english.force_login(world.rep_x.user)
    response = english.post(extension_url(deal), data, HTTP_HOST=HOST_A)
    assert response.status_code == 200
    form = response.context["extension_form"]
    assert list(form.errors) == [field]
    assert '<details class="card" open>' in html_of(response)
    assert requests_of(world.tenant_a, deal) == []


def test_a_second_request_while_one_waits_is_refused_with_a_message(english, world, deal):
    ask(world.tenant_a, deal, world.rep_x)
    english.force_login(world.admin_x.user)
    response = english.post(
        extension_url(deal), {"days": "5", "reason": "Again."}, HTTP_HOST=HOST_A
    )
    assert response.status_code == 302 and response["Location"].endswith("#extension")
    errors = [str(m) for m in get_messages(response.wsgi_request) if m.level == messages.ERROR]
    assert errors == ["This registration already has an extension request waiting for a decision."]
    assert len(requests_of(world.tenant_a, deal)) == 1


def test_decided_requests_show_staffs_reason_and_a_new_request_is_possible(english, world, deal):
    denied = ask(world.tenant_a, deal, world.rep_x, days=30)
    decide(world.tenant_a, denied, world.staff_a, approve=False, reason="Ninety days is plenty.")
    english.force_login(world.rep_x.user)
    html = html_of(english.get(deal_url(deal), HTTP_HOST=HOST_A))
    assert 'data-extension="denied"' in html
    assert "Ninety days is plenty." in html
    assert "The channel manager&#x27;s reason" in html or "The channel manager's reason" in html
    assert f'action="{extension_url(deal)}"' in html


def test_another_partners_deal_is_a_404(client, world, deal):
    client.force_login(world.rep_y.user)
    response = client.post(extension_url(deal), {"days": "5", "reason": "Mine"}, HTTP_HOST=HOST_A)
    assert response.status_code == 404
    assert requests_of(world.tenant_a, deal) == []


def test_another_tenants_deal_is_a_404(client, world):
    theirs = register(world.tenant_b, world.rep_z, company="Bravo Only Customer Bhd")
    client.force_login(world.rep_x.user)
    response = client.post(extension_url(theirs), {"days": "5", "reason": "Mine"}, HTTP_HOST=HOST_A)
    assert response.status_code == 404
    assert requests_of(world.tenant_b, theirs) == []


def test_staff_do_not_ask_in_the_portal(client, world, deal):
    client.force_login(world.staff_a.user)
    response = client.post(extension_url(deal), {"days": "5", "reason": "x"}, HTTP_HOST=HOST_A)
    assert response.status_code == 403
    assert client.get(extension_url(deal), HTTP_HOST=HOST_A).status_code in (403, 405)


def test_the_deal_page_costs_the_same_with_1_or_10_requests(client, world, deal):
    url = deal_url(deal)
    client.force_login(world.rep_x.user)
    first = ask(world.tenant_a, deal, world.rep_x)
    decide(world.tenant_a, first, world.staff_a, approve=True)
    with CaptureQueriesContext(connection) as small:
        assert client.get(url, HTTP_HOST=HOST_A).status_code == 200
    for i in range(9):
        request = ask(world.tenant_a, deal, world.rep_x, days=1, reason=f"Round {i}")
        decide(world.tenant_a, request, world.staff_a, approve=False, reason=f"No {i}")
    with CaptureQueriesContext(connection) as large:
        html = html_of(client.get(url, HTTP_HOST=HOST_A))
    assert html.count("data-extension=") == 10 and "No 8" in html
    assert len(large) == len(small)


# --- the console: deciding ------------------------------------------------------------------


def change_url(request) -> str:
    return reverse("admin:deals_extensionrequest_change", args=[request.pk])


def approve_url(request) -> str:
    return reverse("admin:deals_extensionrequest_approve", args=[request.pk])


def deny_url(request) -> str:
    return reverse("admin:deals_extensionrequest_deny", args=[request.pk])


def queued(response) -> list[int]:
    return [request.pk for request in response.context["cl"].result_list]


@pytest.fixture
def manager_client(english, world):
    english.force_login(world.staff_a.user)  # a channel manager
    return english


def backdate(tenant, request, days: int) -> None:
    with tenant_context(tenant):
        ExtensionRequest.objects.filter(pk=request.pk).update(
            requested_at=timezone.now() - timedelta(days=days)
        )


def test_the_queue_lists_pending_requests_oldest_first(manager_client, world):
    deals = [
        register(world.tenant_a, rep, company=name)
        for rep, name in [
            (world.rep_x, "Oldest Trading Sdn Bhd"),
            (world.rep_y, "Newest Foods Ltd"),
            (world.admin_x, "Middle Logistics Bhd"),
        ]
    ]
    oldest, newest, middle = (
        ask(world.tenant_a, deals[0], world.rep_x, reason="Oldest reason"),
        ask(world.tenant_a, deals[1], world.rep_y),
        ask(world.tenant_a, deals[2], world.admin_x),
    )
    backdate(world.tenant_a, oldest, 5)
    backdate(world.tenant_a, middle, 3)
    done = ask(world.tenant_a, register(world.tenant_a, world.rep_y, "Done Co Ltd"), world.rep_y)
    decide(world.tenant_a, done, world.staff_a, approve=True)

    response = manager_client.get(QUEUE, HTTP_HOST=HOST_A)

    assert response.status_code == 200
    assert queued(response) == [oldest.pk, middle.pk, newest.pk]
    html = html_of(response)
    assert "Extension requests waiting for a decision" in html
    assert deals[0].reference in html and "Oldest reason" in html
    assert str(world.partner_x) in html
    history = manager_client.get(QUEUE, {"status": "approved"}, HTTP_HOST=HOST_A)
    assert queued(history) == [done.pk]
    everything = manager_client.get(QUEUE, {"status": "all"}, HTTP_HOST=HOST_A)
    assert queued(everything)[0] == done.pk and len(queued(everything)) == 4


def test_the_queue_costs_the_same_queries_as_it_grows(manager_client, world):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert manager_client.get(QUEUE, HTTP_HOST=HOST_A).status_code == 200
        return len(captured)

    def add(count: int) -> None:
        for _ in range(count):
            rep = member(world.tenant_a, Role.PARTNER_REP)
            company = f"{uuid4().hex[:12]} Sdn Bhd"  # nothing alike: every one is approved
            ask(world.tenant_a, register(world.tenant_a, rep, company), rep)

    add(2)
    few = queries()
    add(12)
    assert queries() == few


def test_a_channel_manager_approves_and_the_partner_is_told(manager_client, world, deal):
    request = ask(world.tenant_a, deal, world.rep_x, days=15)
    page = manager_client.get(change_url(request), HTTP_HOST=HOST_A)
    assert page.status_code == 200
    assert approve_url(request) in html_of(page) and deny_url(request) in html_of(page)
    form = manager_client.get(approve_url(request), HTTP_HOST=HOST_A)
    assert form.status_code == 200
    assert "Approving moves the end of the protection" in html_of(form)

    response = manager_client.post(approve_url(request), {"reason": ""}, HTTP_HOST=HOST_A)

    assert response.status_code == 302 and response["Location"] == QUEUE
    with tenant_context(world.tenant_a):
        request.refresh_from_db()
        protected = DealRegistration.objects.get(pk=deal.pk).protected_until
        assert Notification.objects.filter(kind="deals.extension_decided").count() == 2
    assert request.status == Status.APPROVED
    assert request.decided_by == world.staff_a.user
    assert protected == deal.protected_until + timedelta(days=15)
    decided_page = manager_client.get(change_url(request), HTTP_HOST=HOST_A)
    assert approve_url(request) not in html_of(decided_page)


def test_denying_needs_a_reason(manager_client, world, deal):
    request = ask(world.tenant_a, deal, world.rep_x)
    response = manager_client.post(deny_url(request), {"reason": ""}, HTTP_HOST=HOST_A)
    assert response.status_code == 200
    assert "reason" in response.context["form"].errors
    response = manager_client.post(deny_url(request), {"reason": "Too long."}, HTTP_HOST=HOST_A)
    assert response.status_code == 302
    with tenant_context(world.tenant_a):
        request.refresh_from_db()
        assert DealRegistration.objects.get(pk=deal.pk).protected_until == deal.protected_until
    assert (request.status, request.decision_reason) == (Status.DENIED, "Too long.")


def test_a_decided_request_cannot_be_decided_again(manager_client, world, deal):
    request = ask(world.tenant_a, deal, world.rep_x)
    decide(world.tenant_a, request, world.staff_a, approve=False, reason="No.")
    response = manager_client.post(approve_url(request), {"reason": "Yes"}, HTTP_HOST=HOST_A)
    assert response.status_code == 302 and response["Location"] == change_url(request)
    errors = [str(m) for m in get_messages(response.wsgi_request) if m.level == messages.ERROR]
    assert errors == ["This extension request has already been decided."]
    with tenant_context(world.tenant_a):
        request.refresh_from_db()
    assert request.status == Status.DENIED


def test_a_tenant_admin_decides_too(client, world, deal):
    request = ask(world.tenant_a, deal, world.rep_x)
    client.force_login(member(world.tenant_a, Role.TENANT_ADMIN).user)
    response = client.post(deny_url(request), {"reason": "Policy."}, HTTP_HOST=HOST_A)
    assert response.status_code == 302
    with tenant_context(world.tenant_a):
        assert ExtensionRequest.objects.get(pk=request.pk).status == Status.DENIED


def test_finance_reads_the_queue_but_cannot_decide(client, world, deal):
    request = ask(world.tenant_a, deal, world.rep_x)
    client.force_login(member(world.tenant_a, Role.FINANCE).user)
    assert client.get(QUEUE, HTTP_HOST=HOST_A).status_code == 200
    page = client.get(change_url(request), HTTP_HOST=HOST_A)
    assert page.status_code == 200 and approve_url(request) not in html_of(page)
    for url in (approve_url(request), deny_url(request)):
        assert client.get(url, HTTP_HOST=HOST_A).status_code == 403
        assert client.post(url, {"reason": "x"}, HTTP_HOST=HOST_A).status_code == 403
    with tenant_context(world.tenant_a):
        assert ExtensionRequest.objects.get(pk=request.pk).status == Status.PENDING


@pytest.mark.parametrize("who", ["rep_x", "admin_x"])
def test_partner_users_never_get_into_the_queue(client, world, deal, who):
    request = ask(world.tenant_a, deal, world.rep_x)
    client.force_login(getattr(world, who).user)
    assert client.get(QUEUE, HTTP_HOST=HOST_A).status_code == 403
    assert client.get(change_url(request), HTTP_HOST=HOST_A).status_code == 403
    assert client.post(approve_url(request), {"reason": "x"}, HTTP_HOST=HOST_A).status_code == 403
    with tenant_context(world.tenant_a):
        assert ExtensionRequest.objects.get(pk=request.pk).status == Status.PENDING


def test_another_tenants_request_is_a_404_everywhere(manager_client, world):
    theirs = register(world.tenant_b, world.rep_z, company="Bravo Only Customer Bhd")
    request = ask(world.tenant_b, theirs, world.rep_z)
    assert request.pk not in queued(manager_client.get(QUEUE, {"status": "all"}, HTTP_HOST=HOST_A))
    for url in (change_url(request), approve_url(request), deny_url(request)):
        assert manager_client.get(url, HTTP_HOST=HOST_A).status_code == 404
        assert manager_client.post(url, {"reason": "x"}, HTTP_HOST=HOST_A).status_code == 404
    with tenant_context(world.tenant_b):
        assert ExtensionRequest.objects.get(pk=request.pk).status == Status.PENDING


# --- the claimed-customer check is rate-limited per person -------------------------------------


def limit() -> int:
    return int(re.match(r"(\d+)/", CLAIM_CHECK_RATE).group(1))


def test_checks_beyond_the_limit_are_refused_with_a_friendly_429(english, world):
    english.force_login(world.rep_x.user)
    query = {"customer_company": "Acme Holdings"}
    for _ in range(limit()):
        assert english.get(CHECK, query, HTTP_HOST=HOST_A).status_code == 200

    page = english.get(CHECK, query, HTTP_HOST=HOST_A)
    fragment = english.get(CHECK, query, HTTP_HOST=HOST_A, HTTP_HX_REQUEST="true")

    assert page.status_code == fragment.status_code == 429
    for response in (page, fragment):
        html = html_of(response)
        assert "You have checked many customers in a short while." in html
        assert 'data-claimed="limited"' in html
        assert 'data-claimed="yes"' not in html and 'data-claimed="no"' not in html
    assert "<html" in html_of(page) and "<html" not in html_of(fragment)
    assert 'id="claim-check-result"' in html_of(fragment)  # htmx can swap it in place

    # The limit is per person: a colleague still gets answers.
    english.force_login(world.admin_x.user)
    assert english.get(CHECK, query, HTTP_HOST=HOST_A).status_code == 200


def test_the_registration_page_lets_htmx_show_the_429_answer(english, world):
    english.force_login(world.rep_x.user)
    html = html_of(english.get("/deals/new/", HTTP_HOST=HOST_A))
    assert '<meta name="htmx-config"' in html and '"code": "429", "swap": true' in html


def test_the_registrations_console_page_links_its_pending_request(manager_client, world, deal):
    registration_url = reverse("admin:deals_dealregistration_change", args=[deal.pk])
    before = manager_client.get(registration_url, HTTP_HOST=HOST_A)
    assert change_url_fragment(before) is None

    request = ask(world.tenant_a, deal, world.rep_x)
    page = manager_client.get(registration_url, HTTP_HOST=HOST_A)
    assert change_url_fragment(page) == change_url(request)

    decide(world.tenant_a, request, world.staff_a, approve=False, reason="Not this quarter.")
    after = manager_client.get(registration_url, HTTP_HOST=HOST_A)
    assert change_url_fragment(after) is None


def change_url_fragment(response) -> str | None:
    found = re.search(r'<a href="([^"]+)">Pending extension request</a>', html_of(response))
    return found.group(1) if found else None
