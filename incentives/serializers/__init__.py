"""API shapes for plans, earnings (ledger transactions), revenue events, payout
periods and statements, one module per concept.

Money is always a decimal string with two places (DRF's ``DecimalField``
coerces to strings), never a float.
"""

from incentives.serializers.earnings import (
    EarningQuerySerializer,
    EarningSerializer,
    EntrySerializer,
    PayoutStatusSerializer,
    SummaryQuerySerializer,
    SummarySerializer,
)
from incentives.serializers.fields import (
    ExplanationItemSerializer,
    LedgerKindField,
    PeriodStatusField,
    RevenueEventKindField,
    RuleCurrencyField,
    RuleKindField,
    StatementStatusField,
    VersionStatusField,
    money_field,
)
from incentives.serializers.payouts import (
    MarkPaidSerializer,
    PayoutPeriodSerializer,
    PdfQuerySerializer,
    PeriodRefSerializer,
    StatementDetailSerializer,
    StatementLineSerializer,
    StatementQuerySerializer,
    StatementSerializer,
)
from incentives.serializers.plans import (
    PlanSerializer,
    PlanVersionSerializer,
    RuleSerializer,
)
from incentives.serializers.revenue_events import (
    MAX_EVENTS_PER_REQUEST,
    RevenueEventInputSerializer,
    RevenueEventQuerySerializer,
    RevenueEventSerializer,
)

__all__ = [
    "EarningQuerySerializer",
    "EarningSerializer",
    "EntrySerializer",
    "ExplanationItemSerializer",
    "LedgerKindField",
    "MAX_EVENTS_PER_REQUEST",
    "MarkPaidSerializer",
    "PayoutPeriodSerializer",
    "PayoutStatusSerializer",
    "PdfQuerySerializer",
    "PeriodRefSerializer",
    "PeriodStatusField",
    "PlanSerializer",
    "PlanVersionSerializer",
    "RevenueEventInputSerializer",
    "RevenueEventKindField",
    "RevenueEventQuerySerializer",
    "RevenueEventSerializer",
    "RuleCurrencyField",
    "RuleKindField",
    "RuleSerializer",
    "StatementDetailSerializer",
    "StatementLineSerializer",
    "StatementQuerySerializer",
    "StatementSerializer",
    "StatementStatusField",
    "SummaryQuerySerializer",
    "SummarySerializer",
    "VersionStatusField",
    "money_field",
]
