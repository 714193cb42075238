"""BAR_LENGTH is the one interval table: every supported interval, and nothing else."""

from __future__ import annotations

from datetime import timedelta

import pytest

from rebalancer.errors import MarketDataError
from rebalancer.market import BAR_LENGTH
from rebalancer.market._provider import INTERVALS, check_interval


def test_bar_length_is_the_interval_table() -> None:
    assert {"5m": timedelta(minutes=5), "1d": timedelta(days=1)} == BAR_LENGTH
    assert set(INTERVALS) == set(BAR_LENGTH)
    for name, length in BAR_LENGTH.items():
        assert check_interval(name) == length


def test_an_interval_missing_from_the_table_is_refused() -> None:
    with pytest.raises(MarketDataError, match="unsupported interval '1h'"):
        check_interval("1h")
