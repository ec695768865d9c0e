"""Notifying a partner organisation: who gets what, in which language, only on
commit; marking read; who sees which notifications; rendering from params."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.core import mail
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation

from prm.accounts.roles import Role
from prm.errors import PermissionDenied
from prm.notifications import services
from prm.notifications.models import Notification
from prm.notifications.rendering import decode_params, encode_params, render
from prm.notifications.selectors import (
    notification_counts,
    notifications_for,
    unread_count,
)
from prm.notifications.services import Notice, mark_all_read, mark_read, notify_partners
from prm.tenancy.context import tenant_context
from tests.factories import MembershipFactory, PartnerFactory, UserFactory
from tests.notifications.conftest import remind

pytestmark = pytest.mark.django_db


def recipients(tenant) -> list[str]:
    with tenant_context(tenant):
        return sorted(
            Notification.objects.values_list("recipient__email", flat=True).order_by("id")
        )


# --- notify_partner ------------------------------------------------------------------


def test_every_active_user_of_the_partner_gets_one_notification_and_no_one_else(people):
    with tenant_context(people.tenant_a):
        MembershipFactory(
            partner=people.partner_x,
            role=Role.PARTNER_REP,
            is_active=False,
            user=UserFactory(email="left.x@example.com"),
        )
        MembershipFactory(
            partner=people.partner_x,
            role=Role.PARTNER_REP,
            user=UserFactory(email="disabled.x@example.com", is_active=False),
        )

    created = remind(people.tenant_a, people.partner_x)

    assert len(created) == 2
    assert recipients(people.tenant_a) == ["admin.x@example.com", "rep.x@example.com"]
    with tenant_context(people.tenant_a):
        row = Notification.objects.get(recipient=people.rep_x.user)
    assert row.partner_id == people.partner_x.pk
    assert row.kind == "deals.expiry_reminder"
    assert row.link == "/deals/DR-AAAA111/"
    assert row.read_at is None
    assert row.params["protected_until"] == {"$date": "2026-12-07"}
    with tenant_context(people.tenant_b):
        assert not Notification.objects.exists()


def test_each_person_is_mailed_once_in_their_language_after_the_commit(
    people, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        remind(people.tenant_a, people.partner_x, email=True)
        assert mail.outbox == []  # nothing leaves before the transaction commits

    assert len(callbacks) == 1
    by_person = {message.to[0]: message for message in mail.outbox}
    assert sorted(by_person) == ["admin.x@example.com", "rep.x@example.com"]
    malay = by_person["admin.x@example.com"]  # prefers Malay
    chinese = by_person["rep.x@example.com"]  # no preference: tenant A's zh-hans
    assert "7 Dis 2026" in malay.subject
    assert "2026年12月7日" in chinese.subject
    for message in (malay, chinese):
        assert "\n" not in message.subject
        assert "Acme Sdn Bhd" in message.subject and "DR-AAAA111" in message.body
        assert "https://alpha.localhost/deals/DR-AAAA111/" in message.body
        assert len(message.to) == 1  # nobody sees the others' addresses


def test_a_rolled_back_transaction_leaves_no_notification_and_sends_nothing(
    people, django_capture_on_commit_callbacks
):
    class Boom(Exception):
        pass

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(Boom), transaction.atomic():
            remind(people.tenant_a, people.partner_x, email=True)
            raise Boom

    assert callbacks == []
    assert mail.outbox == []
    with tenant_context(people.tenant_a):
        assert not Notification.objects.exists()


def test_portal_only_notifications_send_no_mail(people, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        created = remind(people.tenant_a, people.partner_x, email=False)
    assert len(created) == 2
    assert mail.outbox == []


def test_a_partner_without_active_users_gets_nothing(people):
    with tenant_context(people.tenant_a):
        empty = PartnerFactory()
    assert remind(people.tenant_a, empty) == []


@pytest.mark.parametrize(
    "kind, link",
    [("expiry_reminder", "/deals/x/"), ("deals.", ""), ("deals.x", "https://evil.example/")],
)
def test_kinds_are_app_dot_name_and_links_stay_on_the_tenants_host(people, kind, link):
    with tenant_context(people.tenant_a), pytest.raises(ValueError):
        services.notify_partner(partner=people.partner_x, kind=kind, link=link)


def test_notifying_many_partners_costs_the_same_queries_as_one(
    people, django_capture_on_commit_callbacks
):
    def queries(partners) -> int:
        notices = [
            Notice(
                partner_id=p.pk,
                kind="deals.expiry_reminder",
                params={"reference": "DR-1", "company": "A", "protected_until": date(2026, 1, 2)},
                link="/deals/DR-1/",
            )
            for p in partners
        ]
        with tenant_context(people.tenant_a), CaptureQueriesContext(connection) as captured:
            notify_partners(notices=notices)
        return len(captured)

    with tenant_context(people.tenant_a):
        many = [PartnerFactory() for _ in range(6)]
        for partner in many:
            for role in (Role.PARTNER_ADMIN, Role.PARTNER_REP, Role.PARTNER_REP):
                MembershipFactory(partner=partner, role=role)

    with django_capture_on_commit_callbacks(execute=True):
        one = queries([people.partner_x])
        six = queries(many)
    assert six == one
    assert len(mail.outbox) == 2 + 18


# --- reading --------------------------------------------------------------------------


def test_marking_read_is_for_the_recipient_only(people):
    mine = remind(people.tenant_a, people.partner_x)
    by_user = {n.recipient_id: n for n in mine}
    rep_note = by_user[people.rep_x.user.pk]
    with tenant_context(people.tenant_a):
        for intruder in (people.admin_x, people.rep_y, people.staff_a):
            with pytest.raises(PermissionDenied):
                mark_read(notification=rep_note, membership=intruder)
        assert Notification.objects.filter(read_at__isnull=False).count() == 0

        read = mark_read(notification=rep_note, membership=people.rep_x)
        first_read_at = read.read_at
        assert first_read_at is not None
        again = mark_read(
            notification=Notification.objects.get(pk=rep_note.pk), membership=people.rep_x
        )
        assert again.read_at == first_read_at  # idempotent
        assert unread_count(membership=people.rep_x) == 0
        assert unread_count(membership=people.admin_x) == 1


def test_mark_all_read_touches_only_the_members_own_unread_notifications(people):
    remind(people.tenant_a, people.partner_x, reference="DR-ONE")
    remind(people.tenant_a, people.partner_x, reference="DR-TWO")
    remind(people.tenant_a, people.partner_y, reference="DR-YYY")
    with tenant_context(people.tenant_a):
        assert mark_all_read(membership=people.rep_x) == 2
        assert mark_all_read(membership=people.rep_x) == 0
        assert notification_counts(membership=people.rep_x).unread == 0
        assert notification_counts(membership=people.admin_x).unread == 2
        assert notification_counts(membership=people.rep_y).unread == 1
        with pytest.raises(PermissionDenied):
            mark_all_read(membership=None)


def test_someone_moved_to_another_partner_no_longer_sees_the_old_partners_news(people):
    remind(people.tenant_a, people.partner_x)
    with tenant_context(people.tenant_a):
        assert notifications_for(membership=people.rep_x).count() == 1
        people.rep_x.partner = people.partner_y
        people.rep_x.save(update_fields=["partner"])
        assert notifications_for(membership=people.rep_x).count() == 0
        assert notification_counts(membership=people.rep_x).total == 0


def test_another_tenants_notifications_are_invisible(people):
    remind(people.tenant_b, people.partner_z)
    with tenant_context(people.tenant_a):
        assert not Notification.objects.exists()
    with tenant_context(people.tenant_b):
        assert notification_counts(membership=people.rep_z).unread == 1
        assert notification_counts(membership=people.admin_z).total == 1


def test_an_inactive_membership_has_no_inbox(people):
    remind(people.tenant_a, people.partner_x)
    with tenant_context(people.tenant_a):
        people.rep_x.is_active = False
        assert notifications_for(membership=people.rep_x).count() == 0
        assert unread_count(membership=people.rep_x) == 0
        assert unread_count(membership=None) == 0


# --- rendering --------------------------------------------------------------------------


def test_params_keep_dates_datetimes_and_decimals():
    moment = datetime(2026, 11, 23, 8, 30, tzinfo=UTC)
    params = {
        "until": date(2026, 12, 7),
        "at": moment,
        "share": Decimal("70.50"),
        "nested": {"days": 3, "list": [Decimal("1.10")]},
        "none": None,
    }
    stored = encode_params(params)
    assert stored["until"] == {"$date": "2026-12-07"}
    assert stored["share"] == {"$decimal": "70.50"}
    assert decode_params(stored) == params


def test_a_notification_is_rendered_in_the_readers_language():
    params = encode_params(
        {"reference": "DR-1", "company": "Acme & Sons", "protected_until": date(2026, 12, 7)}
    )
    english = render("deals.expiry_reminder", params, language="en")
    chinese = render("deals.expiry_reminder", params, language="zh-hans")
    assert "Dec. 7, 2026" in english.title and "Acme & Sons" in english.title  # plain text
    assert "2026年12月7日" in chinese.title
    with translation.override("ms"):
        assert "7 Dis 2026" in render("deals.expiry_reminder", params).title


def test_an_unknown_kind_renders_a_neutral_title_instead_of_failing():
    with translation.override("en"):
        rendered = render("gone.kind", {"x": 1})
    assert rendered.title == "Notification"
    assert rendered.body == ""


def test_mark_read_sets_the_time(people):
    (note, *_rest) = remind(people.tenant_a, people.partner_y)
    with tenant_context(people.tenant_a):
        owner = people.admin_y if note.recipient_id == people.admin_y.user.pk else people.rep_y
        before = timezone.now()
        assert mark_read(notification=note, membership=owner).read_at >= before
