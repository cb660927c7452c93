"""How figures are written, for pages and `manage.py evaluate` alike, so that the two agree to
the last digit: both format the same stored numbers with these functions."""

from __future__ import annotations


def percent(value: float | None, digits: int = 2) -> str:
    """0.91234 -> '91.23 %'."""
    if value is None:
        return ""
    return f"{value * 100:.{digits}f} %"


def points(value: float | None, digits: int = 2) -> str:
    """A difference of two shares, in percentage points, always signed: '+1.20 pp', '-0.35 pp'."""
    if value is None:
        return ""
    return f"{value * 100:+.{digits}f} pp"


def decimal(value: float | None, digits: int = 4) -> str:
    """A loss or an ECE: 0.251234 -> '0.2512'."""
    if value is None:
        return ""
    return f"{value:.{digits}f}"


def signed(value: int) -> str:
    """A difference of counts: '+3', '-2', '0'."""
    return f"{value:+d}" if value else "0"
