"""The partner portal's deal pages: register, check a customer, my deals, the deal page
and its actions — with who may see what, across partners and tenants."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.formats import date_format

from deals import services
from deals.models import DealComment, DealLine, DealRegistration, Decision, Product
from prm.tenancy.context import tenant_context
from tests.portal import fixtures as portal_fixtures
from tests.portal.fixtures import HOST_A, HOST_B

pytestmark = pytest.mark.django_db
# The portal pages' people: tenant A with partners X and Y and a channel manager, tenant B.
world = portal_fixtures.world
english = portal_fixtures.english
Stage = DealRegistration.Stage
LIST = "/deals/"
NEW = "/deals/new/"
CHECK = "/deals/check/"
ACTIONS = ["start", "close_won", "close_lost", "appeal", "comment"]


def today():
    return timezone.localdate()


def register(tenant, membership, company="Acme Holdings Sdn Bhd", lines=(), **extra):
    data = {
        "customer_company": company,
        "contact_name": "Siti Aminah",
        "contact_email": f"siti@{company.split()[0].lower()}.com.my",
        "estimated_close_date": today() + timedelta(days=60),
    }
    data.update(extra)
    with tenant_context(tenant):
        return services.register_deal(
            membership=membership,
            actor=membership.user,
            lines=[services.LineInput(product=p, quantity=q, amount=a) for p, q, a in lines],
            **data,
        )


def reload(tenant, deal):
    with tenant_context(tenant):
        return DealRegistration.objects.get(pk=deal.pk)


def form_data(**overrides):
    data = {
        "customer_company": "Acme Holdings Sdn Bhd",
        "contact_name": "Siti Aminah",
        "contact_email": "siti@acme.com.my",
        "estimated_close_date": (today() + timedelta(days=60)).isoformat(),
        "website": "www.acme.com.my",
        "country": "my",
        "region": "Selangor",
        "industry": "Logistics",
        "company_size": "medium",
        "deal_type": "new",
        "estimated_amount": "12500.50",
        "currency": "CNY",
        "notes": "",
        "lines-TOTAL_FORMS": "5",
        "lines-INITIAL_FORMS": "0",
        "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "5",
    }
    for i in range(5):
        data.update({f"lines-{i}-product": "", f"lines-{i}-quantity": "1", f"lines-{i}-amount": ""})
    data.update(overrides)
    return data


@pytest.fixture
def products(world):
    with tenant_context(world.tenant_a):
        return {
            "crm": Product.objects.create(name="Cloud CRM", product_line="CRM", sku="CRM-1"),
            "bi": Product.objects.create(name="Insight BI", product_line="BI", sku="BI-1"),
            "old": Product.objects.create(
                name="Legacy Suite", product_line="Old", sku="OLD-1", is_active=False
            ),
        }


def html_of(response) -> str:
    return response.content.decode()


# --- Registering through the form ------------------------------------------------------


def test_registration_form_offers_active_products_and_the_partners_currency(
    english, world, products
):
    english.force_login(world.rep_x.user)

    response = english.get(NEW, HTTP_HOST=HOST_A)

    assert response.status_code == 200
    html = html_of(response)
    assert "Cloud CRM" in html and "Insight BI" in html
    assert "Legacy Suite" not in html  # inactive products are not offered
    assert '<option value="CNY" selected>' in html  # partner X's default currency
    assert f'hx-get="{CHECK}"' in html and f'href="{CHECK}"' in html


def test_registering_a_new_customer_is_approved_and_says_until_when_it_is_protected(
    english, world, products
):
    english.force_login(world.rep_x.user)
    data = form_data(
        **{
            "lines-0-product": str(products["crm"].pk),
            "lines-0-quantity": "3",
            "lines-0-amount": "9000.00",
            "lines-1-product": str(products["bi"].pk),
            "lines-1-amount": "3500.50",
        }
    )

    response = english.post(NEW, data, HTTP_HOST=HOST_A)

    with tenant_context(world.tenant_a):
        deal = DealRegistration.objects.get()
        lines = list(deal.lines.order_by("id").values_list("product__sku", "quantity", "amount"))
    assert response.status_code == 302
    assert response["Location"] == reverse("deals:detail", args=[deal.reference])
    assert deal.partner_id == world.partner_x.pk
    assert deal.registered_by_id == world.rep_x.user_id
    assert deal.stage == Stage.APPROVED
    assert (deal.country, deal.company_size, deal.currency) == ("MY", "medium", "CNY")
    assert deal.estimated_amount == Decimal("12500.50")
    assert lines == [("CRM-1", 3, Decimal("9000.00")), ("BI-1", 1, Decimal("3500.50"))]

    page = english.get(response["Location"], HTTP_HOST=HOST_A)
    html = html_of(page)
    assert f"Deal {deal.reference} is registered and approved." in html
    assert "message--success" in html
    protected = deal.protected_until
    assert protected == today() + timedelta(days=90)
    with translation.override("en"):
        assert f"It is protected until {date_format(protected, 'DATE_FORMAT')}." in html


def test_registering_a_claimed_customer_goes_to_review_without_naming_the_other_partner(
    english, world
):
    register(world.tenant_a, world.rep_y, company="Acme Holdings Sdn Bhd", estimated_amount=999)
    english.force_login(world.rep_x.user)

    response = english.post(
        NEW, form_data(customer_company="ACME HOLDINGS SDN. BHD."), HTTP_HOST=HOST_A, follow=True
    )

    html = html_of(response)
    with tenant_context(world.tenant_a):
        deal = DealRegistration.objects.get(partner=world.partner_x)
    assert (deal.stage, deal.is_conflict) == (Stage.SUBMITTED, True)
    assert response.redirect_chain[-1][0] == reverse("deals:detail", args=[deal.reference])
    assert f"Deal {deal.reference} was sent to review" in html
    assert "message--warning" in html
    assert "may conflict with 1 existing registration or account" in html
    assert "Yellow" not in html and "Yonder" not in html and "rep.y@example.com" not in html
    assert "999" not in html


def test_required_fields_come_back_with_their_own_errors(english, world):
    english.force_login(world.rep_x.user)
    data = form_data(
        customer_company="",
        contact_name="",
        contact_email="not-an-email",
        estimated_close_date="",
        country="Malaysia",
    )

    response = english.post(NEW, data, HTTP_HOST=HOST_A)

    assert response.status_code == 200
    html = html_of(response)
    for field in ("customer_company", "contact_name", "contact_email", "estimated_close_date"):
        assert f'id="id_{field}_error"' in html
    assert 'id="id_country_error"' in html
    assert "Enter the two-letter country code" in html
    assert "Enter a valid email address." in html
    assert 'id="id_region_error"' not in html
    with tenant_context(world.tenant_a):
        assert not DealRegistration.objects.exists()


def test_form_errors_are_in_the_users_language(client, world):
    client.force_login(world.rep_x.user)  # tenant A's language is Simplified Chinese

    response = client.post(NEW, form_data(customer_company=""), HTTP_HOST=HOST_A)

    html = html_of(response)
    assert 'id="id_customer_company_error"' in html
    assert "该字段是必填项。" in html
    assert "This field is required." not in html


def test_a_refusal_of_the_service_is_shown_on_its_field(english, world):
    english.force_login(world.rep_x.user)
    yesterday = (today() - timedelta(days=1)).isoformat()

    response = english.post(NEW, form_data(estimated_close_date=yesterday), HTTP_HOST=HOST_A)

    html = html_of(response)
    assert response.status_code == 200
    error_list = html.split('id="id_estimated_close_date_error"', 1)[1].split("</ul>", 1)[0]
    assert "The estimated close date cannot be in the past." in error_list
    with tenant_context(world.tenant_a):
        assert not DealRegistration.objects.exists()


def test_product_lines_are_validated_line_by_line(english, world, products):
    english.force_login(world.rep_x.user)
    data = form_data(
        **{
            "lines-0-product": str(products["crm"].pk),  # no amount
            "lines-1-amount": "100",  # no product
            "lines-2-product": str(products["old"].pk),  # inactive product
            "lines-2-amount": "100",
            "lines-3-product": str(products["bi"].pk),
            "lines-3-quantity": "0",
            "lines-3-amount": "-5",
        }
    )

    response = english.post(NEW, data, HTTP_HOST=HOST_A)

    html = html_of(response)
    assert response.status_code == 200
    assert 'id="id_lines-0-amount_error"' in html
    assert "Enter the amount of this line." in html
    assert 'id="id_lines-1-product_error"' in html
    assert "Choose the product for this line." in html
    assert 'id="id_lines-2-product_error"' in html
    assert 'id="id_lines-3-quantity_error"' in html
    assert 'id="id_lines-3-amount_error"' in html
    assert 'id="id_lines-4-product_error"' not in html
    with tenant_context(world.tenant_a):
        assert not DealRegistration.objects.exists()


def test_no_more_than_five_product_lines(english, world, products):
    english.force_login(world.rep_x.user)
    data = form_data(**{"lines-TOTAL_FORMS": "6"})
    for i in range(6):
        data.update(
            {
                f"lines-{i}-product": str(products["crm"].pk),
                f"lines-{i}-quantity": "1",
                f"lines-{i}-amount": "10",
            }
        )

    response = english.post(NEW, data, HTTP_HOST=HOST_A)

    assert response.status_code == 200
    assert "Please submit at most 5 forms." in html_of(response)
    with tenant_context(world.tenant_a):
        assert not DealRegistration.objects.exists()


# --- Is this customer already registered? -------------------------------------------


def test_check_says_only_yes_for_a_customer_another_partner_claimed(english, world):
    register(world.tenant_a, world.rep_y, company="Acme Holdings", estimated_amount=777777)
    english.force_login(world.rep_x.user)

    response = english.get(CHECK, {"customer_company": "acme holdings sdn bhd"}, HTTP_HOST=HOST_A)

    html = html_of(response)
    assert response.status_code == 200
    assert 'data-claimed="yes"' in html
    assert "Yes, this customer is already claimed." in html
    for secret in ("Yellow", "rep.y@example.com", "777", "DR-", "siti@"):
        assert secret not in html


def test_check_says_no_for_an_unclaimed_customer_and_for_the_partners_own_deal(english, world):
    register(world.tenant_a, world.rep_x, company="Acme Holdings")
    english.force_login(world.rep_x.user)

    unclaimed = english.get(CHECK, {"customer_company": "Borneo Shipping"}, HTTP_HOST=HOST_A)
    own = english.get(CHECK, {"customer_company": "Acme Holdings"}, HTTP_HOST=HOST_A)

    assert 'data-claimed="no"' in html_of(unclaimed)
    assert 'data-claimed="no"' in html_of(own)


def test_check_matches_on_the_domain_too(english, world):
    register(world.tenant_a, world.rep_y, company="Acme Holdings", website="acme.com.my")
    english.force_login(world.rep_x.user)

    response = english.get(
        CHECK,
        {"customer_company": "Totally Different Name", "contact_email": "boss@sales.acme.com.my"},
        HTTP_HOST=HOST_A,
    )

    assert 'data-claimed="yes"' in html_of(response)


def test_check_answers_htmx_with_the_result_only(english, world):
    english.force_login(world.rep_x.user)

    response = english.get(
        CHECK, {"customer_company": "Borneo Shipping"}, HTTP_HOST=HOST_A, HTTP_HX_REQUEST="true"
    )
    empty = english.get(CHECK, {"customer_company": ""}, HTTP_HOST=HOST_A, HTTP_HX_REQUEST="true")

    html = html_of(response)
    assert html.lstrip().startswith('<div id="claim-check-result"')
    assert "<html" not in html
    assert 'data-claimed="no"' in html
    assert "This field is required." in html_of(empty)
    assert "data-claimed" not in html_of(empty)


def test_check_page_works_without_javascript(english, world):
    english.force_login(world.rep_x.user)

    page = english.get(CHECK, HTTP_HOST=HOST_A)

    html = html_of(page)
    assert page.status_code == 200
    assert f'action="{CHECK}"' in html and 'method="get"' in html
    assert "data-claimed" not in html
    assert "This field is required." not in html


# --- My deals ------------------------------------------------------------------------------


def test_my_deals_lists_the_organisations_deals_only(english, world):
    mine = register(world.tenant_a, world.rep_x, company="Acme Holdings", estimated_amount=12345)
    colleague = register(world.tenant_a, world.admin_x, company="Borneo Shipping")
    theirs = register(world.tenant_a, world.rep_y, company="Cendana Foods")
    english.force_login(world.rep_x.user)

    response = english.get(LIST, HTTP_HOST=HOST_A)

    html = html_of(response)
    assert response.status_code == 200
    assert mine.reference in html and colleague.reference in html
    assert theirs.reference not in html and "Cendana" not in html
    assert "12,345.00 CNY" in html
    assert 'data-stage="approved"' in html
    protected = mine.protected_until
    assert protected is not None
    assert protected.strftime("%m/%d/%Y") in html


def test_my_deals_shows_dates_and_amounts_in_the_users_locale(client, world):
    register(world.tenant_a, world.rep_x, company="Acme Holdings", estimated_amount=12345)
    client.force_login(world.rep_x.user)  # tenant A's language is Simplified Chinese

    html = html_of(client.get(LIST, HTTP_HOST=HOST_A))

    protected = today() + timedelta(days=90)
    assert f"{protected.year}年{protected.month}月{protected.day}日" in html
    assert "12345.00 CNY" in html  # no thousands separator in zh-hans
    assert "12,345.00" not in html


def test_my_deals_empty_state_invites_to_register(english, world):
    english.force_login(world.rep_x.user)

    html = html_of(english.get(LIST, HTTP_HOST=HOST_A))

    assert "You have not registered any deals yet." in html
    assert f'href="{NEW}"' in html


def test_my_deals_searches_customer_and_reference(english, world):
    acme = register(world.tenant_a, world.rep_x, company="Acme Holdings")
    borneo = register(world.tenant_a, world.rep_x, company="Borneo Shipping")
    english.force_login(world.rep_x.user)

    by_name = html_of(english.get(LIST, {"q": "acme"}, HTTP_HOST=HOST_A))
    by_reference = html_of(english.get(LIST, {"q": borneo.reference.lower()}, HTTP_HOST=HOST_A))
    nothing = html_of(english.get(LIST, {"q": "zzz"}, HTTP_HOST=HOST_A))

    assert acme.reference in by_name and borneo.reference not in by_name
    assert borneo.reference in by_reference and acme.reference not in by_reference
    assert "No deals match your search and filters." in nothing


def test_my_deals_filters_by_stage_expiry_and_product(english, world, products):
    soon = register(world.tenant_a, world.rep_x, company="Acme Holdings")
    later = register(
        world.tenant_a, world.rep_x, company="Borneo Shipping", lines=[(products["bi"], 1, 5)]
    )
    with tenant_context(world.tenant_a):
        DealRegistration.objects.filter(pk=soon.pk).update(
            protected_until=today() + timedelta(days=5)
        )
        lost = services.close_lost(
            deal=later, membership=world.rep_x, actor=world.rep_x.user, reason="Budget cut"
        )
    waiting = register(
        world.tenant_a,
        world.rep_x,
        company="Cendana Foods",
        lines=[(products["crm"], 2, 10)],
        estimated_close_date=today() + timedelta(days=3),
    )
    with tenant_context(world.tenant_a):
        DealRegistration.objects.filter(pk=waiting.pk).update(
            stage=Stage.SUBMITTED, protected_until=None
        )
    english.force_login(world.rep_x.user)

    def listed(**query):
        html = html_of(english.get(LIST, query, HTTP_HOST=HOST_A))
        return {d.reference for d in (soon, lost, waiting) if d.reference in html}

    assert listed(stage="closed_lost") == {lost.reference}
    assert listed(stage="submitted") == {waiting.reference}
    assert listed(expiring="7") == {soon.reference}
    assert listed(expiring="60") == {soon.reference}
    assert listed(product=str(products["crm"].pk)) == {waiting.reference}
    assert listed(product=str(products["bi"].pk)) == {lost.reference}
    assert listed(stage="approved", product=str(products["bi"].pk)) == set()
    assert listed() == {soon.reference, lost.reference, waiting.reference}
    # An invalid filter is reported and filters nothing.
    response = english.get(LIST, {"stage": "nonsense"}, HTTP_HOST=HOST_A)
    assert 'id="id_stage_error"' in html_of(response)


def test_my_deals_has_pages_of_25(english, world):
    with tenant_context(world.tenant_a):
        for i in range(30):
            services.register_deal(
                membership=world.rep_x,
                actor=world.rep_x.user,
                customer_company=f"Customer {i:02d} Trading",
                contact_name="A",
                contact_email=f"a@customer{i}.example",
                estimated_close_date=today() + timedelta(days=30),
            )
    english.force_login(world.rep_x.user)

    first = html_of(english.get(LIST, {"q": "trading"}, HTTP_HOST=HOST_A))
    second = html_of(english.get(LIST, {"q": "trading", "page": "2"}, HTTP_HOST=HOST_A))

    assert first.count('data-stage="') == 25
    assert second.count('data-stage="') == 5
    assert "30 deals" in first
    assert "Page 1 of 2" in first and "Page 2 of 2" in second
    assert "?q=trading&amp;page=2" in first  # filters survive paging
    assert "Customer 29 Trading" in first and "Customer 00 Trading" in second


def test_my_deals_query_count_does_not_grow_with_deals_and_lines(client, world, products):
    def add(count, offset):
        with tenant_context(world.tenant_a):
            for i in range(offset, offset + count):
                services.register_deal(
                    membership=world.rep_x,
                    actor=world.rep_x.user,
                    customer_company=f"Firm {i} Bhd",
                    contact_name="A",
                    contact_email=f"a@firm{i}.example",
                    estimated_close_date=today() + timedelta(days=30),
                    lines=[
                        services.LineInput(products["crm"], 2, Decimal("10")),
                        services.LineInput(products["bi"], 1, Decimal("5")),
                    ],
                )

    client.force_login(world.rep_x.user)
    add(3, 0)
    with CaptureQueriesContext(connection) as small:
        response = client.get(LIST, HTTP_HOST=HOST_A)
        assert response.status_code == 200
    add(27, 3)
    with CaptureQueriesContext(connection) as large:
        response = client.get(LIST, HTTP_HOST=HOST_A)
        assert html_of(response).count('data-stage="') == 25
    assert len(large) == len(small)
    # Searching and filtering cost the same too.
    query = {"q": "firm", "stage": "approved", "product": products["crm"].pk, "expiring": "90"}
    with CaptureQueriesContext(connection) as filtered:
        response = client.get(LIST, query, HTTP_HOST=HOST_A)
        assert html_of(response).count('data-stage="approved"') == 25
    assert len(filtered) == len(small)


# --- The deal page ----------------------------------------------------------------------


def test_deal_page_shows_details_lines_timeline_and_decision(english, world, products):
    deal = register(
        world.tenant_a,
        world.rep_x,
        company="Acme Holdings",
        lines=[(products["crm"], 4, Decimal("4000"))],
        estimated_amount=Decimal("4000"),
        notes="Met the CIO at the expo.",
    )
    english.force_login(world.rep_x.user)
    english.post(reverse("deals:start", args=[deal.reference]), HTTP_HOST=HOST_A)

    response = english.get(reverse("deals:detail", args=[deal.reference]), HTTP_HOST=HOST_A)

    html = html_of(response)
    assert response.status_code == 200
    assert "Acme Holdings" in html and "Siti Aminah" in html
    assert "Met the CIO at the expo." in html
    assert "Cloud CRM" in html and "CRM-1" in html and "4,000.00 CNY" in html
    # The timeline: what, who, when.
    assert html.index('data-event="submitted"') < html.index('data-event="auto_approved"')
    assert html.index('data-event="auto_approved"') < html.index('data-event="stage_changed"')
    assert "Registered" in html and "Approved automatically" in html
    assert "Approved → In progress" in html
    assert "Wang Fang" in html  # rep X started it
    assert "automatically" in html
    # The decision record.
    assert "First to register; no conflict; within the rules of engagement" in html
    assert "Approved automatically." in html


def test_deal_page_query_count_does_not_grow_with_its_history(client, world, products):
    deal = register(
        world.tenant_a, world.rep_x, company="Acme Holdings", lines=[(products["crm"], 1, 1)]
    )
    url = reverse("deals:detail", args=[deal.reference])
    client.force_login(world.rep_x.user)
    with CaptureQueriesContext(connection) as small:
        assert client.get(url, HTTP_HOST=HOST_A).status_code == 200
    with tenant_context(world.tenant_a):
        for i in range(10):
            services.add_comment(
                deal=deal, membership=world.rep_x, actor=world.rep_x.user, body=f"Note {i}"
            )
            DealLine.objects.create(deal=deal, product=products["bi"], quantity=1, amount=1)
        services.start_progress(deal=deal, membership=world.staff_a, actor=world.staff_a.user)
    with CaptureQueriesContext(connection) as large:
        assert "Note 9" in html_of(client.get(url, HTTP_HOST=HOST_A))
    assert len(large) == len(small)


def test_a_decision_shows_policy_reason_and_only_the_number_of_matches(english, world):
    register(world.tenant_a, world.rep_y, company="Acme Holdings", estimated_amount=4242)
    deal = register(world.tenant_a, world.rep_x, company="Acme Holdings")
    with tenant_context(world.tenant_a):
        services.decide_registration(
            deal=deal,
            membership=world.staff_a,
            actor=world.staff_a.user,
            outcome=Decision.Outcome.CO_SELL,
            reason="Both partners worked the account.",
            partner_share=Decimal("60"),
        )
    english.force_login(world.rep_x.user)

    html = html_of(english.get(reverse("deals:detail", args=[deal.reference]), HTTP_HOST=HOST_A))

    assert "Co-sell with a commission split" in html
    assert "Both partners worked the account." in html
    assert "60%" in html
    decisions = html.split('id="decisions"', 1)[1].split('id="timeline"', 1)[0]
    assert "Possible conflicts considered</dt><dd>1</dd>" in decisions
    assert "Yellow" not in html and "rep.y@example.com" not in html and "4,242" not in html


# --- Actions -----------------------------------------------------------------------------


def test_start_progress_then_close_won_records_the_facts(english, world):
    deal = register(world.tenant_a, world.rep_x)
    english.force_login(world.rep_x.user)
    detail = reverse("deals:detail", args=[deal.reference])

    started = english.post(reverse("deals:start", args=[deal.reference]), HTTP_HOST=HOST_A)
    assert started.status_code == 302 and started["Location"] == detail
    assert reload(world.tenant_a, deal).stage == Stage.IN_PROGRESS

    won = english.post(
        reverse("deals:close_won", args=[deal.reference]),
        {
            "final_amount": "48,000.00",
            "currency": "USD",
            "closed_on": today().isoformat(),
            "contract_term_months": "24",
        },
        HTTP_HOST=HOST_A,
    )

    assert won.status_code == 302
    closed = reload(world.tenant_a, deal)
    assert closed.stage == Stage.CLOSED_WON
    assert (closed.final_amount, closed.currency) == (Decimal("48000.00"), "USD")
    assert (closed.closed_on, closed.contract_term_months) == (today(), 24)
    html = html_of(english.get(detail, HTTP_HOST=HOST_A))
    assert "48,000.00 USD" in html and "24 months" in html
    assert reverse("deals:close_won", args=[deal.reference]) not in html  # no more actions


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("final_amount", "", "This field is required."),
        ("final_amount", "0", "greater than or equal to 0.01"),
        ("closed_on", "tomorrow", "The close date cannot be in the future."),
        ("contract_term_months", "0", "greater than or equal to 1"),
        ("currency", "XXX", "Select a valid choice."),
    ],
)
def test_close_won_is_validated_field_by_field(english, world, field, value, message):
    deal = register(world.tenant_a, world.rep_x)
    english.force_login(world.rep_x.user)
    data = {
        "final_amount": "1000",
        "currency": "CNY",
        "closed_on": today().isoformat(),
        "contract_term_months": "12",
    }
    data[field] = (today() + timedelta(days=1)).isoformat() if value == "tomorrow" else value

    response = english.post(
        reverse("deals:close_won", args=[deal.reference]), data, HTTP_HOST=HOST_A
    )

    html = html_of(response)
    assert response.status_code == 200
    assert f'id="id_{field}_error"' in html and message in html
    assert '<details id="close-won" open>' in html
    assert reload(world.tenant_a, deal).stage == Stage.APPROVED


def test_close_won_of_a_deal_in_review_is_refused_without_changing_it(english, world):
    deal = register(world.tenant_a, world.rep_x)
    with tenant_context(world.tenant_a):
        DealRegistration.objects.filter(pk=deal.pk).update(stage=Stage.SUBMITTED)
    english.force_login(world.rep_x.user)

    response = english.post(
        reverse("deals:close_won", args=[deal.reference]),
        {
            "final_amount": "1000",
            "currency": "CNY",
            "closed_on": today().isoformat(),
            "contract_term_months": "12",
        },
        HTTP_HOST=HOST_A,
        follow=True,
    )

    assert response.redirect_chain == [(reverse("deals:detail", args=[deal.reference]), 302)]
    html = html_of(response)
    assert "message--error" in html and "cannot move to Closed won" in html
    assert reload(world.tenant_a, deal).stage == Stage.SUBMITTED


def test_close_lost_needs_a_reason(english, world):
    deal = register(world.tenant_a, world.rep_x)
    english.force_login(world.rep_x.user)
    url = reverse("deals:close_lost", args=[deal.reference])

    refused = english.post(url, {"reason": ""}, HTTP_HOST=HOST_A)
    assert 'id="id_reason_error"' in html_of(refused)
    assert reload(world.tenant_a, deal).stage == Stage.APPROVED

    english.post(url, {"reason": "Chose a competitor"}, HTTP_HOST=HOST_A)
    assert reload(world.tenant_a, deal).stage == Stage.CLOSED_LOST
    html = html_of(english.get(reverse("deals:detail", args=[deal.reference]), HTTP_HOST=HOST_A))
    assert "Chose a competitor" in html


def test_starting_progress_twice_is_reported_not_crashed(english, world):
    deal = register(world.tenant_a, world.rep_x)
    english.force_login(world.rep_x.user)
    url = reverse("deals:start", args=[deal.reference])
    english.post(url, HTTP_HOST=HOST_A)

    response = english.post(url, HTTP_HOST=HOST_A, follow=True)

    assert "message--error" in html_of(response)
    assert "cannot move to In progress" in html_of(response)


def test_a_rejected_registration_is_appealed_once(english, world):
    register(world.tenant_a, world.rep_y, company="Acme Holdings")
    deal = register(world.tenant_a, world.rep_x, company="Acme Holdings")
    with tenant_context(world.tenant_a):
        decision = services.decide_registration(
            deal=deal,
            membership=world.staff_a,
            actor=world.staff_a.user,
            outcome=Decision.Outcome.REJECTED,
            reason="The other registration came first.",
        )
    english.force_login(world.rep_x.user)
    detail = reverse("deals:detail", args=[deal.reference])
    appeal = reverse("deals:appeal", args=[deal.reference])
    page = html_of(english.get(detail, HTTP_HOST=HOST_A))
    assert "Rejected on review" in page and "The other registration came first." in page
    assert f'action="{appeal}"' in page

    empty = english.post(appeal, {"comment": "  "}, HTTP_HOST=HOST_A)
    assert 'id="id_comment_error"' in html_of(empty)
    response = english.post(appeal, {"comment": "We met the customer in March."}, HTTP_HOST=HOST_A)

    assert response.status_code == 302
    assert response["Location"] == detail + "#decisions"
    with tenant_context(world.tenant_a):
        decision.refresh_from_db()
        assert decision.appeal_comment == "We met the customer in March."
        assert decision.appealed_by_id == world.rep_x.user_id
    assert reload(world.tenant_a, deal).stage == Stage.SUBMITTED
    after = html_of(english.get(detail, HTTP_HOST=HOST_A))
    assert "We met the customer in March." in after
    assert 'data-event="appealed"' in after
    assert f'action="{appeal}"' not in after

    # Decided again and rejected again: no second appeal.
    with tenant_context(world.tenant_a):
        services.decide_registration(
            deal=deal,
            membership=world.staff_a,
            actor=world.staff_a.user,
            outcome=Decision.Outcome.REJECTED,
            reason="Still first come, first served.",
        )
    again_page = html_of(english.get(detail, HTTP_HOST=HOST_A))
    assert f'action="{appeal}"' not in again_page
    again = english.post(appeal, {"comment": "Please look again."}, HTTP_HOST=HOST_A, follow=True)
    assert again.redirect_chain == [(detail + "#decisions", 302)]
    assert "already been appealed once" in html_of(again)
    assert reload(world.tenant_a, deal).stage == Stage.REJECTED


def test_comments_are_added_and_shown(english, world):
    deal = register(world.tenant_a, world.rep_x)
    english.force_login(world.rep_x.user)
    url = reverse("deals:comment", args=[deal.reference])

    empty = english.post(url, {"body": ""}, HTTP_HOST=HOST_A)
    assert 'id="id_body_error"' in html_of(empty)
    response = english.post(url, {"body": "Demo booked for Friday."}, HTTP_HOST=HOST_A)

    assert response.status_code == 302
    html = html_of(english.get(reverse("deals:detail", args=[deal.reference]), HTTP_HOST=HOST_A))
    assert "Demo booked for Friday." in html and "Wang Fang" in html


# --- Who may see what ------------------------------------------------------------------


def _action_posts(client, reference, host):
    data = {
        "start": {},
        "close_won": {
            "final_amount": "1",
            "currency": "CNY",
            "closed_on": today().isoformat(),
            "contract_term_months": "12",
        },
        "close_lost": {"reason": "x"},
        "appeal": {"comment": "x"},
        "comment": {"body": "x"},
    }
    return {
        name: client.post(reverse(f"deals:{name}", args=[reference]), data[name], HTTP_HOST=host)
        for name in ACTIONS
    }


def test_another_partners_deal_is_not_found_on_the_page_nor_for_any_action(client, world):
    theirs = register(world.tenant_a, world.rep_y)
    client.force_login(world.admin_x.user)

    page = client.get(reverse("deals:detail", args=[theirs.reference]), HTTP_HOST=HOST_A)
    posts = _action_posts(client, theirs.reference, HOST_A)

    assert page.status_code == 404
    assert {name: r.status_code for name, r in posts.items()} == dict.fromkeys(ACTIONS, 404)
    after = reload(world.tenant_a, theirs)
    assert after.stage == Stage.APPROVED
    with tenant_context(world.tenant_a):
        assert not DealComment.objects.exists()
        assert not Decision.objects.exclude(appealed_at=None).exists()


def test_another_tenants_deal_is_not_found_on_this_tenants_host(client, world):
    other = register(world.tenant_b, world.rep_z, company="Zaman Holdings")
    client.force_login(world.rep_x.user)
    client.cookies["django_language"] = "en"  # tenant A opens in Chinese

    page = client.get(reverse("deals:detail", args=[other.reference]), HTTP_HOST=HOST_A)
    posts = _action_posts(client, other.reference, HOST_A)
    listing = client.get(LIST, {"q": other.reference}, HTTP_HOST=HOST_A)

    assert page.status_code == 404
    assert {name: r.status_code for name, r in posts.items()} == dict.fromkeys(ACTIONS, 404)
    assert 'data-stage="' not in html_of(listing)
    assert "No deals match your search and filters." in html_of(listing)
    assert reload(world.tenant_b, other).stage == Stage.APPROVED
    with tenant_context(world.tenant_b):
        assert not DealComment.objects.exists()


def test_own_deal_is_reachable_on_the_own_tenants_host_only(client, world):
    other = register(world.tenant_b, world.rep_z, company="Zaman Holdings")
    client.force_login(world.rep_z.user)

    assert (
        client.get(reverse("deals:detail", args=[other.reference]), HTTP_HOST=HOST_B).status_code
        == 200
    )
    assert client.get(LIST, HTTP_HOST=HOST_B).status_code == 200


@pytest.mark.parametrize("url", [LIST, NEW, CHECK + "?customer_company=Acme"])
def test_staff_are_forbidden(client, world, url):
    client.force_login(world.staff_a.user)
    assert client.get(url, HTTP_HOST=HOST_A).status_code == 403


def test_staff_cannot_use_the_partner_deal_page_or_actions(client, world):
    deal = register(world.tenant_a, world.rep_x)
    client.force_login(world.staff_a.user)

    page = client.get(reverse("deals:detail", args=[deal.reference]), HTTP_HOST=HOST_A)
    posts = _action_posts(client, deal.reference, HOST_A)
    registration = client.post(NEW, form_data(), HTTP_HOST=HOST_A)

    assert page.status_code == 403
    assert {name: r.status_code for name, r in posts.items()} == dict.fromkeys(ACTIONS, 403)
    assert registration.status_code == 403
    assert reload(world.tenant_a, deal).stage == Stage.APPROVED


@pytest.mark.parametrize("who", ["admin_x", "rep_x"])
def test_partner_admins_and_reps_both_use_the_pages(english, world, who):
    english.force_login(getattr(world, who).user)

    for url in (LIST, NEW, CHECK):
        assert english.get(url, HTTP_HOST=HOST_A).status_code == 200
    home = html_of(english.get("/", HTTP_HOST=HOST_A))
    assert f'href="{LIST}"' in home and ">Deals</a>" in home


def test_staff_navigation_has_no_deals_link(english, world):
    english.force_login(world.staff_a.user)
    home = html_of(english.get("/", HTTP_HOST=HOST_A))
    assert f'href="{LIST}"' not in home


def test_anonymous_visitors_are_sent_to_sign_in(client, world):
    deal = register(world.tenant_a, world.rep_x)
    for url in (LIST, NEW, CHECK, reverse("deals:detail", args=[deal.reference])):
        response = client.get(url, HTTP_HOST=HOST_A)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("account_login"))
    response = client.post(
        reverse("deals:comment", args=[deal.reference]), {"body": "x"}, HTTP_HOST=HOST_A
    )
    assert response.status_code == 302


def test_actions_need_post_and_csrf(world):
    from django.test import Client

    deal = register(world.tenant_a, world.rep_x)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(world.rep_x.user)
    url = reverse("deals:start", args=[deal.reference])

    assert strict.get(url, HTTP_HOST=HOST_A).status_code == 405
    assert strict.post(url, HTTP_HOST=HOST_A).status_code == 403
    assert strict.post(NEW, form_data(), HTTP_HOST=HOST_A).status_code == 403
    assert reload(world.tenant_a, deal).stage == Stage.APPROVED
