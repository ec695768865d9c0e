"""Console registrations for incentives, split by concept: commission plans and
revenue events (``plans``), payout periods and statements (``payouts``) and the
plan simulator (``simulator``) and the replay of closed periods (``replay``)."""

from incentives.admin import payouts, plans, replay, revenue_import, simulator

__all__ = ["payouts", "plans", "replay", "revenue_import", "simulator"]
