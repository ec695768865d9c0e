"""Payee details: sealed at rest, masked on read, changed by finance or the
partner's own admins only, every change and reveal audited; what blocks a payout."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test import override_settings

from partners.models import PartnerPayee
from partners.payee import (
    blockers_of,
    is_complete,
    payee_for_viewer,
    payees_by_partner,
    payout_blockers,
    reveal_payee_details,
    save_payee_details,
)
from prm.audit.models import AuditEvent
from prm.errors import DomainError, PermissionDenied
from prm.money.sealed import SealBroken, seal, unseal
from prm.tenancy.context import tenant_context
from tests.payee.conftest import ACCOUNT_COMPACT, TAX_ID, full_details

pytestmark = pytest.mark.django_db


def save(member, partner, **data):
    return save_payee_details(partner=partner, data=data, actor=member.user, membership=member)


@pytest.fixture
def in_a(payee_world):
    with tenant_context(payee_world.tenant_a):
        yield payee_world


def test_a_partner_admin_saves_details_that_are_sealed_and_masked(in_a):
    payee = save(in_a.admin_x, in_a.partner_x, **full_details())
    assert payee.masked_account_number == "•••• 9012"
    assert payee.masked_tax_id == "•••• XQ7K"
    assert (payee.swift_bic, payee.bank_country) == ("BKCHCNBJ300", "CN")
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM partners_partnerpayee WHERE id = %s", [payee.pk])
        stored = " ".join(str(value) for value in cursor.fetchone())
    assert ACCOUNT_COMPACT not in stored and TAX_ID not in stored
    assert unseal(payee.account_number_sealed) == ACCOUNT_COMPACT


def test_changes_are_audited_by_field_name_never_by_value(in_a):
    save(in_a.admin_x, in_a.partner_x, **full_details())
    save(in_a.admin_x, in_a.partner_x, account_number="DE89 3704 0044 0532 0130 00")
    events = list(AuditEvent.objects.filter(object_type="partners.partnerpayee").order_by("id"))
    assert [event.action for event in events] == [
        "partner_payee.created",
        "partner_payee.updated",
    ]
    assert events[1].data["fields"] == ["account_number"]
    dumped = json.dumps([event.data for event in events]) + " ".join(e.summary for e in events)
    assert ACCOUNT_COMPACT not in dumped and "DE89370400440532013000" not in dumped
    assert TAX_ID not in dumped


def test_saving_the_same_values_changes_nothing_and_writes_no_audit_row(in_a):
    save(in_a.admin_x, in_a.partner_x, **full_details())
    save(in_a.admin_x, in_a.partner_x, **full_details())
    assert AuditEvent.objects.filter(object_type="partners.partnerpayee").count() == 1


def test_a_blank_account_number_or_tax_id_keeps_the_one_on_file(in_a):
    save(in_a.admin_x, in_a.partner_x, **full_details())
    payee = save(in_a.admin_x, in_a.partner_x, **full_details(account_number="", tax_id=""))
    assert unseal(payee.account_number_sealed) == ACCOUNT_COMPACT
    assert unseal(payee.tax_id_sealed) == TAX_ID


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("swift_bic", "BKCH", "invalid_swift"),
        ("bank_country", "China", "invalid_country"),
        ("payout_currency", "XXX", "unknown_currency"),
        ("account_number", "12", "invalid_account_number"),
        ("tax_id", "#!", "invalid_tax_id"),
    ],
)
def test_malformed_details_are_refused(in_a, field, value, code):
    with pytest.raises(DomainError) as caught:
        save(in_a.admin_x, in_a.partner_x, **full_details(**{field: value}))
    assert (caught.value.code, caught.value.field) == (code, field)
    assert not PartnerPayee.objects.exists()


def test_a_partner_admin_cannot_touch_another_partners_details(in_a):
    with pytest.raises(PermissionDenied):
        save(in_a.admin_x, in_a.partner_y, **full_details())
    with pytest.raises(PermissionDenied):
        payee_for_viewer(membership=in_a.admin_x, partner=in_a.partner_y)


@pytest.mark.parametrize("who", ["rep_x", "manager", "tenant_admin"])
def test_reps_channel_managers_and_tenant_admins_neither_read_nor_write(in_a, who):
    member = getattr(in_a, who)
    save(in_a.admin_x, in_a.partner_x, **full_details())
    with pytest.raises(PermissionDenied):
        save(member, in_a.partner_x, legal_name="Someone Else Ltd")
    with pytest.raises(PermissionDenied):
        payee_for_viewer(membership=member, partner=in_a.partner_x)
    with pytest.raises(PermissionDenied):
        reveal_payee_details(payee=PartnerPayee.objects.get(), actor=member.user, membership=member)


def test_only_finance_records_the_tax_form(in_a):
    with pytest.raises(PermissionDenied):
        save(in_a.admin_x, in_a.partner_x, **full_details(tax_form_status="w8ben"))
    payee = save(in_a.finance, in_a.partner_x, **full_details(tax_form_status="w8ben"))
    assert payee.tax_form_status == PartnerPayee.TaxForm.W8BEN


def test_finance_reveals_the_full_values_and_the_reveal_is_audited(in_a):
    payee = save(in_a.admin_x, in_a.partner_x, **full_details())
    revealed = reveal_payee_details(payee=payee, actor=in_a.finance.user, membership=in_a.finance)
    assert (revealed.account_number, revealed.tax_id) == (ACCOUNT_COMPACT, TAX_ID)
    event = AuditEvent.objects.get(action="partner_payee.revealed")
    assert (event.actor, event.object_id) == (in_a.finance.user, str(payee.pk))
    with pytest.raises(PermissionDenied):
        reveal_payee_details(payee=payee, actor=in_a.admin_x.user, membership=in_a.admin_x)


# --- completeness --------------------------------------------------------------------


def test_no_details_on_file_blocks_the_payout(in_a):
    assert payout_blockers(in_a.partner_x) == ["No payee or tax details are on file."]
    assert not is_complete(None)


def test_each_missing_field_is_a_reason_and_complete_details_block_nothing(in_a):
    payee = save(
        in_a.admin_x, in_a.partner_x, **full_details(account_number="", swift_bic="", tax_id="")
    )
    assert blockers_of(payee) == [
        "The bank account number is missing.",
        "The bank's SWIFT/BIC code is missing.",
        "The tax id is missing.",
        "Finance has not recorded the partner's tax form.",
    ]
    save(in_a.admin_x, in_a.partner_x, **full_details())
    assert payout_blockers(in_a.partner_x) == ["Finance has not recorded the partner's tax form."]
    save(in_a.finance, in_a.partner_x, tax_form_status="local")
    assert payout_blockers(in_a.partner_x) == []
    assert is_complete(PartnerPayee.objects.get())


def test_payment_arranged_otherwise_needs_no_bank_details(in_a):
    payee = save(
        in_a.finance,
        in_a.partner_x,
        **full_details(
            payment_method="other",
            bank_name="",
            account_number="",
            swift_bic="",
            bank_country="",
            tax_form_status="not_required",
        ),
    )
    assert is_complete(payee)


def test_blockers_of_many_partners_take_one_query(in_a, django_assert_num_queries):
    save(in_a.admin_x, in_a.partner_x, **full_details())
    with django_assert_num_queries(1):
        found = payees_by_partner(partner_ids=[in_a.partner_x.pk, in_a.partner_y.pk])
    assert blockers_of(found.get(in_a.partner_y.pk)) == ["No payee or tax details are on file."]
    assert len(blockers_of(found[in_a.partner_x.pk])) == 1


def test_other_tenants_details_are_invisible(payee_world):
    with tenant_context(payee_world.tenant_b):
        save(payee_world.finance_b, payee_world.partner_z, **full_details())
    with tenant_context(payee_world.tenant_a):
        assert not PartnerPayee.objects.exists()


# --- sealing -------------------------------------------------------------------------


def test_tampered_or_foreign_ciphertext_is_refused():
    token = seal("5140123456789012")
    with pytest.raises(SealBroken):
        unseal(token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"))
    with override_settings(FIELD_ENCRYPTION_KEYS=["a" * 43 + "="]):
        with pytest.raises(SealBroken):
            unseal(token)


def test_keys_rotate_newest_first_and_old_ciphertext_still_opens():
    old, new = "b" * 43 + "=", "c" * 43 + "="
    with override_settings(FIELD_ENCRYPTION_KEYS=[old]):
        token = seal("GB29NWBK60161331926819")
    with override_settings(FIELD_ENCRYPTION_KEYS=[new, old]):
        assert unseal(token) == "GB29NWBK60161331926819"
        fresh = seal("x1234")
    with override_settings(FIELD_ENCRYPTION_KEYS=[new]):
        assert unseal(fresh) == "x1234"
