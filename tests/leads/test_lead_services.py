"""Answering offers, converting, withdrawing and lead profiles: the rules and
who may do what (another partner, another tenant, each role)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from deals import leads as lead_services
from deals import routing, services
from deals.models import DealRegistration, Lead, LeadAssignment, PartnerLeadProfile
from prm.accounts.roles import Role
from prm.audit.models import AuditEvent
from prm.errors import Conflict, DomainError, NotFound, PermissionDenied
from prm.tenancy.context import tenant_context
from tests.factories import MembershipFactory, PartnerFactory
from tests.leads.conftest import make_lead

pytestmark = pytest.mark.django_db

Outcome = LeadAssignment.Outcome
Status = Lead.Status


@pytest.fixture
def offered(world):
    """A lead offered to partner A (B is the other partner of the tenant)."""
    with tenant_context(world.tenant):
        a = world.partner("Alpha Partners Sdn Bhd")
        b = world.partner("Bravo Partners Sdn Bhd", country="SG")
        lead = make_lead(
            "Sunrise Logistics Sdn Bhd",
            contact_email="ops@sunrise.example",
            website="https://www.sunrise.example",
            region="Selangor",
            industry="Logistics",
            company_size="medium",
            estimated_amount=Decimal("12500.00"),
            currency="MYR",
            notes="Wants a demo in March.",
        )
        routing.route_leads(via=LeadAssignment.Via.ARRIVAL)
        lead.refresh_from_db()
        assert lead.partner_id == a.pk
        return lead, world.rep(a), world.rep(b)


def accept(lead, membership):
    return lead_services.accept_lead(lead=lead, membership=membership, actor=membership.user)


# --- Accept ----------------------------------------------------------------------------


def test_a_user_of_the_partner_holding_the_offer_accepts_it(world, offered):
    lead, rep_a, _rep_b = offered
    with tenant_context(world.tenant):
        accepted = accept(lead, rep_a)
        assert (accepted.status, accepted.partner_id) == (Status.ACCEPTED, rep_a.partner_id)
        assert accepted.accepted_at is not None
        offer = LeadAssignment.objects.get(lead=lead)
        assert (offer.outcome, offer.responded_by) == (Outcome.ACCEPTED, rep_a.user)
        assert offer.responded_at == accepted.accepted_at
        event = AuditEvent.objects.get(action="lead.accepted")
        assert (event.object_id, event.actor) == (str(lead.pk), rep_a.user)
        with pytest.raises(Conflict, match="already accepted"):
            accept(lead, rep_a)


def test_the_partner_admin_may_accept_too(world, offered):
    lead, rep_a, _rep_b = offered
    with tenant_context(world.tenant):
        admin = world.rep(rep_a.partner, role=Role.PARTNER_ADMIN)
        assert accept(lead, admin).status == Status.ACCEPTED


def test_another_partner_learns_nothing_about_a_lead_it_does_not_hold(world, offered):
    lead, _rep_a, rep_b = offered
    with tenant_context(world.tenant):
        with pytest.raises(NotFound):
            accept(lead, rep_b)
        with pytest.raises(NotFound):
            lead_services.reject_lead(lead=lead, membership=rep_b, actor=rep_b.user, reason="x")
        with pytest.raises(NotFound):
            lead_services.convert_lead(lead=lead, membership=rep_b, actor=rep_b.user)
        lead.refresh_from_db()
        assert lead.status == Status.OFFERED


@pytest.mark.parametrize("role", [Role.CHANNEL_MANAGER, Role.TENANT_ADMIN, Role.FINANCE])
def test_staff_do_not_answer_offers_for_partners(world, offered, role):
    lead, _rep_a, _rep_b = offered
    with tenant_context(world.tenant):
        staff = MembershipFactory(role=role, partner=None)
        with pytest.raises(PermissionDenied):
            accept(lead, staff)
        with pytest.raises(PermissionDenied):
            lead_services.convert_lead(lead=lead, membership=staff, actor=staff.user)


def test_an_inactive_membership_cannot_answer(world, offered):
    lead, rep_a, _rep_b = offered
    with tenant_context(world.tenant):
        rep_a.is_active = False
        rep_a.save()
        with pytest.raises(PermissionDenied):
            accept(lead, rep_a)


def test_a_lead_of_another_tenant_is_not_found(world, offered, tenant_b):
    lead, _rep_a, _rep_b = offered
    with tenant_context(tenant_b):
        other = MembershipFactory(role=Role.PARTNER_REP, partner=PartnerFactory())
        with pytest.raises(NotFound):
            accept(lead, other)
        with pytest.raises(NotFound):
            lead_services.withdraw_lead(
                lead=lead,
                membership=MembershipFactory(role=Role.CHANNEL_MANAGER, partner=None),
                actor=None,
                reason="x",
            )
    with tenant_context(world.tenant):
        lead.refresh_from_db()
        assert lead.status == Status.OFFERED


def test_an_offer_cannot_be_accepted_after_its_due_time(world, offered):
    lead, rep_a, _rep_b = offered
    with tenant_context(world.tenant):
        Lead.objects.filter(pk=lead.pk).update(due_at=timezone.now() - timedelta(minutes=1))
        with pytest.raises(Conflict) as caught:
            accept(lead, rep_a)
        assert caught.value.code == "offer_expired"
        assert "offered to another partner" in str(caught.value.message)
        lead.refresh_from_db()
        assert lead.status == Status.OFFERED
        assert LeadAssignment.objects.get(lead=lead).outcome == Outcome.PENDING


# --- Reject ---------------------------------------------------------------------------


def test_rejecting_needs_a_reason_and_frees_the_lead_for_re_routing(world, offered):
    lead, rep_a, _rep_b = offered
    with tenant_context(world.tenant):
        with pytest.raises(DomainError) as caught:
            lead_services.reject_lead(lead=lead, membership=rep_a, actor=rep_a.user, reason=" ")
        assert caught.value.field == "reason"

        rejected = lead_services.reject_lead(
            lead=lead, membership=rep_a, actor=rep_a.user, reason="No capacity in Selangor."
        )

        assert (rejected.status, rejected.partner_id, rejected.due_at) == (Status.NEW, None, None)
        offer = LeadAssignment.objects.get(lead=lead)
        assert (offer.outcome, offer.reason) == (Outcome.REJECTED, "No capacity in Selangor.")
        assert AuditEvent.objects.get(action="lead.rejected").summary == "No capacity in Selangor."
        with pytest.raises(NotFound):  # no longer theirs
            lead_services.reject_lead(lead=lead, membership=rep_a, actor=rep_a.user, reason="x")


def test_an_accepted_lead_cannot_be_rejected(world, offered):
    lead, rep_a, _rep_b = offered
    with tenant_context(world.tenant):
        accept(lead, rep_a)
        with pytest.raises(Conflict):
            lead_services.reject_lead(lead=lead, membership=rep_a, actor=rep_a.user, reason="x")


# --- Convert --------------------------------------------------------------------------


def test_converting_an_accepted_lead_registers_a_deal_with_the_leads_data(world, offered):
    lead, rep_a, _rep_b = offered
    with tenant_context(world.tenant):
        with pytest.raises(Conflict, match="Accept the lead"):
            lead_services.convert_lead(lead=lead, membership=rep_a, actor=rep_a.user)
        accept(lead, rep_a)

        deal = lead_services.convert_lead(lead=lead, membership=rep_a, actor=rep_a.user)

        assert isinstance(deal, DealRegistration)
        assert (deal.partner_id, deal.registered_by) == (rep_a.partner_id, rep_a.user)
        assert (deal.customer_company, deal.contact_name, deal.contact_email) == (
            "Sunrise Logistics Sdn Bhd",
            "Siti Aminah",
            "ops@sunrise.example",
        )
        assert (deal.country, deal.region, deal.industry, deal.company_size) == (
            "MY",
            "Selangor",
            "Logistics",
            "medium",
        )
        assert (deal.website_domain, deal.estimated_amount, deal.currency) == (
            "sunrise.example",
            Decimal("12500.00"),
            "MYR",
        )
        assert deal.estimated_close_date == timezone.localdate() + timedelta(days=90)
        assert lead.reference in deal.notes
        assert "Wants a demo in March." in deal.notes
        assert deal.stage == DealRegistration.Stage.APPROVED  # no conflict: approved at once
        lead.refresh_from_db()
        assert (lead.status, lead.deal) == (Status.CONVERTED, deal)
        assert AuditEvent.objects.get(action="lead.converted").data == {
            "deal": deal.pk,
            "partner": rep_a.partner_id,
        }
        with pytest.raises(Conflict, match="already been converted"):
            lead_services.convert_lead(lead=lead, membership=rep_a, actor=rep_a.user)


def test_a_converted_lead_goes_through_conflict_detection_like_any_registration(world, offered):
    lead, rep_a, rep_b = offered
    with tenant_context(world.tenant):
        earlier = services.register_deal(
            membership=rep_b,
            actor=rep_b.user,
            customer_company="Sunrise Logistics Berhad",
            contact_name="Tan",
            contact_email="tan@sunrise.example",
            estimated_close_date=timezone.localdate() + timedelta(days=30),
        )
        accept(lead, rep_a)
        deal = lead_services.convert_lead(
            lead=lead,
            membership=rep_a,
            actor=rep_a.user,
            estimated_close_date=timezone.localdate() + timedelta(days=10),
        )
        assert deal.estimated_close_date == timezone.localdate() + timedelta(days=10)
        assert (deal.stage, deal.is_conflict) == (DealRegistration.Stage.SUBMITTED, True)
        assert deal.matches.get().other_deal == earlier


# --- Withdraw ----------------------------------------------------------------------------


def test_staff_withdraw_a_lead_with_a_reason_and_its_offer_goes_with_it(world, offered):
    lead, rep_a, _rep_b = offered
    with tenant_context(world.tenant):
        with pytest.raises(PermissionDenied):
            lead_services.withdraw_lead(lead=lead, membership=rep_a, actor=rep_a.user, reason="x")
        finance = MembershipFactory(role=Role.FINANCE, partner=None)
        with pytest.raises(PermissionDenied):
            lead_services.withdraw_lead(
                lead=lead, membership=finance, actor=finance.user, reason="x"
            )
        manager = world.manager
        with pytest.raises(DomainError):
            lead_services.withdraw_lead(
                lead=lead, membership=manager, actor=manager.user, reason=""
            )

        withdrawn = lead_services.withdraw_lead(
            lead=lead, membership=manager, actor=manager.user, reason="Customer signed direct."
        )

        assert withdrawn.status == Status.WITHDRAWN
        offer = LeadAssignment.objects.get(lead=lead)
        assert (offer.outcome, offer.reason) == (Outcome.WITHDRAWN, "Customer signed direct.")
        assert AuditEvent.objects.get(action="lead.withdrawn").data["from_status"] == "offered"
        with pytest.raises(Conflict, match="no longer offered"):
            accept(lead, rep_a)
        with pytest.raises(Conflict):
            lead_services.withdraw_lead(
                lead=lead, membership=manager, actor=manager.user, reason="x"
            )
        # Nothing routes a withdrawn lead again.
        assert routing.run_lead_sweep()["offered"] == 0


def test_a_converted_lead_cannot_be_withdrawn(world, offered):
    lead, rep_a, _rep_b = offered
    with tenant_context(world.tenant):
        accept(lead, rep_a)
        lead_services.convert_lead(lead=lead, membership=rep_a, actor=rep_a.user)
        with pytest.raises(Conflict):
            lead_services.withdraw_lead(
                lead=lead, membership=world.manager, actor=world.manager.user, reason="x"
            )


# --- Lead profiles --------------------------------------------------------------------------


def set_profile(world, partner, membership=None, **values):
    data = {"accepts_leads": True, "territories": [], "capacity": None}
    data.update(values)
    membership = membership or world.manager
    return lead_services.set_lead_profile(
        partner=partner, membership=membership, actor=membership.user, **data
    )


def test_staff_set_a_partners_lead_profile(world):
    with tenant_context(world.tenant):
        partner = world.partner("Alpha")
        profile = set_profile(world, partner, territories=[" sg", "ID", "SG"], capacity=3)
        assert (profile.accepts_leads, profile.territories, profile.capacity) == (
            True,
            ["SG", "ID"],
            3,
        )
        profile = set_profile(world, partner, accepts_leads=False, capacity=None)
        assert PartnerLeadProfile.objects.get(partner=partner) == profile
        assert (profile.accepts_leads, profile.territories, profile.capacity) == (False, [], None)
        events = AuditEvent.objects.filter(action="lead_profile.changed").order_by("pk")
        assert [e.data["after"]["capacity"] for e in events] == [3, None]
        assert events.last().data["before"]["territories"] == ["SG", "ID"]


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"territories": ["MYS"]}, "territories"),
        ({"territories": ["M1"]}, "territories"),
        ({"territories": [""]}, "territories"),
        ({"capacity": 0}, "capacity"),
        ({"capacity": -2}, "capacity"),
        ({"capacity": 10001}, "capacity"),
        ({"capacity": True}, "capacity"),
    ],
)
def test_a_lead_profile_rejects_bad_territories_and_capacities(world, values, field):
    with tenant_context(world.tenant):
        partner = world.partner("Alpha")
        with pytest.raises(DomainError) as caught:
            set_profile(world, partner, **values)
        assert caught.value.field == field
        assert not PartnerLeadProfile.objects.exists()


@pytest.mark.parametrize("role", [Role.PARTNER_ADMIN, Role.PARTNER_REP, Role.FINANCE])
def test_only_channel_managers_and_tenant_admins_set_lead_profiles(world, role):
    with tenant_context(world.tenant):
        partner = world.partner("Alpha")
        member = MembershipFactory(role=role, partner=partner if "partner" in role else None)
        with pytest.raises(PermissionDenied):
            set_profile(world, partner, membership=member)
        admin = MembershipFactory(role=Role.TENANT_ADMIN, partner=None)
        assert set_profile(world, partner, membership=admin, capacity=2).capacity == 2


def test_a_partner_of_another_tenant_has_no_profile_here(world, tenant_b):
    with tenant_context(tenant_b):
        stranger = PartnerFactory()
    with tenant_context(world.tenant), pytest.raises(NotFound):
        set_profile(world, stranger)
