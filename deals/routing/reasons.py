"""Routing's constants, the exclusion reason codes and the progress protocol."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Protocol

from deals.models import Lead, LeadAssignment

CHUNK_SIZE = 1000
HISTORY_DAYS = 180
RUNNERS_UP = 5
LISTED_EXCLUDED = 50
# Far misses (another territory, no leads taken) are the same partners for
# every lead of a country and say little: at most this many are listed.
LISTED_FAR = 10
# The neutral prior: every rate starts as PRIOR_RATE observed PRIOR_TRIALS times.
PRIOR_RATE = Decimal("0.5")
PRIOR_TRIALS = 2
# Advisory-lock namespace for "route leads of tenant N one chunk at a time".
_ROUTING_LOCK = 0x4C524F55  # "LROU"
_FOUR_PLACES = Decimal("0.0001")
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

Outcome = LeadAssignment.Outcome
Via = LeadAssignment.Via
Status = Lead.Status
_DECIDED = (Outcome.ACCEPTED, Outcome.REJECTED, Outcome.EXPIRED)
_ANSWERED = (Outcome.ACCEPTED, Outcome.REJECTED)
_REROUTED_AFTER = frozenset({Outcome.REJECTED, Outcome.EXPIRED})


class Reason(StrEnum):
    """Why a partner was excluded; the UI translates the codes."""

    NOT_ACCEPTING_LEADS = "not_accepting_leads"
    OUTSIDE_TERRITORY = "outside_territory"
    INDUSTRY_NOT_LISTED = "industry_not_listed"
    PARTNER_TYPE_NOT_ALLOWED = "partner_type_not_allowed"
    TIER_NOT_ALLOWED = "tier_not_allowed"
    OFFERED_BEFORE = "offered_before"
    AT_CAPACITY = "at_capacity"


# Traces list the nearest misses first: a partner excluded only for capacity
# is more telling than one in another country. (Offered before and at
# capacity, which change lead by lead, come before these.)
_NEAR_MISSES = (
    Reason.TIER_NOT_ALLOWED,
    Reason.PARTNER_TYPE_NOT_ALLOWED,
    Reason.INDUSTRY_NOT_LISTED,
)
_FAR_MISSES = (Reason.OUTSIDE_TERRITORY, Reason.NOT_ACCEPTING_LEADS)


class Progress(Protocol):
    """What a run reports to (``prm.jobs.runner.JobProgress`` in a job)."""

    def add(self, name: str, amount: int = 1) -> None: ...

    def set_total(self, total: int) -> None: ...

    def advance(self, amount: int = 1) -> None: ...
