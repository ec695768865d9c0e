"""The revenue events import in the console: the link on the revenue events
list, who may open the pages (finance only; partner users get the console's
403; a preview signed on another tenant is a 404), upload → preview (counts,
invalid rows first with each error on its cell, in the user's language) →
confirm (all or nothing, or the valid rows only) → result page, the signed
payload refused when altered, the template file, and constant query counts."""

from __future__ import annotations

import re
from decimal import Decimal
from html import unescape

import pytest
from django import forms
from django.core import signing
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation

from incentives.admin import revenue_import as console
from incentives.models import RevenueEvent
from prm.audit.models import AuditEvent
from prm.tenancy.context import tenant_context
from tests.revenue_import.conftest import HEADER, events_csv

pytestmark = pytest.mark.django_db

HOST_A = "alpha.localhost"
HOST_B = "bravo.localhost"


def url() -> str:
    return reverse("admin:incentives_revenue_import")


def template_url() -> str:
    return reverse("admin:incentives_revenue_import_template")


def login(client, membership, language="en"):
    client.force_login(membership.user)
    if language:
        client.cookies["django_language"] = language  # tenant A speaks Chinese


def upload(client, data: bytes, name="billing.csv", host=HOST_A):
    return client.post(url(), {"file": SimpleUploadedFile(name, data, "text/csv")}, HTTP_HOST=host)


def payload_of(response) -> str:
    return response.context["payload"]


def confirm(client, payload: str, *, valid_only=False, host=HOST_A):
    data = {"payload": payload}
    if valid_only:
        data["valid_only"] = "1"
    return client.post(url(), data, HTTP_HOST=host)


def valid_rows(world, count=2, prefix="INV"):
    return [
        f"{prefix}-{n},{world.huatong.pk},,Customer {n},invoice_paid,{n + 1}00.50,CNY,2026-04-01,"
        for n in range(count)
    ]


def events(world):
    with tenant_context(world.tenant):
        return list(RevenueEvent.objects.order_by("external_id"))


def test_the_revenue_events_list_links_finance_to_the_import(client, world):
    changelist = reverse("admin:incentives_revenueevent_changelist")
    login(client, world.finance)
    page = client.get(changelist, HTTP_HOST=HOST_A)
    assert page.status_code == 200
    assert f'href="{url()}"' in page.content.decode()
    login(client, world.admin)  # reads revenue events, does not record them
    page = client.get(changelist, HTTP_HOST=HOST_A)
    assert page.status_code == 200
    assert f'href="{url()}"' not in page.content.decode()


@pytest.mark.parametrize(
    ("role", "status"),
    [("finance", 200), ("admin", 403), ("manager", 403), ("partner_admin", 403), ("rep", 403)],
)
def test_only_finance_opens_the_import_pages(client, world, role, status):
    login(client, getattr(world, role))
    assert client.get(url(), HTTP_HOST=HOST_A).status_code == status
    assert client.get(template_url(), HTTP_HOST=HOST_A).status_code == status
    response = upload(client, events_csv(*valid_rows(world)))
    assert response.status_code == status
    assert not events(world)


def test_a_forged_confirmation_by_another_role_records_nothing(client, world):
    login(client, world.finance)
    payload = payload_of(upload(client, events_csv(*valid_rows(world))))
    login(client, world.admin)
    assert confirm(client, payload).status_code == 403
    assert not events(world)


def test_anonymous_visitors_are_sent_to_sign_in(client, world):
    response = client.get(url(), HTTP_HOST=HOST_A)
    assert response.status_code == 302
    assert "login" in response["Location"]


def test_another_tenants_finance_cannot_use_this_tenants_import(client, world, other):
    login(client, other.finance)
    # No membership here: the no-access page, before any tenant data is read.
    assert client.get(url(), HTTP_HOST=HOST_A).status_code == 403
    assert upload(client, events_csv(*valid_rows(world))).status_code == 403
    assert not events(world)


def test_a_preview_signed_on_another_tenant_is_not_found(client, world, other):
    login(client, other.finance)
    row = f"B-1,{other.partner.pk},,Bravo,invoice_paid,5.00,MYR,2026-04-01,"
    payload = payload_of(upload(client, events_csv(row), host=HOST_B))
    login(client, world.finance)
    assert confirm(client, payload).status_code == 404
    assert not events(world)
    with tenant_context(other.tenant):
        assert not RevenueEvent.objects.exists()


def test_upload_previews_then_confirm_records_and_shows_the_result(client, world):
    login(client, world.finance)
    response = upload(client, events_csv(*valid_rows(world, 3)))
    assert response.status_code == 200
    assert response.context["stage"] == "preview"
    assert (response.context["row_count"], response.context["valid_count"]) == (3, 3)
    assert response.context["invalid_count"] == 0
    assert 'id="confirm-import"' in response.content.decode()
    assert not events(world)  # the preview writes nothing

    done = confirm(client, payload_of(response))

    assert done.status_code == 200
    assert done.context["stage"] == "imported"
    assert done.context["recorded_count"] == 3
    recorded = events(world)
    assert [(e.external_id, e.amount, e.currency) for e in recorded] == [
        ("INV-0", Decimal("100.50"), "CNY"),
        ("INV-1", Decimal("200.50"), "CNY"),
        ("INV-2", Decimal("300.50"), "CNY"),
    ]
    html = done.content.decode()
    assert "Customer 2" in html
    assert "Huatong Partners" in html
    with tenant_context(world.tenant):
        audit = AuditEvent.objects.get(action="incentives.revenue_events_imported")
    assert audit.data["recorded"] == 3
    assert audit.summary == "billing.csv"


def test_the_preview_shows_invalid_rows_first_with_each_error_on_its_cell(client, world):
    login(client, world.finance)
    rows = [*valid_rows(world, 2), f"BAD-1,{world.huatong.pk},,Acme,invoice_paid,-3,CNY,x,"]
    response = upload(client, events_csv(*rows))
    context = response.context
    assert (context["row_count"], context["invalid_count"], context["valid_count"]) == (3, 1, 2)
    first = context["preview_rows"][0]
    assert first.number == 4 and not first.valid
    cells = dict(zip(context["columns"], first.cells, strict=True))
    assert cells["amount"].value == "-3"
    assert cells["amount"].messages == ["Ensure this value is greater than or equal to 0.01."]
    assert cells["occurred_on"].messages == ["Enter the date as YYYY-MM-DD, like 2026-04-01."]
    assert cells["external_id"].messages == []
    assert [row.number for row in context["preview_rows"][1:]] == [2, 3]
    html = unescape(response.content.decode())
    assert "Ensure this value is greater than or equal to 0.01." in html
    assert "Import the 2 valid rows only" in html
    assert "Confirm and record the events" not in html


def test_confirming_a_file_with_invalid_rows_records_nothing(client, world):
    login(client, world.finance)
    rows = [*valid_rows(world, 2), f"BAD-1,{world.huatong.pk},,Acme,invoice_paid,-3,CNY,x,"]
    payload = payload_of(upload(client, events_csv(*rows)))
    response = confirm(client, payload)  # without choosing the valid rows only
    assert response.status_code == 200
    assert response.context["stage"] == "preview"
    messages = [str(m) for m in response.context["messages"]]
    assert any("nothing was imported" in m for m in messages)
    assert not events(world)


def test_the_valid_rows_only_are_recorded_when_chosen(client, world):
    login(client, world.finance)
    rows = [*valid_rows(world, 2), f"BAD-1,{world.huatong.pk},,Acme,invoice_paid,-3,CNY,x,"]
    payload = payload_of(upload(client, events_csv(*rows)))
    done = confirm(client, payload, valid_only=True)
    assert done.context["stage"] == "imported"
    assert (done.context["recorded_count"], done.context["skipped_count"]) == (2, 1)
    assert [e.external_id for e in events(world)] == ["INV-0", "INV-1"]


def test_an_altered_preview_is_refused(client, world):
    login(client, world.finance)
    payload = payload_of(upload(client, events_csv(*valid_rows(world))))
    forged = signing.dumps(
        {"tenant": world.tenant.pk, "filename": "x.csv", "text": "anything"}, salt="other"
    )
    for tampered in (payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB"), forged, "junk"):
        response = confirm(client, tampered)
        assert response.status_code == 302
        assert response["Location"] == url()
    assert not events(world)
    page = client.get(url(), HTTP_HOST=HOST_A)
    assert "expired or was altered" in page.content.decode()


def test_a_repeated_file_records_nothing_new(client, world):
    login(client, world.finance)
    data = events_csv(*valid_rows(world))
    confirm(client, payload_of(upload(client, data)))
    again = upload(client, data)
    assert (again.context["repeat_count"], again.context["valid_count"]) == (2, 0)
    assert "already recorded" in again.content.decode()
    done = confirm(client, payload_of(again))
    assert (done.context["recorded_count"], done.context["repeat_count"]) == (0, 2)
    assert len(events(world)) == 2


def test_file_problems_are_errors_on_the_upload_form(client, world):
    login(client, world.finance)
    response = upload(client, b"external_id,partner\r\nA,1\r\n")
    assert response.context["stage"] == "upload"
    assert response.context["form"].errors["file"][0].startswith("Required columns are missing")
    response = upload(client, b"\xff\xfe\x00" + b"x" * 10)
    assert response.context["form"].errors["file"]


def test_a_file_over_the_size_limit_is_refused_before_reading(client, world, monkeypatch):
    monkeypatch.setattr("incentives.revenue_import.MAX_BYTES", 100)
    login(client, world.finance)
    response = upload(client, events_csv(*valid_rows(world, 3)))
    assert "files up to" in response.context["form"].errors["file"][0]
    assert not events(world)


def test_errors_are_shown_in_the_users_language(client, world):
    login(client, world.finance, language=None)  # tenant A's language: Chinese
    row = f"E,{world.huatong.pk},,,invoice_paid,10.00,CNY,2026-04-01,"
    html = upload(client, events_csv(row)).content.decode()
    with translation.override("zh-hans"):
        required = str(forms.Field.default_error_messages["required"])
    assert required != "This field is required."
    assert required in html


def test_the_template_has_the_header_row(client, world):
    login(client, world.finance)
    response = client.get(template_url(), HTTP_HOST=HOST_A)
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    assert response.content.decode("utf-8-sig") == HEADER + "\r\n"


def test_the_upload_page_documents_every_column(client, world):
    login(client, world.finance)
    html = client.get(url(), HTTP_HOST=HOST_A).content.decode()
    for name in HEADER.split(","):
        assert f"<code>{name}</code>" in html
    assert f'href="{template_url()}"' in html


def count_queries(action):
    with CaptureQueriesContext(connection) as captured:
        result = action()
    return len(captured.captured_queries), result


def test_preview_and_confirm_queries_do_not_grow_with_rows(
    client, world, django_assert_max_num_queries
):
    login(client, world.finance)
    counts = {}
    for size in (3, 60):
        data = events_csv(*valid_rows(world, size, prefix=f"N{size}"))
        counts["preview", size], response = count_queries(lambda d=data: upload(client, d))
        payload = payload_of(response)
        counts["confirm", size], done = count_queries(lambda p=payload: confirm(client, p))
        assert done.context["recorded_count"] == size
    assert counts["preview", 3] == counts["preview", 60]
    assert counts["confirm", 3] == counts["confirm", 60]
    assert len(events(world)) == 63
    with django_assert_max_num_queries(counts["preview", 60]):
        upload(client, events_csv(*valid_rows(world, 200, prefix="M")))


def test_the_page_lists_the_columns_in_order(client, world):
    login(client, world.finance)
    response = upload(client, events_csv(*valid_rows(world)))
    assert response.context["columns"] == HEADER.split(",")
    assert re.search(r"<th scope=\"col\"><code>external_id</code></th>", response.content.decode())
    assert console.SALT == "incentives.revenue_import"
