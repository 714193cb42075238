"""Backtest benchmark: our backtest engine vs bt 1.4 on the same strategy, side by side.

The issue's target case: 20 real S&P 500 stocks (the bundled history, 1990-2022, 8,313 days),
equal weights, monthly rebalancing at the close of each month's first trading day, 5 bps
commission, $1,000,000, whole shares. Variants, interleaved in one process and each timed
``--repeats`` times (best kept: on a shared machine noise only adds time):

* ``bt``: ``bt.Backtest`` with ``RunMonthly, SelectAll, WeighSpecified, Rebalance``,
  ``integer_positions=True`` and a proportional commission (``bt.run``);
* ``ours_bt_mode``: :class:`rebalancer.backtest.Backtest` in bt's compatibility mode
  (``sizing="bt"``): the same equity curve as bt (checked here, to 1e-12 relative);
* ``ours_engine_ira`` / ``ours_engine_taxable``: the production engine on every rebalance
  (``Policy`` + ``rebalance``, settled as ``execute`` settles: lots, wash sales, taxes).

vectorbt (``Portfolio.from_orders`` with target-percent orders) is timed too when it is
installed; here it is not (its wheels pin an old numba/numpy), and the result says so.

    python benchmarks/bench_backtest.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import save

RATE = 5 / 10_000


def _bt_run(closes: Any, weights: dict[str, float]) -> np.ndarray:
    import bt

    algos = [bt.algos.RunMonthly(), bt.algos.SelectAll(), bt.algos.WeighSpecified(**weights),
             bt.algos.Rebalance()]  # fmt: skip
    test = bt.Backtest(
        bt.Strategy("s", algos), closes, initial_capital=1e6, integer_positions=True,
        commissions=lambda q, p: abs(q) * p * RATE, progress_bar=False,
    )  # fmt: skip
    result = bt.run(test)
    return np.asarray(result.backtests["s"].strategy.values.iloc[1:].to_numpy() / 1e6)


def _ours(closes: Any, weights: dict[str, float], **kw: Any) -> np.ndarray:
    from rebalancer.backtest import Backtest, make_trigger
    from rebalancer.backtest._simulate import _BUILT

    _BUILT.clear()  # each run builds its account, as one user run does (no warm cache)
    spec = Backtest(make_trigger("monthly"), weights, cost_bps=5.0, fractional=False, **kw)
    return spec.fit(closes).result_.equity


def _vectorbt(closes: Any, weights: dict[str, float]) -> np.ndarray | None:
    try:
        import vectorbt as vbt
    except ImportError:
        return None
    from rebalancer.backtest import period_starts

    due = period_starts(closes.index.to_numpy(), "monthly")
    size = np.where(due[:, None], np.array([weights[s] for s in closes.columns]), np.nan)
    portfolio = vbt.Portfolio.from_orders(
        closes, size=size, size_type="targetpercent", fees=RATE, init_cash=1e6,
        cash_sharing=True, group_by=True, call_seq="auto", size_granularity=1.0,
    )  # fmt: skip
    return np.asarray(portfolio.value().to_numpy() / 1e6)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    from rebalancer.market import history_closes

    closes = history_closes().iloc[:, :20].dropna()
    weights = {s: 1.0 / closes.shape[1] for s in closes.columns}
    variants = {
        "bt": lambda: _bt_run(closes, weights),
        "ours_bt_mode": lambda: _ours(closes, weights, sizing="bt", account_type="ira"),
        "ours_engine_ira": lambda: _ours(closes, weights, account_type="ira"),
        "ours_engine_taxable": lambda: _ours(closes, weights, account_type="taxable"),
        "vectorbt": lambda: _vectorbt(closes, weights),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    curves: dict[str, np.ndarray | None] = {}
    for name, fn in variants.items():  # warm-up (imports, caches)
        curves[name] = fn()
    for _ in range(args.repeats):
        for name, fn in variants.items():
            if curves[name] is None:
                continue
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    best = {name: min(ts) for name, ts in times.items() if ts}
    bt_curve = curves["bt"]
    assert bt_curve is not None
    diffs = {
        name: float(np.max(np.abs(curve / bt_curve - 1.0)))
        for name, curve in curves.items()
        if curve is not None and name != "bt"
    }
    payload = {
        "case": "20 stocks, 1990-2022 daily (8,313 days), equal weights, monthly, 5 bps, "
        "whole shares, $1M",
        "days": int(closes.shape[0]),
        "assets": int(closes.shape[1]),
        "repeats": args.repeats,
        "seconds": best,
        "seconds_runs": times,
        "speedup_vs_bt": {name: best["bt"] / s for name, s in best.items() if name != "bt"},
        "max_rel_diff_vs_bt": diffs,
        "vectorbt": "timed" if curves["vectorbt"] is not None else "not installed",
        "final_value": {name: float(c[-1]) for name, c in curves.items() if c is not None},
    }
    path = save("backtest", payload)
    for name, s in best.items():
        ratio = "" if name == "bt" else f"  {best['bt'] / s:6.1f}x bt"
        diff = f"  max |rel diff| vs bt {diffs[name]:.1e}" if name in diffs else ""
        print(f"{name:22s} {s:8.3f} s{ratio}{diff}")
    if curves["vectorbt"] is None:
        print("vectorbt: not installed")
    print(f"results: {path}")


if __name__ == "__main__":
    main()
