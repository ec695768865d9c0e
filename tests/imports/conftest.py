"""Import fixtures: tenant A with its staff and a partner user, and helpers
that write CSV files the way spreadsheets save them."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import pytest

from deals import imports
from deals.models import ImportBatch
from prm.accounts.models import Membership
from prm.accounts.roles import Role
from prm.tenancy.context import tenant_context
from tests.factories import MembershipFactory, PartnerFactory

LEAD_HEADER = ["company", "contact_name", "contact_email", "country"]


@dataclass
class ImportWorld:
    tenant: object
    manager: Membership
    admin: Membership
    finance: Membership
    rep: Membership


@pytest.fixture
def world(tenant_a) -> ImportWorld:
    with tenant_context(tenant_a):
        return ImportWorld(
            tenant=tenant_a,
            manager=MembershipFactory(role=Role.CHANNEL_MANAGER, partner=None),
            admin=MembershipFactory(role=Role.TENANT_ADMIN, partner=None),
            finance=MembershipFactory(role=Role.FINANCE, partner=None),
            rep=MembershipFactory(role=Role.PARTNER_ADMIN, partner=PartnerFactory()),
        )


def csv_bytes(
    rows: list[list[str]], *, delimiter: str = ",", encoding: str = "utf-8", bom: bool = False
) -> bytes:
    buffer = io.StringIO(newline="")
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    text = buffer.getvalue()
    if bom:
        text = "\ufeff" + text
    return text.encode(encoding)


def lead_row(n: int, **overrides: str) -> list[str]:
    """One valid lead row for LEAD_HEADER."""
    values = {
        "company": f"Company {n} Sdn Bhd",
        "contact_name": f"Contact {n}",
        "contact_email": f"contact{n}@company{n}.com.my",
        "country": "MY",
        **overrides,
    }
    return [values[name] for name in LEAD_HEADER]


def leads_file(count: int, *, header=LEAD_HEADER, **options) -> bytes:
    return csv_bytes([header, *(lead_row(n) for n in range(1, count + 1))], **options)


def preview(
    membership, data: bytes, *, kind: str = "leads", filename: str = "leads.csv"
) -> ImportBatch:
    with tenant_context(membership.tenant):
        return imports.preview_import(
            membership=membership, actor=membership.user, kind=kind, filename=filename, data=data
        )
