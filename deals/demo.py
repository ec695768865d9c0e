"""Demo deal registration and leads for ``manage.py seed_demo``.

Each demo vendor gets its products, a small book of direct-sales accounts,
open opportunities and customers, rules of engagement and routing rules, a few
registrations written through ``deals.services`` (one approved, one waiting in
review as a conflict with a direct account) and leads routed by
``deals.routing``. Like the rest of the seed it is idempotent: rows are looked
up by natural keys (SKU, account name, rule name, the partner and customer of a
registration, a lead's external id) and only missing ones are created.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from deals import services
from deals.leads import build_lead
from deals.models import (
    Account,
    DealRegistration,
    EngagementRule,
    Lead,
    Product,
    RoutingRule,
)
from deals.routing import route_leads
from partners.models import PartnerOrganization
from prm.accounts.models import Membership
from prm.accounts.roles import Role


@dataclass(frozen=True)
class DemoDeal:
    partner: str  # legal name
    customer_company: str
    contact_name: str
    contact_email: str
    website: str
    industry: str
    close_in_days: int
    amount: str
    sku: str
    # Closed won this many days ago with a 12-month contract (0: still open).
    won_days_ago: int = 0


@dataclass(frozen=True)
class DemoLead:
    external_id: str
    company: str
    contact_name: str
    contact_email: str
    region: str
    industry: str
    company_size: str = "medium"


@dataclass(frozen=True)
class DemoBook:
    country: str
    currency: str
    products: tuple[tuple[str, str, str], ...]  # (sku, name, product line)
    accounts: tuple[tuple[str, str, str, str], ...]  # (kind, name, domain, owner)
    engagement: tuple[tuple[str, str, tuple[str, ...], str], ...]  # (name, field, values, action)
    # (name, priority, action, lead company sizes, lead industries, require industry)
    routing: tuple[tuple[str, int, str, tuple[str, ...], tuple[str, ...], bool], ...]
    deals: tuple[DemoDeal, ...]
    leads: tuple[DemoLead, ...]


BOOKS: dict[str, DemoBook] = {
    "yunfan": DemoBook(
        country="CN",
        currency="CNY",
        products=(
            ("YF-CRM-PRO", "云帆 CRM 专业版", "CRM"),
            ("YF-CRM-ENT", "云帆 CRM 企业版", "CRM"),
            ("YF-BI", "云帆数据分析", "数据"),
            ("YF-SVC", "云帆客服云", "服务"),
        ),
        accounts=(
            ("direct", "深圳前海物流集团有限公司", "qianhai-logistics.example", "王芳"),
            ("opportunity", "杭州西湖教育科技股份有限公司", "xihu-edu.example", "王芳"),
            ("customer", "北京星河零售有限公司", "xinghe-retail.example", ""),
        ),
        engagement=(("央企与大型企业由直销负责", "company_size", ("enterprise",), "review"),),
        routing=(
            ("大型企业线索保留给直销", 10, "reserve_direct", ("enterprise",), (), False),
            ("金融、医疗与教育交给行业专家", 20, "route", (), ("金融", "医疗", "教育"), True),
            ("其余线索按地区分配", 30, "route", (), (), False),
        ),
        deals=(
            DemoDeal(
                partner="成都蜀信信息服务有限公司",
                customer_company="成都天府医疗科技有限公司",
                contact_name="赵敏",
                contact_email="zhaomin@tianfu-med.example",
                website="tianfu-med.example",
                industry="医疗",
                close_in_days=45,
                amount="180000.00",
                sku="YF-CRM-PRO",
            ),
            DemoDeal(
                partner="北京华通云科技有限公司",
                customer_company="北京金融港数据服务有限公司",
                contact_name="孙丽",
                contact_email="sunli@jrg-data.example",
                website="jrg-data.example",
                industry="金融",
                close_in_days=30,
                amount="240000.00",
                sku="YF-BI",
                won_days_ago=12,
            ),
            DemoDeal(
                partner="深圳数联网络科技有限公司",
                customer_company="深圳前海物流集团",
                contact_name="陈刚",
                contact_email="chengang@qianhai-logistics.example",
                website="www.qianhai-logistics.example",
                industry="物流",
                close_in_days=60,
                amount="420000.00",
                sku="YF-CRM-ENT",
            ),
        ),
        leads=(
            DemoLead(
                "yf-demo-1",
                "上海浦江制造有限公司",
                "周杰",
                "zhoujie@pujiang.example",
                "上海",
                "制造业",
            ),
            DemoLead(
                "yf-demo-2",
                "北京金桥银行股份有限公司",
                "李娜",
                "lina@jinqiao.example",
                "北京",
                "金融",
            ),
            DemoLead(
                "yf-demo-3",
                "广州云集电商有限公司",
                "黄磊",
                "huanglei@yunji.example",
                "广东省广州市",
                "电子商务",
            ),
            DemoLead(
                "yf-demo-4",
                "成都锦城中学",
                "刘洋",
                "liuyang@jincheng.example",
                "四川省成都市",
                "教育",
                "small",
            ),
            DemoLead(
                "yf-demo-5",
                "中华联合能源集团",
                "孙悦",
                "sunyue@zhlh-energy.example",
                "北京",
                "能源",
                "enterprise",
            ),
            DemoLead(
                "yf-demo-6",
                "杭州青禾软件有限公司",
                "吴迪",
                "wudi@qinghe.example",
                "浙江省杭州市",
                "软件",
            ),
        ),
    ),
    "awan": DemoBook(
        country="MY",
        currency="MYR",
        products=(
            ("AW-HR", "Awan HR", "HR"),
            ("AW-PAY", "Awan Gaji", "HR"),
            ("AW-POS", "Awan Runcit POS", "Runcit"),
        ),
        accounts=(
            ("direct", "Petronas Dagangan Berhad", "petronas-dagangan.example", "Tan Wei Ming"),
            ("opportunity", "Maybank Islamic Berhad", "maybank-islamic.example", "Tan Wei Ming"),
            ("customer", "Kedai Buku Popular Sdn Bhd", "popular-books.example", ""),
        ),
        engagement=(
            ("Sektor kerajaan dikendalikan jualan langsung", "industry", ("Kerajaan",), "review"),
        ),
        routing=(
            (
                "Syarikat besar kekal dengan jualan langsung",
                10,
                "reserve_direct",
                ("enterprise",),
                (),
                False,
            ),
            (
                "Kewangan dan insurans kepada pakar industri",
                20,
                "route",
                (),
                ("Kewangan", "Insurans"),
                True,
            ),
            ("Lain-lain ikut wilayah", 30, "route", (), (), False),
        ),
        deals=(
            DemoDeal(
                partner="Mitra Niaga Sdn Bhd",
                customer_company="Pasar Raya Seri Murni Sdn Bhd",
                contact_name="Aminah binti Yusof",
                contact_email="aminah@serimurni.example",
                website="serimurni.example",
                industry="Runcit",
                close_in_days=30,
                amount="56000.00",
                sku="AW-POS",
            ),
            DemoDeal(
                partner="Mitra Niaga Sdn Bhd",
                customer_company="Kilang Tekstil Batu Pahat Sdn Bhd",
                contact_name="Lee Mei Fong",
                contact_email="meifong@tekstilbp.example",
                website="tekstilbp.example",
                industry="Pembuatan",
                close_in_days=30,
                amount="84000.00",
                sku="AW-HR",
                won_days_ago=9,
            ),
            DemoDeal(
                partner="Kelana Digital Sdn Bhd",
                customer_company="PETRONAS DAGANGAN BHD",
                contact_name="Hafiz bin Rahman",
                contact_email="hafiz@petronas-dagangan.example",
                website="",
                industry="Minyak dan gas",
                close_in_days=75,
                amount="240000.00",
                sku="AW-HR",
            ),
        ),
        leads=(
            DemoLead(
                "aw-demo-1",
                "Kilang Perabot Muar Sdn Bhd",
                "Lim Chee Keong",
                "cheekeong@perabotmuar.example",
                "Johor",
                "Pembuatan",
            ),
            DemoLead(
                "aw-demo-2",
                "Koperasi Kredit Rakyat Berhad",
                "Nor Azlina",
                "azlina@kkrakyat.example",
                "Kuala Lumpur",
                "Kewangan",
            ),
            DemoLead(
                "aw-demo-3",
                "Kuching Logistik Sdn Bhd",
                "Wong Siew Ling",
                "siewling@kuchinglog.example",
                "Sarawak",
                "Logistik",
            ),
            DemoLead(
                "aw-demo-4",
                "Butik Kain Songket Sdn Bhd",
                "Siti Hajar",
                "hajar@songket.example",
                "Terengganu",
                "Runcit",
                "small",
            ),
            DemoLead(
                "aw-demo-5",
                "Syarikat Pelabuhan Utara Berhad",
                "Kamal Ariffin",
                "kamal@pelabuhan.example",
                "Pulau Pinang",
                "Logistik",
                "enterprise",
            ),
        ),
    ),
}


def _rep(partner: PartnerOrganization) -> Membership:
    return (
        Membership.objects.select_related("user", "partner")
        .filter(partner=partner, role=Role.PARTNER_REP, is_active=True)
        .order_by("pk")
        .first()
        or Membership.objects.select_related("user", "partner")
        .filter(partner=partner, is_active=True)
        .order_by("pk")
        .get()
    )


def seed_deals(*, slug: str, channel_manager: Membership) -> int:
    """Create the missing demo rows of one tenant (already active); returns how many."""
    book = BOOKS.get(slug)
    if book is None:
        return 0
    created = 0
    products = {}
    for sku, name, line in book.products:
        products[sku], new = Product.objects.get_or_create(
            sku=sku, defaults={"name": name, "product_line": line}
        )
        created += new
    for kind, name, domain, owner in book.accounts:
        if not Account.objects.filter(kind=kind, name=name).exists():
            services.import_account(
                kind=kind, name=name, domain=domain, country=book.country, owner=owner
            )
            created += 1
    for name, field, values, action in book.engagement:
        _rule, new = EngagementRule.objects.get_or_create(
            name=name, defaults={"field": field, "values": list(values), "action": action}
        )
        created += new
    for name, priority, action, sizes, industries, require_industry in book.routing:
        _routing, new = RoutingRule.objects.get_or_create(
            name=name,
            defaults={
                "priority": priority,
                "action": action,
                "company_sizes": list(sizes),
                "industries": list(industries),
                "require_industry": require_industry,
            },
        )
        created += new
    today = timezone.localdate()
    for deal in book.deals:
        partner = PartnerOrganization.objects.get(legal_name=deal.partner)
        if DealRegistration.objects.filter(
            partner=partner, customer_company=deal.customer_company
        ).exists():
            continue
        rep = _rep(partner)
        registered = services.register_deal(
            membership=rep,
            actor=rep.user,
            customer_company=deal.customer_company,
            contact_name=deal.contact_name,
            contact_email=deal.contact_email,
            estimated_close_date=today + timedelta(days=deal.close_in_days),
            currency=book.currency,
            website=deal.website,
            country=book.country,
            industry=deal.industry,
            estimated_amount=Decimal(deal.amount),
            lines=[
                services.LineInput(
                    product=products[deal.sku], quantity=1, amount=Decimal(deal.amount)
                )
            ],
        )
        if deal.won_days_ago and registered.stage == DealRegistration.Stage.APPROVED:
            services.close_won(
                deal=registered,
                membership=rep,
                actor=rep.user,
                final_amount=Decimal(deal.amount),
                currency=book.currency,
                closed_on=today - timedelta(days=deal.won_days_ago),
                contract_term_months=12,
            )
        created += 1
    new_leads = []
    existing = set(
        Lead.objects.filter(external_id__in=[lead.external_id for lead in book.leads]).values_list(
            "external_id", flat=True
        )
    )
    for item in book.leads:
        if item.external_id in existing:
            continue
        lead = build_lead(
            company=item.company,
            contact_name=item.contact_name,
            contact_email=item.contact_email,
            country=book.country,
            actor=channel_manager.user,
            region=item.region,
            industry=item.industry,
            company_size=item.company_size,
            source="demo",
            external_id=item.external_id,
        )
        lead.save()
        new_leads.append(lead.pk)
    if new_leads:
        route_leads(lead_ids=new_leads, via="arrival")
    return created + len(new_leads)
