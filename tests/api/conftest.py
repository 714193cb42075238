"""A real uvicorn server on 127.0.0.1 for API tests, stopped after each test module."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import uvicorn
from fastapi import FastAPI


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a thread; yields the base URL; always stops it."""
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            server.should_exit = True
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=10)


# ------------------------------------------------------------------ a generated book lake
KEY = "test-key-" + "k" * 24
GENERATED_ACCOUNTS = 60


def daily_bars(panel, days: int = 6):  # type: ignore[no-untyped-def]
    """The panel's last ``days`` rows as ``market_prices`` daily bars."""
    import pandas as pd

    tail = panel.iloc[-days:]
    rows = tail.stack().dropna().rename("close").reset_index()
    rows.columns = ["ts", "symbol", "close"]
    rows["ts"] = pd.to_datetime(rows["ts"])
    return rows.assign(
        interval="1d", open=rows["close"], high=rows["close"], low=rows["close"], volume=1000,
        source="synthetic", ingested_at=rows["ts"] + pd.Timedelta(days=1),
    )[["symbol", "ts", "interval", "open", "high", "low", "close", "volume", "source",
       "ingested_at"]]  # fmt: skip


def build_generated_lake(root):  # type: ignore[no-untyped-def]
    """A lake with the universe, the panel's last days of daily bars, a generated book of
    GENERATED_ACCOUNTS accounts and one `recommend --all` run written."""
    from rebalancer.book import generate_book, write_book
    from rebalancer.lake import LocalLake
    from rebalancer.market import seed_securities
    from rebalancer.usecases import run_recommendations
    from tests.book.conftest import make_panel

    panel = make_panel("2020-01-01")
    lake = LocalLake(root)
    seed_securities(lake)
    lake.write("market_prices", daily_bars(panel))
    write_book(lake, generate_book(GENERATED_ACCOUNTS, seed=5, prices=panel, chunk_size=64))
    result = run_recommendations(lake, write=True)
    return lake, result


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """(lake, run result): shared read-only by the API tests of the session."""
    lake, result = build_generated_lake(tmp_path_factory.mktemp("api-lake") / "lake")
    yield lake, result
    lake.close()


@pytest.fixture(scope="session")
def served(generated) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The app on the generated lake, over real HTTP (uvicorn in a thread)."""
    from rebalancer.api import create_app
    from rebalancer.config import Settings

    lake, _ = generated
    app = create_app(Settings(lake=lake.root, api_key=KEY), lake=lake)
    with running(app) as url:
        yield url
