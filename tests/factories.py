"""factory-boy factories. Tenant-owned factories need an active tenant
(``with tenant_context(t)``) exactly like application code."""

from __future__ import annotations

from decimal import Decimal

import factory
from factory.django import DjangoModelFactory

from partners.models import PartnerOrganization, PartnerType, Tier
from prm.accounts.models import Membership, User
from prm.accounts.roles import Role
from prm.tenancy.models import Tenant

PASSWORD = "correct horse battery staple"


class TenantFactory(DjangoModelFactory):
    class Meta:
        model = Tenant
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Vendor {n}")
    slug = factory.Sequence(lambda n: f"vendor{n}")
    default_language = "en"
    default_currency = "USD"


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("email",)

    email = factory.Sequence(lambda n: f"person{n}@example.com")
    full_name = factory.Faker("name")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @classmethod
    def _after_postgeneration(cls, instance, create, results=None):
        if create:
            instance.save()


class PartnerTypeFactory(DjangoModelFactory):
    class Meta:
        model = PartnerType

    key = factory.Sequence(lambda n: f"type{n}")
    name = factory.Sequence(lambda n: f"Type {n}")


class TierFactory(DjangoModelFactory):
    class Meta:
        model = Tier

    key = factory.Sequence(lambda n: f"tier{n}")
    name = factory.Sequence(lambda n: f"Tier {n}")
    # Far above the catalogue's ranks (1–4), which tests also create by hand: a
    # generated tier never collides with them, whatever ran before.
    rank = factory.Sequence(lambda n: n + 100)
    commission_rate_modifier = Decimal("20.00")
    mdf_percentage = Decimal("3.00")


class PartnerFactory(DjangoModelFactory):
    class Meta:
        model = PartnerOrganization

    legal_name = factory.Sequence(lambda n: f"Partner {n} Sdn Bhd")
    country = "MY"
    partner_type = factory.SubFactory(PartnerTypeFactory)
    tier = factory.SubFactory(TierFactory)
    status = PartnerOrganization.Status.ACTIVE
    default_currency = "MYR"


class MembershipFactory(DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    role = Role.PARTNER_REP
    partner = factory.SubFactory(PartnerFactory)

    class Params:
        staff = factory.Trait(partner=None, role=Role.CHANNEL_MANAGER)
