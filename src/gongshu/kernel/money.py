"""Money as integer fen (分). Never floats."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import NewType

from gongshu.kernel.errors import InvalidInput

__all__ = ["Fen", "format_yuan", "parse_yuan"]

Fen = NewType("Fen", int)


def parse_yuan(text: str | int | Decimal, *, field: str = "amount") -> Fen:
    """Parse yuan (``"12.34"``, ``"１２.３４"``, ``"¥1,200"``) into fen; sub-fen is an error."""
    raw = str(text).strip().translate(_FULL_WIDTH).replace(",", "").lstrip("¥￥")
    try:
        value = Decimal(raw)
    except InvalidOperation as exc:
        raise InvalidInput.field(field, f"not an amount of yuan: {text!r}") from exc
    if not value.is_finite():
        raise InvalidInput.field(field, f"not an amount of yuan: {text!r}")
    fen = value * 100
    if fen != fen.to_integral_value():
        raise InvalidInput.field(field, f"more precise than one fen: {text!r}")
    return Fen(int(fen))


def format_yuan(amount: Fen | int) -> str:
    """``123456`` fen → ``"1,234.56"``."""
    sign = "-" if amount < 0 else ""
    value = (Decimal(abs(amount)) / 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"{sign}{value:,.2f}"


_FULL_WIDTH = str.maketrans("０１２３４５６７８９．，－", "0123456789.,-")
