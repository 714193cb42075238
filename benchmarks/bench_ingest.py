"""Ingestion benchmark: a year of 5-minute bars for 500 symbols, and one live slot.

1. Backfill: ``backfill(source=synthetic, interval=5m)`` for SYN000..SYN499 (XNYS equities)
   over a calendar year into a fresh LocalLake: generation, validation, schema check and one
   Parquet object per day. Runs in a child process so its peak RSS is its own. The peer, in
   the same run, writes the same generated rows with a bare ``pyarrow.parquet.write_table`` per
   day (no validation, no schema coercion).
2. Live slot: provider output for 500 symbols -> ``ingest_slot`` (validation incl. the
   previous-slot jump check read from the lake, rejects, one committed object), timed from the
   provider's return to the committed object (network excluded; the provider is a stub that
   returns a prepared frame). Peer: ``write_table`` of the same 500 rows.

Run: ``.venv/bin/python benchmarks/bench_ingest.py [--symbols 500] [--year 2024]``.
Writes ``benchmarks/results/ingest.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

RESULTS = Path(__file__).resolve().parent / "results" / "ingest.json"


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


class _TimedProvider:
    """Wraps a provider and adds up the time spent generating bars (not the platform's)."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.name = inner.name  # type: ignore[attr-defined]
        self.seconds = 0.0

    def fetch(self, *args: object, **kwargs: object) -> object:
        t0 = time.perf_counter()
        try:
            return self.inner.fetch(*args, **kwargs)  # type: ignore[attr-defined]
        finally:
            self.seconds += time.perf_counter() - t0


def child_backfill(symbols: int, year: int, mode: str) -> dict[str, float]:
    """Run inside a child process: the platform backfill or the bare pyarrow peer."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from rebalancer.lake import LocalLake
    from rebalancer.market import SyntheticProvider, backfill, synthetic_universe

    universe = synthetic_universe(symbols)
    root = Path(tempfile.mkdtemp(prefix=f"bench-ingest-{mode}-"))
    start, end = f"{year}-01-01", f"{year}-12-31"
    began = time.perf_counter()
    if mode == "platform":
        lake = LocalLake(root)
        timed = _TimedProvider(SyntheticProvider(universe, seed=0))
        result = backfill(
            lake,
            source="synthetic",
            interval="5m",
            start=start,
            end=end,
            securities=universe,
            provider=timed,
            now=pd.Timestamp(f"{year + 1}-01-02", tz="UTC"),
        )
        rows, objects = result.rows, result.objects
        generate = timed.seconds
        write = time.perf_counter() - began - generate
    else:
        provider = SyntheticProvider(universe, seed=0)
        generate = write = 0.0
        rows = objects = 0
        stamp = pd.Timestamp(f"{year + 1}-01-02")
        for day in pd.date_range(start, end, freq="D"):
            t0 = time.perf_counter()
            bars = provider.bars_for_days(list(universe["symbol"]), [day.date()], "5m")
            t1 = time.perf_counter()
            generate += t1 - t0
            if bars.empty:
                continue
            table = pa.Table.from_pandas(bars.assign(ingested_at=stamp), preserve_index=False)
            out = root / f"dt={day:%Y-%m-%d}"
            out.mkdir(parents=True, exist_ok=True)
            pq.write_table(table, out / "part.parquet", compression="zstd")
            write += time.perf_counter() - t1
            rows += len(bars)
            objects += 1
    elapsed = time.perf_counter() - began
    return {
        "seconds": elapsed,
        "rows": rows,
        "objects": objects,
        "generate_seconds": generate,
        "write_seconds": write,
        "peak_rss_mb": _peak_rss_mb(),
    }


def run_child(symbols: int, year: int, mode: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--symbols", str(symbols), "--year", str(year)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_live_slot(symbols: int, repeats: int) -> dict[str, float]:
    """Provider output -> committed object for one slot, and the bare write of the same rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from rebalancer.lake import LocalLake
    from rebalancer.market import FetchResult, SyntheticProvider, ingest_slot, synthetic_universe

    universe = synthetic_universe(symbols)
    source = SyntheticProvider(universe, seed=0)
    event = pd.Timestamp("2024-03-05 15:00:07", tz="UTC")
    slot = event.floor("5min") - pd.Timedelta(minutes=5)

    class Prepared:
        name = "synthetic"

        def __init__(self, result: FetchResult) -> None:
            self.result = result

        def fetch(self, *args: object, **kwargs: object) -> FetchResult:
            return self.result

    prev = source.fetch(list(universe["symbol"]), slot - pd.Timedelta(minutes=5), slot, "5m")
    now = source.fetch(list(universe["symbol"]), slot, slot + pd.Timedelta(minutes=5), "5m")
    platform_times: list[float] = []
    peer_times: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-slot-") as tmp:
        lake = LocalLake(Path(tmp) / "lake")
        lake.write("securities", universe)
        ingest_slot(lake, Prepared(prev), event - pd.Timedelta(minutes=5), securities=universe)
        ingest_slot(lake, Prepared(now), event, securities=universe)  # warm-up
        for _ in range(repeats):
            t0 = time.perf_counter()
            summary = ingest_slot(lake, Prepared(now), event, securities=universe)
            platform_times.append(time.perf_counter() - t0)
            assert summary.rows_written == symbols, summary
        stamp = pd.Timestamp("2024-03-05 15:00:08")
        for i in range(repeats):
            t0 = time.perf_counter()
            table = pa.Table.from_pandas(now.bars.assign(ingested_at=stamp), preserve_index=False)
            pq.write_table(table, Path(tmp) / f"peer-{i}.parquet", compression="zstd")
            peer_times.append(time.perf_counter() - t0)
    return {
        "rows": symbols,
        "platform_median_s": statistics.median(platform_times),
        "platform_max_s": max(platform_times),
        "peer_median_s": statistics.median(peer_times),
        "repeats": repeats,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--year", type=int, default=2024)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--child", choices=["platform", "peer"])
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child_backfill(args.symbols, args.year, args.child)))
        return 0
    platform_run = run_child(args.symbols, args.year, "platform")
    peer_run = run_child(args.symbols, args.year, "peer")
    slot = bench_live_slot(args.symbols, args.repeats)
    results = {
        "machine": {"python": platform.python_version(), "cpus": _cpus()},
        "backfill": {"platform": platform_run, "pyarrow_write_table": peer_run},
        "live_slot": slot,
        "targets": {"backfill_seconds": 60, "live_slot_seconds": 1},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    peer_write = peer_run["write_seconds"]
    print(f"{'case':44} {'rows':>11} {'seconds':>9} {'peak RSS MB':>12}")
    print(
        f"{'backfill 1y 5m, platform (gen+validate+write)':44} {platform_run['rows']:>11,} "
        f"{platform_run['seconds']:>9.1f} {platform_run['peak_rss_mb']:>12.0f}"
    )
    print(
        f"{'backfill 1y 5m, peer (gen + write_table)':44} {peer_run['rows']:>11,} "
        f"{peer_run['seconds']:>9.1f} {peer_run['peak_rss_mb']:>12.0f}"
    )
    print(
        f"{'write path: platform validate + Lake.write':44} {platform_run['rows']:>11,} "
        f"{platform_run['write_seconds']:>9.1f}"
    )
    print(f"{'write path: peer bare write_table':44} {peer_run['rows']:>11,} {peer_write:>9.1f}")
    print(
        f"{'generation (synthetic), platform / peer':44} {'':>11} "
        f"{platform_run['generate_seconds']:>5.1f} / {peer_run['generate_seconds']:.1f}"
    )
    print(
        f"{'live slot, platform ingest_slot (median)':44} {slot['rows']:>11,} "
        f"{slot['platform_median_s']:>9.3f}"
    )
    print(
        f"{'live slot, peer write_table (median)':44} {slot['rows']:>11,} {slot['peer_median_s']:>9.3f}"
    )
    print(f"results: {RESULTS}")
    return 0


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


if __name__ == "__main__":
    raise SystemExit(main())
