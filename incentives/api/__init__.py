"""REST endpoints for commission plans, earnings and revenue events.

Guarantees, the same as the portal's because the same selectors
(``incentives.earnings``, ``incentives.payout_reads``) scope every read and the
same service (``incentives.services.record_revenue_event``) makes every write:

* ``plans/``: read only, for finance and tenant admins (``VIEW_MONEY`` or
  ``MANAGE_PROGRAM``); partner users and channel managers get 403.
* ``earnings/`` and ``earnings/summary/``: a partner user reads their own
  organisation's ledger transactions only — another partner's transaction
  answers 404 and never appears in a list, whatever the filters say; staff with
  ``VIEW_MONEY`` (and finance API keys) read every partner's, with a
  ``partner`` filter. Anyone else gets 403.
* ``revenue-events/``: listed for ``VIEW_MONEY``; recorded by ``MANAGE_MONEY``
  (finance, and tenant API keys with the finance role). One event as an
  object or up to ``MAX_EVENTS_PER_REQUEST`` as a list; a list is recorded
  entirely or not at all, its errors reported per item in the list's order.
  The list filters by day range (``occurred_from``/``occurred_to``), part of
  the customer's name, kind and partner.
* ``earnings/payout-status/``: pending, approved and paid per currency
  (defined in ``incentives.payout_reads``), scoped like ``earnings/summary/``.
* ``statements/``: a partner user reads their own organisation's statements
  only (another partner's or another tenant's id answers 404, the partner
  filter is ignored); finance and tenant admins (``VIEW_MONEY``) read every
  partner's, filtered by period, partner and status. Retrieving one lists its
  lines (explanation, rate and rate date); ``pdf/`` downloads it, drawn by
  ``incentives.statement_pdf``. ``mark-paid/`` is finance's
  (``MANAGE_MONEY``) and calls ``incentives.payouts.services.mark_paid``.
* ``payout-periods/``: read by ``VIEW_MONEY``; ``close/`` is finance's
  (``MANAGE_MONEY``) and calls ``incentives.payouts.services.close_period``.
  Their refusals (already closed or paid, not ended, an earlier period open,
  a missing exchange rate) answer 409 or 400 with the service's code through
  ``prm.api.exceptions``.
* Money is a decimal string; every list's queries stay constant as rows grow.

Who may call what is in ``incentives.api.permissions``; the viewsets live in
one module per concept.
"""

from incentives.api.earnings import EarningViewSet
from incentives.api.payouts import PayoutPeriodViewSet, StatementViewSet
from incentives.api.plans import PlanViewSet
from incentives.api.revenue_events import RevenueEventViewSet

__all__ = [
    "EarningViewSet",
    "PayoutPeriodViewSet",
    "PlanViewSet",
    "RevenueEventViewSet",
    "StatementViewSet",
]
