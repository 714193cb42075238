"""Model training benchmark: the training pipeline against bare ``xgboost.train``.

Stages, each in its own process (so peak RSS is its own):

1. build: seeded random-walk daily closes for the model universe as ``market_prices`` daily
   bars in a fresh LocalLake, then ``simulate_decisions`` (a generated book replayed over
   ``--dates`` sessions ``--step-days`` apart: decisions + their features). Timed, reported.
2. features: ``training_set`` (sql/features/training_set.sql through ``Lake.query``): the
   feature extraction of every row.
3. train: on the same rows and split, ``rebalancer.model._train.fit`` (DMatrix, class weights,
   early stopping, prior correction, the decision scale) against bare ``xgboost.train`` on the
   same matrix with the same parameters, evaluation set and early stopping. Each side runs
   ``REPEATS`` times, interleaved, best kept (on a shared machine noise only adds time).
   Then the whole ``train`` (fit + evaluation on the held-out rows) once, with its figures.

    python benchmarks/bench_train.py [--accounts 2100] [--dates 45] [--threads 1]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CHILD_PRELUDE, run_child, save

REPEATS = 2

BUILD_CHILD = (
    CHILD_PRELUDE
    + """
import numpy as np, pandas as pd
from rebalancer.book import DEFAULT_MODELS
from rebalancer.lake import LocalLake
from rebalancer.model import price_bars
from rebalancer.usecases import simulate_decisions

root, accounts, dates, step = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
lake = LocalLake(root)
days = pd.bdate_range(end="2024-12-31", periods=520 + dates * step)
rng = np.random.default_rng(11)
panel = pd.DataFrame(index=days)
for symbol in DEFAULT_MODELS.symbols:
    vol = 0.035 if symbol.endswith("-USD") else 0.012
    start = 30000.0 if symbol.endswith("-USD") else float(rng.uniform(20, 600))
    panel[symbol] = start * np.exp(np.cumsum(rng.normal(0.0003, vol, len(days))))
lake.write("market_prices", price_bars(panel), name="bars")
t0 = time.perf_counter()
summary = simulate_decisions(lake, accounts=accounts, dates=dates, step_days=step, seed=7)
print(json.dumps({"seconds": time.perf_counter() - t0, "rows": summary.rows,
                  "accounts": summary.accounts, "ceiling_macro_f1": summary.ceiling["macro_f1"],
                  "rule_agreement": summary.rule_agreement, "peak_mib": peak_mib()}))
"""
)

FEATURES_CHILD = (
    CHILD_PRELUDE
    + """
from rebalancer.lake import LocalLake
from rebalancer.model import model_features, training_set

lake = LocalLake(sys.argv[1], query_timeout_seconds=None)
t0 = time.perf_counter()
data = training_set(lake)
seconds = time.perf_counter() - t0
print(json.dumps({"seconds": seconds, "rows": len(data), "features": len(model_features()),
                  "rows_per_second": len(data) / seconds, "peak_mib": peak_mib()}))
"""
)

TRAIN_CHILD = (
    CHILD_PRELUDE
    + """
import numpy as np, xgboost as xgb
from rebalancer.lake import LocalLake
from rebalancer.model import TrainConfig, codes, model_features, split_dataset, train, training_set
from rebalancer.model._train import class_weights, fit

lake = LocalLake(sys.argv[1], query_timeout_seconds=None)
threads, repeats = int(sys.argv[2]), int(sys.argv[3])
data = training_set(lake)
config = TrainConfig(nthread=threads)
split = split_dataset(data, config)
features = model_features()

def bare():
    x = data[features].to_numpy(np.float64)
    y = codes(data["action"])
    w = class_weights(y[split.train])
    m = lambda rows: xgb.DMatrix(x[rows], label=y[rows], weight=w[y[rows]],
                                 feature_names=features, missing=np.nan, nthread=threads)
    return xgb.train(config.params(), m(split.train), num_boost_round=config.num_boost_round,
                     evals=[(m(split.valid), "valid")],
                     early_stopping_rounds=config.early_stopping_rounds, verbose_eval=False)

times = {"pipeline": [], "bare": []}
rounds = {}
for _ in range(repeats):
    for name, call in (("pipeline", lambda: fit(data, split, config)), ("bare", bare)):
        t0 = time.perf_counter()
        booster = call()
        times[name].append(time.perf_counter() - t0)
        rounds[name] = booster.num_boosted_rounds()
t0 = time.perf_counter()
trained = train(data, config)
whole = time.perf_counter() - t0
ev = trained.evaluation
print(json.dumps({
    "rows": len(data), "train_rows": len(split.train), "threads": threads,
    "pipeline_fit_seconds": min(times["pipeline"]), "bare_train_seconds": min(times["bare"]),
    "ratio": min(times["pipeline"]) / min(times["bare"]), "rounds": rounds,
    "train_and_evaluate_seconds": whole,
    "macro_f1": {k: (ev[k] or {}).get("macro_f1") for k in ("majority", "rule", "model", "ceiling")},
    "ece": ev["calibration"]["ece"], "test_rows": ev["model"]["rows"], "peak_mib": peak_mib(),
}))
"""
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=2100)
    parser.add_argument("--dates", type=int, default=45)
    parser.add_argument("--step-days", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=REPEATS)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-train-"))
    try:
        root = str(work / "lake")
        build = run_child(
            BUILD_CHILD, root, str(args.accounts), str(args.dates), str(args.step_days)
        )
        print(f"simulate: {build['rows']:,} rows in {build['seconds']:.1f} s", flush=True)
        features = run_child(FEATURES_CHILD, root)
        print(f"features: {features['rows']:,} rows in {features['seconds']:.1f} s", flush=True)
        trained = run_child(TRAIN_CHILD, root, str(args.threads), str(args.repeats))
        print(
            f"train: pipeline fit {trained['pipeline_fit_seconds']:.1f} s vs bare "
            f"xgboost.train {trained['bare_train_seconds']:.1f} s "
            f"(ratio {trained['ratio']:.2f}); macro-F1 {trained['macro_f1']}",
            flush=True,
        )
        path = save(
            "train",
            {"args": vars(args), "simulate": build, "features": features, "train": trained},
        )
        print(f"results: {path}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
