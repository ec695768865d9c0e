"""Writes for incentives (one module per concept; import them from here).

* ``plans``: commission plans, draft rules, publish / new draft / retire, and
  ``ensure_default_plan`` — tenant admins (``MANAGE_PROGRAM``).
* ``revenue``: ``record_revenue_event`` — finance (``MANAGE_MONEY``).

Every service is keyword-only, checks the actor's capability itself, runs in
one transaction and writes its audit row.
"""

from incentives.services.plans import (
    DEFAULT_PLAN_EFFECTIVE_FROM,
    RULE_FIELDS,
    add_rule,
    create_plan,
    delete_rule,
    ensure_default_plan,
    new_draft_from,
    publish_version,
    retire_version,
    update_rule,
)
from incentives.services.revenue import record_revenue_event

__all__ = [
    "DEFAULT_PLAN_EFFECTIVE_FROM",
    "RULE_FIELDS",
    "add_rule",
    "create_plan",
    "delete_rule",
    "ensure_default_plan",
    "new_draft_from",
    "publish_version",
    "record_revenue_event",
    "retire_version",
    "update_rule",
]
