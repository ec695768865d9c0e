"""PostgreSQL backend that hands the active tenant to row-level security.

Before the first statement of every transaction (and whenever the active
tenant changes inside one) it runs
``set_config('app.tenant_id', <id>, true)`` — transaction-local, so it is safe
under transaction pooling and never leaks into the next transaction on the
same connection. Statements issued in autocommit mode are wrapped in a short
transaction for the same reason. With no tenant active nothing is set, and the
policies see ``NULL``: zero rows.
"""

from __future__ import annotations

from django.db import transaction
from django.db.backends.postgresql import base
from psycopg.pq import TransactionStatus

from prm.tenancy.context import db_context

_SET_CONTEXT = "SELECT set_config('app.tenant_id', %s, true), set_config('app.user_id', %s, true)"
_NO_CONTEXT = ("", "")


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # What this transaction has been told; None means "unknown, set again".
        self._tenant_in_tx: tuple[str, str] | None = None
        self.execute_wrappers.insert(0, self._with_tenant_context)

    def _with_tenant_context(self, execute, sql, params, many, context):
        wanted = db_context()
        if self.get_autocommit():
            if wanted == _NO_CONTEXT:
                return execute(sql, params, many, context)
            with transaction.atomic(using=self.alias):
                return self._execute_in_transaction(wanted, execute, sql, params, many, context)
        return self._execute_in_transaction(wanted, execute, sql, params, many, context)

    def _execute_in_transaction(self, wanted, execute, sql, params, many, context):
        status = self.connection.info.transaction_status
        if status == TransactionStatus.IDLE:
            self._tenant_in_tx = _NO_CONTEXT
        if status != TransactionStatus.INERROR and self._tenant_in_tx != wanted:
            context["cursor"].cursor.execute(_SET_CONTEXT, wanted)
            self._tenant_in_tx = wanted
        result = execute(sql, params, many, context)
        if isinstance(sql, str) and sql.startswith("ROLLBACK TO SAVEPOINT"):
            # A savepoint rollback also undoes set_config calls made after it.
            self._tenant_in_tx = None
        return result
