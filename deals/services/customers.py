"""Recognising the customer: the program's rules, company domains, claims, the book.

``program`` is the tenant's deal-registration settings (created with defaults
on first use). A company's domain is registrable and folded through the
tenant's domain aliases, the same way for registrations, the vendor's accounts
and CSV imports, so they match one another; ``refold_domains`` applies a new
alias to what is already stored. ``is_customer_claimed`` tells a partner only
*whether* a customer is taken. ``add_account`` is how staff add to the
vendor's book; ``import_account`` fills in an account's matching fields.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from deals.matching import Candidate, find_matches
from deals.models import Account, DealProgram, DealRegistration, DomainAlias
from deals.normalize import (
    domain_of_email,
    is_free_mail,
    normalize_company_name,
    normalize_domain,
    registrable_domain,
)
from prm.accounts.roles import PARTNER_ROLES, Capability, can
from prm.audit.services import record
from prm.errors import PermissionDenied
from prm.tenancy.context import require_tenant


def program() -> DealProgram:
    """The active tenant's deal-registration rules, created with defaults on first use."""
    found, _created = DealProgram.objects.get_or_create(tenant=require_tenant())
    return found


def _aliases() -> dict[str, str]:
    return {
        registrable_domain(normalize_domain(a.alias)): registrable_domain(
            normalize_domain(a.canonical)
        )
        for a in DomainAlias.objects.all()
    }


def refold_domains() -> int:
    """Apply the tenant's current domain aliases to what is already stored, so a
    new alias matches existing accounts and active registrations too; returns
    how many rows changed. Accounts keep only their folded domain, so removing
    an alias does not unfold them; registrations are recomputed from the
    website and e-mail the partner entered."""
    aliases = _aliases()
    changed = 0
    with transaction.atomic():
        for alias, canonical in aliases.items():
            changed += Account.objects.filter(domain=alias).update(domain=canonical)
        refolded = []
        for deal in DealRegistration.objects.filter(stage__in=DealRegistration.ACTIVE_STAGES).only(
            "pk", "website", "contact_email", "website_domain", "email_domain"
        ):
            website = company_domain(deal.website, aliases=aliases)
            email = company_domain(deal.contact_email, aliases=aliases, email=True)
            if (website, email) != (deal.website_domain, deal.email_domain):
                deal.website_domain, deal.email_domain = website, email
                refolded.append(deal)
        DealRegistration.objects.bulk_update(
            refolded, ["website_domain", "email_domain"], batch_size=500
        )
    return changed + len(refolded)


def company_domain(value: str, *, aliases: dict[str, str], email: bool = False) -> str:
    """The registrable company domain of a website or e-mail, with aliases folded in;
    free-mail providers are never a company's domain."""
    host = domain_of_email(value) if email else normalize_domain(value)
    if not host or is_free_mail(host):
        return ""
    domain = registrable_domain(host)
    return aliases.get(domain, domain)


def _candidate(*, company: str, email: str, website: str, aliases: dict[str, str]) -> Candidate:
    domains = {
        company_domain(email, aliases=aliases, email=True),
        company_domain(website, aliases=aliases),
    }
    return Candidate(
        normalized_name=normalize_company_name(company), domains={d for d in domains if d}
    )


def is_customer_claimed(*, membership, company: str, email: str = "", website: str = "") -> bool:
    """May a partner register this customer? They learn only *whether* it is
    already claimed — never by whom, nor for how much."""
    if membership is None or membership.role not in PARTNER_ROLES:
        raise PermissionDenied()
    candidate = _candidate(company=company, email=email, website=website, aliases=_aliases())
    candidate.exclude_partner_id = membership.partner_id
    matches = find_matches(candidate, threshold=program().match_threshold)
    return bool(matches)


def import_account(
    *,
    kind: str,
    name: str,
    domain: str = "",
    country: str = "",
    owner: str = "",
    external_id: str = "",
) -> Account:
    """Create one vendor account with its matching fields filled in. No
    permission check: ``add_account`` is the action people take; seeding and
    tests call this directly."""
    aliases = _aliases()
    return Account.objects.create(
        kind=kind,
        name=name.strip(),
        normalized_name=normalize_company_name(name),
        domain=company_domain(domain, aliases=aliases),
        country=country.upper(),
        owner=owner,
        external_id=external_id,
    )


def add_account(*, membership, actor, **fields: Any) -> Account:
    """Staff add one account to the vendor's book (console and API). Channel
    managers and tenant admins keep the book, as they do through CSV imports."""
    if not can(membership, Capability.MANAGE_PARTNERS):
        raise PermissionDenied(_("Only channel managers and tenant admins add accounts."))
    with transaction.atomic():
        account = import_account(**fields)
        record(actor=actor, action="account.added", target=account, summary=account.name)
    return account
