"""The default program catalogue every new tenant starts with, and the demo logins.

``DEFAULT_PARTNER_TYPES`` and ``DEFAULT_TIERS`` follow the product brief's seed
figures (Bronze 20 % commission … Platinum 30 %, MDF 2–5 %); a tenant edits them
in the console afterwards, they are starting values, never limits.
``seed_catalogue`` writes them for the active tenant and is idempotent, so
provisioning and ``seed_demo`` share it.

``DEMO_TENANTS`` / ``DEMO_LOGINS`` / ``DEMO_PASSWORD`` describe the demo data:
``seed_demo`` creates them and ``prm.devrun`` prints them.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.utils.translation import gettext, gettext_noop

from partners.models import PartnerType, Tier


@dataclass(frozen=True)
class TypeDefault:
    key: str
    name: str
    description: str


@dataclass(frozen=True)
class TierDefault:
    key: str
    name: str
    rank: int
    commission_rate: Decimal
    mdf_percentage: Decimal
    benefits: str


# Names are stored in the tenant's rows (the tenant renames them at will): they
# are marked for extraction here and translated into the active language when
# a tenant is seeded.
DEFAULT_PARTNER_TYPES: tuple[TypeDefault, ...] = (
    TypeDefault(
        "reseller",
        gettext_noop("Reseller"),
        gettext_noop("Buys and resells licences to its own customers."),
    ),
    TypeDefault(
        "referral",
        gettext_noop("Referral"),
        gettext_noop("Introduces customers and earns a referral fee."),
    ),
    TypeDefault(
        "technology",
        gettext_noop("Technology / integration"),
        gettext_noop("Builds an integration or a joint solution with the product."),
    ),
    TypeDefault(
        "implementation",
        gettext_noop("Implementation"),
        gettext_noop("Deploys, configures and supports the product for customers."),
    ),
    TypeDefault(
        "msp_var",
        gettext_noop("MSP / VAR"),
        gettext_noop("Managed service provider or value-added reseller; recurring share."),
    ),
)

DEFAULT_TIERS: tuple[TierDefault, ...] = (
    TierDefault(
        "bronze",
        gettext_noop("Bronze"),
        1,
        Decimal("20.00"),
        Decimal("2.00"),
        gettext_noop("Standard support."),
    ),
    TierDefault(
        "silver",
        gettext_noop("Silver"),
        2,
        Decimal("23.00"),
        Decimal("3.00"),
        gettext_noop("Better rate and more MDF."),
    ),
    TierDefault(
        "gold",
        gettext_noop("Gold"),
        3,
        Decimal("26.00"),
        Decimal("4.00"),
        gettext_noop("Co-selling support and a higher MDF share."),
    ),
    TierDefault(
        "platinum",
        gettext_noop("Platinum"),
        4,
        Decimal("30.00"),
        Decimal("5.00"),
        gettext_noop("Priority deal support and the largest MDF share."),
    ),
)


def seed_catalogue() -> tuple[list[PartnerType], list[Tier]]:
    """Create the default partner types and tiers for the active tenant (idempotent).

    Names are written in the active language (wrap the call in
    ``translation.override(tenant.default_language)``). Existing rows, matched
    by key, are left as the tenant configured them.
    """
    types = [
        PartnerType.objects.get_or_create(
            key=item.key,
            defaults={"name": gettext(item.name), "description": gettext(item.description)},
        )[0]
        for item in DEFAULT_PARTNER_TYPES
    ]
    tiers = [
        Tier.objects.get_or_create(
            key=item.key,
            defaults={
                "name": gettext(item.name),
                "rank": item.rank,
                "commission_rate_modifier": item.commission_rate,
                "mdf_percentage": item.mdf_percentage,
                "benefits": gettext(item.benefits),
            },
        )[0]
        for item in DEFAULT_TIERS
    ]
    return types, tiers


# --- Demo data (seed_demo creates it, prm.devrun prints it) -----------------

DEMO_PASSWORD = "demo12345!"  # noqa: S105 - published demo credential, demo data only
DEMO_OPERATOR_EMAIL = "operator@prm.example"


@dataclass(frozen=True)
class DemoTenant:
    slug: str
    name: str
    default_language: str
    default_currency: str
    time_zone: str
    brand_color: str


DEMO_TENANTS: tuple[DemoTenant, ...] = (
    DemoTenant("yunfan", "云帆软件 Yunfan Cloud", "zh-hans", "CNY", "Asia/Shanghai", "#c8102e"),
    DemoTenant("awan", "Awan Teknologi", "ms", "MYR", "Asia/Kuala_Lumpur", "#0b7a75"),
)

# (tenant slug, e-mail, role). Partner roles belong to one of the tenant's
# demo partner organisations; one person is a partner admin of both vendors
# (one login, two memberships).
DEMO_LOGINS: tuple[tuple[str, str, str], ...] = (
    ("yunfan", "admin@yunfan.example", "tenant_admin"),
    ("yunfan", "channel@yunfan.example", "channel_manager"),
    ("yunfan", "finance@yunfan.example", "finance"),
    ("yunfan", "li.na@huatong.example", "partner_admin"),
    ("yunfan", "wang.lei@huatong.example", "partner_rep"),
    ("yunfan", "alex@multichannel.example", "partner_admin"),
    ("awan", "admin@awan.example", "tenant_admin"),
    ("awan", "channel@awan.example", "channel_manager"),
    ("awan", "finance@awan.example", "finance"),
    ("awan", "aisyah@mitraniaga.example", "partner_admin"),
    ("awan", "farid@mitraniaga.example", "partner_rep"),
    ("awan", "alex@multichannel.example", "partner_admin"),
)
