"""Athena SQL through Lake.query vs hand-written DuckDB vs pandas, on 10M 5-minute bars.

Targets (issue 2): Lake.query at most 1.1x the hand-written DuckDB time on the same files, and
at least 5x faster than pandas (read_parquet + groupby). Reports rows/s and peak RSS, each
variant in its own process.

    python benchmarks/bench_lake_query.py [--rows 10000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CHILD_PRELUDE, DATA_DIR, run_child, save

ATHENA_SQL = """
SELECT symbol, date_trunc('day', ts) AS day, min(low) AS low, max(high) AS high,
       sum(volume) AS volume, avg(close) AS avg_close, count(*) AS bars
FROM market_prices
WHERE "interval" = '5m'
GROUP BY 1, 2
"""

DUCKDB_SQL = """
SELECT symbol, date_trunc('day', ts) AS day, min(low) AS low, max(high) AS high,
       sum(volume) AS volume, avg(close) AS avg_close, count(*) AS bars
FROM read_parquet('{glob}', hive_partitioning = true)
WHERE "interval" = '5m'
GROUP BY 1, 2
"""

BARS_PER_DAY = 78


def build_lake(root: Path, rows: int) -> int:
    """Write ~rows 5-minute bars (400 symbols, one object per day) through LocalLake.write."""
    from rebalancer.lake import LocalLake

    lake = LocalLake(root)
    symbols = np.array([f"S{i:03d}" for i in range(400)])
    days = max(1, rows // (len(symbols) * BARS_PER_DAY))
    rng = np.random.default_rng(0)
    written = 0
    for day in pd.bdate_range("2024-01-02", periods=days):
        stamps = (
            day
            + pd.Timedelta(hours=14, minutes=30)
            + pd.to_timedelta(np.arange(BARS_PER_DAY) * 5, unit="min")
        )
        n = len(symbols) * BARS_PER_DAY
        close = 100 * np.exp(rng.normal(0, 0.01, n))
        frame = pd.DataFrame(
            {
                "symbol": np.repeat(symbols, BARS_PER_DAY),
                "ts": np.tile(stamps.to_numpy(), len(symbols)),
                "interval": "5m",
                "open": close,
                "high": close * 1.001,
                "low": close * 0.999,
                "close": close,
                "volume": rng.integers(0, 10_000, n),
                "source": "synthetic",
                "ingested_at": day,
            }
        )
        lake.write("market_prices", frame, name="bench")
        written += n
    return written


LAKE_CHILD = (
    CHILD_PRELUDE
    + """
from rebalancer.lake import LocalLake
root, sql, repeat = sys.argv[1], sys.argv[2], int(sys.argv[3])
lake = LocalLake(root)
lake.query(sql)  # warm-up: file metadata and OS cache, not timed
times = []
for _ in range(repeat):
    t = time.perf_counter(); out = lake.query(sql); times.append(time.perf_counter() - t)
print(json.dumps({"times": times, "groups": len(out), "peak_mib": peak_mib()}))
"""
)

DUCKDB_CHILD = (
    CHILD_PRELUDE
    + """
import duckdb
root, sql, repeat = sys.argv[1], sys.argv[2], int(sys.argv[3])
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")  # as LocalLake: no bar printed into stdout
con.execute(sql).df()  # warm-up, not timed
times = []
for _ in range(repeat):
    t = time.perf_counter(); out = con.execute(sql).df(); times.append(time.perf_counter() - t)
print(json.dumps({"times": times, "groups": len(out), "peak_mib": peak_mib()}))
"""
)

PANDAS_CHILD = (
    CHILD_PRELUDE
    + """
import pandas as pd
root, repeat = sys.argv[1], int(sys.argv[2])
pd.read_parquet(root + "/market_prices", columns=["symbol"])  # warm-up, not timed
times = []
for _ in range(repeat):
    t = time.perf_counter()
    df = pd.read_parquet(root + "/market_prices", columns=["symbol", "ts", "interval", "low", "high", "volume", "close"])
    df = df[df["interval"] == "5m"]
    out = df.groupby(["symbol", df["ts"].dt.floor("D")]).agg(
        low=("low", "min"), high=("high", "max"), volume=("volume", "sum"),
        avg_close=("close", "mean"), bars=("close", "size"))
    times.append(time.perf_counter() - t)
print(json.dumps({"times": times, "groups": len(out), "peak_mib": peak_mib()}))
"""
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    root = DATA_DIR / f"lake_query_{args.rows}"
    marker = root / ".complete"
    if not marker.exists():
        t = time.perf_counter()
        rows = build_lake(root, args.rows)
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(str(rows))
        print(f"built {rows:,} rows in {time.perf_counter() - t:.1f}s at {root}")
    rows = int(marker.read_text())
    glob = str(root / "market_prices" / "dt=*" / "*.parquet")

    results = {
        "Lake.query (Athena SQL -> DuckDB)": run_child(
            LAKE_CHILD, str(root), ATHENA_SQL, str(args.repeat)
        ),
        "hand-written DuckDB": run_child(
            DUCKDB_CHILD, str(root), DUCKDB_SQL.format(glob=glob), str(args.repeat)
        ),
        "pandas read_parquet + groupby": run_child(PANDAS_CHILD, str(root), str(args.repeat)),
    }
    groups = {r["groups"] for r in results.values()}
    if len(groups) != 1:
        raise SystemExit(f"variants disagree on the result size: {groups}")

    print(f"\n{rows:,} rows, {groups.pop():,} groups, median of {args.repeat} runs\n")
    print("| variant | median s | rows/s | peak RSS MiB |\n| --- | ---: | ---: | ---: |")
    table = {}
    for name, result in results.items():
        median = statistics.median(result["times"])
        table[name] = {
            "median_s": median,
            "rows_per_s": rows / median,
            "peak_rss_mib": result["peak_mib"],
            "times": result["times"],
        }
        print(f"| {name} | {median:.3f} | {rows / median:,.0f} | {result['peak_mib']:.0f} |")
    lake_s = table["Lake.query (Athena SQL -> DuckDB)"]["median_s"]
    ratio_duckdb = lake_s / table["hand-written DuckDB"]["median_s"]
    speedup_pandas = table["pandas read_parquet + groupby"]["median_s"] / lake_s
    print(f"\nLake.query / hand DuckDB: {ratio_duckdb:.2f}x (target <= 1.1x)")
    print(f"pandas / Lake.query: {speedup_pandas:.1f}x faster (target >= 5x)")
    path = save(
        "lake_query",
        {
            "rows": rows,
            "repeat": args.repeat,
            "variants": table,
            "ratio_vs_duckdb": ratio_duckdb,
            "speedup_vs_pandas": speedup_pandas,
        },
    )
    print(f"results: {path}")


if __name__ == "__main__":
    main()
