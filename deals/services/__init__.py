"""Writes for deal registration (one module per concept; import them from here).

* ``customers``: the program's rules (``program``), company domains and
  aliases, the partner's claim check, and the vendor's account book.
* ``registration``: ``register_deal``, one registration at a time per tenant.
* ``review``: match again, decide (notifying the partners affected), appeal.
* ``progress``: start, close won or lost, reverse a closed-won deal, comment.
"""

from deals.services.customers import (
    add_account,
    company_domain,
    import_account,
    is_customer_claimed,
    program,
    refold_domains,
)
from deals.services.progress import (
    add_comment,
    close_lost,
    close_won,
    reverse_closed_won,
    start_progress,
)
from deals.services.registration import LineInput, register_deal
from deals.services.review import appeal_decision, deal_path, decide_registration, refresh_matches

__all__ = [
    "LineInput",
    "add_account",
    "add_comment",
    "appeal_decision",
    "close_lost",
    "close_won",
    "company_domain",
    "deal_path",
    "decide_registration",
    "import_account",
    "is_customer_claimed",
    "program",
    "refold_domains",
    "refresh_matches",
    "register_deal",
    "reverse_closed_won",
    "start_progress",
]
