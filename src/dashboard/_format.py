"""Number formats the pages share."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd


def money(value: float) -> str:
    """``$1.2M`` style for the summary strip."""
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= size:
            return f"${value / size:,.1f}{unit}"
    return f"${value:,.0f}"


def pct(value: float | None) -> str:
    """A fraction as a percentage with two decimals (``n/a`` for None or NaN)."""
    if value is None or pd.isna(value):
        return "n/a"
    return f"{100 * float(value):.2f}%"


def age(when: pd.Timestamp | None, now: datetime | None = None) -> str:
    """How long ago ``when`` (naive = UTC) was, in the largest sensible unit."""
    if when is None:
        return "never"
    stamp = pd.Timestamp(when)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    seconds = (pd.Timestamp(now or datetime.now(UTC)) - stamp).total_seconds()
    if seconds < 0:
        return "in the future"
    for unit, size in (("days", 86_400), ("hours", 3_600), ("minutes", 60)):
        if seconds >= size:
            return f"{seconds / size:,.0f} {unit} ago"
    return f"{seconds:.0f} seconds ago"
