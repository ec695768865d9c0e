"""Find what a registration may conflict with, and explain every match.

A registration is compared with other partners' active registrations and the
vendor's own accounts (direct-sales accounts, open opportunities, existing
customers) on three signals: the same normalised company name, a related
company domain (website or contact e-mail, subdomains and the tenant's domain
aliases folded onto one registrable domain when the row was saved), and a
``pg_trgm`` similarity of the normalised names at or above the tenant's
threshold. Each match carries its reasons and a confidence between 0 and 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.contrib.postgres.search import TrigramSimilarity
from django.db.models import Q

from deals.models import Account, DealRegistration

EXACT_NAME = Decimal("1.000")
SAME_DOMAIN = Decimal("0.950")


@dataclass
class Candidate:
    """What we know of a (possibly unsaved) registration."""

    normalized_name: str
    domains: set[str]
    exclude_partner_id: int | None = None
    exclude_deal_id: int | None = None


@dataclass
class Match:
    other_deal: DealRegistration | None = None
    account: Account | None = None
    reasons: list[dict] = field(default_factory=list)
    confidence: Decimal = Decimal("0")

    @property
    def target_key(self) -> tuple[str, int]:
        if self.other_deal is not None:
            return ("deal", self.other_deal.pk)
        assert self.account is not None
        return ("account", self.account.pk)


def _score(name: str, domains: set[str], row_name: str, row_domains: set[str], similarity) -> Match:
    match = Match()
    if row_name and row_name == name:
        match.reasons.append({"code": "same_name", "value": row_name})
        match.confidence = max(match.confidence, EXACT_NAME)
    shared = sorted(domains & {d for d in row_domains if d})
    if shared:
        match.reasons.append({"code": "same_domain", "value": shared[0]})
        match.confidence = max(match.confidence, SAME_DOMAIN)
    if similarity is not None and row_name != name:
        value = Decimal(str(round(similarity, 3)))
        match.reasons.append({"code": "similar_name", "value": row_name, "similarity": str(value)})
        match.confidence = max(match.confidence, value)
    return match


def find_matches(candidate: Candidate, *, threshold: Decimal) -> list[Match]:
    """Every active registration of another partner and every active vendor
    account that matches, strongest first. Two queries whatever the data size."""
    name = candidate.normalized_name
    domains = {d for d in candidate.domains if d}
    # pg_trgm's similarity() is a real number in [0, 1]; a score, not money.
    cutoff = float(threshold)
    name_or_domain = Q(normalized_name=name)
    if domains:
        name_or_domain |= Q(website_domain__in=domains) | Q(email_domain__in=domains)
    deals = (
        DealRegistration.objects.filter(stage__in=DealRegistration.ACTIVE_STAGES)
        .annotate(similarity=TrigramSimilarity("normalized_name", name))
        .filter(name_or_domain | Q(similarity__gte=cutoff))
        .select_related("partner")
    )
    if candidate.exclude_partner_id is not None:
        deals = deals.exclude(partner_id=candidate.exclude_partner_id)
    if candidate.exclude_deal_id is not None:
        deals = deals.exclude(pk=candidate.exclude_deal_id)
    account_filter = Q(normalized_name=name)
    if domains:
        account_filter |= Q(domain__in=domains)
    accounts = (
        Account.objects.filter(is_active=True)
        .annotate(similarity=TrigramSimilarity("normalized_name", name))
        .filter(account_filter | Q(similarity__gte=cutoff))
    )
    matches: list[Match] = []
    for deal in deals:
        similarity = deal.similarity if deal.similarity >= cutoff else None
        match = _score(
            name,
            domains,
            deal.normalized_name,
            {deal.website_domain, deal.email_domain},
            similarity,
        )
        match.other_deal = deal
        matches.append(match)
    for account in accounts:
        similarity = account.similarity if account.similarity >= cutoff else None
        match = _score(name, domains, account.normalized_name, {account.domain}, similarity)
        match.account = account
        matches.append(match)
    return sorted((m for m in matches if m.reasons), key=lambda m: (-m.confidence, m.target_key))
