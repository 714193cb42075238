"""Render the README's benchmark table from ``benchmarks/results/*.json`` (what ``make bench``
writes), with the machine each result was measured on.

Every benchmark measures ours and its peer side by side in one run; this script only reads
those files (nothing is re-measured), so the table always matches the committed results. A
result file that is missing is a row saying so, not an error.

    python benchmarks/report.py [--results benchmarks/results] [--out table.md]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).parent / "results"
Row = tuple[str, str, str, str, str]  # benchmark, case, ours, peer, ratio


def _s(seconds: float) -> str:
    return f"{seconds:,.2f} s" if seconds >= 0.1 else f"{seconds * 1000:,.1f} ms"


def _x(ratio: float, word: str = "faster") -> str:
    if ratio < 1:
        return f"{1 / ratio:,.2f}x slower"
    return f"{ratio:,.2f}x {word}" if ratio < 10 else f"{ratio:,.1f}x {word}"


def _lake_query(r: dict[str, Any]) -> list[Row]:
    v = r["variants"]
    ours, duck = v["Lake.query (Athena SQL -> DuckDB)"], v["hand-written DuckDB"]
    pandas = v["pandas read_parquet + groupby"]
    case = f"aggregate {r['rows'] / 1e6:.1f}M rows, median of {r['repeat']}"
    return [
        ("lake query", case, _s(ours["median_s"]), f"DuckDB by hand {_s(duck['median_s'])}",
         _x(duck["median_s"] / ours["median_s"])),
        ("lake query", case, _s(ours["median_s"]), f"pandas {_s(pandas['median_s'])}",
         _x(pandas["median_s"] / ours["median_s"])),
    ]  # fmt: skip


def _ingest(r: dict[str, Any]) -> list[Row]:
    ours, peer = r["backfill"]["platform"], r["backfill"]["pyarrow_write_table"]
    live = r["live_slot"]
    return [
        ("ingest (backfill)", f"{ours['rows'] / 1e6:.1f}M bars, {ours['objects']} objects",
         _s(ours["seconds"]), f"bare pyarrow {_s(peer['seconds'])}",
         _x(peer["seconds"] / ours["seconds"])),
        ("ingest (live slot)", f"{live['rows']} bars, median of {live['repeats']}",
         _s(live["platform_median_s"]), f"bare pyarrow {_s(live['peer_median_s'])}",
         _x(live["peer_median_s"] / live["platform_median_s"])),
    ]  # fmt: skip


def _generate(r: dict[str, Any]) -> list[Row]:
    v = r["variants"]
    ours, plain = (
        v["generate_book + write_book (LocalLake)"],
        v["generate_book + plain pyarrow write"],
    )
    naive = next(x for k, x in v.items() if k.startswith("naive"))
    case = f"{r['accounts']:,} accounts, {ours['rows'] / 1e6:.1f}M rows, peak {ours['peak_mib']:,.0f} MiB"
    return [
        ("generate book", case, _s(ours["seconds"]), f"plain pyarrow write {_s(plain['seconds'])}",
         _x(plain["seconds"] / ours["seconds"])),
        ("generate book", case, _s(ours["seconds"]),
         f"per-account loop (extrapolated) {_s(naive['seconds'])}",
         _x(naive["seconds"] / ours["seconds"])),
    ]  # fmt: skip


def _recommend(r: dict[str, Any]) -> list[Row]:
    run, peer = r["run"], r["peer"]
    return [
        ("batch engine", f"recommend --all, {r['accounts']:,} accounts, {run['trades']:,} trades, "
         f"peak {run['peak_rss_mib']:,.0f} MiB", _s(run["total_s"]), "", ""),
        ("batch engine vs PyPortfolioOpt", f"per account ({peer['accounts']:,} accounts, "
         f"best of {peer['repeats']})", f"{peer['ours_all_us_per_account']:,.1f} us",
         f"{peer['pypfopt_us_per_account']:,.1f} us", _x(peer["speedup"])),
    ]  # fmt: skip


def _api(r: dict[str, Any]) -> list[Row]:
    post, health = r["results"]["POST /v1/recommendations"], r["results"]["GET /health"]
    case = f"{r['requests_per_round']} requests x {r['rounds']}, concurrency {r['concurrency']}"
    return [
        ("API", f"POST /v1/recommendations, {case}",
         f"{post['rps']:,.1f} req/s (p50 {post['p50_ms']:,.0f} ms, p99 {post['p99_ms']:,.0f} ms)",
         f"GET /health ceiling {health['rps']:,.1f} req/s",
         f"{r['post_to_health_throughput']:.3f} of the ceiling"),
    ]  # fmt: skip


def _train(r: dict[str, Any]) -> list[Row]:
    t = r["train"]
    return [
        ("model training", f"{t['rows'] / 1e6:.2f}M rows ({t['train_rows']:,} train), "
         f"{t['threads']} thread", _s(t["pipeline_fit_seconds"]),
         f"bare xgboost.train {_s(t['bare_train_seconds'])}",
         _x(t["bare_train_seconds"] / t["pipeline_fit_seconds"])),
    ]  # fmt: skip


def _shards(r: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for x in r["results"]:
        sharded, whole = x["sharded"], x.get("whole")
        if sharded is None:  # a kept lake whose runs were not (yet) timed: its generation
            rows.append(("shards (generate)", f"{x['accounts']:,} accounts, {x['shards']} "
                         "shards", f"{_s(x['generate_seconds'])}, peak "
                         f"{x['generate_peak_mib']:,.0f} MiB",
                         "" if x.get("single") else "recommend not run", ""))  # fmt: skip
        else:
            case = f"recommend --all, {x['accounts']:,} accounts, {x['shards']} shards"
            ours = f"{_s(sharded['seconds'])}, peak {sharded['peak_mib']:,.0f} MiB"
            if sharded.get("workers", 1) > 1:
                ours += f" + {sharded['workers']} workers x {sharded['worker_peak_mib']:,.0f} MiB"
            if sharded.get("finish_seconds") is not None:
                ours += f" (final step {_s(sharded['finish_seconds'])})"
            if whole:
                peer = f"whole book {_s(whole['seconds'])}, peak {whole['peak_mib']:,.0f} MiB"
                ratio = f"{whole['peak_mib'] / sharded['peak_mib']:.1f}x less memory"
            else:
                peer, ratio = "whole book not run at this size", ""
            rows.append(("shards", case, ours, peer, ratio))
        if x.get("single"):
            one = x["single"]
            figures = f"p50 {one['p50_ms']:,.0f} ms, p99 {one['p99_ms']:,.0f} ms"
            if "cpu_p99_ms" in one:
                figures += (f" (CPU p50 {one['cpu_p50_ms']:,.0f} ms, p99 "
                            f"{one['cpu_p99_ms']:,.0f} ms; load {one['load_average'][0]:.1f})")  # fmt: skip
            rows.append(("shards (one account)", f"{one['calls']} calls at {x['accounts']:,}",
                         figures, "", ""))  # fmt: skip
    return rows


def _model_gate(r: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for x in r["results"]:
        off, gate = x["off"], x["gate"]
        how = "approx" if x.get("approx_contribs") else "the model's"
        wall = x.get("wall_median") or {"gate": gate["seconds"], "off": off["seconds"]}
        kind = "median" if x.get("wall_median") else "best"
        ratio = f"{wall['gate'] / wall['off']:.2f}x the off run ({kind} wall; target 1.5x)"
        cpu = x.get("cpu_median")
        if cpu:
            ratio += f"; CPU {cpu['gate'] / cpu['off']:.2f}x ({_s(cpu['gate'])} / {_s(cpu['off'])})"
        day = (
            "the day after a run's trades (a daily run)"
            if x.get("day") == "next"
            else "the generated book's first run (months of drift)"
        )
        rows.append(("model gate", f"recommend --all model=gate, {off['accounts']:,} accounts, "
                     f"{day} ({how} reasons, traded sleeves)", _s(wall["gate"]),
                     f"model=off {_s(wall['off'])}", ratio))  # fmt: skip
    return rows


def _book_report(r: dict[str, Any]) -> list[Row]:
    limit = f", DuckDB memory limit {r['memory_limit']}" if r.get("memory_limit") else ""
    return [("dashboard book report", f"{r['accounts']:,} accounts, median of {len(r['runs'])}"
             f"{limit}", f"{_s(r['median_seconds'])}, peak {r['median_peak_mib']:,.0f} MiB",
             "", "")]  # fmt: skip


def _backtest(r: dict[str, Any]) -> list[Row]:
    s, up, diff = r["seconds"], r["speedup_vs_bt"], r["max_rel_diff_vs_bt"]
    rows: list[Row] = [
        ("backtest vs bt", f"{r['case']}; bt compatibility mode (same curve, max rel diff "
         f"{diff['ours_bt_mode']:.0e})", _s(s["ours_bt_mode"]), f"bt {_s(s['bt'])}",
         _x(up["ours_bt_mode"])),
        ("backtest vs bt", "production engine on every rebalance, taxable (lots, wash sales, "
         "taxes)", _s(s["ours_engine_taxable"]), f"bt {_s(s['bt'])}",
         _x(up["ours_engine_taxable"])),
    ]  # fmt: skip
    vbt = s.get("vectorbt")
    rows.append(("backtest vs vectorbt", "Portfolio.from_orders, target percent",
                 _s(s["ours_bt_mode"]), _s(vbt) if vbt else str(r.get("vectorbt")),
                 _x(vbt / s["ours_bt_mode"]) if vbt else ""))  # fmt: skip
    return rows


#: result file -> rows (README order).
RENDER: dict[str, Callable[[dict[str, Any]], list[Row]]] = {
    "lake_query": _lake_query,
    "ingest": _ingest,
    "generate": _generate,
    "recommend": _recommend,
    "api": _api,
    "train": _train,
    "shards": _shards,
    "shards_1m": _shards,
    "shards_1m_single": _shards,
    "shards_10m": _shards,
    "model_gate_20k": _model_gate,
    "model_gate_100k": _model_gate,
    "model_gate_100k_next": _model_gate,
    "book_report_1m": _book_report,
    "book_report_1m_limit_1GB": _book_report,
    "backtest": _backtest,
}


def machine(results: dict[str, dict[str, Any]]) -> str:
    """One line per distinct machine the results were measured on, naming the files."""
    seen: dict[str, list[str]] = {}
    for name, r in results.items():
        m = r.get("machine", {})
        text = (
            f"Python {m.get('python', '?')}, {m.get('cpus', '?')} CPU(s), "
            f"{m.get('platform', 'platform not recorded')}"
        )
        seen.setdefault(text, []).append(name)
    return "\n".join(f"- {text}: {', '.join(names)}" for text, names in seen.items())


def render(results_dir: Path = RESULTS_DIR) -> str:
    """The Markdown table and the machine lines."""
    results = {
        name: json.loads((results_dir / f"{name}.json").read_text())
        for name in RENDER
        if (results_dir / f"{name}.json").exists()
    }
    lines = ["| benchmark | case | ours | peer | ratio |", "|---|---|---|---|---|"]
    for name, fn in RENDER.items():
        if name not in results:
            lines.append(f"| {name} | not run (no results/{name}.json) | | | |")
            continue
        try:
            rows = fn(results[name])
        except (KeyError, TypeError, StopIteration) as exc:
            lines.append(f"| {name} | results/{name}.json lacks {exc} | | | |")
            continue
        lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return "\n".join(
        [*lines, "", "Measured on (per result file):", machine(results)]
    ) + "\n"  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=RESULTS_DIR)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    text = render(args.results)
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
