"""The dashboard's Book page report (``reports.book_report``) on an existing lake: wall seconds
and peak RSS, each run in a fresh process (its peak is its own), medians over the runs, with
the load average before each run (the machine is shared).

    python benchmarks/bench_book_report.py LAKE [--runs 3] [--name book_report]
                                           [--memory-limit 1GB]

``--memory-limit``: the lake's DuckDB memory limit (``REBALANCER_DUCKDB_MEMORY_LIMIT``; a
query over it spills to disk), to show the report's memory bounded on a book whose grouping
would not fit.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CHILD_PRELUDE, run_child, save

CHILD = (
    CHILD_PRELUDE
    + """
from rebalancer.lake import LocalLake
from rebalancer.usecases import reports
lake = LocalLake(sys.argv[1], memory_limit=sys.argv[2] or None)
start = time.perf_counter()
report = reports.book_report(lake)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "peak_mib": peak_mib(), "accounts": len(report.accounts),
                  "class_cells": len(report.class_drift)}))
"""
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lake", help="a local lake directory (read only)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--name", default="book_report")
    parser.add_argument("--memory-limit", default="", help="DuckDB memory limit, e.g. 1GB")
    args = parser.parse_args()
    runs = []
    for _ in range(args.runs):
        load = os.getloadavg()[0]
        result = run_child(CHILD, str(args.lake), args.memory_limit)
        runs.append({**result, "load_1m": round(load, 2)})
        print(
            f"accounts {result['accounts']:,}  {result['seconds']:.1f} s  "
            f"peak {result['peak_mib']:.0f} MiB  (load {load:.2f})"
        )
    summary = {
        "lake": str(args.lake),
        "accounts": runs[0]["accounts"],
        "memory_limit": args.memory_limit or None,
        "median_seconds": round(statistics.median(r["seconds"] for r in runs), 2),
        "median_peak_mib": round(statistics.median(r["peak_mib"] for r in runs)),
        "runs": runs,
    }
    print(f"median {summary['median_seconds']} s, peak {summary['median_peak_mib']} MiB")
    print(save(args.name, summary))


if __name__ == "__main__":
    main()
