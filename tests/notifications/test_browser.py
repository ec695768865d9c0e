"""In a real Chromium on a phone-sized screen: a partner reads a decision in the
inbox and marks it read with htmx, asks for an extension on the deal page, and
sees the claimed-customer check say "wait" once over its limit."""

from __future__ import annotations

import os
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from deals import services
from deals.models import DealProgram, DealRegistration, ExtensionRequest
from deals.views import CLAIM_CHECK_RATE
from prm.accounts.roles import Role
from prm.notifications.models import Notification
from prm.tenancy.context import tenant_context
from tests.factories import PASSWORD, MembershipFactory, PartnerFactory, TenantFactory, UserFactory

# Playwright's sync API keeps an event loop in the test thread (see tests/browser).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SCREENSHOTS = None  # set to a directory path to keep screenshots while working on the pages


@pytest.fixture
def scene():
    tenant = TenantFactory(
        slug="inbox", name="Inbox Cloud", default_language="en", default_currency="MYR"
    )
    with tenant_context(tenant):
        partner = PartnerFactory(legal_name="Phone First Sdn Bhd", default_currency="MYR")
        user = UserFactory(email="rep@phonefirst.example", full_name="Nur Aisyah")
        rep = MembershipFactory(user=user, partner=partner, role=Role.PARTNER_REP)
        manager = MembershipFactory(partner=None, role=Role.CHANNEL_MANAGER)
        services.program()
        DealProgram.objects.update(auto_approve=False)  # so the decision comes from review
        deal = services.register_deal(
            membership=rep,
            actor=user,
            customer_company="Kedai Runcit Maju Sdn Bhd",
            contact_name="Tan Ah Kow",
            contact_email="tan@maju.com.my",
            estimated_close_date=timezone.localdate() + timedelta(days=60),
        )
        services.decide_registration(
            deal=deal,
            membership=manager,
            actor=manager.user,
            outcome="approved",
            reason="Clean registration, no overlap with direct sales.",
        )
    return tenant, user, deal


def shoot(page, name: str) -> None:
    if SCREENSHOTS:
        page.screenshot(path=f"{SCREENSHOTS}/{name}.png", full_page=True)


def test_a_partner_reads_asks_and_is_told_to_wait_on_a_phone(live_server, browser, scene):
    tenant, user, deal = scene
    port = live_server.url.rsplit(":", 1)[1]
    base = f"http://{tenant.slug}.localhost:{port}"
    context = browser.new_context(viewport={"width": 375, "height": 812}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{base}/notifications/")
    page.wait_for_url(re.compile(r"/login/"))
    page.fill("input[name=login], input[name=username]", user.email)
    page.fill("input[name=password]", PASSWORD)
    page.locator("form button[type=submit], form input[type=submit]").first.click()
    page.wait_for_url(f"{base}/notifications/")

    # 1. The decision is in the inbox, unread; marking it read swaps it in place.
    item = page.locator("li.notification").first
    assert "is approved" in item.inner_text()
    assert item.get_attribute("data-unread") == "yes"
    assert page.locator("#notification-badge").is_visible()
    shoot(page, "inbox")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    item.get_by_role("button", name="Mark as read").click()
    page.wait_for_selector('li.notification[data-unread="no"]')
    assert page.url == f"{base}/notifications/"  # no reload: htmx swapped the item
    page.wait_for_selector("#notification-badge", state="hidden")  # nothing unread: no badge
    with tenant_context(tenant):
        assert Notification.objects.get().read_at is not None

    # 2. Open leads to the deal, where the partner asks for more time.
    page.get_by_role("button", name="Open").click()
    page.wait_for_url(f"{base}/deals/{deal.reference}/")
    page.get_by_text("Request an extension").click()
    page.get_by_label("Extra days").fill("20")
    page.get_by_label("Why do you need more time?").fill(
        "The customer's board meets after the window ends."
    )
    page.get_by_role("button", name="Send the request").click()
    page.wait_for_url(re.compile(r"#extension$"))
    assert "Waiting for a channel manager" in page.locator("#extension").inner_text()
    shoot(page, "deal-extension")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    with tenant_context(tenant):
        assert ExtensionRequest.objects.get().requested_days == 20
        assert DealRegistration.objects.get(pk=deal.pk).stage == DealRegistration.Stage.APPROVED

    # 3. Over the check's limit, the registration form says to wait, in place.
    page.goto(f"{base}/deals/new/")
    page.fill("input[name=customer_company]", "Syarikat Baru Bhd")
    limit = int(CLAIM_CHECK_RATE.split("/")[0])
    statuses = page.evaluate(
        """async (limit) => {
            const statuses = [];
            for (let i = 0; i < limit; i++) {
                statuses.push((await fetch("/deals/check/?customer_company=x")).status);
            }
            return statuses;
        }""",
        limit,
    )
    assert statuses == [200] * limit
    page.get_by_text("Is this customer already registered?").click()
    page.wait_for_selector('#claim-check-result [data-claimed="limited"]')
    assert "checked many customers" in page.locator("#claim-check-result").inner_text()
    shoot(page, "check-limited")
    context.close()
