"""Training: the training set through Lake.query, a leakage-free split, XGBoost, evaluation.

The split holds out whole households AND later dates: test rows are test households' sleeves
on dates after the training dates plus an embargo, so the model is scored on advisors' future
decisions for clients it never saw. Early stopping watches a validation fold of other
households on the training dates. Class weights balance SELL / HOLD / BUY during fitting;
the probabilities are corrected back to the true class priors (stored in the model file,
applied by the serving code) so the reported confidence is calibrated.

The model is compared on the same held-out rows with the majority class, the plain engine
rule (default :class:`~rebalancer.engine.Policy`, recorded beside each simulated label) and
the simulator's ceiling (its own latent policy against its noisy labels).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xgboost as xgb

from rebalancer.errors import ConfigError
from rebalancer.model._decisions import ACTIONS, SOURCES
from rebalancer.model._metrics import calibration, classification_report, codes
from rebalancer.model.serving import (
    ATTR_CLASSES,
    ATTR_DECISION,
    ATTR_PRIOR,
    ATTR_REASONS,
    REASON_METHODS,
    score,
)
from rebalancer.resources import schemas_dir, sql_dir

if TYPE_CHECKING:
    from rebalancer.lake import Lake

# This module runs inside SageMaker's XGBoost training container too (src/training/train.py):
# it imports only the standard library, numpy, pandas and xgboost besides the light rebalancer
# modules above (no lake, settings or SQL engine), and stays Python 3.10 compatible.

Progress = Callable[[int, int], None]
TRAINING_SQL_NAME = "features/training_set.sql"
_NOTE = re.compile(r"latent=(SELL|HOLD|BUY) rule=(SELL|HOLD|BUY)")


@cache
def training_sql() -> str:
    """The training-set query text (Athena dialect)."""
    return (sql_dir() / TRAINING_SQL_NAME).read_text(encoding="utf-8")


@cache
def _feature_columns() -> tuple[str, ...]:
    skip = {"as_of", "account_id", "household_id", "advisor_id", "symbol"}
    schema = json.loads((schemas_dir() / "decision_features.json").read_text(encoding="utf-8"))
    return tuple(c["name"] for c in schema["columns"] if c["name"] not in skip)


def model_features() -> list[str]:
    """The feature list, in order: the ``decision_features`` columns after the keys (the same
    order as ``sql/features/holding_features.sql`` returns them). Read from the schema file
    directly, not through ``rebalancer.lake``, so the training container needs no lake."""
    return list(_feature_columns())


def training_set(lake: Lake, *, source: str = "") -> pd.DataFrame:
    """Every decision (one ``source``, or all) with its features, through ``Lake.query``."""
    if source and source not in SOURCES:
        raise ConfigError(f"source must be one of {', '.join(SOURCES)}, got {source!r}")
    return prepare_training_frame(lake.query(training_sql(), params={"source": source}))


def prepare_training_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The training query's rows as training wants them (features float64, NULL -> NaN,
    ``as_of`` a timestamp, no ``dt``): shared by the lake path and the SageMaker job, which
    reads the same query's rows from Parquet that Athena UNLOADed.

    A feature column the rows lack (``decision_features`` written before the feature was
    added: Athena reads it as NULL, the embedded engine takes the first object's columns) is
    all missing: the model cannot split on it until the decisions are simulated again."""
    frame = frame.drop(columns=["dt"], errors="ignore")
    for column in model_features():
        if column not in frame.columns:
            frame[column] = np.nan
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    frame["as_of"] = pd.to_datetime(frame["as_of"])
    return frame


def empty_features(frame: pd.DataFrame) -> list[str]:
    """Model features with no value in any row of ``frame``: decision features written before
    the feature existed. The model cannot learn from them, so ``rebalancer train`` says so."""
    return [c for c in model_features() if c not in frame.columns or frame[c].isna().all()]


@dataclass(frozen=True)
class TrainConfig:
    """Knobs of one training run (defaults are what ``rebalancer train`` uses).

    ``nthread`` defaults to 1: on a shared 2-core machine XGBoost's OpenMP threads wait on
    each other (a 27k-row fit took 15 s with 2 threads and 0.8 s with 1); raise it on a
    dedicated host or for a million rows. ``reasons`` is how the served model's reason codes
    are computed (see :data:`rebalancer.model.serving.ATTR_REASONS`); it is saved in the
    model, so the endpoint and the in-process predictor always agree.
    """

    seed: int = 7
    test_households: float = 0.3
    valid_households: float = 0.15
    test_dates: float = 0.3
    embargo_days: int = 10
    num_boost_round: int = 500
    early_stopping_rounds: int = 30
    max_depth: int = 8
    eta: float = 0.05
    nthread: int = 1
    reasons: str = "approx"

    def __post_init__(self) -> None:
        if self.reasons not in REASON_METHODS:
            raise ConfigError(f"reasons must be approx or exact, got {self.reasons!r}")
        for name in ("test_households", "valid_households", "test_dates"):
            value = getattr(self, name)
            if not 0 < value < 1:
                raise ConfigError(f"{name} must be in (0, 1), got {value}")
        if self.embargo_days < 0 or self.num_boost_round < 1 or self.max_depth < 1:
            raise ConfigError("embargo_days >= 0, num_boost_round >= 1, max_depth >= 1")

    def params(self) -> dict[str, Any]:
        """XGBoost parameters."""
        return {
            "objective": "multi:softprob",
            "num_class": len(ACTIONS),
            "tree_method": "hist",
            "max_depth": self.max_depth,
            "eta": self.eta,
            "eval_metric": "mlogloss",
            "seed": self.seed,
            "nthread": self.nthread,
        }


@dataclass(frozen=True)
class Split:
    """Row positions of train / validation / test and what separates them."""

    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    train_end: pd.Timestamp
    test_start: pd.Timestamp
    embargo_days: int

    def describe(self, data: pd.DataFrame) -> dict[str, Any]:
        """Split facts for the metadata: dates, rows, households."""

        def part(rows: np.ndarray) -> dict[str, Any]:
            sub = data.iloc[rows]
            return {
                "rows": len(rows),
                "households": int(_groups(sub).nunique()),
                "first": str(sub["as_of"].min()),
                "last": str(sub["as_of"].max()),
            }

        return {
            "train": part(self.train),
            "valid": part(self.valid),
            "test": part(self.test),
            "train_end": str(self.train_end),
            "test_start": str(self.test_start),
            "embargo_days": self.embargo_days,
        }


def _groups(data: pd.DataFrame) -> pd.Series:
    """The unit no split may share: the household (the account when it has none)."""
    household = data["household_id"].astype(object)
    return household.where(household.notna(), data["account_id"]).astype(str)


def split_dataset(data: pd.DataFrame, config: TrainConfig) -> Split:
    """Hold out households and later dates (see the module docstring)."""
    dates = np.sort(data["as_of"].unique())
    n_test = max(1, round(len(dates) * config.test_dates))
    test_start = pd.Timestamp(dates[len(dates) - n_test])
    train_end_limit = test_start - pd.Timedelta(days=config.embargo_days)
    train_dates = dates[dates < np.datetime64(train_end_limit)]
    if len(train_dates) == 0 or len(dates) < 2:
        raise ConfigError(
            f"{len(dates)} decision date(s) leave nothing to train on before {test_start.date()} "
            f"with a {config.embargo_days}-day embargo: simulate more dates"
        )
    groups = _groups(data)
    unique = np.array(sorted(groups.unique()))
    rng = np.random.default_rng([config.seed, 11])
    order = rng.permutation(len(unique))
    n_test_g = max(1, round(len(unique) * config.test_households))
    n_valid_g = max(1, round(len(unique) * config.valid_households))
    if n_test_g + n_valid_g >= len(unique):
        raise ConfigError(f"{len(unique)} household(s) are too few to hold some out")
    test_g = set(unique[order[:n_test_g]])
    valid_g = set(unique[order[n_test_g : n_test_g + n_valid_g]])
    in_test_g = groups.isin(test_g).to_numpy()
    in_valid_g = groups.isin(valid_g).to_numpy()
    when = data["as_of"].to_numpy()
    early = when <= train_dates[-1]
    late = when >= np.datetime64(test_start)
    return Split(
        train=np.flatnonzero(early & ~in_test_g & ~in_valid_g),
        valid=np.flatnonzero(early & in_valid_g),
        test=np.flatnonzero(late & in_test_g),
        train_end=pd.Timestamp(train_dates[-1]),
        test_start=test_start,
        embargo_days=config.embargo_days,
    )


class _Progress(xgb.callback.TrainingCallback):
    def __init__(self, progress: Progress, total: int) -> None:
        self.progress, self.total = progress, total

    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        self.progress(epoch + 1, self.total)
        return False


def class_weights(y: np.ndarray, n_classes: int = len(ACTIONS)) -> np.ndarray:
    """Balanced weights ``n / (k * n_c)`` (a class absent from training gets weight 1)."""
    counts = np.bincount(y, minlength=n_classes).astype(float)
    return np.where(counts > 0, len(y) / (n_classes * np.maximum(counts, 1)), 1.0)


def fit(
    data: pd.DataFrame,
    split: Split,
    config: TrainConfig,
    *,
    progress: Progress | None = None,
) -> xgb.Booster:
    """Fit the booster (class-weighted, early-stopped on the validation fold)."""
    features = model_features()
    y = codes(data["action"])
    weights = class_weights(y[split.train])

    def matrix(rows: np.ndarray) -> xgb.DMatrix:
        return xgb.DMatrix(
            data[features].to_numpy(np.float64)[rows],
            label=y[rows],
            weight=weights[y[rows]],
            feature_names=features,
            missing=np.nan,
            nthread=config.nthread,
        )

    train_m, valid_m = matrix(split.train), matrix(split.valid)
    callbacks: list[xgb.callback.TrainingCallback] = []
    if progress is not None:
        callbacks.append(_Progress(progress, config.num_boost_round))
    booster = xgb.train(
        config.params(),
        train_m,
        num_boost_round=config.num_boost_round,
        evals=[(valid_m, "valid")],
        early_stopping_rounds=config.early_stopping_rounds if len(split.valid) else None,
        verbose_eval=False,
        callbacks=callbacks,
    )
    if (
        booster.best_iteration is not None
        and booster.best_iteration + 1 < booster.num_boosted_rounds()
    ):
        booster = booster[: booster.best_iteration + 1]
    prior = 1.0 / weights
    booster.set_attr(
        **{
            ATTR_CLASSES: json.dumps(list(ACTIONS)),
            ATTR_PRIOR: json.dumps(prior.tolist()),
            ATTR_REASONS: config.reasons,
        }
    )
    scale = decision_scale(
        booster, data[features].to_numpy(np.float64)[split.valid], y[split.valid], weights
    )
    booster.set_attr(**{ATTR_DECISION: json.dumps(scale.tolist())})
    return booster


#: Exponents tried for the decision scale ``weights ** alpha`` (0: the calibrated argmax).
DECISION_ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0)


def decision_scale(
    booster: xgb.Booster, x_valid: np.ndarray, y_valid: np.ndarray, weights: np.ndarray
) -> np.ndarray:
    """Per-class factors for picking the action: ``weights ** alpha`` with the alpha that
    scores the best macro-F1 on the validation fold (ties: the smallest alpha, closest to
    the calibrated argmax). The probabilities themselves stay calibrated."""
    if len(y_valid) == 0:
        return np.ones(len(ACTIONS))
    booster.set_attr(**{ATTR_DECISION: None})
    proba = np.asarray(score(x_valid, booster, contributions=False)["probabilities"])
    best, best_f1 = np.ones(len(ACTIONS)), -1.0
    for alpha in DECISION_ALPHAS:
        scale = weights**alpha / (weights**alpha).max()
        f1 = classification_report(y_valid, (proba * scale).argmax(axis=1))["macro_f1"]
        if f1 > best_f1 + 1e-12:
            best, best_f1 = scale, f1
    return np.asarray(best, dtype=np.float64)


@dataclass
class TrainedModel:
    """A fitted booster, its evaluation and the facts its metadata records."""

    booster: xgb.Booster
    features: list[str]
    config: TrainConfig
    split: dict[str, Any]
    evaluation: dict[str, Any]
    train_seconds: float
    rows: int
    sources: dict[str, int] = field(default_factory=dict)

    def metrics(self) -> dict[str, float]:
        """Flat headline figures (the API's ``metrics``)."""
        ev = self.evaluation
        out = {
            "macro_f1": ev["model"]["macro_f1"],
            "accuracy": ev["model"]["accuracy"],
            "ece": ev["calibration"]["ece"],
            "majority_macro_f1": ev["majority"]["macro_f1"],
            "test_rows": float(ev["model"]["rows"]),
            "train_seconds": self.train_seconds,
        }
        for name in ("rule", "ceiling"):
            if ev.get(name) is not None:
                out[f"{name}_macro_f1"] = ev[name]["macro_f1"]
        return out


def evaluate(booster: xgb.Booster, data: pd.DataFrame, split: Split) -> dict[str, Any]:
    """The model, the majority class, the engine rule and the ceiling on the held-out rows."""
    features = model_features()
    test = data.iloc[split.test]
    y = codes(test["action"])
    scored = score(test[features].to_numpy(np.float64), booster, contributions=False)
    proba = np.asarray(scored["probabilities"], dtype=np.float64).reshape(len(test), len(ACTIONS))
    predicted = np.asarray(scored["predicted"], dtype=np.int64)
    train_y = codes(data.iloc[split.train]["action"])
    majority = int(np.bincount(train_y, minlength=len(ACTIONS)).argmax())
    out: dict[str, Any] = {
        "model": classification_report(y, predicted),
        "majority": classification_report(y, np.full(len(y), majority)),
        "majority_class": ACTIONS[majority],
        "calibration": (
            calibration(y, proba, predicted) if len(test) else {"ece": 0.0, "reliability": []}
        ),
        "decision_scale": json.loads(booster.attr(ATTR_DECISION) or "null"),
        "rule": None,
        "ceiling": None,
    }
    notes = test["note"].astype(object).where(test["note"].notna(), "").astype(str)
    parsed = notes.str.extract(_NOTE)
    known = parsed[0].notna().to_numpy()
    out["simulated_share"] = float(known.mean()) if len(known) else 0.0
    if known.all() and len(known):
        out["ceiling"] = classification_report(y, codes(parsed[0]))
        out["rule"] = classification_report(y, codes(parsed[1]))
    return out


def train(
    data: pd.DataFrame,
    config: TrainConfig | None = None,
    *,
    progress: Progress | None = None,
) -> TrainedModel:
    """Split, fit and evaluate on a training set (:func:`training_set`)."""
    config = config or TrainConfig()
    if data.empty:
        raise ConfigError(
            "no decisions with features in the lake: run `rebalancer decisions simulate` first"
        )
    data = data.reset_index(drop=True)
    split = split_dataset(data, config)
    started = time.perf_counter()
    booster = fit(data, split, config, progress=progress)
    seconds = time.perf_counter() - started
    return TrainedModel(
        booster=booster,
        features=model_features(),
        config=config,
        split=split.describe(data),
        evaluation=evaluate(booster, data, split),
        train_seconds=round(seconds, 3),
        rows=len(data),
        sources={str(k): int(v) for k, v in data["source"].value_counts().items()},
    )


def config_dict(config: TrainConfig) -> dict[str, Any]:
    """The config as plain JSON values."""
    return asdict(config)
