"""Partners hear about new offers: one notice per partner and routing chunk, in
each person's language, e-mailed only once the routing commits."""

from __future__ import annotations

import pytest
from django.core import mail
from django.db import transaction

from deals.routing import route_leads
from prm.notifications.models import Notification
from prm.notifications.rendering import render
from prm.tenancy.context import tenant_context
from tests.leads.conftest import make_leads

pytestmark = pytest.mark.django_db(transaction=True)


def test_each_partner_gets_one_notice_for_the_leads_offered_in_a_run(world):
    with tenant_context(world.tenant):
        first = world.partner("First Sdn Bhd", capacity=2)
        second = world.partner("Second Sdn Bhd", capacity=2)
        reps = [world.rep(first), world.rep(second)]
        for rep, language in zip(reps, ("en", "zh-hans"), strict=True):
            rep.user.preferred_language = language
            rep.user.save(update_fields=["preferred_language"])
        silent = world.partner("Nobody Home Sdn Bhd", capacity=2)  # no users: no notice
        leads = make_leads(5)

        counts = route_leads(lead_ids=[lead.pk for lead in leads], via="arrival")

        assert counts["offered"] == 5
        notices = {n.partner_id: n for n in Notification.objects.all()}
        assert set(notices) == {first.pk, second.pk}
        offered = {partner.pk: partner.leads.count() for partner in (first, second, silent)}
        for partner_id, notice in notices.items():
            assert notice.kind == "deals.leads_offered"
            assert notice.params["count"] == offered[partner_id] == 2
            assert notice.link == "/leads/?state=waiting"
        english = render("deals.leads_offered", notices[first.pk].params, language="en")
        assert english.title == "2 new leads wait for your answer"

    by_address = {message.to[0]: message for message in mail.outbox}
    assert set(by_address) == {reps[0].user.email, reps[1].user.email}
    assert by_address[reps[0].user.email].subject == "2 new leads wait for your answer"
    assert by_address[reps[1].user.email].subject == "2 条新线索等待您的答复"


def test_a_rolled_back_routing_tells_nobody(world):
    with tenant_context(world.tenant):
        world.rep(world.partner("First Sdn Bhd"))
        leads = make_leads(2)
        with pytest.raises(RuntimeError), transaction.atomic():
            route_leads(lead_ids=[lead.pk for lead in leads], via="arrival")
            raise RuntimeError("the caller failed after routing")
        assert not Notification.objects.exists()
    assert mail.outbox == []
