"""The price panel the generator draws from: daily closes, dates x symbols.

The generator is pure and takes the panel as an argument; the lake read that builds it
(:func:`rebalancer.market.load_price_panel`) lives with the other price reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from rebalancer.errors import ConfigError, MarketDataError
from rebalancer.market._prices import BACKFILL_HINT, missing_symbols

#: The panel must reach this far back before ``as_of`` (long-term lots need > 1 year).
MIN_HISTORY_DAYS = 400
#: A model symbol's last close may be this much older than ``as_of`` (holidays, a late feed);
#: beyond it, forward-filling would freeze the price, so the generator refuses.
MAX_STALE_DAYS = 10
#: Lots are never dated more than this far back, however long the history.
MAX_HISTORY_YEARS = 15


@dataclass(frozen=True)
class PricePanel:
    """Dense, forward-filled weekday closes from ``dates[0]`` to ``as_of`` (the last row)."""

    dates: np.ndarray  # datetime64[D], ascending, weekdays only
    closes: np.ndarray  # float64 (dates x symbols), all finite and positive
    symbols: list[str]  # sorted

    @property
    def as_of(self) -> date:
        """The last date of the panel: the book's snapshot date."""
        return date.fromisoformat(str(self.dates[-1]))


def prepare_panel(
    prices: pd.DataFrame, required: Sequence[str], as_of: date | None = None
) -> PricePanel:
    """Validate a raw close panel and cut it to the window the generator may use.

    ``as_of`` defaults to the last day every required symbol has a close (bundled history and
    a synthetic backfill may end on different days). Weekend rows (crypto trades 24/7) are
    dropped, gaps forward-filled, and the window starts where every required symbol has a
    price (at most :data:`MAX_HISTORY_YEARS` before ``as_of``). Optional symbols without full
    coverage of that window are dropped.

    Raises
    ------
    MarketDataError
        A required symbol has no prices, prices are not positive, or a required symbol's
        prices end more than :data:`MAX_STALE_DAYS` before ``as_of``.
    ConfigError
        ``as_of`` is outside the panel or leaves less than :data:`MIN_HISTORY_DAYS` of history.
    """
    if not isinstance(prices, pd.DataFrame) or prices.empty:
        raise MarketDataError(f"the price panel is empty; {BACKFILL_HINT}")
    try:
        index = pd.DatetimeIndex(prices.index)
    except (TypeError, ValueError):
        raise MarketDataError("the price panel index must be dates") from None
    if index.tz is not None:
        index = index.tz_convert("UTC").tz_localize(None)
    frame = prices.set_axis(index.normalize(), axis=0)
    frame.columns = [str(c) for c in frame.columns]
    frame = frame.apply(pd.to_numeric, errors="coerce")
    frame = frame[~frame.index.duplicated(keep="last")].sort_index()
    missing = missing_symbols(frame, required)
    if missing:
        raise MarketDataError(f"no daily prices for {', '.join(missing)}; {BACKFILL_HINT}")
    values = frame.to_numpy(dtype="float64")
    if (values[np.isfinite(values)] <= 0).any():
        raise MarketDataError("the price panel has zero or negative closes")
    ends = {s: frame[s].last_valid_index().date() for s in required}
    common_end = min(ends.values(), default=frame.index[-1].date())
    frame = frame.ffill()
    frame = frame[frame.index.day_of_week < 5]
    first, last = frame.index[0].date(), frame.index[-1].date()
    if as_of is None:
        as_of = min(common_end, last)  # the last day every model symbol has a close
    if not first <= as_of <= last:
        raise ConfigError(f"as_of {as_of} is outside the price history ({first} .. {last})")
    stale = sorted(s for s, end in ends.items() if (as_of - end).days > MAX_STALE_DAYS)
    if stale:
        shown = ", ".join(f"{s} ({ends[s]})" for s in stale[:5]) + (
            " ..." if len(stale) > 5 else ""
        )
        raise MarketDataError(
            f"prices end before as_of {as_of} for {shown}: pass an earlier --as-of "
            f"(every model symbol has prices until {common_end}) or backfill the missing days"
        )
    frame = frame.loc[: pd.Timestamp(as_of)]
    complete = frame[list(required)].notna().all(axis=1) if required else frame.notna().any(axis=1)
    if not complete.any():
        raise MarketDataError(f"no date has prices for every model symbol; {BACKFILL_HINT}")
    start = max(complete.idxmax().date(), as_of - timedelta(days=round(365.25 * MAX_HISTORY_YEARS)))
    if (as_of - start).days < MIN_HISTORY_DAYS:
        raise ConfigError(
            f"as_of {as_of} leaves {(as_of - start).days} days of prices for every model symbol "
            f"(from {start}); the generator needs {MIN_HISTORY_DAYS}"
        )
    frame = frame.loc[pd.Timestamp(start) :]
    frame = frame.loc[:, frame.notna().all(axis=0)]
    frame = frame[sorted(frame.columns)]
    return PricePanel(
        dates=frame.index.to_numpy().astype("datetime64[D]"),
        closes=np.ascontiguousarray(frame.to_numpy(dtype="float64")),
        symbols=list(frame.columns),
    )
