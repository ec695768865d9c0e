"""The vendor's accounts and the product list over the API."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from deals import services
from deals.models import Account, DealRegistration
from prm.accounts.roles import Role
from prm.audit.models import AuditEvent
from prm.tenancy.context import tenant_context
from tests.api.conftest import client_on

pytestmark = pytest.mark.django_db

ACCOUNTS = "/api/v1/accounts/"
PRODUCTS = "/api/v1/products/"
PARTNER_USERS = [Role.PARTNER_ADMIN, Role.PARTNER_REP]


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def add_account(world, name="Petronas Dagangan Berhad", **extra) -> Account:
    data = {"kind": Account.Kind.CUSTOMER, "name": name, **extra}
    with tenant_context(world.tenant):
        return services.import_account(**data)


# --- accounts ---------------------------------------------------------------------------


def test_tenant_admin_adds_an_account_with_its_matching_fields(alpha):
    response = alpha.client(Role.TENANT_ADMIN).post(
        ACCOUNTS,
        {
            "kind": "direct",
            "name": "Sapura Energy Sdn. Bhd.",
            "domain": "https://www.sapura.com.my/about",
            "country": "my",
            "owner": "Direct sales KL",
            "external_id": "CRM-001",
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["matching_name"] == "sapura energy"
    assert body["domain"] == "sapura.com.my"
    assert body["country"] == "MY"
    with tenant_context(alpha.tenant):
        assert Account.objects.get(pk=body["id"]).external_id == "CRM-001"


def test_a_new_account_is_matched_by_later_registrations(alpha):
    alpha.client(Role.TENANT_ADMIN).post(ACCOUNTS, {"kind": "customer", "name": "Top Glove Bhd"})
    deal = alpha.register(company="TOP GLOVE BERHAD")
    assert deal.stage == DealRegistration.Stage.SUBMITTED and deal.is_conflict


def test_account_input_errors_are_per_field(alpha):
    response = alpha.client(Role.TENANT_ADMIN).post(
        ACCOUNTS, {"kind": "partner", "name": "", "country": "Malaysia", "domain": "not a domain"}
    )
    assert response.status_code == 400
    assert set(response.json()) == {"kind", "name", "country", "domain"}


def test_channel_managers_and_tenant_admins_add_accounts_like_in_the_console(alpha):
    assert (
        alpha.client(Role.FINANCE).post(ACCOUNTS, {"kind": "customer", "name": "A"}).status_code
        == 403
    )
    assert (
        alpha.api_key_client(Role.FINANCE)
        .post(ACCOUNTS, {"kind": "customer", "name": "B"})
        .status_code
        == 403
    )
    created = [
        alpha.client(Role.CHANNEL_MANAGER).post(ACCOUNTS, {"kind": "customer", "name": "C"}),
        alpha.api_key_client(Role.CHANNEL_MANAGER).post(ACCOUNTS, {"kind": "direct", "name": "D"}),
        alpha.api_key_client(Role.TENANT_ADMIN).post(ACCOUNTS, {"kind": "direct", "name": "E"}),
    ]
    assert [response.status_code for response in created] == [201, 201, 201]
    with tenant_context(alpha.tenant):
        assert sorted(Account.objects.values_list("name", flat=True)) == ["C", "D", "E"]
        assert AuditEvent.objects.filter(action="account.added").count() == 3


def test_staff_list_filter_and_search_accounts(alpha):
    customer = add_account(alpha, "Maxis Berhad", domain="maxis.com.my", country="MY")
    opportunity = add_account(
        alpha, "China Mobile", kind=Account.Kind.OPPORTUNITY, country="CN", external_id="OPP-9"
    )
    inactive = add_account(alpha, "Gone Ltd")
    with tenant_context(alpha.tenant):
        Account.objects.filter(pk=inactive.pk).update(is_active=False)
    for role in (Role.TENANT_ADMIN, Role.CHANNEL_MANAGER, Role.FINANCE):
        client = alpha.client(role)
        assert ids(client.get(ACCOUNTS)) == [opportunity.pk, inactive.pk, customer.pk]
    client = alpha.api_key_client(Role.FINANCE)
    assert ids(client.get(ACCOUNTS, {"kind": "opportunity"})) == [opportunity.pk]
    assert ids(client.get(ACCOUNTS, {"country": "my"})) == [customer.pk]
    assert ids(client.get(ACCOUNTS, {"is_active": "false"})) == [inactive.pk]
    assert ids(client.get(ACCOUNTS, {"external_id": "OPP-9"})) == [opportunity.pk]
    assert ids(client.get(ACCOUNTS, {"search": "maxis.com"})) == [customer.pk]
    detail = client.get(f"{ACCOUNTS}{customer.pk}/").json()
    assert (detail["kind"], detail["domain"]) == ("customer", "maxis.com.my")


@pytest.mark.parametrize("role", PARTNER_USERS)
def test_partner_users_get_403_for_accounts(alpha, role):
    account = add_account(alpha)
    client = alpha.client(role)
    assert client.get(ACCOUNTS).status_code == 403
    assert client.get(f"{ACCOUNTS}{account.pk}/").status_code == 403
    assert client.post(ACCOUNTS, {"kind": "customer", "name": "Mine"}).status_code == 403


def test_another_tenants_account_is_404(alpha, bravo):
    theirs = add_account(bravo)
    for client in (alpha.client(Role.TENANT_ADMIN), alpha.api_key_client(Role.FINANCE)):
        assert client.get(f"{ACCOUNTS}{theirs.pk}/").status_code == 404
        assert ids(client.get(ACCOUNTS)) == []


def test_account_list_query_count_does_not_grow(alpha, django_assert_max_num_queries):
    client = alpha.client(Role.FINANCE)
    add_account(alpha, "Account 0")
    with CaptureQueriesContext(connection) as few:
        assert len(ids(client.get(ACCOUNTS))) == 1
    baseline = len(few.captured_queries)
    for n in range(1, 15):
        add_account(alpha, f"Account {n}")
    with django_assert_max_num_queries(baseline):
        assert len(ids(client.get(ACCOUNTS))) == 15


# --- products ---------------------------------------------------------------------------


@pytest.mark.parametrize("role", PARTNER_USERS)
def test_partner_users_list_active_products(alpha, role):
    client = alpha.client(role)
    rows = client.get(PRODUCTS).json()["results"]
    assert [row["sku"] for row in rows] == [alpha.licence.sku, alpha.support.sku]
    assert rows[0] == {
        "id": alpha.licence.pk,
        "name": "Cloud licence",
        "product_line": "Cloud",
        "sku": alpha.licence.sku,
        "is_active": True,
    }
    assert client.get(f"{PRODUCTS}{alpha.retired.pk}/").status_code == 404
    assert ids(client.get(PRODUCTS, {"is_active": "false"})) == []


def test_staff_and_api_keys_list_every_product(alpha):
    for client in (alpha.client(Role.FINANCE), alpha.api_key_client()):
        assert sorted(ids(client.get(PRODUCTS))) == sorted(
            [alpha.licence.pk, alpha.support.pk, alpha.retired.pk]
        )
        assert ids(client.get(PRODUCTS, {"is_active": "false"})) == [alpha.retired.pk]
        assert ids(client.get(PRODUCTS, {"product_line": "services"})) == [alpha.support.pk]
        assert ids(client.get(PRODUCTS, {"search": alpha.retired.sku})) == [alpha.retired.pk]


def test_products_are_read_only(alpha):
    client = alpha.client(Role.TENANT_ADMIN)
    assert client.post(PRODUCTS, {"name": "x", "sku": "x"}).status_code == 405
    assert client.patch(f"{PRODUCTS}{alpha.licence.pk}/", {"name": "x"}).status_code == 405


def test_another_tenants_products_are_404_and_strangers_401(alpha, bravo):
    client = alpha.client(Role.PARTNER_REP)
    assert client.get(f"{PRODUCTS}{bravo.licence.pk}/").status_code == 404
    assert bravo.licence.pk not in ids(client.get(PRODUCTS))
    assert client_on(alpha.tenant).get(PRODUCTS).status_code == 401
    assert client_on(alpha.tenant, api_key=bravo.api_key()).get(PRODUCTS).status_code == 401
