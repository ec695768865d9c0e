"""CSV imports in the staff console: the upload → preview → import flow,
what each role may do, tenant isolation, and query counts that do not grow
with the file or the history."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib import messages
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from deals import imports
from deals.models import Account, ImportBatch, Lead
from prm.tenancy.context import tenant_context
from tests.factories import MembershipFactory
from tests.imports.conftest import LEAD_HEADER, csv_bytes, lead_row, leads_file, preview

pytestmark = pytest.mark.django_db

HOST_A = "alpha.localhost"
HOST_B = "bravo.localhost"
HISTORY = reverse("admin:deals_importbatch_changelist")
UPLOAD = reverse("admin:deals_importbatch_add")
Status = ImportBatch.Status


def page(batch) -> str:
    return reverse("admin:deals_importbatch_change", args=[batch.pk])


def action(batch, name: str) -> str:
    return reverse(f"admin:deals_importbatch_{name}", args=[batch.pk])


def upload(client, data: bytes, *, kind="leads", name="leads.csv"):
    file = SimpleUploadedFile(name, data, content_type="text/csv")
    return client.post(UPLOAD, {"kind": kind, "file": file}, HTTP_HOST=HOST_A)


def notes(response, level) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request) if m.level == level]


def login(client, membership, language="en"):
    client.force_login(membership.user)
    if language:
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    return client


@pytest.fixture
def manager_client(client, world):
    return login(client, world.manager)


def lead_count(world) -> int:
    with tenant_context(world.tenant):
        return Lead.objects.count()


def test_upload_preview_and_import_the_valid_rows_through_the_console(manager_client, world):
    form = manager_client.get(UPLOAD, HTTP_HOST=HOST_A)
    assert form.status_code == 200
    html = form.content.decode()
    assert 'enctype="multipart/form-data"' in html
    for column in imports.LEAD_COLUMNS:
        assert f"<code>{column.name}</code>" in html
    assert reverse("admin:deals_importbatch_template", args=["customer"]) in html

    rows = [LEAD_HEADER, lead_row(1), lead_row(2, contact_email="not-an-email"), lead_row(3)]
    response = upload(manager_client, csv_bytes(rows))
    with tenant_context(world.tenant):
        batch = ImportBatch.objects.get()
    assert response.status_code == 302
    assert response["Location"] == page(batch)
    assert (batch.row_count, batch.valid_count, batch.created_by_id) == (
        3,
        2,
        world.manager.user_id,
    )

    preview_page = manager_client.get(page(batch), HTTP_HOST=HOST_A)
    html = preview_page.content.decode()
    assert preview_page.status_code == 200
    assert "1 row has problems" in html
    # The invalid cell carries its message, the others do not.
    assert 'class="import-cell--error"' in html
    assert "not-an-email" in html and "Enter a valid email address." in html
    assert html.count('class="import-row--invalid"') == 1
    assert html.count('class="import-row--valid"') == 2
    # "Import all rows" is disabled, with the reason; the valid rows can be imported.
    assert 'value="Import all rows" class="default" disabled' in html
    assert "Not possible while any row is invalid" in html
    assert 'value="Import the 2 valid rows only"' in html

    # Posting "import all" anyway is refused and imports nothing.
    refused = manager_client.post(action(batch, "import"), {"valid_only": "0"}, HTTP_HOST=HOST_A)
    assert refused.status_code == 302
    assert lead_count(world) == 0
    assert "nothing was imported" in notes(refused, messages.ERROR)[0]

    done = manager_client.post(action(batch, "import"), {"valid_only": "1"}, HTTP_HOST=HOST_A)
    assert done.status_code == 302
    assert notes(done, messages.SUCCESS) == ["2 rows of leads.csv imported."]
    assert lead_count(world) == 2
    after = manager_client.get(page(batch), HTTP_HOST=HOST_A).content.decode()
    assert "This file is imported." in after
    assert "Import all rows" not in after
    history = manager_client.get(HISTORY, HTTP_HOST=HOST_A).content.decode()
    assert "leads.csv" in history and "Upload a CSV file" in history

    trail = manager_client.get(action(batch, "history"), HTTP_HOST=HOST_A)
    assert trail.status_code == 200
    assert [event.action for event in trail.context["events"]] == [
        "importbatch.imported",
        "importbatch.previewed",
    ]

    again = manager_client.post(action(batch, "import"), {"valid_only": "1"}, HTTP_HOST=HOST_A)
    assert notes(again, messages.ERROR) == ["This file was already imported."]
    assert lead_count(world) == 2


def test_a_valid_file_imports_all_rows(manager_client, world):
    upload(manager_client, leads_file(4))
    with tenant_context(world.tenant):
        batch = ImportBatch.objects.get()
    html = manager_client.get(page(batch), HTTP_HOST=HOST_A).content.decode()
    assert "Every row is valid." in html
    assert 'value="Import all rows" class="default">' in html
    assert "valid rows only" not in html
    manager_client.post(action(batch, "import"), {"valid_only": "0"}, HTTP_HOST=HOST_A)
    assert lead_count(world) == 4


def test_accounts_import_from_the_console(manager_client, world):
    data = csv_bytes([["name", "domain"], ["Acme Sdn Bhd", "www.acme.my"]])
    upload(manager_client, data, kind="opportunity", name="pipeline.csv")
    with tenant_context(world.tenant):
        batch = ImportBatch.objects.get()
    manager_client.post(action(batch, "import"), {"valid_only": "0"}, HTTP_HOST=HOST_A)
    with tenant_context(world.tenant):
        account = Account.objects.get()
    assert (account.kind, account.normalized_name, account.domain) == (
        "opportunity",
        "acme",
        "acme.my",
    )
    html = manager_client.get(page(batch), HTTP_HOST=HOST_A).content.decode()
    assert reverse("admin:deals_account_changelist") + "?kind__exact=opportunity" in html


def test_file_problems_are_shown_on_the_upload_form_and_nothing_is_stored(manager_client, world):
    data = csv_bytes([["company", "fax"], ["Acme", "1"]])
    response = upload(manager_client, data)
    assert response.status_code == 200
    errors = response.context["form"].errors["file"]
    assert errors[0].startswith("Unknown columns: fax.")
    assert errors[1] == "Required columns are missing: contact_name, contact_email, country."
    with tenant_context(world.tenant):
        assert not ImportBatch.objects.exists()


def test_a_file_over_the_limit_is_refused_by_the_form(manager_client, world):
    response = upload(manager_client, b"company\r\n" + b"x" * imports.MAX_BYTES)
    assert response.status_code == 200
    assert "files up to 5.0" in response.context["form"].errors["file"][0]
    with tenant_context(world.tenant):
        assert not ImportBatch.objects.exists()


def test_row_errors_appear_in_the_users_language(client, world):
    zh_client = login(client, world.manager, language=None)  # the tenant's zh-hans
    upload(zh_client, csv_bytes([LEAD_HEADER, lead_row(1, company="")]))
    with tenant_context(world.tenant):
        batch = ImportBatch.objects.get()
    assert batch.errors[0]["message"] == "该字段是必填项。"
    html = zh_client.get(page(batch), HTTP_HOST=HOST_A).content.decode()
    assert "该字段是必填项。" in html


def test_the_template_downloads_as_csv(manager_client):
    response = manager_client.get(
        reverse("admin:deals_importbatch_template", args=["leads"]), HTTP_HOST=HOST_A
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="leads-template.csv"' in response["Content-Disposition"]
    assert response.content.decode("utf-8-sig").startswith("company,contact_name,")
    missing = reverse("admin:deals_importbatch_template", args=["widgets"])
    assert manager_client.get(missing, HTTP_HOST=HOST_A).status_code == 404


def test_discard_from_the_console(manager_client, world):
    batch = preview(world.manager, leads_file(2))
    response = manager_client.post(action(batch, "discard"), HTTP_HOST=HOST_A)
    assert response.status_code == 302
    assert response["Location"] == HISTORY
    with tenant_context(world.tenant):
        batch.refresh_from_db()
    assert (batch.status, batch.content) == (Status.DISCARDED, "")
    html = manager_client.get(page(batch), HTTP_HOST=HOST_A).content.decode()
    assert "This file was discarded" in html
    assert lead_count(world) == 0


def test_get_on_an_action_changes_nothing(manager_client, world):
    batch = preview(world.manager, leads_file(2))
    for name in ("import", "discard"):
        response = manager_client.get(action(batch, name), HTTP_HOST=HOST_A)
        assert response.status_code == 302
        assert response["Location"] == page(batch)
    with tenant_context(world.tenant):
        batch.refresh_from_db()
    assert batch.status == Status.PREVIEWED
    assert lead_count(world) == 0


def test_the_error_list_is_paginated(manager_client, world):
    rows = [LEAD_HEADER, *(lead_row(n, country="") for n in range(1, 151))]
    batch = preview(world.manager, csv_bytes(rows))
    first = manager_client.get(page(batch), HTTP_HOST=HOST_A)
    assert len(first.context["errors"]) == 100
    assert "Page 1 of 2" in first.content.decode()
    assert len(first.context["rows"]) == 50
    second = manager_client.get(page(batch), {"errors": 2}, HTTP_HOST=HOST_A)
    assert [e["row"] for e in second.context["errors"]][-1] == 151
    assert "150 problems" in second.content.decode()


def test_invalid_rows_only(manager_client, world):
    rows = [LEAD_HEADER, *(lead_row(n) for n in range(1, 80)), lead_row(80, country="")]
    batch = preview(world.manager, csv_bytes(rows))
    everything = manager_client.get(page(batch), HTTP_HOST=HOST_A)
    assert [row.number for row in everything.context["rows"]] == list(range(2, 52))
    invalid = manager_client.get(page(batch), {"rows": "invalid"}, HTTP_HOST=HOST_A)
    assert [row.number for row in invalid.context["rows"]] == [81]
    assert "First invalid rows" in invalid.content.decode()


# --- who may do what -------------------------------------------------------------------


def test_finance_sees_the_history_and_previews_but_cannot_import(client, world):
    batch = preview(world.manager, leads_file(2))
    login(client, world.finance)
    assert client.get(HISTORY, HTTP_HOST=HOST_A).status_code == 200
    html = client.get(page(batch), HTTP_HOST=HOST_A).content.decode()
    assert "Import all rows" not in html and "Discard" not in html
    assert "Upload a CSV file" not in client.get(HISTORY, HTTP_HOST=HOST_A).content.decode()
    assert client.get(UPLOAD, HTTP_HOST=HOST_A).status_code == 403
    assert upload(client, leads_file(1)).status_code == 403
    for name in ("import", "discard"):
        response = client.post(action(batch, name), {"valid_only": "0"}, HTTP_HOST=HOST_A)
        assert response.status_code == 403
    with tenant_context(world.tenant):
        batch.refresh_from_db()
        assert ImportBatch.objects.count() == 1
    assert batch.status == Status.PREVIEWED
    assert lead_count(world) == 0


def test_partner_users_are_kept_out_of_imports(client, world):
    batch = preview(world.manager, leads_file(2))
    login(client, world.rep)
    urls = [HISTORY, UPLOAD, page(batch), action(batch, "import"), action(batch, "discard")]
    for url in urls:
        assert client.get(url, HTTP_HOST=HOST_A).status_code == 403, url
        assert client.post(url, {"valid_only": "1"}, HTTP_HOST=HOST_A).status_code == 403, url
    assert lead_count(world) == 0


def test_tenant_admins_import_too(client, world):
    login(client, world.admin)
    assert upload(client, leads_file(1)).status_code == 302


def test_another_tenants_import_is_not_found(manager_client, world, tenant_b):
    with tenant_context(tenant_b):
        other_manager = MembershipFactory(role="channel_manager", partner=None)
    theirs = preview(other_manager, leads_file(2))
    for url in (page(theirs), action(theirs, "import"), action(theirs, "discard")):
        assert manager_client.get(url, HTTP_HOST=HOST_A).status_code == 404, url
        response = manager_client.post(url, {"valid_only": "1"}, HTTP_HOST=HOST_A)
        assert response.status_code == 404, url
    history = reverse("admin:deals_importbatch_history", args=[theirs.pk])
    assert manager_client.get(history, HTTP_HOST=HOST_A).status_code == 404
    listing = manager_client.get(HISTORY, HTTP_HOST=HOST_A)
    assert list(listing.context["cl"].result_list) == []
    with tenant_context(tenant_b):
        theirs.refresh_from_db()
        assert theirs.status == Status.PREVIEWED
        assert not Lead.objects.exists()


# --- query counts --------------------------------------------------------------------------


def queries(client, url, params=None) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, params or {}, HTTP_HOST=HOST_A)
    assert response.status_code == 200
    return len(captured)


def test_history_query_count_does_not_grow_with_imports(manager_client, world):
    preview(world.manager, leads_file(1))
    few = queries(manager_client, HISTORY)
    for n in range(12):
        preview(world.admin, leads_file(3), filename=f"more-{n}.csv")
    assert queries(manager_client, HISTORY) == few


def test_preview_query_count_does_not_grow_with_rows_or_errors(manager_client, world):
    small = preview(world.manager, csv_bytes([LEAD_HEADER, lead_row(1), lead_row(2, country="")]))
    rows = [LEAD_HEADER, *(lead_row(n, country="" if n % 3 else "MY") for n in range(1, 400))]
    large = preview(world.manager, csv_bytes(rows), filename="large.csv")
    assert queries(manager_client, page(large)) == queries(manager_client, page(small))
    assert queries(manager_client, page(large), {"rows": "invalid", "errors": 3}) == queries(
        manager_client, page(small)
    )


def test_upload_page_query_count_is_small(manager_client):
    assert queries(manager_client, UPLOAD) <= 5
