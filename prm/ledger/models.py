"""The double-entry, append-only ledger every money flow posts to.

A ``LedgerTransaction`` is one economic event (an earning, a clawback, a
reimbursement, a manual adjustment, a payment, a currency conversion); its
``LedgerEntry`` rows move the money between accounts. Guarantees, enforced by
PostgreSQL and not only by ``prm.ledger.services``:

* **Balanced**: every transaction has at least two entries, every entry is in
  the transaction's currency and for its partner, and the entries sum to zero.
  Checked at the end of every statement that writes entries, for each
  transaction it touched (one set-based statement trigger, migration
  ``0005``), and for every new transaction at commit (a deferred constraint
  trigger, migration ``0002``, which catches one that never got entries). A
  transaction's entries are written by one statement: entries added later to
  a transaction that has some are refused, balanced or not (migration
  ``0007``). Amounts are never zero (a check constraint).
* **Append-only**: the application role may only SELECT and INSERT these
  tables (``append_only``: ``prm.tenancy.security`` revokes UPDATE and
  DELETE), and row triggers refuse UPDATE and DELETE for every role.
  A correction is a new transaction; a mirror points at what it mirrors
  through ``reverses`` (at most one mirror per transaction).
* **Idempotent**: ``idempotency_key`` is unique per tenant, so posting the same
  computation twice records it once. Convention:
  ``f"{source_type}:{source_id}:{rule_id}:{kind}:{period_or_dash}"`` with
  ``-`` for an absent part (see ``services.idempotency_key``).
* **Tenant-isolated** like every ``TenantModel`` (row-level security,
  composite foreign keys).

Chart of accounts and sign convention (debit positive, credit negative):

* earning (commission, referral fee, revenue share, rebate, bonus):
  debit ``commission_expense`` / credit ``partner_payable``;
* MDF reimbursement: debit ``mdf_expense`` / credit ``partner_payable``;
* manual adjustment in the partner's favour: debit ``adjustment_expense`` /
  credit ``partner_payable`` (against the partner: the reverse);
* payment: debit ``partner_payable`` / credit ``cash``;
* currency conversion (``Kind.CONVERSION``, posted when a payout period
  closes, ``incentives.payouts.services.close_period``): a statement pays in
  the partner's payout currency P what was earned in other currencies, so for
  each statement and each other currency C on it two transactions, each in one
  currency and balanced, move the statement's lines into P through
  ``fx_clearing``: in C, debit ``partner_payable`` / credit ``fx_clearing``
  by what those lines owe (key ``fx:<statement>:<C>:out``); in P, debit
  ``fx_clearing`` / credit ``partner_payable`` by their converted amounts
  (``fx:<statement>:<C>:in``). ``fx_clearing`` records, per currency, what
  was converted out of it (credits) and into it (debits) for finance to
  value; the partner's ``partner_payable`` in P is what its statements say,
  and the payment in P settles it;
* clawback: the exact mirror of the earning it reverses (debit
  ``partner_payable`` / credit the expense account). When the partner was
  already paid, the payable goes negative and is carried forward; finance may
  reclassify it to ``clawback_receivable`` with an adjustment.

A partner's payable balance (what the vendor owes) is minus the sum of its
``partner_payable`` entries; balances are always derived from entries.
Payments and conversions (``SETTLEMENT_KINDS``) move what a partner is owed
but are not earnings: readers never count them as earned, and a statement
never lists them.
"""

from __future__ import annotations

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from prm.tenancy.models import Tenant, TenantModel

CURRENCY_CHOICES = [(code, code) for code in settings.CURRENCIES]


class SourceType(models.TextChoices):
    DEAL = "deal", _("Deal")
    REVENUE_EVENT = "revenue_event", _("Revenue event")
    MDF_CLAIM = "mdf_claim", _("MDF claim")
    ADJUSTMENT = "adjustment", _("Manual adjustment")
    PAYOUT = "payout", _("Payout")
    PERIOD = "period", _("Payout period results")
    OTHER = "other", _("Other")


class Kind(models.TextChoices):
    COMMISSION = "commission", _("Commission")
    REFERRAL_FEE = "referral_fee", _("Referral fee")
    REVENUE_SHARE = "revenue_share", _("Revenue share")
    REBATE = "rebate", _("Rebate")
    BONUS = "bonus", _("Bonus")
    CLAWBACK = "clawback", _("Clawback")
    ADJUSTMENT = "adjustment", _("Adjustment")
    REIMBURSEMENT = "reimbursement", _("Reimbursement")
    PAYMENT = "payment", _("Payment")
    CONVERSION = "conversion", _("Currency conversion")


class Account(models.TextChoices):
    COMMISSION_EXPENSE = "commission_expense", _("Commission expense")
    PARTNER_PAYABLE = "partner_payable", _("Partner payable")
    CASH = "cash", _("Cash")
    CLAWBACK_RECEIVABLE = "clawback_receivable", _("Clawback receivable")
    MDF_EXPENSE = "mdf_expense", _("MDF expense")
    ADJUSTMENT_EXPENSE = "adjustment_expense", _("Adjustment expense")
    # The vendor's side of a currency conversion: per currency, what it
    # converted out of one currency and into another (see the docstring).
    FX_CLEARING = "fx_clearing", _("FX clearing")


# Kinds that settle what a partner is owed rather than earn it: a payment pays
# it out, a conversion moves it into the payout currency. Never an earning,
# never on a statement.
SETTLEMENT_KINDS = (Kind.PAYMENT, Kind.CONVERSION)


# Integrity at the lowest cost per row: a job posts millions of rows, and every
# foreign key is a lookup at commit and every index a write. So the ledger keeps
# one check per relation, not two: the composite (tenant, id) foreign keys from
# ``prm.tenancy.security`` (they prove the row exists *and* is the same
# tenant's), not Django's single-column ones as well; and it has no
# single-column indexes that a composite index led by the tenant already
# serves (row-level security adds the tenant to every lookup).


class LedgerTransaction(TenantModel):
    tenant = models.ForeignKey(
        Tenant,
        on_delete=models.PROTECT,
        editable=False,
        related_name="+",
        verbose_name=_("tenant"),
        db_index=False,  # "ledger_transaction_key_once" leads with it
    )
    partner = models.ForeignKey(
        "partners.PartnerOrganization",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="ledger_transactions",
        verbose_name=_("partner"),
        help_text=_("Empty only for movements that concern no partner."),
        db_constraint=False,  # checked by the composite (tenant, partner) key
        db_index=False,  # "ledger_tx_partner_date" serves it
    )
    source_type = models.CharField(_("source"), max_length=20, choices=SourceType.choices)
    source_id = models.BigIntegerField(
        _("source id"),
        null=True,
        blank=True,
        help_text=_("The deal, revenue event, claim or payout this comes from."),
    )
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    currency = models.CharField(_("currency"), max_length=3, choices=CURRENCY_CHOICES)
    effective_date = models.DateField(
        _("effective date"),
        help_text=_("The date of the event: it decides the period and the exchange rate."),
    )
    period_key = models.CharField(
        _("period"),
        max_length=16,
        blank=True,
        default="",
        help_text=_("The payout period, e.g. 2026-11; empty until assigned."),
    )
    # Plain ids: incentives models live in another app and may be re-shaped.
    rule_id = models.BigIntegerField(_("rule id"), null=True, blank=True)
    plan_version_id = models.BigIntegerField(_("plan version id"), null=True, blank=True)
    explanation = models.JSONField(
        _("explanation"), default=dict, blank=True, encoder=DjangoJSONEncoder
    )
    idempotency_key = models.CharField(_("idempotency key"), max_length=200)
    reverses = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reversals",
        verbose_name=_("reverses"),
        db_constraint=False,  # checked by the composite (tenant, reverses) key
        db_index=False,  # "ledger_transaction_reversed_once" serves it
    )
    memo = models.TextField(_("memo"), blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
        db_index=False,  # set on manual adjustments only; never looked up by
    )
    created_at = models.DateTimeField(_("recorded"), auto_now_add=True)

    append_only = True

    class Meta:
        db_table = "ledger_transaction"
        verbose_name = _("ledger transaction")
        verbose_name_plural = _("ledger transactions")
        ordering = ["-effective_date", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "idempotency_key"], name="ledger_transaction_key_once"
            ),
            models.UniqueConstraint(
                fields=["tenant", "reverses"],
                condition=Q(reverses__isnull=False),
                name="ledger_transaction_reversed_once",
            ),
            models.CheckConstraint(
                condition=~Q(idempotency_key=""), name="ledger_transaction_key_not_blank"
            ),
            models.CheckConstraint(
                condition=Q(currency__in=settings.CURRENCIES),
                name="ledger_transaction_currency_known",
            ),
        ]
        indexes = [
            models.Index(
                fields=["tenant", "partner", "-effective_date"], name="ledger_tx_partner_date"
            ),
            models.Index(fields=["tenant", "source_type", "source_id"], name="ledger_tx_source"),
            models.Index(fields=["tenant", "period_key"], name="ledger_tx_period"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.get_kind_display()} {self.currency}"


class LedgerEntry(TenantModel):
    # The composite (tenant, transaction) key proves the tenant too: the
    # transaction's own tenant key checks it exists.
    tenant = models.ForeignKey(
        Tenant,
        on_delete=models.PROTECT,
        editable=False,
        related_name="+",
        verbose_name=_("tenant"),
        db_constraint=False,
        db_index=False,
    )
    transaction = models.ForeignKey(
        LedgerTransaction,
        on_delete=models.PROTECT,
        related_name="entries",
        verbose_name=_("transaction"),
        # Indexed with the tenant below: row-level security adds the tenant to
        # every lookup, and the balance trigger looks entries up by both.
        db_index=False,
        db_constraint=False,  # checked by the composite (tenant, transaction) key
    )
    account = models.CharField(_("account"), max_length=24, choices=Account.choices)
    # Copied from the transaction so balances are one index scan away. The
    # balance trigger checks it equals the transaction's partner, whose own
    # key proves it exists: no foreign key of its own.
    partner = models.ForeignKey(
        "partners.PartnerOrganization",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("partner"),
        db_constraint=False,
        db_index=False,  # "ledger_entry_balance" serves it
    )
    currency = models.CharField(_("currency"), max_length=3, choices=CURRENCY_CHOICES)
    amount = models.DecimalField(
        _("amount"),
        max_digits=18,
        decimal_places=2,
        help_text=_("Debits are positive, credits negative."),
    )
    created_at = models.DateTimeField(_("recorded"), auto_now_add=True)

    append_only = True
    composite_key_exempt = ("partner",)

    class Meta:
        db_table = "ledger_entry"
        verbose_name = _("ledger entry")
        verbose_name_plural = _("ledger entries")
        ordering = ["transaction_id", "id"]
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="ledger_entry_amount_not_zero"),
        ]
        indexes = [
            models.Index(fields=["tenant", "transaction"], name="ledger_entry_transaction"),
            models.Index(
                fields=["tenant", "partner", "account", "currency"],
                include=["amount"],
                name="ledger_entry_balance",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_account_display()} {self.amount} {self.currency}"

    @property
    def debit(self):
        return self.amount if self.amount > 0 else None

    @property
    def credit(self):
        return -self.amount if self.amount < 0 else None
