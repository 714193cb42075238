"""Replay recorded yfinance output (tests/fixtures/yfinance) through an injected download."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "yfinance"
SLOT_EVENT = pd.Timestamp("2024-03-05 14:35:07", tz="UTC")  # ingests slot 14:30


@dataclass
class Recorded:
    frame: pd.DataFrame
    log: list[str]
    raises: str | None


def load_fixture(name: str) -> Recorded:
    """The frame exactly as yfinance.download returned it, its log lines, its exception."""
    meta = json.loads((FIXTURES / f"{name}.json").read_text())
    flat = pd.read_parquet(FIXTURES / f"{name}.parquet")
    index = pd.DatetimeIndex(flat.pop("__index__"), name=meta["index_name"])
    if meta["index_tz"]:
        index = index.tz_localize("UTC").tz_convert(meta["index_tz"])
    flat.index = index
    flat.columns = pd.MultiIndex.from_tuples(
        [tuple(c.split("|")) for c in flat.columns], names=meta["column_names"]
    )
    return Recorded(flat, meta["log"], meta["raises"])


@dataclass
class RecordedDownload:
    """A stand-in for ``yfinance.download``: logs like it, returns recorded frames in turn."""

    responses: list[Recorded | BaseException]
    calls: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, tickers: list[str], **kwargs: Any) -> pd.DataFrame:
        self.calls.append({"tickers": list(tickers), **kwargs})
        response = self.responses[min(len(self.calls), len(self.responses)) - 1]
        if isinstance(response, BaseException):
            raise response
        logger = logging.getLogger("yfinance")
        for line in response.log:
            logger.error(line)
        return response.frame.copy()


def replay(*names: str) -> RecordedDownload:
    return RecordedDownload([load_fixture(n) for n in names])
