"""Currency amounts: minor units and the one rounding rule for money.

Guarantees: amounts are ``Decimal`` (or ``int``) only — a ``float`` is
refused with ``TypeError``, because binary floats cannot hold cents exactly.
``quantize`` rounds half up (``ROUNDING``) to the currency's minor units:
0 decimals for JPY, IDR and the other zero-decimal currencies in
``ZERO_DECIMAL``, 2 for every other currency. Quantise only at the edges
(statement lines, payout files, converted amounts); keep full precision in
between.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

ROUNDING = ROUND_HALF_UP
DEFAULT_MINOR_UNITS = 2
# Currencies paid in whole units. IDR has cents on paper (ISO 4217) but not in
# practice; banks and payout providers reject fractional rupiah.
ZERO_DECIMAL = frozenset({"JPY", "IDR", "KRW", "VND", "CLP", "ISK", "UGX", "XAF", "XOF"})


def as_decimal(amount: Decimal | int) -> Decimal:
    """``amount`` as a Decimal; floats (and bools, and text) are refused."""
    if isinstance(amount, bool) or not isinstance(amount, Decimal | int):
        raise TypeError(f"Money amounts must be Decimal or int, not {type(amount).__name__}.")
    value = Decimal(amount)
    if not value.is_finite():
        raise ValueError("Money amounts must be finite.")
    return value


def normalize_code(currency: str) -> str:
    code = (currency or "").strip().upper()
    if len(code) != 3 or not code.isalpha():
        raise ValueError(f"{currency!r} is not a three-letter currency code.")
    return code


def minor_units(currency: str) -> int:
    """How many decimals the currency is paid in (JPY 0, USD 2)."""
    return 0 if normalize_code(currency) in ZERO_DECIMAL else DEFAULT_MINOR_UNITS


def quantize(amount: Decimal | int, currency: str) -> Decimal:
    """``amount`` rounded half up to the currency's minor units."""
    exponent = Decimal(1).scaleb(-minor_units(currency))
    return as_decimal(amount).quantize(exponent, rounding=ROUNDING)
