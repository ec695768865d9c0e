"""The simulator page in a real Chromium at phone width (375 px): finance signs
in, runs a draft over three months and reads the totals and the partner table
without the page scrolling sideways."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_finance_simulates_a_draft_on_a_phone(live_server, page, sim_world):
    world = sim_world
    today = timezone.localdate()
    world.close(world.huatong, "Acme Holdings", "20000.00", closed_on=today - timedelta(days=5))
    port = live_server.url.rsplit(":", 1)[1]
    base = f"http://alpha.localhost:{port}"
    path = reverse("admin:incentives_simulator", args=[world.draft.pk])

    page.goto(f"{base}{path}")
    page.wait_for_url(re.compile(r"/login/"))
    page.fill("input[name=login], input[name=username]", world.finance.user.email)
    page.fill("input[name=password]", PASSWORD)
    page.locator("form button[type=submit], form input[type=submit]").first.click()
    page.wait_for_url(re.compile(re.escape(path)))

    page.fill("input[name=months]", "3")
    page.locator("#content-main form input[type=submit]").click()
    page.wait_for_url(re.compile(r"months=3"))
    # 20,000 × 25 % = 5,000 now; 20,000 × 27 % + 500 = 5,900 under the draft.
    total = page.locator("#totals tbody tr").first
    assert total.locator('[data-field="current"]').inner_text() == "5000.00"
    assert total.locator('[data-field="simulated"]').inner_text() == "5900.00"
    assert "Huatong Partners" in page.locator("#by-partner").inner_text()
    assert page.locator(".notice").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
