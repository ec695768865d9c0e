"""Importing rows: per-row and per-field validation, external ids, exact
amounts, all-or-nothing commits, the valid rows only, discarding, who may
import, and accounts normalised like ``services.import_account``."""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import translation

from deals import imports, services
from deals.leads import create_lead, lead_routing
from deals.models import Account, DomainAlias, ImportBatch, Lead
from prm.audit.models import AuditEvent
from prm.errors import Conflict, PermissionDenied
from prm.tenancy.context import tenant_context
from tests.imports.conftest import LEAD_HEADER, csv_bytes, lead_row, leads_file, preview

pytestmark = pytest.mark.django_db

Status = ImportBatch.Status
FULL_HEADER = [column.name for column in imports.LEAD_COLUMNS]
ACCOUNT_HEADER = ["name", "domain", "country", "owner", "external_id"]


def commit(world, batch, *, valid_only=False, membership=None):
    membership = membership or world.manager
    with tenant_context(world.tenant):
        return imports.commit_import(
            batch=batch, membership=membership, actor=membership.user, valid_only=valid_only
        )


def counts(world) -> tuple[int, int]:
    with tenant_context(world.tenant):
        return Lead.objects.count(), Account.objects.count()


def full_row(**values: str) -> list[str]:
    base = dict(zip(LEAD_HEADER, lead_row(1), strict=True))
    return [{**base, **values}.get(name, "") for name in FULL_HEADER]


# --- validation ----------------------------------------------------------------------


def test_errors_name_the_row_the_column_and_the_problem(world):
    rows = [
        FULL_HEADER,
        full_row(),
        full_row(contact_email="not-an-email", country="Malaysia"),
        full_row(company="", company_size="huge"),
        full_row(estimated_amount="1,250.00", currency="MYR"),
        full_row(estimated_amount="100", currency=""),
        full_row(currency="XYZ", website="not a site"),
    ]
    batch = preview(world.manager, csv_bytes(rows))
    assert (batch.row_count, batch.valid_count) == (6, 1)
    assert batch.errors == [
        {"row": 3, "field": "contact_email", "message": "Enter a valid email address."},
        {
            "row": 3,
            "field": "country",
            "message": "Enter the two-letter country code, like MY, CN or SG.",
        },
        {"row": 4, "field": "company", "message": "This field is required."},
        {
            "row": 4,
            "field": "company_size",
            "message": "“huge” is not allowed here. Use one of: micro, small, medium, large, "
            "enterprise.",
        },
        {
            "row": 5,
            "field": "estimated_amount",
            "message": "Enter the amount as a plain number with a dot for decimals, like 12500.50.",
        },
        {"row": 6, "field": "currency", "message": "Give the amount's currency."},
        {
            "row": 7,
            "field": "website",
            "message": "Enter a website address or domain, like example.com.",
        },
        {
            "row": 7,
            "field": "currency",
            "message": "“XYZ” is not allowed here. Use one of: "
            "CNY, MYR, USD, SGD, EUR, GBP, AUD, HKD, IDR, THB, JPY.",
        },
    ]


@pytest.mark.parametrize(
    ("language", "required", "email"),
    [
        ("zh-hans", "该字段是必填项。", "请输入合法的邮件地址。"),
        ("ms", "Medan ini diperlukan.", None),
    ],
)
def test_errors_come_in_the_uploaders_language(world, language, required, email):
    rows = [LEAD_HEADER, lead_row(1, company="", contact_email="nope")]
    with translation.override(language):
        batch = preview(world.manager, csv_bytes(rows))
    messages = {error["field"]: error["message"] for error in batch.errors}
    assert messages["company"] == required
    if email:
        assert messages["contact_email"] == email
    assert messages["company"] != "This field is required."


def test_codes_are_accepted_in_any_case_and_stored_in_canonical_form(world):
    row = full_row(country="my", company_size="Small", currency="myr", estimated_amount="10")
    batch = preview(world.manager, csv_bytes([FULL_HEADER, row]))
    assert batch.errors == []
    commit(world, batch)
    with tenant_context(world.tenant):
        lead = Lead.objects.get()
    assert (lead.country, lead.company_size, lead.currency) == ("MY", "small", "MYR")


def test_amounts_are_exact_decimals(world):
    rows = [
        FULL_HEADER,
        full_row(estimated_amount="999999999999.99", currency="CNY", external_id="a"),
        full_row(estimated_amount="0.10", currency="USD", external_id="b"),
        full_row(estimated_amount="12.345", currency="USD", external_id="c"),
        full_row(estimated_amount="-5", currency="USD", external_id="d"),
    ]
    batch = preview(world.manager, csv_bytes(rows))
    assert [(e["row"], e["field"]) for e in batch.errors] == [
        (4, "estimated_amount"),
        (5, "estimated_amount"),
    ]
    commit(world, batch, valid_only=True)
    with tenant_context(world.tenant):
        amounts = dict(Lead.objects.values_list("external_id", "estimated_amount"))
    assert amounts == {"a": Decimal("999999999999.99"), "b": Decimal("0.10")}
    assert all(isinstance(amount, Decimal) for amount in amounts.values())
    assert sum(amounts.values()) == Decimal("1000000000000.09")


def test_external_ids_repeated_in_the_file_are_invalid_after_their_first_row(world):
    rows = [
        FULL_HEADER,
        full_row(external_id="crm-1"),
        full_row(external_id="crm-2"),
        full_row(external_id="crm-1"),
        full_row(external_id=""),
        full_row(external_id=""),
    ]
    batch = preview(world.manager, csv_bytes(rows))
    assert batch.errors == [
        {"row": 4, "field": "external_id", "message": "Row 2 has the same external id."}
    ]
    assert batch.valid_count == 4


def test_external_ids_already_in_the_database_are_invalid(world):
    with tenant_context(world.tenant):
        create_lead(
            membership=world.manager,
            actor=world.manager.user,
            company="Old",
            contact_name="Old",
            contact_email="old@old.my",
            country="MY",
            external_id="crm-1",
        )
    rows = [FULL_HEADER, full_row(external_id="crm-1"), full_row(external_id="crm-2")]
    batch = preview(world.manager, csv_bytes(rows))
    assert batch.errors == [
        {
            "row": 2,
            "field": "external_id",
            "message": "A lead with this external id already exists.",
        }
    ]


def test_account_external_ids_are_unique_per_kind_of_account(world):
    with tenant_context(world.tenant):
        services.import_account(kind="direct", name="Acme", external_id="sf-1")
    data = csv_bytes([ACCOUNT_HEADER, ["Acme", "", "", "", "sf-1"], ["Beta", "", "", "", "sf-2"]])
    as_direct = preview(world.manager, data, kind="direct")
    assert as_direct.errors == [
        {
            "row": 2,
            "field": "external_id",
            "message": "An account of this kind with this external id already exists.",
        }
    ]
    as_customers = preview(world.manager, data, kind="customer")
    assert as_customers.errors == []


def test_another_tenants_external_ids_do_not_count(world, tenant_b):
    from tests.factories import MembershipFactory

    with tenant_context(tenant_b):
        other = MembershipFactory(role="channel_manager", partner=None)
        create_lead(
            membership=other,
            actor=other.user,
            company="B",
            contact_name="B",
            contact_email="b@b.my",
            country="MY",
            external_id="crm-1",
        )
    batch = preview(world.manager, csv_bytes([FULL_HEADER, full_row(external_id="crm-1")]))
    assert batch.errors == []


# --- committing --------------------------------------------------------------------


def test_a_file_with_an_invalid_row_commits_nothing(world):
    rows = [LEAD_HEADER, lead_row(1), lead_row(2, contact_email="nope"), lead_row(3)]
    batch = preview(world.manager, csv_bytes(rows))
    before = counts(world)
    with pytest.raises(Conflict) as refused:
        commit(world, batch)
    assert "1 row of this file is invalid, so nothing was imported" in str(refused.value.message)
    assert counts(world) == before
    with tenant_context(world.tenant):
        batch.refresh_from_db()
    assert (batch.status, batch.imported_count, batch.imported_at) == (Status.PREVIEWED, 0, None)


def test_valid_only_imports_exactly_the_valid_rows(world):
    rows = [
        LEAD_HEADER,
        lead_row(1),
        lead_row(2, contact_email="nope"),
        lead_row(3),
        lead_row(4, country=""),
    ]
    batch = preview(world.manager, csv_bytes(rows))
    done = commit(world, batch, valid_only=True)
    assert (done.status, done.imported_count, done.valid_only) == (Status.IMPORTED, 2, True)
    assert done.imported_at is not None
    with tenant_context(world.tenant):
        leads = list(Lead.objects.order_by("company"))
    assert [lead.company for lead in leads] == ["Company 1 Sdn Bhd", "Company 3 Sdn Bhd"]
    assert {lead.status for lead in leads} == {Lead.Status.NEW}
    assert {lead.created_by_id for lead in leads} == {world.manager.user_id}
    assert len({lead.reference for lead in leads}) == 2
    assert leads[0].normalized_name == "company 1"
    assert leads[0].contact_email == "contact1@company1.com.my"


def test_a_valid_file_imports_every_row_and_records_it(world):
    batch = preview(world.manager, leads_file(25))
    done = commit(world, batch)
    assert (done.imported_count, done.valid_only) == (25, False)
    assert counts(world) == (25, 0)
    with tenant_context(world.tenant):
        actions = list(
            AuditEvent.objects.filter(object_id=str(batch.pk)).values_list("action", "data")
        )
    assert sorted(action for action, _data in actions) == [
        "importbatch.imported",
        "importbatch.previewed",
    ]
    imported = dict(actions)["importbatch.imported"]
    assert imported == {"kind": "leads", "imported": 25, "skipped": 0, "valid_only": False}


def test_nothing_valid_is_nothing_to_import(world):
    batch = preview(world.manager, csv_bytes([LEAD_HEADER, lead_row(1, country="")]))
    with pytest.raises(Conflict) as refused:
        commit(world, batch, valid_only=True)
    assert "nothing to import" in str(refused.value.message)
    assert counts(world) == (0, 0)


def test_commit_validates_again_instead_of_trusting_the_preview(world):
    rows = [FULL_HEADER, full_row(external_id="crm-1"), full_row(external_id="crm-2")]
    batch = preview(world.manager, csv_bytes(rows))
    assert batch.valid_count == 2
    with tenant_context(world.tenant):
        create_lead(
            membership=world.manager,
            actor=world.manager.user,
            company="Meanwhile",
            contact_name="M",
            contact_email="m@m.my",
            country="MY",
            external_id="crm-2",
        )
    with pytest.raises(Conflict):
        commit(world, batch)
    with tenant_context(world.tenant):
        batch.refresh_from_db()
        assert Lead.objects.count() == 1
    # The preview now shows why.
    assert batch.valid_count == 1
    assert batch.errors[0]["row"] == 3
    done = commit(world, batch, valid_only=True)
    assert done.imported_count == 1


def test_an_imported_file_cannot_be_imported_again(world):
    batch = preview(world.manager, leads_file(3))
    commit(world, batch)
    for valid_only in (False, True):
        with pytest.raises(Conflict) as refused:
            commit(world, batch, valid_only=valid_only)
        assert refused.value.code == "already_imported"
    with pytest.raises(Conflict):
        with tenant_context(world.tenant):
            imports.discard_import(batch=batch, membership=world.manager, actor=None)
    assert counts(world) == (3, 0)


def test_discarding_imports_nothing_and_drops_the_content(world):
    batch = preview(world.manager, leads_file(3))
    with tenant_context(world.tenant):
        done = imports.discard_import(
            batch=batch, membership=world.manager, actor=world.manager.user
        )
        assert AuditEvent.objects.filter(action="importbatch.discarded").count() == 1
    assert (done.status, done.content, done.row_count) == (Status.DISCARDED, "", 3)
    with pytest.raises(Conflict) as refused:
        commit(world, batch, valid_only=True)
    assert refused.value.code == "discarded"
    assert counts(world) == (0, 0)


def test_imported_leads_are_routed_on_arrival(world, django_capture_on_commit_callbacks):
    batch = preview(world.manager, leads_file(2))
    with django_capture_on_commit_callbacks() as callbacks:
        commit(world, batch)
    assert len(callbacks) == 1  # one routing task for the whole file
    with tenant_context(world.tenant):
        settings = lead_routing()
        settings.route_on_arrival = False
        settings.save()
    later = preview(world.manager, leads_file(2), filename="b.csv")
    with django_capture_on_commit_callbacks() as callbacks:
        commit(world, later)
    assert callbacks == []


# --- who may import -------------------------------------------------------------------


@pytest.mark.parametrize("who", ["finance", "rep"])
def test_only_channel_managers_and_tenant_admins_import(world, who):
    membership = getattr(world, who)
    with pytest.raises(PermissionDenied):
        preview(membership, leads_file(1))
    batch = preview(world.admin, leads_file(1))
    with pytest.raises(PermissionDenied):
        commit(world, batch, membership=membership)
    with pytest.raises(PermissionDenied):
        with tenant_context(world.tenant):
            imports.discard_import(batch=batch, membership=membership, actor=membership.user)
    assert counts(world) == (0, 0)


def test_an_inactive_manager_cannot_import(world):
    with tenant_context(world.tenant):
        world.manager.is_active = False
        world.manager.save()
    with pytest.raises(PermissionDenied):
        preview(world.manager, leads_file(1))


# --- accounts ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["direct", "opportunity", "customer"])
def test_accounts_are_normalised_exactly_like_import_account(world, kind):
    rows = [
        ["Name", "Domain", "Country", "Owner", "External_Id"],
        ["  ＡＣＭＥ Sdn. Bhd. ", "https://Sales.Acme.com.my/about", "my", "Siti", "x-1"],
        ["上海启明信息技术股份有限公司", "qiming-old.cn", "cn", "", ""],
        ["Gmail User", "gmail.com", "", "", ""],
    ]
    with tenant_context(world.tenant):
        DomainAlias.objects.create(alias="qiming-old.cn", canonical="qiming.cn")
    batch = preview(world.manager, csv_bytes(rows), kind=kind, filename="accounts.csv")
    assert batch.errors == []
    commit(world, batch)
    fields = ("kind", "name", "normalized_name", "domain", "country", "owner", "external_id")
    with tenant_context(world.tenant):
        imported = list(Account.objects.order_by("id").values_list(*fields))
        Account.objects.all().delete()
        one_by_one = []
        for name, domain, country, owner, external_id in rows[1:]:
            account = services.import_account(
                kind=kind,
                name=name.strip(),
                domain=domain,
                country=country,
                owner=owner,
                external_id=external_id,
            )
            one_by_one.append(tuple(getattr(account, f) for f in fields))
    assert imported == one_by_one
    assert imported[0][2:5] == ("acme", "acme.com.my", "MY")
    assert imported[1][3] == "qiming.cn"
    assert imported[2][3] == ""


def test_a_bad_account_file_commits_nothing(world):
    rows = [ACCOUNT_HEADER, ["Acme", "acme.my", "MY", "", ""], ["", "beta.my", "MYS", "", ""]]
    batch = preview(world.manager, csv_bytes(rows), kind="customer")
    assert [(e["row"], e["field"]) for e in batch.errors] == [(3, "name"), (3, "country")]
    with pytest.raises(Conflict):
        commit(world, batch)
    assert counts(world) == (0, 0)


# --- a database error rolls everything back ---------------------------------------------


def wait_for_a_lock_wait(seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return True
        time.sleep(0.05)
    return False


@pytest.mark.django_db(transaction=True)
def test_a_database_error_during_the_insert_rolls_back_every_row(world):
    """Another transaction inserts, but has not committed, a lead with the
    external id of the file's last row; the import validates (it cannot see
    it yet), inserts, waits on the unique index, and fails when the other
    commits. Nothing of the file is left, and the batch can be tried again."""
    rows = [FULL_HEADER, *(full_row(external_id=f"crm-{n}") for n in range(1, 50))]
    batch = preview(world.manager, csv_bytes(rows))
    inserted, release = threading.Event(), threading.Event()
    outcome: dict[str, object] = {}

    def other_user():
        try:
            with tenant_context(world.tenant):
                from django.db import transaction

                with transaction.atomic():
                    create_lead(
                        membership=world.manager,
                        actor=world.manager.user,
                        company="Racer",
                        contact_name="R",
                        contact_email="r@r.my",
                        country="MY",
                        external_id="crm-49",
                    )
                    inserted.set()
                    release.wait(timeout=20)
        finally:
            connection.close()

    def importer():
        try:
            outcome["result"] = commit(world, batch)
        except Exception as exc:  # the assertion below shows it
            outcome["result"] = exc
        finally:
            connection.close()

    racer = threading.Thread(target=other_user)
    racer.start()
    assert inserted.wait(timeout=20)
    worker = threading.Thread(target=importer)
    worker.start()
    assert wait_for_a_lock_wait(), "the import never waited for the other transaction"
    release.set()
    racer.join(timeout=20)
    worker.join(timeout=20)

    assert isinstance(outcome["result"], Conflict), outcome
    assert outcome["result"].code == "import_failed"
    with tenant_context(world.tenant):
        assert list(Lead.objects.values_list("company", flat=True)) == ["Racer"]
        batch.refresh_from_db()
        assert batch.status == Status.PREVIEWED
        assert not AuditEvent.objects.filter(action="importbatch.imported").exists()
