"""Synthetic book generator: one million accounts, time and peak memory, against peers.

Variants, each in its own process (so peak RSS is its own), on the same price panel (bundled
real closes 2008-2022 plus seeded random walks for the bond ETFs / broad ETFs / crypto the
bundled history lacks):

* ``generate_book`` + ``write_book`` into a LocalLake (the platform, what the CLI runs);
* the same chunks written with plain ``pyarrow.parquet.write_table`` (no schema validation):
  what ``Lake.write`` costs on top of the Parquet writer;
* ``generate_book`` alone (no I/O): the generator's own cost;
* a naive generator (a Python loop per account, rows as dicts, one DataFrame per table) on a
  small book, extrapolated linearly to the same size;
* the platform at several chunk sizes on a smaller book: memory follows the chunk, not N.

    python benchmarks/bench_generate.py [--accounts 1000000] [--chunk-size 50000]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CHILD_PRELUDE, run_child, save

PANEL_CODE = """
import numpy as np, pandas as pd
from rebalancer.book import DEFAULT_MODELS
from rebalancer.market import history_closes

def bench_panel():
    real = history_closes().loc["2008-01-01":]
    rng = np.random.default_rng(3)
    panel = real.copy()
    for symbol in DEFAULT_MODELS.symbols:
        if symbol not in panel.columns or panel[symbol].isna().all():
            vol = 0.04 if symbol.endswith("-USD") else 0.006
            panel[symbol] = 50.0 * np.exp(np.cumsum(rng.normal(0.0002, vol, len(panel))))
    return panel

panel = bench_panel()
base_mib = peak_mib()
"""

PLATFORM_CHILD = (
    CHILD_PRELUDE
    + PANEL_CODE
    + """
import shutil
from rebalancer.book import generate_book, write_book
from rebalancer.lake import LocalLake
n, chunk, root, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
t = time.perf_counter()
rows = 0
if mode == "lake":
    summary = write_book(LocalLake(root), generate_book(n, seed=1, prices=panel, chunk_size=chunk))
    rows = sum(summary.rows.values())
elif mode == "pyarrow":
    import os
    import pyarrow as pa, pyarrow.parquet as pq
    for c in generate_book(n, seed=1, prices=panel, chunk_size=chunk):
        for table, frame in c.tables.items():
            os.makedirs(f"{root}/{table}", exist_ok=True)
            pq.write_table(pa.Table.from_pandas(frame, preserve_index=False),
                           f"{root}/{table}/part-{c.index:05d}.parquet", compression="zstd")
            rows += len(frame)
        del c
else:
    for c in generate_book(n, seed=1, prices=panel, chunk_size=chunk):
        rows += sum(len(f) for f in c.tables.values())
        del c
seconds = time.perf_counter() - t
size = sum(p.stat().st_size for p in __import__("pathlib").Path(root).rglob("*.parquet"))
shutil.rmtree(root, ignore_errors=True)
print(json.dumps({"seconds": seconds, "rows": rows, "peak_mib": peak_mib(),
                  "base_mib": base_mib, "bytes": size}))
"""
)

NAIVE_CHILD = (
    CHILD_PRELUDE
    + PANEL_CODE
    + """
import math, random, shutil
from rebalancer.book import DEFAULT_MODELS, RISK_PROFILES
from rebalancer.lake import LocalLake

n, root = int(sys.argv[1]), sys.argv[2]
dense = panel.ffill()
dense = dense[dense.index.day_of_week < 5].dropna()
dates = [d.date() for d in dense.index]
closes = {s: dense[s].tolist() for s in dense.columns}
te = len(dates) - 1
by_profile = {p: [m for m in DEFAULT_MODELS.models if m.risk_profile == p] for p in RISK_PROFILES}
rnd = random.Random(1)
t = time.perf_counter()
tables = {k: [] for k in ("accounts", "holdings", "tax_lots", "transactions", "clients")}
left, hh, model, advisor = 0, "", None, ""
for a in range(1, n + 1):
    if left == 0:  # a new household
        left = rnd.choices([1, 2, 3, 4], [0.35, 0.35, 0.2, 0.1])[0]
        hh, advisor = f"H{a:08d}", f"ADV{rnd.randrange(max(1, n // 400)) + 1:05d}"
        profile = rnd.choice(RISK_PROFILES)
        model = rnd.choice(by_profile[profile])
        tables["clients"].append({"client_id": f"C{a:08d}", "household_id": hh,
            "advisor_id": advisor, "name": "N", "risk_profile": profile,
            "birth_year": 1970, "state": "CA"})
    left -= 1
    aid = f"A{a:08d}"
    value = min(max(math.exp(rnd.gauss(math.log(150_000), 1.0)), 2_000), 25_000_000)
    rebal = te - rnd.randint(21, 378)
    cash = value * model.weights_bp["CASH"] / 10_000
    seq = 0
    for symbol, bp in model.weights_bp.items():
        if symbol == "CASH":
            continue
        price = closes[symbol][rebal]
        qty = math.floor(value * bp / 10_000 / price)
        cash += value * bp / 10_000 - qty * price
        if qty <= 0:
            continue
        tables["holdings"].append({"account_id": aid, "symbol": symbol, "quantity": float(qty)})
        k = min(rnd.choices([1, 2, 3, 4], [0.4, 0.3, 0.2, 0.1])[0], qty)
        cuts = sorted(rnd.sample(range(1, qty), k - 1)) if k > 1 else []
        for lo, hi in zip([0, *cuts], [*cuts, qty]):
            seq += 1
            day = rnd.randint(0, te - 1)
            tables["tax_lots"].append({"account_id": aid, "symbol": symbol,
                "lot_id": f"{aid}-{seq:03d}", "quantity": float(hi - lo),
                "cost_basis": (hi - lo) * closes[symbol][day], "acquired": dates[day]})
            if day >= te - 42:
                tables["transactions"].append({"transaction_id": f"T{a:08d}-{seq:03d}",
                    "account_id": aid, "household_id": hh, "symbol": symbol, "side": "BUY",
                    "quantity": float(hi - lo), "price": closes[symbol][day],
                    "trade_date": dates[day], "realized_gain": None})
    tables["accounts"].append({"account_id": aid, "household_id": hh,
        "client_id": f"C{a:08d}", "advisor_id": advisor, "account_type": "taxable",
        "model_id": model.model_id, "cash": round(cash, 2), "pending_cash_flow": 0.0,
        "fractional_shares": False, "last_rebalanced": dates[rebal], "opened": dates[0]})
lake = LocalLake(root)
rows = 0
for table, records in tables.items():
    lake.write(table, pd.DataFrame(records))
    rows += len(records)
seconds = time.perf_counter() - t
shutil.rmtree(root, ignore_errors=True)
print(json.dumps({"seconds": seconds, "rows": rows, "peak_mib": peak_mib(),
                  "base_mib": base_mib}))
"""
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--chunk-size", type=int, default=50_000)
    parser.add_argument("--naive-accounts", type=int, default=5_000)
    parser.add_argument("--sweep-accounts", type=int, default=200_000)
    args = parser.parse_args()
    n, chunk = args.accounts, args.chunk_size
    work = Path(tempfile.mkdtemp(prefix="bench_generate_"))
    try:
        runs: dict[str, dict[str, float]] = {}

        def platform(mode: str, accounts: int, chunk_size: int) -> dict[str, float]:
            root = str(work / f"{mode}-{accounts}-{chunk_size}")
            return run_child(PLATFORM_CHILD, str(accounts), str(chunk_size), root, mode)

        runs["generate_book + write_book (LocalLake)"] = platform("lake", n, chunk)
        runs["generate_book + plain pyarrow write"] = platform("pyarrow", n, chunk)
        runs["generate_book only (no I/O)"] = platform("none", n, chunk)
        naive = run_child(NAIVE_CHILD, str(args.naive_accounts), str(work / "naive"))
        scale = n / args.naive_accounts
        runs[f"naive per-account loop ({args.naive_accounts:,} accounts, x{scale:,.0f})"] = {
            **naive,
            "measured_seconds": naive["seconds"],
            "seconds": naive["seconds"] * scale,
            "rows": naive["rows"] * scale,
        }
        sweep = {
            size: platform("lake", args.sweep_accounts, size) for size in (10_000, chunk, 200_000)
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"\n{n:,} accounts, chunk size {chunk:,}\n")
    print("| variant | seconds | accounts/s | rows/s | peak RSS MiB | of which chunk MiB |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, r in runs.items():
        extra = r["peak_mib"] - r["base_mib"]
        print(
            f"| {name} | {r['seconds']:.1f} | {n / r['seconds']:,.0f} | "
            f"{r['rows'] / r['seconds']:,.0f} | {r['peak_mib']:,.0f} | {extra:,.0f} |"
        )
    print(f"\nchunk-size sweep on {args.sweep_accounts:,} accounts (LocalLake):\n")
    print(
        "| chunk size | seconds | peak RSS MiB | above the panel MiB |\n| ---: | ---: | ---: | ---: |"
    )
    for size, r in sweep.items():
        print(
            f"| {size:,} | {r['seconds']:.1f} | {r['peak_mib']:,.0f} | "
            f"{r['peak_mib'] - r['base_mib']:,.0f} |"
        )
    lake_s = runs["generate_book + write_book (LocalLake)"]["seconds"]
    naive_s = next(v for k, v in runs.items() if k.startswith("naive"))["seconds"]
    print(f"\nnaive loop / platform: {naive_s / lake_s:.0f}x slower (extrapolated)")
    path = save(
        "generate",
        {
            "accounts": n,
            "chunk_size": chunk,
            "variants": runs,
            "chunk_sweep": {"accounts": args.sweep_accounts, "runs": sweep},
            "naive_slowdown": naive_s / lake_s,
        },
    )
    print(f"results: {path}")
    print(json.dumps({"lake_seconds": lake_s}))


if __name__ == "__main__":
    main()
