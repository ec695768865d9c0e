"""The inbox at /notifications/: own notifications only, unread highlighted, marking
read with CSRF-protected POSTs (plain and htmx), pagination, query counts, and
the header's unread count."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from prm.notifications.context_processors import notification_badge
from prm.notifications.models import Notification
from prm.notifications.views import PAGE_SIZE
from prm.tenancy.context import tenant_context
from tests.notifications.conftest import HOST_A, HOST_B, remind

pytestmark = pytest.mark.django_db
INBOX = "/notifications/"
READ_ALL = "/notifications/read-all/"


def read_url(note) -> str:
    return f"/notifications/{note.pk}/read/"


def open_url(note) -> str:
    return f"/notifications/{note.pk}/open/"


def note_of(notes, membership):
    (note,) = [n for n in notes if n.recipient_id == membership.user_id]
    return note


def refreshed(tenant, note) -> Notification:
    with tenant_context(tenant):
        return Notification.objects.get(pk=note.pk)


def html_of(response) -> str:
    return response.content.decode()


def listed(response) -> list[str]:
    return re.findall(r'id="notification-(\d+)"', html_of(response))


# --- the inbox ---------------------------------------------------------------------------


def test_the_inbox_lists_own_notifications_newest_first_with_unread_highlighted(english, people):
    older = note_of(remind(people.tenant_a, people.partner_x, reference="DR-OLD"), people.rep_x)
    newer = note_of(remind(people.tenant_a, people.partner_x, reference="DR-NEW"), people.rep_x)
    remind(people.tenant_a, people.partner_y, reference="DR-YYYY")
    remind(people.tenant_b, people.partner_z, reference="DR-ZZZZ")
    with tenant_context(people.tenant_a):
        Notification.objects.filter(pk=older.pk).update(read_at=older.created_at)
    english.force_login(people.rep_x.user)

    response = english.get(INBOX, HTTP_HOST=HOST_A)

    assert response.status_code == 200
    assert listed(response) == [str(newer.pk), str(older.pk)]
    html = html_of(response)
    assert "DR-NEW" in html and "DR-OLD" in html
    assert "DR-YYYY" not in html and "DR-ZZZZ" not in html
    new_item = html[html.index(f'id="notification-{newer.pk}"') :]
    assert 'data-unread="yes"' in new_item.split("</li>")[0]
    assert "notification--unread" in new_item.split("</li>")[0]
    old_item = html[html.index(f'id="notification-{older.pk}"') :].split("</li>")[0]
    assert 'data-unread="no"' in old_item and "Mark as read" not in old_item
    assert "1 unread notification." in html
    assert "Mark all as read" in html
    assert "csrfmiddlewaretoken" in html
    assert f'hx-post="{read_url(newer)}"' in html


def test_a_colleagues_notifications_are_not_in_my_inbox(english, people):
    notes = remind(people.tenant_a, people.partner_x)
    english.force_login(people.admin_x.user)
    response = english.get(INBOX, HTTP_HOST=HOST_A)
    assert listed(response) == [str(note_of(notes, people.admin_x).pk)]


def test_the_inbox_is_rendered_in_the_readers_language(client, people):
    remind(people.tenant_a, people.partner_x)
    client.force_login(people.rep_x.user)
    chinese = html_of(client.get(INBOX, HTTP_HOST=HOST_A))  # tenant A's default
    client.cookies["django_language"] = "en"
    english = html_of(client.get(INBOX, HTTP_HOST=HOST_A))
    assert "2026年12月7日" in chinese
    assert "Dec. 7, 2026" in english and "deal protection ends on" in english


def test_an_empty_inbox_says_so(english, people):
    english.force_login(people.rep_y.user)
    response = english.get(INBOX, HTTP_HOST=HOST_A)
    assert response.status_code == 200
    html = html_of(response)
    assert "empty-state" in html and "You have no notifications yet." in html
    assert "Mark all as read" not in html


def test_staff_have_an_inbox_too(english, people):
    english.force_login(people.staff_a.user)
    assert english.get(INBOX, HTTP_HOST=HOST_A).status_code == 200


def test_visitors_must_sign_in(client, people):
    response = client.get(INBOX, HTTP_HOST=HOST_A)
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_the_inbox_is_paginated(english, people):
    for i in range(PAGE_SIZE * 2 + 5):
        remind(people.tenant_a, people.partner_y, reference=f"DR-P{i:04d}")
    english.force_login(people.rep_y.user)

    first = english.get(INBOX, HTTP_HOST=HOST_A)
    last = english.get(INBOX, {"page": 3}, HTTP_HOST=HOST_A)
    beyond = english.get(INBOX, {"page": 99}, HTTP_HOST=HOST_A)

    assert len(listed(first)) == PAGE_SIZE
    assert "Page 1 of 3" in html_of(first) and 'rel="next"' in html_of(first)
    assert len(listed(last)) == 5 and "DR-P0000" in html_of(last)
    assert listed(beyond) == listed(last)


def test_the_inbox_costs_the_same_queries_for_3_notifications_as_for_60(client, people):
    client.force_login(people.rep_x.user)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(INBOX, HTTP_HOST=HOST_A).status_code == 200
        return len(captured)

    for i in range(3):
        remind(people.tenant_a, people.partner_x, reference=f"DR-A{i}")
    few = queries()
    for i in range(57):
        remind(people.tenant_a, people.partner_x, reference=f"DR-B{i}")
    assert queries() == few


# --- marking read -------------------------------------------------------------------------


def test_marking_one_read_returns_to_the_inbox_page(english, people):
    note = note_of(remind(people.tenant_a, people.partner_x), people.rep_x)
    other = note_of(remind(people.tenant_a, people.partner_x), people.rep_x)
    english.force_login(people.rep_x.user)

    response = english.post(read_url(note), {"next": "/notifications/?page=2"}, HTTP_HOST=HOST_A)

    assert response.status_code == 302
    assert response["Location"] == "/notifications/?page=2"
    assert refreshed(people.tenant_a, note).read_at is not None
    assert refreshed(people.tenant_a, other).read_at is None
    elsewhere = english.post(read_url(other), {"next": "https://evil.example/"}, HTTP_HOST=HOST_A)
    assert elsewhere["Location"] == INBOX


def test_marking_read_with_htmx_returns_the_item_and_the_header_count(english, people):
    note = note_of(remind(people.tenant_a, people.partner_x), people.rep_x)
    remind(people.tenant_a, people.partner_x)
    english.force_login(people.rep_x.user)

    response = english.post(read_url(note), HTTP_HOST=HOST_A, HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    html = html_of(response)
    assert f'id="notification-{note.pk}"' in html and 'data-unread="no"' in html
    assert "<html" not in html
    assert 'id="notification-badge"' in html and 'hx-swap-oob="true"' in html
    assert '<span aria-hidden="true">1</span>' in html  # one unread left


def test_opening_a_notification_marks_it_read_and_goes_to_its_page(english, people):
    note = note_of(remind(people.tenant_a, people.partner_x), people.rep_x)
    english.force_login(people.rep_x.user)
    response = english.post(open_url(note), HTTP_HOST=HOST_A)
    assert response.status_code == 302
    assert response["Location"] == "/deals/DR-AAAA111/"
    assert refreshed(people.tenant_a, note).read_at is not None


def test_mark_all_read_marks_only_my_notifications(english, people):
    notes = remind(people.tenant_a, people.partner_x) + remind(people.tenant_a, people.partner_x)
    english.force_login(people.rep_x.user)

    response = english.post(READ_ALL, HTTP_HOST=HOST_A, follow=True)

    assert response.status_code == 200
    assert "All your notifications are marked as read." in html_of(response)
    for note in notes:
        read = refreshed(people.tenant_a, note).read_at is not None
        assert read == (note.recipient_id == people.rep_x.user_id)


def test_marking_read_needs_a_post_with_the_csrf_token(people):
    note = note_of(remind(people.tenant_a, people.partner_x), people.rep_x)
    client = Client(enforce_csrf_checks=True)
    client.force_login(people.rep_x.user)
    for url in (read_url(note), open_url(note), READ_ALL):
        assert client.get(url, HTTP_HOST=HOST_A).status_code == 405
        assert client.post(url, HTTP_HOST=HOST_A).status_code == 403
    assert refreshed(people.tenant_a, note).read_at is None


@pytest.mark.parametrize("url_of", [read_url, open_url])
def test_another_persons_notification_is_a_404(client, people, url_of):
    notes = remind(people.tenant_a, people.partner_x)
    colleague = note_of(notes, people.admin_x)
    other_partner = note_of(remind(people.tenant_a, people.partner_y), people.rep_y)
    client.force_login(people.rep_x.user)

    assert client.post(url_of(colleague), HTTP_HOST=HOST_A).status_code == 404
    assert client.post(url_of(other_partner), HTTP_HOST=HOST_A).status_code == 404
    assert refreshed(people.tenant_a, colleague).read_at is None
    assert refreshed(people.tenant_a, other_partner).read_at is None


@pytest.mark.parametrize("url_of", [read_url, open_url])
def test_another_tenants_notification_is_a_404(client, people, url_of):
    theirs = note_of(remind(people.tenant_b, people.partner_z), people.rep_z)
    client.force_login(people.rep_z.user)
    assert client.post(url_of(theirs), HTTP_HOST=HOST_B).status_code == 302  # their own host
    with tenant_context(people.tenant_b):
        Notification.objects.filter(pk=theirs.pk).update(read_at=None)
    client.force_login(people.rep_x.user)
    assert client.post(url_of(theirs), HTTP_HOST=HOST_A).status_code == 404
    assert refreshed(people.tenant_b, theirs).read_at is None


# --- the header's count -------------------------------------------------------------------


def badge_for(user, membership):
    request = RequestFactory().get("/", HTTP_HOST=HOST_A)
    request.user = user
    request.membership = membership
    return request, notification_badge(request)["notification_badge"]


def test_the_header_count_is_one_query_per_request_and_only_if_shown(
    people, django_assert_num_queries
):
    remind(people.tenant_a, people.partner_x)
    remind(people.tenant_a, people.partner_x)
    remind(people.tenant_a, people.partner_y)
    with tenant_context(people.tenant_a):
        request, badge = badge_for(people.rep_x.user, people.rep_x)
        with django_assert_num_queries(0):
            assert badge.available
        with django_assert_num_queries(1):
            assert badge.unread == 2
            assert badge.unread == 2
            again = notification_badge(request)["notification_badge"]
            assert again.unread == 2
        _request, staff_badge = badge_for(people.staff_a.user, people.staff_a)
        assert staff_badge.unread == 0


def test_no_membership_means_no_count_and_no_query(people, django_assert_num_queries):
    with django_assert_num_queries(0):
        _request, badge = badge_for(AnonymousUser(), None)
        assert not badge.available
        assert badge.unread == 0


# --- the portal home's panel ---------------------------------------------------------------


def test_the_home_page_shows_the_latest_three_and_the_unread_count(english, people):
    for i in range(5):
        remind(people.tenant_a, people.partner_x, reference=f"DR-H{i:04d}")
    remind(people.tenant_a, people.partner_y, reference="DR-YYYY")
    english.force_login(people.rep_x.user)

    def home_html() -> str:
        response = english.get("/", HTTP_HOST=HOST_A)
        assert response.status_code == 200
        return html_of(response)

    html = home_html()
    panel = html[html.index('id="notifications-panel-title"') :].split("</section>")[0]
    assert "5 unread notifications." in panel
    newest_first = [panel.index(ref) for ref in ("DR-H0004", "DR-H0003", "DR-H0002")]
    assert newest_first == sorted(newest_first)
    assert "DR-H0001" not in panel and "DR-YYYY" not in panel
    assert f'href="{INBOX}"' in panel
    with CaptureQueriesContext(connection) as few:
        home_html()
    for i in range(20):
        remind(people.tenant_a, people.partner_x, reference=f"DR-M{i:04d}")
    with CaptureQueriesContext(connection) as many:
        home_html()
    assert len(many) == len(few)


HEADER_LINK = (
    "{% load i18n %}{% url 'notifications:list' as notifications_url %}"
    "{% if notifications_url and notification_badge.available %}"
    '<li><a href="{{ notifications_url }}">{% translate "Notifications" %} '
    '{% include "notifications/_badge.html" %}</a></li>{% endif %}'
)


def test_the_header_link_shows_the_count_through_the_context_processor(people, settings):
    from django.template import RequestContext, Template

    settings.TEMPLATES = [
        {
            **settings.TEMPLATES[0],
            "OPTIONS": {
                **settings.TEMPLATES[0]["OPTIONS"],
                "context_processors": [
                    *settings.TEMPLATES[0]["OPTIONS"]["context_processors"],
                    "prm.notifications.context_processors.notification_badge",
                ],
            },
        }
    ]
    remind(people.tenant_a, people.partner_x)
    remind(people.tenant_a, people.partner_x)
    with tenant_context(people.tenant_a), translation.override("en"):
        request, _badge = badge_for(people.rep_x.user, people.rep_x)
        html = Template(HEADER_LINK).render(RequestContext(request))
        assert '<a href="/notifications/">Notifications' in html
        assert '<span aria-hidden="true">2</span>' in html and "2 unread" in html
        assert " hidden" not in html
        request, _badge = badge_for(people.rep_y.user, people.rep_y)
        quiet = Template(HEADER_LINK).render(RequestContext(request))
        assert 'id="notification-badge"' in quiet and " hidden" in quiet
        request, _badge = badge_for(AnonymousUser(), None)
        assert Template(HEADER_LINK).render(RequestContext(request)).strip() == ""
