"""Unit conversions between WS-Scan (1/1000 inch) and SANE (millimetres), and pixel counts."""

from __future__ import annotations

import math

MM_PER_INCH = 25.4


def mm_to_thousandths(mm: float) -> int:
    """Millimetres to 1/1000 inch, rounded (216 mm -> 8504)."""
    return round(mm / MM_PER_INCH * 1000)


def thousandths_to_mm(thousandths: int) -> float:
    """1/1000 inch to millimetres (8500 -> 215.9)."""
    return thousandths * MM_PER_INCH / 1000


def pixels(mm: float, dpi: int) -> int:
    """Pixels a SANE device delivers for ``mm`` at ``dpi``: truncated, as SANE backends compute it
    (200 mm at 75 dpi -> 590), at least 1."""
    return max(1, math.floor(mm / MM_PER_INCH * dpi + 1e-9))
