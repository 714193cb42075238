"""Household shards: peak memory and time of ``recommend --all``, shard by shard vs whole book.

For each book size: build a sharded book (S from the size rule) with seeded random-walk
closes as daily bars (not timed), then, each in its own process so the peak RSS is its own:

* ``sharded``: ``run_recommendations(lake, collect=False)`` — shard by shard, trades staged
  and streamed into the run's one object (``finish_seconds``: that last step alone); a book
  of 50,000 accounts or more stages its shards in worker processes, one per core up to 2
  (``workers``; its peak is reported as this process's plus ``workers`` x the largest
  worker's, ``total_peak_mib``);
* ``whole``: ``run_recommendations(lake, stream=False)`` — the whole book read at once (the
  path an unsharded book takes), same book, same objects.

Both write the same run (the script checks the run ids agree). Then the single-account path:
p50/p99 of ``run_recommendations(account_id=..., write=False)`` over random accounts.

    python benchmarks/bench_shards.py [--accounts 20000 100000] [--singles 100] [--whole-max N]
                                      [--lake PATH] [--steps build sharded whole single]

``--lake PATH`` keeps the lake (one book size): built there the first time (its build figures
saved beside it in ``PATH.build.json``), reused after, so a 10M book is generated once and
the runs can be repeated on it; ``--steps`` picks what to run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CHILD_PRELUDE, run_child, save

BUILD_CHILD = (
    CHILD_PRELUDE
    + """
import numpy as np, pandas as pd
from rebalancer.book import DEFAULT_MODELS, generate_book, write_book
from rebalancer.lake import LocalLake
from rebalancer.market import seed_securities

root, n_accounts = sys.argv[1], int(sys.argv[2])
lake = LocalLake(root)
seed_securities(lake)
days = pd.bdate_range(end="2024-12-31", periods=700)
rng = np.random.default_rng(11)
panel = pd.DataFrame(index=days)
for symbol in DEFAULT_MODELS.symbols:
    vol = 0.035 if symbol.endswith("-USD") else 0.012
    start = 30000.0 if symbol.endswith("-USD") else float(rng.uniform(20, 600))
    panel[symbol] = start * np.exp(np.cumsum(rng.normal(0.0003, vol, len(days))))
t0 = time.perf_counter()
summary = write_book(lake, generate_book(n_accounts, seed=5, prices=panel, chunk_size=50_000),
                     total_accounts=n_accounts)
seconds = time.perf_counter() - t0
last = panel.iloc[-5:].stack().rename("close").reset_index()
last.columns = ["ts", "symbol", "close"]
bars = last.assign(**{"interval": "1d", "open": last["close"], "high": last["close"],
                      "low": last["close"], "volume": 0, "source": "synthetic",
                      "ingested_at": pd.Timestamp("2025-01-01")})
lake.write("market_prices", bars)
print(json.dumps({"generate_seconds": seconds, "shards": summary.shards,
                  "generate_peak_mib": peak_mib()}))
"""
)

RUN_CHILD = (
    CHILD_PRELUDE
    + """
from rebalancer.engine import tune_allocator
from rebalancer.lake import LocalLake
from rebalancer.usecases import run_recommendations

root, mode = sys.argv[1], sys.argv[2]
tune_allocator()
lake = LocalLake(root)
staged = [0.0]  # when the last shard was staged: the finish step (one object) runs after it

def progress(done, total):
    staged[0] = time.perf_counter()

t0 = time.perf_counter()
if mode == "sharded":
    run = run_recommendations(lake, as_of="2025-01-01T00:00:00", collect=False,
                              progress=progress)
else:
    run = run_recommendations(lake, as_of="2025-01-01T00:00:00", stream=False)
seconds = time.perf_counter() - t0
finish = time.perf_counter() - staged[0] if mode == "sharded" and staged[0] else None
s = run.summary()
# Shard worker processes (a local sharded run of a big book, one per core): the largest
# one's peak; the run's total is at most this process's plus workers x that.
from rebalancer.usecases._batch import default_workers
workers = default_workers(s["accounts"]) if mode == "sharded" else 1
child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 if workers > 1 else 0.0
print(json.dumps({"seconds": seconds, "finish_seconds": finish, "peak_mib": peak_mib(),
                  "run_id": run.run_id,
                  "accounts": s["accounts"], "trades": s["trades"], "workers": workers,
                  "worker_peak_mib": child, "total_peak_mib": peak_mib() + workers * child}))
"""
)

SINGLE_CHILD = (
    CHILD_PRELUDE
    + """
import os
import numpy as np
from rebalancer.lake import LocalLake
from rebalancer.usecases import run_recommendations

root, n_accounts, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
lake = LocalLake(root)
rng = np.random.default_rng(7)
ids = [f"A{i:08d}" for i in rng.integers(1, n_accounts + 1, n)]
run_recommendations(lake, as_of="2025-01-01T00:00:00", account_id=ids[0], write=False)  # warm
times, cpu = [], []
for account in ids:
    t0, c0 = time.perf_counter(), time.process_time()
    run_recommendations(lake, as_of="2025-01-01T00:00:00", account_id=account, write=False)
    times.append(1000 * (time.perf_counter() - t0))
    cpu.append(1000 * (time.process_time() - c0))
# CPU time per call beside the wall time: on a shared machine the wall time's tail is mostly
# waiting for a core (the load average is reported with the figures).
print(json.dumps({"p50_ms": float(np.percentile(times, 50)),
                  "p99_ms": float(np.percentile(times, 99)), "calls": n,
                  "cpu_p50_ms": float(np.percentile(cpu, 50)),
                  "cpu_p99_ms": float(np.percentile(cpu, 99)),
                  "load_average": [round(x, 2) for x in os.getloadavg()]}))
"""
)


STEPS = ("sharded", "whole", "single")


def _build(root: Path, n: int, keep: bool) -> dict[str, object]:
    """Build the book at ``root`` (not timed in the runs); a kept lake is built once."""
    saved = root.with_name(root.name + ".build.json")
    if keep and saved.exists():
        built: dict[str, object] = json.loads(saved.read_text())
        if built.get("accounts") != n:
            raise SystemExit(f"{root} holds {built.get('accounts')} accounts, not {n}")
        return built
    built = {"accounts": n, **run_child(BUILD_CHILD, str(root), str(n))}
    if keep:
        saved.write_text(json.dumps(built))
    return built


def _line(built: dict[str, Any], *runs: dict[str, Any] | None) -> str:
    """One progress line: what ran, its time and peak memory."""
    sharded, whole, single = runs
    parts = [
        f"{built['shards']} shards, generate {built['generate_seconds']:.1f} s "
        f"{built['generate_peak_mib']:.0f} MiB"
    ]
    for name, run in (("sharded", sharded), ("whole", whole)):
        if run:
            total = run.get("total_peak_mib", run["peak_mib"])
            workers = run.get("workers", 1)
            parts.append(
                f"{name} {run['seconds']:.1f} s {run['peak_mib']:.0f} MiB"
                + (f" (+{workers} workers: {total:.0f} MiB in all)" if workers > 1 else "")
            )
    if single:
        cpu = (
            f" (CPU p50 {single['cpu_p50_ms']:.1f} ms p99 {single['cpu_p99_ms']:.1f} ms, "
            f"load {single['load_average'][0]:.1f})"
            if "cpu_p50_ms" in single
            else ""
        )
        parts.append(f"single p50 {single['p50_ms']:.1f} ms p99 {single['p99_ms']:.1f} ms{cpu}")
    return " | ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--singles", type=int, default=100)
    parser.add_argument(
        "--whole-max", type=int, default=200_000, help="Largest book also run whole-book."
    )
    parser.add_argument("--out", default="shards", help="Result file name (results/<out>.json).")
    parser.add_argument("--lake", help="Build the book here once and keep it (one book size).")
    parser.add_argument(
        "--steps", nargs="+", default=list(STEPS), choices=STEPS, help="What to run."
    )
    args = parser.parse_args()
    if args.lake and len(args.accounts) != 1:
        parser.error("--lake takes one --accounts size")
    results = []
    for n in args.accounts:
        kept = Path(args.lake) if args.lake else None
        root = kept or Path(tempfile.mkdtemp(prefix="bench-shards-")) / "lake"
        try:
            built = _build(root, n, kept is not None)
            steps = set(args.steps)
            sharded = run_child(RUN_CHILD, str(root), "sharded") if "sharded" in steps else None
            whole = (
                run_child(RUN_CHILD, str(root), "whole")
                if "whole" in steps and n <= args.whole_max
                else None
            )
            if whole is not None and sharded is not None and sharded["run_id"] != whole["run_id"]:
                raise SystemExit(f"run ids differ: {sharded['run_id']} != {whole['run_id']}")
            single = (
                run_child(SINGLE_CHILD, str(root), str(n), str(args.singles))
                if "single" in steps
                else None
            )
        finally:
            if kept is None:
                shutil.rmtree(root.parent, ignore_errors=True)
        row = {**built, "accounts": n, "sharded": sharded, "whole": whole, "single": single}
        results.append(row)
        print(f"{n:>9,} accounts: {_line(built, sharded, whole, single)}", flush=True)
    print(save(args.out, {"results": results}))


if __name__ == "__main__":
    main()
