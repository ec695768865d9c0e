"""``manage.py seed_demo``: two believable demo vendors, idempotently.

Creates the tenants of ``partners.defaults.DEMO_TENANTS`` (a Chinese SaaS
vendor in zh-hans/CNY and a Malaysian one in ms/MYR), each with the default
partner types and tiers, a member of staff in every role, six partner
organisations of different types, tiers and regions with a partner admin and a
partner rep each, and a tier history written through ``assign_tier``. One
reseller (MultiChannel Asia) works with both vendors: the same people hold
partner memberships in both tenants. A platform operator is created for the
bare host. Every demo login uses ``DEMO_PASSWORD``.

Running it again creates and changes nothing: rows are looked up by their
natural keys (tenant slug, e-mail, legal name, catalogue key) and only missing
ones are created; rows that exist are left as they are, so edits made in the
console survive a re-seed. The tier history is replayed only past the steps a
partner already has. ``deals.demo`` adds products, the vendor's accounts,
rules, registrations and routed leads the same way, and every tenant gets the
default commission plan (``incentives.services.ensure_default_plan``).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import translation

from deals.demo import seed_deals
from incentives.commissions import run_commission_job
from incentives.models import PlanVersion
from incentives.services import ensure_default_plan
from partners.defaults import (
    DEMO_LOGINS,
    DEMO_OPERATOR_EMAIL,
    DEMO_PASSWORD,
    DEMO_TENANTS,
    DemoTenant,
    seed_catalogue,
)
from partners.models import PartnerOrganization, PartnerType, Tier
from partners.services import assign_tier
from prm.accounts.models import Membership, User
from prm.accounts.roles import PARTNER_ROLES, STAFF_ROLES, Role
from prm.tenancy.context import tenant_context
from prm.tenancy.models import Tenant

Active = PartnerOrganization.Status.ACTIVE
Onboarding = PartnerOrganization.Status.ONBOARDING


@dataclass(frozen=True)
class DemoPartner:
    legal_name: str
    display_name: str
    email_domain: str
    country: str
    region: str
    industries: tuple[str, ...]
    partner_type: str
    status: str
    currency: str
    # (tier key, why) in the order a channel manager assigned them.
    tier_path: tuple[tuple[str, str], ...]
    admin_name: str
    rep_name: str
    language: str = ""  # the people's preferred language; "" = the tenant's

    @property
    def website(self) -> str:
        return f"https://www.{self.email_domain}"


# Reasons are written in the vendor's own language, as its staff would.
_ZH = {
    "joined": "加入合作伙伴计划，完成销售认证。",
    "silver": "近 12 个月收入超过 5 万元，3 名销售完成认证。",
    "gold": "完成技术认证，并提供 2 个客户参考案例。",
    "platinum": "建立专属业务团队并有高管支持，年收入超过 50 万元。",
    "down": "连续两个季度未达到银牌收入门槛：降级并制定改进计划。",
}
_MS = {
    "joined": "Menyertai program rakan kongsi dan lulus pensijilan jualan.",
    "silver": "Hasil 12 bulan melebihi RM50,000 dengan tiga wakil jualan bertauliah.",
    "gold": "Pensijilan teknikal lengkap dan dua rujukan pelanggan.",
    "platinum": "Amalan khusus dengan penaja eksekutif; hasil melebihi RM500,000.",
    "down": "Hasil di bawah ambang Silver selama dua suku: diturunkan dengan pelan penambahbaikan.",
}


def _path(reasons: dict[str, str], *steps: str) -> tuple[tuple[str, str], ...]:
    """A tier path from step names: ``joined`` = Bronze, ``down`` = back to Bronze."""
    tier_of = {"joined": "bronze", "down": "bronze"}
    return tuple((tier_of.get(step, step), reasons[step]) for step in steps)


# Staff names by tenant and role; their e-mails come from DEMO_LOGINS.
STAFF_NAMES: dict[str, dict[str, str]] = {
    "yunfan": {"tenant_admin": "张伟", "channel_manager": "王芳", "finance": "刘强"},
    "awan": {
        "tenant_admin": "Nurul Huda binti Ismail",
        "channel_manager": "Tan Wei Ming",
        "finance": "Rajesh Kumar a/l Subramaniam",
    },
}

# The reseller that works with both vendors: one organisation per tenant (each
# vendor keeps its own record), the same people in both.
MULTICHANNEL = {
    "legal_name": "MultiChannel Asia Pte. Ltd.",
    "display_name": "MultiChannel Asia",
    "email_domain": "multichannel.example",
    "country": "SG",
    "region": "Singapore",
    "partner_type": "reseller",
    "status": Active,
    "currency": "SGD",
    "admin_name": "Alex Tan",
    "rep_name": "Priya Nair",
    "language": "en",
}

DEMO_PARTNERS: dict[str, tuple[DemoPartner, ...]] = {
    "yunfan": (
        DemoPartner(
            legal_name="北京华通云科技有限公司",
            display_name="华通云",
            email_domain="huatong.example",
            country="CN",
            region="北京",
            industries=("金融", "政府"),
            partner_type="reseller",
            status=Active,
            currency="CNY",
            tier_path=_path(_ZH, "joined", "silver", "gold"),
            admin_name="李娜",
            rep_name="王磊",
        ),
        DemoPartner(
            legal_name="上海启明信息技术有限公司",
            display_name="启明信息",
            email_domain="qiming.example",
            country="CN",
            region="上海",
            industries=("制造业", "零售"),
            partner_type="implementation",
            status=Active,
            currency="CNY",
            tier_path=_path(_ZH, "joined", "silver"),
            admin_name="陈静",
            rep_name="刘洋",
        ),
        DemoPartner(
            legal_name="深圳数联网络科技有限公司",
            display_name="数联网络",
            email_domain="shulian.example",
            country="CN",
            region="广东省深圳市",
            industries=("电子商务", "物流"),
            partner_type="referral",
            status=Active,
            currency="CNY",
            tier_path=_path(_ZH, "joined"),
            admin_name="黄敏",
            rep_name="周杰",
        ),
        DemoPartner(
            legal_name="杭州云栈技术有限公司",
            display_name="云栈技术",
            email_domain="yunzhan.example",
            country="CN",
            region="浙江省杭州市",
            industries=("软件", "互联网"),
            partner_type="technology",
            status=Active,
            currency="CNY",
            tier_path=_path(_ZH, "joined", "silver", "gold", "platinum"),
            admin_name="吴婷",
            rep_name="孙浩",
        ),
        DemoPartner(
            legal_name="成都蜀信信息服务有限公司",
            display_name="蜀信服务",
            email_domain="shuxin.example",
            country="CN",
            region="四川省成都市",
            industries=("医疗", "教育"),
            partner_type="msp_var",
            status=Active,
            currency="CNY",
            tier_path=_path(_ZH, "joined", "silver", "down"),
            admin_name="赵丽",
            rep_name="郑凯",
        ),
        DemoPartner(
            **MULTICHANNEL,
            industries=("SaaS 分销",),
            tier_path=_path(_ZH, "joined", "silver"),
        ),
    ),
    "awan": (
        DemoPartner(
            legal_name="Mitra Niaga Sdn Bhd",
            display_name="Mitra Niaga",
            email_domain="mitraniaga.example",
            country="MY",
            region="Selangor",
            industries=("Runcit", "Pembuatan"),
            partner_type="reseller",
            status=Active,
            currency="MYR",
            tier_path=_path(_MS, "joined", "silver", "gold"),
            admin_name="Nur Aisyah binti Ahmad",
            rep_name="Farid Hakim bin Yusof",
        ),
        DemoPartner(
            legal_name="Kelana Digital Sdn Bhd",
            display_name="Kelana Digital",
            email_domain="kelana.example",
            country="MY",
            region="Kuala Lumpur",
            industries=("Kewangan", "Insurans"),
            partner_type="implementation",
            status=Active,
            currency="MYR",
            tier_path=_path(_MS, "joined", "silver"),
            admin_name="Lim Mei Ling",
            rep_name="Ahmad Zulkifli bin Hassan",
        ),
        DemoPartner(
            legal_name="Borneo Cloud Solutions Sdn Bhd",
            display_name="Borneo Cloud",
            email_domain="borneocloud.example",
            country="MY",
            region="Sarawak",
            industries=("Minyak dan gas", "Kerajaan"),
            partner_type="msp_var",
            status=Active,
            currency="MYR",
            tier_path=_path(_MS, "joined", "silver", "gold", "platinum"),
            admin_name="Jason Ling",
            rep_name="Dayang Nurul Izzah",
        ),
        DemoPartner(
            legal_name="Penang Integrasi Sistem Sdn Bhd",
            display_name="Penang Integrasi",
            email_domain="penangsys.example",
            country="MY",
            region="Pulau Pinang",
            industries=("Elektronik", "Logistik"),
            partner_type="technology",
            status=Onboarding,
            currency="MYR",
            tier_path=_path(_MS, "joined"),
            admin_name="Ooi Chee Keong",
            rep_name="Kavitha a/p Raman",
        ),
        DemoPartner(
            legal_name="Rujuk Pintar Enterprise",
            display_name="Rujuk Pintar",
            email_domain="rujukpintar.example",
            country="MY",
            region="Johor",
            industries=("Pendidikan", "Kesihatan"),
            partner_type="referral",
            status=Active,
            currency="MYR",
            tier_path=_path(_MS, "joined", "silver", "down"),
            admin_name="Hafiz Rahman",
            rep_name="Siti Aminah binti Osman",
        ),
        DemoPartner(
            **MULTICHANNEL,
            industries=("Pengedaran SaaS",),
            tier_path=_path(_MS, "joined"),
        ),
    ),
}


def _domain(email: str) -> str:
    return email.rsplit("@", 1)[1]


def partner_login(slug: str, partner: DemoPartner, role: str) -> str:
    """The e-mail of a partner's admin or rep: the one DEMO_LOGINS names, else a pattern."""
    for tenant_slug, email, login_role in DEMO_LOGINS:
        if tenant_slug == slug and login_role == role and _domain(email) == partner.email_domain:
            return email
    prefix = "partner.admin" if role == Role.PARTNER_ADMIN else "partner.rep"
    return f"{prefix}@{partner.email_domain}"


def check_demo_data() -> None:
    """Fail early when DEMO_LOGINS and the partner list above disagree."""
    slugs = {tenant.slug for tenant in DEMO_TENANTS}
    for slug in slugs:
        if slug not in DEMO_PARTNERS or slug not in STAFF_NAMES:
            raise CommandError(f"No demo partners or staff are defined for tenant {slug!r}.")
    for slug, email, role in DEMO_LOGINS:
        if slug not in slugs:
            raise CommandError(f"DEMO_LOGINS names {slug!r}, which is not a demo tenant.")
        if role in PARTNER_ROLES and not any(
            partner.email_domain == _domain(email) for partner in DEMO_PARTNERS[slug]
        ):
            raise CommandError(f"No demo partner of {slug!r} uses the domain of {email}.")
        if role not in PARTNER_ROLES and role not in STAFF_ROLES:
            raise CommandError(f"{email}: unknown role {role!r}.")


@dataclass
class Counts:
    created: int = 0
    tier_changes: int = 0

    def add(self, created: bool) -> None:
        self.created += int(created)


def ensure_user(*, email: str, full_name: str, language: str, counts: Counts) -> User:
    user = User.objects.filter(email=email).first()
    if user is None:
        user = User.objects.create_user(
            email, DEMO_PASSWORD, full_name=full_name, preferred_language=language
        )
        counts.add(True)
    return user


def ensure_membership(*, user: User, role: str, partner, counts: Counts) -> Membership:
    membership, created = Membership.objects.get_or_create(
        user=user, defaults={"role": role, "partner": partner}
    )
    counts.add(created)
    return membership


def seed_tenant(demo: DemoTenant, counts: Counts) -> Tenant:
    tenant, created = Tenant.objects.get_or_create(
        slug=demo.slug,
        defaults={
            "name": demo.name,
            "default_language": demo.default_language,
            "default_currency": demo.default_currency,
            "time_zone": demo.time_zone,
            "brand_color": demo.brand_color,
        },
    )
    counts.add(created)
    with (
        tenant_context(tenant),
        translation.override(tenant.default_language),
        transaction.atomic(),
    ):
        before = PartnerType.objects.count() + Tier.objects.count()
        seed_catalogue()
        counts.created += PartnerType.objects.count() + Tier.objects.count() - before
        plans_before = PlanVersion.objects.count()
        ensure_default_plan()
        counts.created += PlanVersion.objects.count() - plans_before
        types = {item.key: item for item in PartnerType.objects.all()}
        tiers = {item.key: item for item in Tier.objects.all()}

        channel_manager = None
        for slug, email, role in DEMO_LOGINS:
            if slug != demo.slug or role not in STAFF_ROLES:
                continue
            user = ensure_user(
                email=email,
                full_name=STAFF_NAMES[slug].get(role, ""),
                language=tenant.default_language,
                counts=counts,
            )
            membership = ensure_membership(user=user, role=role, partner=None, counts=counts)
            if membership.role == Role.CHANNEL_MANAGER and channel_manager is None:
                channel_manager = membership
        if channel_manager is None:
            raise CommandError(f"DEMO_LOGINS has no channel manager for {demo.slug!r}.")

        for item in DEMO_PARTNERS[demo.slug]:
            partner, created = PartnerOrganization.objects.get_or_create(
                legal_name=item.legal_name,
                defaults={
                    "display_name": item.display_name,
                    "country": item.country,
                    "region": item.region,
                    "industries": list(item.industries),
                    "partner_type": types[item.partner_type],
                    "status": item.status,
                    "default_currency": item.currency,
                    "website": item.website,
                },
            )
            counts.add(created)
            language = item.language or tenant.default_language
            for role, name in (
                (Role.PARTNER_ADMIN, item.admin_name),
                (Role.PARTNER_REP, item.rep_name),
            ):
                user = ensure_user(
                    email=partner_login(demo.slug, item, role),
                    full_name=name,
                    language=language,
                    counts=counts,
                )
                ensure_membership(user=user, role=role, partner=partner, counts=counts)
            # Replay only the steps this partner does not have yet.
            done = partner.tier_changes.count()
            for tier_key, reason in item.tier_path[done:]:
                assign_tier(
                    partner=partner,
                    tier=tiers[tier_key],
                    actor=channel_manager.user,
                    membership=channel_manager,
                    reason=reason,
                )
                counts.tier_changes += 1
        counts.created += seed_deals(slug=demo.slug, channel_manager=channel_manager)
        # Won demo deals earn their commission now rather than at the nightly run.
        run_commission_job()
    return tenant


def ensure_operator(counts: Counts) -> User:
    user = User.objects.filter(email=DEMO_OPERATOR_EMAIL).first()
    if user is None:
        user = User.objects.create_superuser(
            DEMO_OPERATOR_EMAIL, DEMO_PASSWORD, full_name="Platform Operator"
        )
        counts.add(True)
    return user


class Command(BaseCommand):
    help = "Create (or complete) the two demo tenants and their logins. Safe to run again."

    def add_arguments(self, parser):
        parser.add_argument("--quiet", action="store_true", help="Print nothing.")

    def handle(self, *args, quiet: bool = False, **options):
        check_demo_data()
        counts = Counts()
        with transaction.atomic():
            ensure_operator(counts)
            tenants = [seed_tenant(demo, counts) for demo in DEMO_TENANTS]
        if quiet:
            return
        self.stdout.write(
            f"Demo data ready: {counts.created} rows created, "
            f"{counts.tier_changes} tier changes recorded."
        )
        for tenant in tenants:
            with tenant_context(tenant):
                partners = PartnerOrganization.objects.count()
                people = Membership.objects.count()
            self.stdout.write(
                f"  {tenant.name}: http://{tenant.primary_host}:8000/ "
                f"({partners} partners, {people} memberships)"
            )
        self.stdout.write(
            f"  Platform admin: http://{settings.PLATFORM_HOST}:8000/ ({DEMO_OPERATOR_EMAIL})"
        )
        self.stdout.write(f"  Every demo login uses the password {DEMO_PASSWORD}")
