"""Minor units and the one rounding rule: half up, to the currency's decimals."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prm.money.currency import minor_units, quantize


def test_minor_units_are_zero_for_yen_and_rupiah_and_two_otherwise():
    assert minor_units("JPY") == 0
    assert minor_units("idr") == 0
    assert [minor_units(code) for code in ("CNY", "MYR", "USD", "SGD", "EUR")] == [2] * 5


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        (Decimal("0.125"), "USD", Decimal("0.13")),  # half up, not to even
        (Decimal("0.135"), "USD", Decimal("0.14")),
        (Decimal("-0.125"), "MYR", Decimal("-0.13")),  # half away from zero
        (Decimal("0.124999"), "CNY", Decimal("0.12")),
        (Decimal("1234.5"), "JPY", Decimal("1235")),
        (Decimal("1234.49"), "JPY", Decimal("1234")),
        (Decimal("15000.5"), "IDR", Decimal("15001")),
        (7, "SGD", Decimal("7.00")),
    ],
)
def test_quantize_rounds_half_up_to_minor_units(amount, currency, expected):
    result = quantize(amount, currency)
    assert result == expected
    assert result.as_tuple().exponent == -minor_units(currency)


@pytest.mark.parametrize("amount", [0.1, "0.10", True, None])
def test_quantize_refuses_anything_but_decimal_or_int(amount):
    with pytest.raises(TypeError):
        quantize(amount, "USD")


def test_quantize_refuses_infinity_and_unknown_codes():
    with pytest.raises(ValueError):
        quantize(Decimal("Infinity"), "USD")
    with pytest.raises(ValueError):
        quantize(Decimal("1"), "US")


@given(st.decimals(min_value=-(10**9), max_value=10**9, places=6))
def test_quantize_never_moves_an_amount_by_more_than_half_a_minor_unit(amount):
    for currency, unit in (("USD", Decimal("0.01")), ("JPY", Decimal("1"))):
        assert abs(quantize(amount, currency) - amount) <= unit / 2
