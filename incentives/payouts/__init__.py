"""Payout periods and statements: what each partner is paid, and when.

Finance previews a period, then closes it; closing writes one statement per
partner and a closed period never changes. Guarantees (``services``, with the
database triggers of migration 0005 behind them):

* **Cut-off**: a period's statements hold every ledger transaction of a
  partner that moves its ``partner_payable`` balance, is effective on or
  before the period's last day, is not on an earlier statement and is not
  held — payments excepted (they settle statements). Anything posted later,
  or effective later, is on no statement yet and so falls into the next
  period that closes. A transaction is on at most one line (unique in the
  database).
* **Currency**: a statement is in the partner's payout currency (its payee
  details, else the partner's default currency). Each line converts at the
  tenant's recorded rate on the transaction's effective date (never today's),
  rounded once, half up, per line; the rate and its date are on the line. A
  missing rate refuses the whole close, naming the pair and the date. The
  close then posts currency conversions (``services.settle_currencies``,
  keys ``fx:<statement id>:<currency>:out|in``) so that the partner's
  ``partner_payable`` holds the statement's money in the payout currency and
  the payment settles every currency.
* **Carry**: ``closing = carried in + earned + clawed back + adjustments``
  (clawbacks negative). A closing balance that is negative, below the
  tenant's minimum payout, held or blocked (payee or tax details missing) is
  carried forward — nothing is ever paid negative — and opens the partner's
  next statement.
* **Holds**: a partner-level hold marks its statements "held" (nothing
  payable); a held earning stays off statements until released, then lands on
  the first statement closed after the release.
* **Set-based**: a close costs a bounded number of queries per chunk of
  ``CHUNK_SIZE`` partners, whatever the number of transactions.
* **Paid once**: ``mark_paid`` posts one balanced ledger payment (debit
  partner payable, credit cash) under the key ``payout:<statement id>`` and
  records the reference; a statement is marked paid at most once.

Every action checks ``MANAGE_MONEY`` (finance), runs in one transaction and
writes an audit row. Reads for the console are in ``selectors``. A closed
period's exports (statement PDFs as a ZIP, the payout file, the journal) are
in ``exports``, the import of payment results in ``payment_results``, and the
replay of a closed period with its corrections in ``replay``.
"""

from incentives.payouts.compute import LineDraft, StatementDraft, preview_period
from incentives.payouts.services import (
    close_period,
    ensure_open_period,
    hold,
    mark_paid,
    month_bounds,
    payout_settings,
    release,
    set_minimum_payout,
)

__all__ = [
    "LineDraft",
    "StatementDraft",
    "close_period",
    "ensure_open_period",
    "hold",
    "mark_paid",
    "month_bounds",
    "payout_settings",
    "preview_period",
    "release",
    "set_minimum_payout",
]
