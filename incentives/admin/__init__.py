"""Console registrations for incentives, split by concept: commission plans and
revenue events (``plans``), payout periods and statements (``payouts``) and the
plan simulator (``simulator``)."""

from incentives.admin import payouts, plans, simulator

__all__ = ["payouts", "plans", "simulator"]
