"""``benchmarks/report.py`` renders the README's table from the committed result files: each
result file is a row with its figures, a missing file says so, a malformed one names the
missing key, and the machine lines name the files measured on each machine."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.report import RENDER, render

MACHINE = {"python": "3.11.7", "cpus": 2, "platform": "Linux-test"}


def _write(directory: Path, name: str, payload: dict) -> None:
    (directory / f"{name}.json").write_text(json.dumps({"machine": MACHINE, **payload}))


def test_rows_missing_and_malformed_results(tmp_path: Path) -> None:
    run = {"seconds": 6.0, "accounts": 20_000}
    _write(tmp_path, "model_gate_20k", {"results": [
        {"off": run, "gate": {**run, "seconds": 15.0}, "approx_contribs": False,
         "cpu_median": {"off": 3.0, "gate": 9.0}}
    ]})  # fmt: skip
    daily = {"seconds": 5.0, "accounts": 100_000}
    _write(tmp_path, "model_gate_100k_next", {"results": [
        {"day": "next", "off": daily, "gate": {**daily, "seconds": 6.0},
         "wall_median": {"off": 6.0, "gate": 8.4}, "cpu_median": {"off": 10.0, "gate": 15.0}}
    ]})  # fmt: skip
    _write(tmp_path, "shards_1m", {"results": [{"accounts": 1_000_000}]})  # no "shards"
    _write(tmp_path, "shards_1m_single", {"results": [
        {"accounts": 1_000_000, "shards": 100, "generate_seconds": 341.2,
         "generate_peak_mib": 1166.0, "sharded": {
             "seconds": 263.1, "peak_mib": 575.0, "workers": 2, "worker_peak_mib": 470.2,
             "finish_seconds": 40.5},
         "single": {"calls": 200, "p50_ms": 34.3, "p99_ms": 59.8, "cpu_p50_ms": 34.2,
                    "cpu_p99_ms": 59.4, "load_average": [3.2, 4.0, 4.5]}}
    ]})  # fmt: skip
    _write(
        tmp_path,
        "book_report_1m",
        {
            "accounts": 1_000_000,
            "median_seconds": 20.4,
            "median_peak_mib": 2540.1,
            "runs": [{}, {}, {}],
        },
    )
    _write(tmp_path, "shards_10m", {"results": [
        {"accounts": 10_000_000, "shards": 1000, "generate_seconds": 3600.0,
         "generate_peak_mib": 1170.4, "sharded": None, "whole": None,
         "single": {"calls": 20, "p50_ms": 206.8, "p99_ms": 258.8}}
    ]})  # fmt: skip
    table = render(tmp_path)
    lines = table.splitlines()
    gate = next(line for line in lines if line.startswith("| model gate |"))
    assert "20,000 accounts" in gate and "15.00 s" in gate and "model=off 6.00 s" in gate
    assert "2.50x the off run (best wall; target 1.5x); CPU 3.00x (9.00 s / 3.00 s)" in gate
    daily = next(line for line in lines if "a daily run" in line)
    assert "100,000 accounts" in daily and "| 8.40 s | model=off 6.00 s |" in daily
    assert "1.40x the off run (median wall; target 1.5x); CPU 1.50x (15.00 s / 10.00 s)" in daily
    assert (
        "| shards | recommend --all, 1,000,000 accounts, 100 shards | 263.10 s, peak 575 MiB + 2 "
        "workers x 470 MiB (final step 40.50 s) |" in table
    )
    assert (
        "| shards (one account) | 200 calls at 1,000,000 | p50 34 ms, p99 60 ms (CPU p50 34 ms, "
        "p99 59 ms; load 3.2) |" in table
    )
    assert (
        "| dashboard book report | 1,000,000 accounts, median of 3 | 20.40 s, peak 2,540 MiB |"
        in (table)
    )
    assert "| shards_1m | results/shards_1m.json lacks" in table
    assert (
        "| shards (generate) | 10,000,000 accounts, 1000 shards | 3,600.00 s, peak 1,170 MiB |"
        in table
    )
    assert "| shards (one account) | 20 calls at 10,000,000 | p50 207 ms, p99 259 ms |" in table
    assert "| lake_query | not run (no results/lake_query.json) |" in table
    # every renderer has a row, in the README's order
    named = [line.split("|")[1].strip() for line in lines if line.startswith("| ")][1:]
    assert len(named) >= len(RENDER)
    assert table.rstrip().endswith(
        "- Python 3.11.7, 2 CPU(s), Linux-test: shards_1m, shards_1m_single, shards_10m, "
        "model_gate_20k, model_gate_100k_next, book_report_1m"
    )
