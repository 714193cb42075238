"""`rebalancer demo` end to end, as a user runs it, on small sizes in a temporary directory:
every table it promises is filled (book, run, decisions, a registered model, backtests), then
the API and the dashboard answer on loopback with the printed key, and Ctrl-C (SIGINT) stops
the demo and both servers."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from rebalancer.demo import DemoOptions
from rebalancer.lake import LocalLake
from tests.cli.conftest import env_for

START = "2021-09-01"
#: Small sizes: the run is dominated by backfill, simulation and the servers' start.
ARGS = ["--start", START, "--accounts", "150", "--seed", "3", "--decision-accounts", "60",
        "--decision-dates", "6", "--decision-step-days", "5", "--train-rounds", "30"]  # fmt: skip


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str, key: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"X-API-Key": key} if key else {})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return int(answer.status), answer.read()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class _Output:
    """The demo's merged output, read line by line on a thread."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.lines.append(line)

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def wait_for(self, needle: str, proc: subprocess.Popen[str], timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while needle not in self.text:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"no {needle!r} in the demo's output:\n{self.text[-3000:]}")
            time.sleep(0.2)
        return self.text


def test_demo_fills_the_lake_then_serves_until_ctrl_c(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    api_port, dash_port = _free_port(), _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "rebalancer.cli", "--lake", str(root), "demo", *ARGS,
         "--api-port", str(api_port), "--dashboard-port", str(dash_port)],
        env={**env_for(root), "HOME": str(tmp_path)}, cwd=tmp_path, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    output = _Output(proc)
    pids: list[int] = []
    try:
        text = output.wait_for("Press Ctrl-C to stop both", proc, timeout=900)
        key = re.search(r"X-API-Key: (\S+?)\)", text)
        found = re.search(r"pids: api (\d+), dashboard (\d+)", text)
        assert key and found, text[-2000:]
        pids = [int(found[1]), int(found[2])]
        assert f"API        http://127.0.0.1:{api_port}" in text
        assert f"Dashboard  http://127.0.0.1:{dash_port}" in text

        status, body = _get(f"http://127.0.0.1:{api_port}/health")
        assert status == 200 and json.loads(body)["status"] == "ok"
        status, body = _get(f"http://127.0.0.1:{dash_port}/_stcore/health")
        assert status == 200 and body.strip() == b"ok"
        # the printed key opens the API, which serves the model the demo just registered
        blobs = LocalLake(root).blobs
        latest = json.loads(blobs.get("models/latest.json"))  # type: ignore[arg-type]
        status, body = _get(f"http://127.0.0.1:{api_port}/v1/models/current", key[1])
        assert status == 200 and json.loads(body)["version"] == latest["version"]

        os.kill(proc.pid, signal.SIGINT)  # what Ctrl-C sends the demo
        assert proc.wait(timeout=60) == 0, output.text[-2000:]
        deadline = time.monotonic() + 5
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [p for p in pids if _alive(p)], "a server outlived the demo"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        for pid in pids:
            if _alive(pid):
                os.killpg(pid, signal.SIGKILL)
    text = output.text
    assert "stopped the API and the dashboard" in text and "Traceback" not in text
    assert "no violations" in text

    lake = LocalLake(root)
    try:
        _check_lake(lake)
    finally:
        lake.close()


def _check_lake(lake: LocalLake) -> None:
    counts = lake.query(
        """SELECT (SELECT count(*) FROM securities) AS securities,
                  (SELECT count(DISTINCT symbol) FROM market_prices WHERE "interval" = '1d') AS daily_symbols,
                  (SELECT count(*) FROM market_prices WHERE "interval" = '5m') AS intraday,
                  (SELECT count(*) FROM accounts) AS accounts,
                  (SELECT count(*) FROM holdings) AS holdings,
                  (SELECT count(*) FROM recommendations) AS trades,
                  (SELECT count(DISTINCT account_id) FROM decisions) AS decided_accounts,
                  (SELECT count(DISTINCT as_of) FROM decisions) AS decided_dates,
                  (SELECT count(DISTINCT run_id) FROM backtests) AS backtests"""
    ).iloc[0]
    securities = int(counts["securities"])
    assert securities >= 40
    # every non-cash security has daily prices: real history or the synthetic fill
    assert int(counts["daily_symbols"]) == securities - 1
    assert int(counts["intraday"]) > 0
    assert int(counts["accounts"]) == 150
    assert int(counts["holdings"]) > 150
    assert int(counts["trades"]) > 0
    assert int(counts["decided_accounts"]) == 60
    assert int(counts["decided_dates"]) == 6
    assert int(counts["backtests"]) == len(DemoOptions().backtest_policies)
    # the intraday slots were compacted: one object for the day, no slot objects left
    day = lake.list_objects("market_prices", dt=DemoOptions().end)
    assert any(k.endswith("compacted.parquet") for k in day)
    assert not any("/slot-" in k for k in day)
    latest = json.loads(lake.blobs.get("models/latest.json"))  # type: ignore[arg-type]
    meta = json.loads(lake.blobs.get(f"models/{latest['version']}/metadata.json"))  # type: ignore[arg-type]
    assert meta["training"]["config"]["nthread"] == 1
    assert meta["training"]["rounds"] <= 30
    assert meta["importance"]


def test_a_busy_port_is_one_line(tmp_path: Path) -> None:
    """The API's port taken: the demo's serve step stops both servers and says why."""
    from io import StringIO

    from rich.console import Console

    from rebalancer.config import Settings
    from rebalancer.demo import ServeOptions, serve_demo
    from rebalancer.errors import ConfigError

    lake = LocalLake(tmp_path / "lake")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = int(busy.getsockname()[1])
        options = ServeOptions(api_port=port, dashboard_port=_free_port(), startup_timeout=120)
        out = StringIO()
        with pytest.raises(ConfigError, match=r"the api exited with code \d+ before answering"):
            serve_demo(lake, settings=Settings(lake=lake.root), console=Console(file=out),
                       options=options)  # fmt: skip
    assert "stopped the API and the dashboard" in out.getvalue()
    lake.close()
