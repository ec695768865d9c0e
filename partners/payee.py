"""Partner payee details: who may see them, who may change them, and when a
payout may go out.

Guarantees:

* Only finance (``Capability.MANAGE_MONEY``) and the partner's own admins
  (``MANAGE_OWN_ORG_USERS`` with that partner) read or write a partner's payee
  details; channel managers, tenant admins, partner reps and other partners
  are refused (``PermissionDenied``). The tax form status is set by finance
  only, after checking the form.
* The bank account number and tax id are sealed at rest
  (``prm.money.sealed``). Pages show them masked ("•••• 1234");
  ``reveal_payee_details`` is the only way to read them in full, for finance
  only, and every reveal writes an audit row. Audit rows name the fields that
  changed, never their values.
* Every change runs in one transaction with its audit row.
* ``payout_blockers`` lists, in words, what is missing before a partner can be
  paid; ``is_complete`` is true when nothing is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from partners.models import PartnerOrganization, PartnerPayee
from prm.accounts.roles import Capability, can
from prm.audit.services import record
from prm.errors import Conflict, DomainError, PermissionDenied
from prm.money.sealed import seal, tail, unseal

Method = PartnerPayee.Method
TaxForm = PartnerPayee.TaxForm

# Plain fields partner admins and finance may set.
DETAIL_FIELDS = (
    "legal_name",
    "payout_currency",
    "payment_method",
    "bank_name",
    "swift_bic",
    "bank_country",
    "tax_country",
)
# Sealed fields: a blank value keeps what is on file.
SECRET_FIELDS = ("account_number", "tax_id")
# Set by finance only.
FINANCE_FIELDS = ("tax_form_status",)

SWIFT_BIC = re.compile(r"^[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?$")
ACCOUNT_NUMBER = re.compile(r"^[A-Z0-9]{4,34}$")
TAX_ID = re.compile(r"^[A-Z0-9./-]{3,30}$")
COUNTRY = re.compile(r"^[A-Z]{2}$")


# --- who may do what ------------------------------------------------------------------


def is_finance(membership) -> bool:
    return can(membership, Capability.MANAGE_MONEY)


def can_manage_payee(membership, partner: PartnerOrganization) -> bool:
    """Finance, or an admin of this very partner organisation."""
    if is_finance(membership):
        return True
    return bool(
        can(membership, Capability.MANAGE_OWN_ORG_USERS)
        and membership.partner_id is not None
        and membership.partner_id == partner.pk
    )


def _require_manager(membership, partner: PartnerOrganization) -> None:
    if not can_manage_payee(membership, partner):
        raise PermissionDenied()


# --- reads ----------------------------------------------------------------------------


def payee_of(*, partner: PartnerOrganization) -> PartnerPayee | None:
    return PartnerPayee.objects.filter(partner=partner).select_related("updated_by").first()


def payee_for_viewer(*, membership, partner: PartnerOrganization) -> PartnerPayee | None:
    """The partner's payee details, for someone allowed to see them (masked)."""
    _require_manager(membership, partner)
    return payee_of(partner=partner)


def payees_for_finance() -> QuerySet[PartnerPayee]:
    """Every partner's payee details with the partner, for the console list."""
    return PartnerPayee.objects.select_related("partner", "updated_by")


def payees_by_partner(*, partner_ids: Iterable[int]) -> dict[int, PartnerPayee]:
    """Payee details of many partners in one query (for payout runs)."""
    return {
        payee.partner_id: payee
        for payee in PartnerPayee.objects.filter(partner_id__in=list(partner_ids))
    }


# --- completeness ---------------------------------------------------------------------

_BANK_REQUIREMENTS = (
    ("bank_name", gettext_lazy("The bank's name is missing.")),
    ("account_number_sealed", gettext_lazy("The bank account number is missing.")),
    ("swift_bic", gettext_lazy("The bank's SWIFT/BIC code is missing.")),
    ("bank_country", gettext_lazy("The bank's country is missing.")),
)
_PAYEE_REQUIREMENTS = (
    ("legal_name", gettext_lazy("The payee's legal name is missing.")),
    ("payout_currency", gettext_lazy("The payout currency is missing.")),
)
_TAX_REQUIREMENTS = (
    ("tax_id_sealed", gettext_lazy("The tax id is missing.")),
    ("tax_country", gettext_lazy("The tax country is missing.")),
)


def _missing(payee: PartnerPayee, requirements) -> list[str]:
    return [str(message) for name, message in requirements if not getattr(payee, name)]


def blockers_of(payee: PartnerPayee | None) -> list[str]:
    """What stops a payout to this payee, in words; empty when nothing does."""
    if payee is None:
        return [_("No payee or tax details are on file.")]
    reasons = _missing(payee, _PAYEE_REQUIREMENTS)
    if payee.payment_method == Method.BANK_TRANSFER:
        reasons += _missing(payee, _BANK_REQUIREMENTS)
    reasons += _missing(payee, _TAX_REQUIREMENTS)
    if payee.tax_form_status == TaxForm.MISSING:
        reasons.append(_("Finance has not recorded the partner's tax form."))
    return reasons


def is_complete(payee: PartnerPayee | None) -> bool:
    """True when every field a payout requires is on file."""
    return not blockers_of(payee)


def payout_blockers(partner: PartnerOrganization) -> list[str]:
    """Reasons a payout to ``partner`` would be blocked (empty: it may be paid)."""
    return blockers_of(payee_of(partner=partner))


# --- writes ---------------------------------------------------------------------------


def _text(data: Mapping[str, Any], name: str) -> str:
    return str(data.get(name) or "").strip()


def _compact(value: str) -> str:
    return re.sub(r"[\s-]", "", value).upper()


def _clean_details(data: Mapping[str, Any]) -> dict[str, str]:
    values = {name: _text(data, name) for name in DETAIL_FIELDS if name in data}
    if "payout_currency" in values:
        values["payout_currency"] = values["payout_currency"].upper()
        if values["payout_currency"] and values["payout_currency"] not in settings.CURRENCIES:
            raise DomainError(
                _("Choose one of the program's currencies."),
                code="unknown_currency",
                field="payout_currency",
            )
    if "payment_method" in values and values["payment_method"] not in Method.values:
        raise DomainError(_("Choose a payment method."), code="invalid", field="payment_method")
    if values.get("swift_bic"):
        values["swift_bic"] = _compact(values["swift_bic"])
        if not SWIFT_BIC.match(values["swift_bic"]):
            raise DomainError(
                _("A SWIFT/BIC code has 8 or 11 letters and digits, like HBMBMYKL."),
                code="invalid_swift",
                field="swift_bic",
            )
    for name in ("bank_country", "tax_country"):
        if values.get(name):
            values[name] = values[name].upper()
            if not COUNTRY.match(values[name]):
                raise DomainError(
                    _("Use the two-letter country code, like MY or CN."),
                    code="invalid_country",
                    field=name,
                )
    return values


def _clean_secret(data: Mapping[str, Any], name: str) -> str:
    value = _compact(_text(data, name))
    if not value:
        return ""
    if name == "account_number" and not ACCOUNT_NUMBER.match(value):
        raise DomainError(
            _("An account number or IBAN has 4 to 34 letters and digits."),
            code="invalid_account_number",
            field=name,
        )
    if name == "tax_id" and not TAX_ID.match(value):
        raise DomainError(
            _("A tax id has 3 to 30 letters, digits, dots, slashes or dashes."),
            code="invalid_tax_id",
            field=name,
        )
    return value


def save_payee_details(
    *, partner: PartnerOrganization, data: Mapping[str, Any], actor, membership
) -> PartnerPayee:
    """Create or update a partner's payee details.

    A blank account number or tax id keeps the one on file. Only finance may
    set ``tax_form_status``; a partner admin sending it is refused."""
    _require_manager(membership, partner)
    finance = is_finance(membership)
    if not finance and any(name in data for name in FINANCE_FIELDS):
        raise PermissionDenied(_("Only finance records the tax form."))
    values: dict[str, Any] = _clean_details(data)
    if finance and "tax_form_status" in data:
        if data["tax_form_status"] not in TaxForm.values:
            raise DomainError(_("Choose a tax form status."), field="tax_form_status")
        values["tax_form_status"] = data["tax_form_status"]
    secrets = {name: _clean_secret(data, name) for name in SECRET_FIELDS if name in data}
    try:
        with transaction.atomic():
            payee = PartnerPayee.objects.select_for_update().filter(partner=partner).first()
            created = payee is None
            if payee is None:
                payee = PartnerPayee(partner=partner)
            changed = []
            for name, value in values.items():
                if getattr(payee, name) != value:
                    setattr(payee, name, value)
                    changed.append(name)
            for name, value in secrets.items():
                if not value or (not created and unseal(getattr(payee, f"{name}_sealed")) == value):
                    continue
                setattr(payee, f"{name}_sealed", seal(value))
                setattr(payee, f"{name}_tail", tail(value))
                changed.append(name)
            if not changed and not created:
                return payee
            payee.updated_by = actor
            payee.save()
            record(
                actor=actor,
                action="partner_payee.created" if created else "partner_payee.updated",
                target=payee,
                summary=str(partner),
                data={"partner": partner.pk, "fields": sorted(changed), "by_finance": finance},
            )
    except IntegrityError as exc:
        # Someone else created the row between our read and insert.
        raise Conflict(
            _("The payee details were saved by someone else meanwhile. Try again."),
            code="concurrent_update",
        ) from exc
    return payee


@dataclass(frozen=True)
class RevealedPayee:
    account_number: str
    tax_id: str


def reveal_payee_details(*, payee: PartnerPayee, actor, membership) -> RevealedPayee:
    """The full account number and tax id, for finance, recorded in the audit trail."""
    if not is_finance(membership):
        raise PermissionDenied()
    with transaction.atomic():
        revealed = RevealedPayee(
            account_number=unseal(payee.account_number_sealed),
            tax_id=unseal(payee.tax_id_sealed),
        )
        record(
            actor=actor,
            action="partner_payee.revealed",
            target=payee,
            summary=str(payee),
            data={"partner": payee.partner_id, "fields": list(SECRET_FIELDS)},
        )
    return revealed
