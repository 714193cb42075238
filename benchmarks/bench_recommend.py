"""Recommendation benchmark: a 100,000-account book from the lake to ``recommendations``.

Stages, each in its own process (so peak RSS is its own):

1. build: seeded random-walk daily closes for the model universe, ``generate_book`` +
   ``write_book`` (the synthetic book generator) into a fresh LocalLake, the closes of the
   last days as ``market_prices`` daily bars, and the default ``securities``. Not timed.
2. run: ``run_recommendations`` for every account with the default policy (read the book
   and prices through the Lake, validate, rebalance in vectorized chunks, write the
   ``recommendations`` object): the headline time and peak memory, then the same steps timed
   one by one.
3. peer: whole-share sizing against PyPortfolioOpt's ``DiscreteAllocation.greedy_portfolio``
   on a sample of accounts, each turned into an all-cash account to invest into its model
   (same value, same prices, same weights; crypto treated as whole units on both sides, no
   costs, no minimum trade). Reports time per account and the leftover cash above the model's
   cash target. Each side is timed ``REPEATS`` times, interleaved, and the best run kept
   (on a shared machine noise only adds time).

    python benchmarks/bench_recommend.py [--accounts 100000] [--sample 1000]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CHILD_PRELUDE, run_child, save

AS_OF = "2025-01-01T00:00:00"  # the 2024-12-31 daily bars have closed

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
summary = write_book(lake, generate_book(n_accounts, seed=5, prices=panel, chunk_size=50_000))
last = panel.iloc[-5:].stack().rename("close").reset_index()
last.columns = ["ts", "symbol", "close"]
bars = last.assign(**{"interval": "1d", "open": last["close"], "high": last["close"],
                      "low": last["close"], "volume": 0, "source": "synthetic",
                      "ingested_at": pd.Timestamp("2025-01-01")})
lake.write("market_prices", bars)
print(json.dumps({"accounts": summary.accounts, "rows": summary.rows,
                  "build_s": time.perf_counter() - t0}))
"""
)

RUN_CHILD = (
    CHILD_PRELUDE
    + """
import pandas as pd
from rebalancer.engine import Policy, recommend_book, tune_allocator
from rebalancer.lake import LocalLake
from rebalancer.book import BookTables
from rebalancer.usecases import (load_prices, parse_as_of, recommendation_rows, run_id_for,
                                 run_recommendations)

tune_allocator()  # as `rebalancer recommend` does
root, as_of = sys.argv[1], sys.argv[2]
lake = LocalLake(root)
policy = Policy()
t0 = time.perf_counter()
result = run_recommendations(lake, as_of=as_of, policy=policy)
total = time.perf_counter() - t0
peak = peak_mib()
s = result.summary()
# The same run, step by step (second pass: warm file cache, same work).
when = parse_as_of(as_of)
t = time.perf_counter(); book = BookTables.from_lake(lake); read_s = time.perf_counter() - t
t = time.perf_counter(); prices = load_prices(lake, when); prices_s = time.perf_counter() - t
t = time.perf_counter()
rec = recommend_book(book, prices, policy, as_of=when)
engine_s = time.perf_counter() - t
t = time.perf_counter()
run_id = run_id_for(rec, prices, when, policy, "all", None)
rows = recommendation_rows(rec, run_id, when, policy, None)
lake.write("recommendations", rows, name="run-bench-steps")
write_s = time.perf_counter() - t
positions = len(book.holdings)
print(json.dumps({"total_s": total, "peak_rss_mib": peak, **s, "positions": positions,
                  "lots": len(book.tax_lots), "steps_s": {"read_book": read_s,
                  "prices": prices_s, "validate_and_rebalance": engine_s,
                  "run_id_and_write": write_s}}))
"""
)

PEER_CHILD = (
    CHILD_PRELUDE
    + """
import dataclasses, warnings
import numpy as np, pandas as pd
from pypfopt.discrete_allocation import DiscreteAllocation
from rebalancer.engine import Policy, book_chunks, build_book, rebalance, tune_allocator
from rebalancer.lake import LocalLake
from rebalancer.book import BookTables
from rebalancer.usecases import load_prices, parse_as_of

tune_allocator()  # as `rebalancer recommend` does; the same process runs the peer
root, as_of, sample = sys.argv[1], sys.argv[2], int(sys.argv[3])
lake = LocalLake(root)
when = parse_as_of(as_of)
tables = BookTables.from_lake(lake)
prices = load_prices(lake, when)
book = build_book(tables.accounts, tables.model_portfolios, tables.holdings, prices,
                  as_of=when, securities=tables.securities, tax_lots=tables.tax_lots).arrays
# All cash, whole units everywhere, no restrictions: the allocation problem DiscreteAllocation solves.
value = (np.where(book.valid, book.quantity * book.price, 0.0).sum(axis=1) + book.cash + book.cash_flow)
n, k = book.shape
zeros = np.zeros((n, k), dtype=bool)
cash_book = dataclasses.replace(
    book, quantity=np.zeros((n, k)), cash=value, cash_flow=np.zeros(n), fractional=zeros,
    restricted=zeros, do_not_trade=zeros, wash_buy_block=zeros, wash_loss_block=zeros,
    lots=type(book.lots).empty())
policy = Policy(rebalance_to="target", spread_bps=0.0, fee_per_trade=0.0, min_trade_value=0.0,
                drift_value_bps=0.0, absolute_band=0.0, band="absolute")
picked = np.arange(0, n, max(1, n // sample))[:sample]
small = cash_book.rows(picked)
rebalance(small, policy)  # warm-up
# Both sides start from the same in-memory arrays: ours chunks the book (as rebalance_batch
# does), pypfopt needs a weights dict and a price Series per account (its API).
def ours_all():
    return [(index, rebalance(chunk, policy)) for index, chunk in book_chunks(cash_book)]

def theirs_sample():
    left = np.zeros(picked.size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for j, i in enumerate(picked):
            sel = book.valid[i] & (book.target[i] > 0)
            syms = book.symbol[i][sel]
            da = DiscreteAllocation(dict(zip(syms, book.target[i][sel] / book.target[i][sel].sum())),
                                    pd.Series(book.price[i][sel], index=syms),
                                    total_portfolio_value=float(value[i] * (1 - book.cash_target[i])))
            _, left[j] = da.greedy_portfolio()
    return left

# Best of ``REPEATS`` for each side, interleaved (a shared machine: noise only adds time).
REPEATS = 5
ours_runs, theirs_runs, sample_runs = [], [], []
for _ in range(REPEATS):
    t = time.perf_counter(); parts = ours_all(); ours_runs.append(time.perf_counter() - t)
    t = time.perf_counter(); theirs_left = theirs_sample(); theirs_runs.append(time.perf_counter() - t)
    t = time.perf_counter(); res_small = rebalance(small, policy); sample_runs.append(time.perf_counter() - t)
ours_all_s, theirs_s, ours_sample_s = min(ours_runs), min(theirs_runs), min(sample_runs)
cash_after = np.empty(n)
for index, part in parts:
    cash_after[index] = part.cash_after
assert np.array_equal(res_small.cash_after, cash_after[picked])  # same trades either way
ours_left = (cash_after - book.cash_target * value)[picked]
investable = (value * (1 - book.cash_target))[picked]
print(json.dumps({
    "accounts_all": int(n), "accounts": int(picked.size),
    "ours_all_us_per_account": 1e6 * ours_all_s / n,
    "ours_sample_us_per_account": 1e6 * ours_sample_s / picked.size,
    "pypfopt_us_per_account": 1e6 * theirs_s / picked.size,
    "speedup": (theirs_s / picked.size) / (ours_all_s / n),
    "speedup_sample_batch": (theirs_s / picked.size) / (ours_sample_s / picked.size),
    "ours_leftover_mean": float(ours_left.mean()), "pypfopt_leftover_mean": float(theirs_left.mean()),
    "ours_leftover_median": float(np.median(ours_left)), "pypfopt_leftover_median": float(np.median(theirs_left)),
    "ours_leftover_pct_of_investable": float(100 * (ours_left / investable).mean()),
    "pypfopt_leftover_pct_of_investable": float(100 * (theirs_left / investable).mean()),
    "ours_leftover_p90": float(np.quantile(ours_left, 0.9)),
    "pypfopt_leftover_p90": float(np.quantile(theirs_left, 0.9)),
    "ours_leftover_total": float(ours_left.sum()), "pypfopt_leftover_total": float(theirs_left.sum()),
    "repeats": REPEATS,
    "ours_all_us_per_account_runs": [1e6 * s / n for s in ours_runs],
    "pypfopt_us_per_account_runs": [1e6 * s / picked.size for s in theirs_runs],
    "share_accounts_ours_no_worse": float(np.mean(ours_left <= theirs_left + 0.01)),
    "ours_min_leftover": float(ours_left.min()),
}))
"""
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--sample", type=int, default=1_000)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-recommend-"))
    try:
        lake = str(work / "lake")
        build = run_child(BUILD_CHILD, lake, str(args.accounts))
        run = run_child(RUN_CHILD, lake, AS_OF)
        peer = run_child(PEER_CHILD, lake, AS_OF, str(args.sample))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"\nbook: {build['accounts']:,} accounts, {run['positions']:,} positions, "
          f"{run['lots']:,} tax lots (built in {build['build_s']:.1f} s, not timed below)")  # fmt: skip
    print(f"{'step':<34}{'seconds':>10}")
    print(f"{'recommend --all (lake -> lake)':<34}{run['total_s']:>10.2f}")
    for step, seconds in run["steps_s"].items():
        print(f"{'  ' + step:<34}{seconds:>10.2f}")
    print(f"peak RSS {run['peak_rss_mib']:,.0f} MiB; {run['accounts_traded']:,} of "
          f"{run['accounts']:,} accounts traded, {run['trades']:,} trades, "
          f"turnover {run['turnover_pct']:.2f}%, {run['rejected']} rejected")  # fmt: skip
    print(f"\nwhole-share sizing, all-cash accounts (pypfopt on a {peer['accounts']:,} sample):")
    print(f"{'':<34}{'us/account':>11}{'leftover mean $':>17}{'median $':>10}{'% inv.':>8}")
    print(f"{'rebalancer, batch of ' + format(peer['accounts_all'], ','):<34}"
          f"{peer['ours_all_us_per_account']:>11.1f}{peer['ours_leftover_mean']:>17.2f}"
          f"{peer['ours_leftover_median']:>10.2f}{peer['ours_leftover_pct_of_investable']:>8.4f}")  # fmt: skip
    print(f"{'rebalancer, batch of the sample':<34}{peer['ours_sample_us_per_account']:>11.1f}")
    print(f"{'pypfopt greedy_portfolio (each)':<34}{peer['pypfopt_us_per_account']:>11.1f}"
          f"{peer['pypfopt_leftover_mean']:>17.2f}{peer['pypfopt_leftover_median']:>10.2f}"
          f"{peer['pypfopt_leftover_pct_of_investable']:>8.4f}")  # fmt: skip
    print(f"leftover p90 ${peer['ours_leftover_p90']:,.2f} vs ${peer['pypfopt_leftover_p90']:,.2f}; "
          f"total ${peer['ours_leftover_total']:,.0f} vs ${peer['pypfopt_leftover_total']:,.0f}")  # fmt: skip
    print(f"speed-up {peer['speedup']:.0f}x, best of {peer['repeats']} each "
          f"(sample-only batch: {peer['speedup_sample_batch']:.0f}x); "
          f"leftover no worse in {100 * peer['share_accounts_ours_no_worse']:.1f}% of accounts")  # fmt: skip
    path = save("recommend", {"accounts": args.accounts, "build": build, "run": run, "peer": peer})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
