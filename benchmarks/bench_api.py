"""API load test on loopback: ``POST /v1/recommendations`` (a taxable 20-holding portfolio with
two lots per holding, explicit targets and prices) against ``GET /health`` (the framework's
ceiling) on the same uvicorn server (2 workers), in the same run.

Each round sends a bounded number of requests per route from a fixed number of concurrent
clients (httpx, asyncio), routes interleaved; the figures are the medians over the rounds.
The machine is shared: read the ratio more than the absolute numbers.

    python benchmarks/bench_api.py [--requests 400] [--concurrency 8] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import save

KEY = "bench-key-" + "b" * 22
SYMBOLS = ["AAPL", "AGG", "AMD", "BND", "HD", "IEF", "IWM", "JNJ", "JPM", "KO", "LLY", "LQD",
           "MSFT", "PEP", "PG", "QQQ", "SHY", "SPY", "TIP", "VTI"]  # fmt: skip


def portfolio() -> dict[str, Any]:
    """20 holdings, two lots each, drifted from equal targets so the engine has work to do."""
    holdings, prices = [], {}
    for i, symbol in enumerate(SYMBOLS):
        quantity = float(10 + 3 * i)
        holdings.append({
            "symbol": symbol, "quantity": quantity,
            "lots": [
                {"lot_id": f"{symbol}-1", "quantity": quantity / 2, "cost_basis": 50.0 + i,
                 "acquired": "2019-03-01"},
                {"lot_id": f"{symbol}-2", "quantity": quantity / 2, "cost_basis": 120.0 - i,
                 "acquired": "2024-09-01"},
            ],
        })  # fmt: skip
        prices[symbol] = 100.0 + 2 * i
    return {
        "account_type": "taxable", "cash": 2_500.0, "holdings": holdings, "prices": prices,
        "targets": dict.fromkeys(SYMBOLS, 1 / len(SYMBOLS)), "as_of": "2025-01-02T00:00:00",
    }  # fmt: skip


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(lake: Path, port: int) -> subprocess.Popen[bytes]:
    """uvicorn with 2 workers on the app factory (Settings from the environment)."""
    env = {**os.environ, "REBALANCER_LAKE": str(lake), "REBALANCER_API_KEY": KEY}
    cmd = [sys.executable, "-m", "uvicorn", "--factory", "rebalancer.api.app:create_app",
           "--host", "127.0.0.1", "--port", str(port), "--workers", "2",
           "--log-level", "warning", "--no-access-log"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.2)
    proc.terminate()
    raise SystemExit("uvicorn did not start")


async def load(url: str, method: str, body: Any, n: int, concurrency: int) -> dict[str, float]:
    """``n`` requests from ``concurrency`` clients: requests/s, p50 and p99 latency (ms)."""
    latencies: list[float] = []
    queue = iter(range(n))
    headers = {"X-API-Key": KEY}

    async def worker(client: httpx.AsyncClient) -> None:
        for _ in queue:
            t0 = time.perf_counter()
            response = await client.request(method, url, json=body, headers=headers)
            latencies.append(time.perf_counter() - t0)
            if response.status_code != 200:
                raise SystemExit(f"{method} {url}: {response.status_code} {response.text[:200]}")

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        start = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    ordered = sorted(latencies)
    return {
        "rps": n / elapsed,
        "p50_ms": 1000 * ordered[len(ordered) // 2],
        "p99_ms": 1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from rebalancer.lake import LocalLake
    from rebalancer.market import seed_securities

    with tempfile.TemporaryDirectory() as tmp:
        lake_dir = Path(tmp) / "lake"
        lake = LocalLake(lake_dir)
        seed_securities(lake)
        lake.close()
        port = _free_port()
        proc = start_server(lake_dir, port)
        base = f"http://127.0.0.1:{port}"
        routes = {
            "POST /v1/recommendations": ("POST", f"{base}/v1/recommendations", portfolio()),
            "GET /health": ("GET", f"{base}/health", None),
        }
        try:
            for method, url, body in routes.values():  # warm both workers
                asyncio.run(load(url, method, body, 40, args.concurrency))
            rounds: dict[str, list[dict[str, float]]] = {name: [] for name in routes}
            for _ in range(args.rounds):
                for name, (method, url, body) in routes.items():
                    rounds[name].append(
                        asyncio.run(load(url, method, body, args.requests, args.concurrency))
                    )
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    results = {
        name: {k: round(statistics.median(r[k] for r in runs), 2) for k in runs[0]}
        for name, runs in rounds.items()
    }
    post, health = results["POST /v1/recommendations"], results["GET /health"]
    ratio = post["rps"] / health["rps"]
    for name, figures in results.items():
        print(f"{name:28s} {figures['rps']:8.1f} req/s  p50 {figures['p50_ms']:6.1f} ms  "
              f"p99 {figures['p99_ms']:6.1f} ms")  # fmt: skip
    print(f"POST / health throughput: {100 * ratio:.0f}% (target >= 50%); "
          f"POST p99 {post['p99_ms']:.1f} ms (target <= 50 ms)")  # fmt: skip
    save("api", {
        "requests_per_round": args.requests, "concurrency": args.concurrency,
        "rounds": args.rounds, "workers": 2, "results": results,
        "post_to_health_throughput": round(ratio, 3),
    })  # fmt: skip


if __name__ == "__main__":
    main()
