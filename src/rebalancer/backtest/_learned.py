"""The learned trigger: "rebalance now or wait", an XGBoost classifier trained on counterfactual
labels from the real engine, with purged, embargoed walk-forward splits, judged out of sample
against the rule the grid picks in sample.

* **Samples** (:func:`training_set`): account-days on paths the real backtest produces (the
  target bought on day 0 and rebalanced monthly, quarterly or annually, lots and all), every
  ``stride`` trading days, so small and large drifts, young and old lots are all seen.
* **Label** (counterfactual over ``horizon`` trading days, through the engine): on day ``t`` the
  account's state (quantities, cash, lots, wash-sale blocks) is handed to the engine with the
  to-target policy (:data:`~rebalancer.backtest._base.TO_TARGET`, this run's cost): that is
  "now"; "wait" keeps the holdings. Both branches are held to ``t + horizon`` and valued after
  tax as :func:`~rebalancer.backtest.metrics` values a run (``after_tax_final_value``): the
  tax the trades realize is paid, the tax on the remaining gains is charged as if sold at the
  window's last close. Label 1 when "now" ends richer; the sample's weight is how much richer
  either way (the classifier cares about the days that matter).
* **Features** (:data:`FEATURES`, known at ``t``'s close, computed by one function for training
  and for the trigger): drift measures, cash, time since the last rebalance, the gain a trade to
  target would realize and the whole unrealized gain, the target portfolio's 21- and 63-day
  volatility and 63-day momentum, the assets' dispersion, and the momentum of the overweights.
* **Splits** (:func:`walk_forward_splits`): test blocks of ``refit`` trading days from the first
  day the trigger trades; the block starting at ``s`` trains on days ``t`` whose label window
  ends before the embargo, ``t + horizon < s - embargo`` (purged and embargoed), so no label
  reads a price of the test period.
* **Judgement**: the rule :func:`best_rule` picks from :func:`rule_grid` on the training period
  alone (after-tax final value) is what the trigger is compared with, on the same test period,
  through the same engine (:func:`evaluate_learned` per fold; the CLI's ``--policy all``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from rebalancer.backtest._base import TO_TARGET, Array, BaseTrigger, BoolArray, Window
from rebalancer.backtest._calendar import Calendar
from rebalancer.backtest._metrics import metrics
from rebalancer.backtest._registry import rule_grid
from rebalancer.backtest._simulate import Backtest, _Run
from rebalancer.engine import LotArrays, Policy, rebalance
from rebalancer.errors import ConfigError

IntArray = npt.NDArray[np.int64]
FEATURES = (
    "total_drift", "max_abs_dev", "max_rel_dev", "cash_weight", "years_since", "gain_to_target",
    "unrealized", "vol21", "vol63", "mom63", "disp21", "overweight_mom63",
)  # fmt: skip
#: Days of prices the features look back over (samples start after it).
LOOKBACK = 63
PATHS = ("monthly", "quarterly", "annual")


# ---------------------------------------------------------------------------- features
@dataclass(frozen=True)
class PriceContext:
    """Per history day: what the features need from prices alone (trailing windows only)."""

    vol21: Array
    vol63: Array
    mom63: Array
    disp21: Array
    asset_mom63: Array


def price_context(closes: Array, target: Array) -> PriceContext:
    """Trailing price features of each day (zeros until the window is full)."""
    n, m = closes.shape
    ret = np.zeros_like(closes)
    ret[1:] = closes[1:] / closes[:-1] - 1.0
    port = ret @ target
    vol21, vol63, mom63, disp21 = (np.zeros(n) for _ in range(4))
    asset_mom = np.zeros((n, m))
    root = np.sqrt(252.0)
    if n > 21:
        vol21[20:] = np.lib.stride_tricks.sliding_window_view(port, 21).std(axis=1) * root
        disp21[21:] = (closes[21:] / closes[:-21] - 1.0).std(axis=1)
    if n > LOOKBACK:
        vol63[62:] = np.lib.stride_tricks.sliding_window_view(port, 63).std(axis=1) * root
        asset_mom[63:] = closes[63:] / closes[:-63] - 1.0
        mom63[63:] = asset_mom[63:] @ target
    return PriceContext(vol21, vol63, mom63, disp21, asset_mom)


def features(window: Window, ctx: PriceContext, pos: IntArray) -> Array:
    """:data:`FEATURES` of each day of ``window``; ``pos`` are the days' history positions."""
    w, target = window.weights, window.target
    dev = w - target
    over = np.clip(dev, 0.0, None)
    unreal = window.unrealized if window.unrealized is not None else np.zeros_like(w)
    sold = np.divide(over, w, out=np.zeros_like(w), where=w > 0)  # share of each sleeve sold
    rel = np.abs(dev) / np.where(target > 0, target, 1.0)
    return np.column_stack(
        [
            window.total_drift, np.abs(dev).max(axis=1), rel.max(axis=1), window.cash_weight,
            window.days_since / 365.25, (sold * unreal).sum(axis=1), unreal.sum(axis=1),
            ctx.vol21[pos], ctx.vol63[pos], ctx.mom63[pos], ctx.disp21[pos],
            (dev * ctx.asset_mom63[pos]).sum(axis=1),
        ]
    )  # fmt: skip


# ---------------------------------------------------------------------------- labels
@dataclass(frozen=True)
class TrainingSet:
    """One row per (path, probe day): features, label, weight and the day's position.

    ``gain`` is "now" minus "wait" (after tax, per 1.0 of the account on ``day``).
    """

    x: Array
    y: IntArray
    gain: Array
    day: IntArray
    horizon: int

    def rows(self, keep: IntArray) -> TrainingSet:
        """The rows of the days in ``keep``."""
        picked = np.isin(self.day, keep)
        return TrainingSet(
            self.x[picked], self.y[picked], self.gain[picked], self.day[picked], self.horizon
        )


class _ProbeRun(_Run):
    """A path (a calendar rule through the engine) whose state is kept after every engine call,
    so that on any later day the account can be put back as it stood and asked "now or wait"."""

    def __init__(self, spec: Backtest, closes: pd.DataFrame) -> None:
        super().__init__(spec, closes)
        self.snap_day: list[int] = []
        self.snaps: list[tuple[Any, ...]] = []

    def _state(self) -> tuple[Any, ...]:
        # Every field is replaced (never mutated in place) by the engine step: references do.
        return tuple(getattr(self, a) for a in _STATE)

    def _restore(self, state: tuple[Any, ...]) -> None:
        for name, value in zip(_STATE, state, strict=True):
            setattr(self, name, value)

    def _engine(self, j: int) -> None:
        super()._engine(j)
        self.snap_day.append(j)
        self.snaps.append(self._state())

    def _after_tax(self, j: int) -> float:
        """Value at day ``j``'s close less the tax due if every open lot were sold then."""
        value = float(self.px[j] @ self.qty) + self.cash
        if not self.taxable or self.lot_qty.size == 0:
            return value
        asset = self.slot_asset[self.lot_col]
        gain = self.lot_qty * self.px[j][asset] - self.lot_basis
        age = (self.days[j] - self.lot_day).astype(np.int64)
        rate = np.where(age > 365, self.policy.long_term_tax_rate, self.policy.short_term_tax_rate)
        return value - float((gain * rate).sum())

    def probe(
        self, days: IntArray, horizon: int, ctx: PriceContext, chunk: int = 256
    ) -> tuple[Array, IntArray, Array, IntArray]:
        """Features, labels, gains and days of the probes on ``days`` (after :meth:`run`).

        The account as it stood on each probe day is one row of a ``BookArrays``; the engine
        sizes every row in one call (rows are accounts of their own households, so no wash
        sale crosses them), and "now" settles as the backtest settles a call.
        """
        snap_day = np.asarray(self.snap_day, dtype=np.int64)
        end_state = self._state()
        xs: list[Array] = []
        gains: list[float] = []
        kept: list[int] = []
        todo = [int(t) for t in days if t + horizon < len(self.days)]
        for lo in range(0, len(todo), chunk):
            batch = []
            for t in todo[lo : lo + chunk]:
                k = int(np.searchsorted(snap_day, t, side="left")) - 1  # last call before t
                if k < 0:
                    continue
                self._restore(self.snaps[k])
                window, value = self._window(np.array([t], dtype=np.int64))
                xs.append(features(window, ctx, window.index))
                batch.append((t, float(value[0]), self._engine_inputs(t), self._state()))
            if batch:
                gains.extend(self._counterfactual(batch, horizon))
                kept.extend(t for t, *_ in batch)
        self._restore(end_state)
        gain = np.asarray(gains, dtype=float)
        x = np.vstack(xs) if xs else np.zeros((0, len(FEATURES)))
        return x, (gain > 0).astype(np.int64), gain, np.asarray(kept, dtype=np.int64)

    def _counterfactual(self, batch: list[tuple[Any, ...]], horizon: int) -> list[float]:
        """("now" - "wait") after tax at ``t + horizon``, per 1.0 of the account at ``t``."""
        n = len(batch)
        ins = [b[2] for b in batch]
        lots = [b["lots"] for b in ins]
        sizes = np.array([lot.quantity.size for lot in lots], dtype=np.int64)
        stacked = LotArrays(
            row=np.repeat(np.arange(n, dtype=np.int64), sizes),
            col=np.concatenate([lot.col for lot in lots]),
            lot_id=np.concatenate([lot.lot_id for lot in lots]),
            quantity=np.concatenate([lot.quantity for lot in lots]),
            cost_basis=np.concatenate([lot.cost_basis for lot in lots]),
            age_days=np.concatenate([lot.age_days for lot in lots]),
        )
        base = self.arrays.rows(np.zeros(n, dtype=np.int64))
        ids = np.array([f"P{i}" for i in range(n)], dtype=object)
        arrays = dataclasses.replace(
            base, account_id=ids, household=ids, lots=stacked,
            **{f: np.concatenate([b[f] for b in ins]) for f in _INPUTS},
        )  # fmt: skip
        res = rebalance(arrays, self.policy)
        out = []
        start = np.concatenate([[0], np.cumsum(sizes)])
        for i, (t, value, _, state) in enumerate(batch):
            self._restore(state)
            end = t + horizon
            wait = self._after_tax(end)
            dq = np.zeros(len(self.symbols))
            dq[self.slot_asset[self.valid]] = res.quantity[i][self.valid]
            self.qty = self.qty + dq
            self.cash = max(float(res.cash_after[i]), 0.0)
            if self.taxable:
                sold = res.lot_sold[start[i] : start[i + 1]]
                left = self.lot_qty - sold
                keep = np.divide(
                    left, self.lot_qty, out=np.zeros_like(left), where=self.lot_qty > 0
                )
                buys = np.flatnonzero(res.quantity[i] > 0)
                self.lot_col = np.concatenate([self.lot_col, buys])
                self.lot_qty = np.concatenate([self.lot_qty * keep, res.quantity[i][buys]])
                self.lot_basis = np.concatenate([self.lot_basis * keep, np.abs(res.value[i][buys])])
                self.lot_day = np.concatenate([self.lot_day, np.full(buys.size, self.days[t])])
            now = self._after_tax(end)
            if self.taxable:
                now -= float(res.est_tax[i].sum())
            out.append((now - wait) / value)
        return out


_INPUTS = ("cash", "price", "quantity", "days_since_rebalance", "wash_buy_block",
           "wash_loss_block")  # fmt: skip
_STATE = (
    "qty", "cash", "last_day", "last_index", "lot_col", "lot_id", "lot_qty", "lot_basis",
    "lot_day", "tx_day", "tx_slot", "tx_loss_sale", "tx_buy",
)  # fmt: skip


def training_set(
    closes: pd.DataFrame,
    weights: dict[str, float],
    *,
    horizon: int = 63,
    stride: int = 5,
    until: int | None = None,
    cost_bps: float = 5.0,
    account_type: str = "taxable",
    fractional: bool = False,
    policy: Policy | None = None,
) -> TrainingSet:
    """Counterfactual samples on the monthly, quarterly and annual paths over ``closes``, every
    ``stride`` days from :data:`LOOKBACK` to ``until`` (exclusive; default: the last day with a
    full label window). Each path is one backtest over ``closes[: until + horizon]``."""
    symbols = list(weights)
    n = len(closes) if until is None else min(until + horizon, len(closes))
    frame = closes[symbols].iloc[:n]
    ctx = price_context(frame.to_numpy(float), np.array([weights[s] for s in symbols]))
    days = np.arange(LOOKBACK, n - horizon, max(int(stride), 1), dtype=np.int64)
    xs, ys, gains, kept = [], [], [], []
    for period in PATHS:
        spec = Backtest(Calendar(period), weights, cost_bps=cost_bps, account_type=account_type,
                        fractional=fractional, policy=policy)  # fmt: skip
        run = _ProbeRun(spec, frame)
        run.run()
        x, y, gain, day = run.probe(days, horizon, ctx)
        xs.append(x)
        ys.append(y)
        gains.append(gain)
        kept.append(day)
    return TrainingSet(
        np.vstack(xs), np.concatenate(ys), np.concatenate(gains), np.concatenate(kept), horizon
    )


# ---------------------------------------------------------------------------- splits
@dataclass(frozen=True)
class Split:
    """Day positions that train and test one fold: train, purge + embargo, then test."""

    train: IntArray
    test: IntArray


def walk_forward_splits(
    n_days: int, *, test_start: int, refit: int, horizon: int, embargo: int, min_train: int
) -> list[Split]:
    """Test blocks of ``refit`` days from ``test_start`` to the end; the block starting at ``s``
    trains on the days ``t`` (from :data:`LOOKBACK`) with ``t + horizon < s - embargo``.

    Too little history before the first block (fewer than ``min_train`` training days) is a
    one-line error.
    """
    if min(refit, horizon, min_train) < 1 or embargo < 0:
        raise ConfigError("walk-forward splits need refit, horizon, min_train >= 1, embargo >= 0")
    if not 0 < test_start < n_days:
        raise ConfigError(f"the test period must start inside the {n_days} days of history")
    out = []
    for start in range(test_start, n_days, refit):
        train = np.arange(LOOKBACK, max(start - embargo - horizon, LOOKBACK), dtype=np.int64)
        if train.size < min_train:
            need = LOOKBACK + min_train + horizon + embargo
            raise ConfigError(
                f"the learned trigger needs {need} trading days of history before its first "
                f"test day (train {min_train}, horizon {horizon}, embargo {embargo}); "
                f"it has {start}"
            )
        out.append(Split(train=train, test=np.arange(start, min(start + refit, n_days))))
    return out


# ---------------------------------------------------------------------------- the model
class _Constant:
    """The model when the training labels are all one class (no split can separate them)."""

    def __init__(self, p: float) -> None:
        self.p = p

    def predict_proba(self, x: Array) -> Array:
        return np.column_stack([np.full(len(x), 1.0 - self.p), np.full(len(x), self.p)])


def fit_model(data: TrainingSet, *, seed: int = 0, n_threads: int = 1) -> Any:
    """XGBoost on the samples, each weighted by how much its label matters (|gain|)."""
    from xgboost import XGBClassifier

    if data.y.size == 0:
        raise ConfigError("the learned trigger has no training samples")
    if np.unique(data.y).size < 2:
        return _Constant(float(data.y[0]))
    weight = np.abs(data.gain)
    weight = weight / weight.mean() if weight.mean() > 0 else np.ones_like(weight)
    model = XGBClassifier(
        n_estimators=200, max_depth=3, learning_rate=0.05, subsample=0.8,
        colsample_bytree=0.8, min_child_weight=5.0, reg_lambda=1.0, tree_method="hist",
        random_state=seed, n_jobs=n_threads, eval_metric="logloss",
    )  # fmt: skip
    return model.fit(data.x, data.y, sample_weight=weight)


# ---------------------------------------------------------------------------- the trigger
class LearnedTrigger(BaseTrigger):
    """Fires when the block's model gives "rebalancing now pays" more than ``threshold``; the
    engine then trades all the way to target.

    :meth:`fit` trains one model per test block on the history before it; a run may only cover
    days from the first block on (the models have not seen them).
    """

    name = "learned"

    def __init__(
        self,
        threshold: float = 0.5,
        *,
        horizon: int = 63,
        embargo: int = 21,
        refit: int = 252,
        stride: int = 5,
        min_train: int = 504,
        seed: int = 0,
        n_threads: int = 1,
    ) -> None:
        if not 0 < threshold < 1:
            raise ValueError(f"learned threshold must be between 0 and 1, got {threshold}")
        self.threshold = float(threshold)
        self.horizon = int(horizon)
        self.embargo = int(embargo)
        self.refit = int(refit)
        self.stride = int(stride)
        self.min_train = int(min_train)
        self.seed = int(seed)
        self.n_threads = int(n_threads)

    def get_params(self) -> dict[str, Any]:
        return {"threshold": self.threshold}

    def policy_options(self) -> dict[str, Any]:
        return dict(TO_TARGET)

    def fit(
        self,
        history: pd.DataFrame,
        weights: dict[str, float],
        start: Any,
        *,
        cost_bps: float = 5.0,
        account_type: str = "taxable",
        fractional: bool = False,
        policy: Policy | None = None,
        pick_rule: bool = True,
    ) -> LearnedTrigger:
        """Train on ``history`` (dates x symbols, no gaps) for runs from ``start`` on.

        One model per block of ``refit`` days; with ``pick_rule`` also the best rule of the
        grid on the first block's training period (``best_rule_``, ``rule_scores_``).
        """
        symbols = list(weights)
        frame = history[symbols]
        if frame.isna().any().any():
            raise ConfigError("the learned trigger's history has gaps")
        dates = pd.DatetimeIndex(frame.index)
        s0 = int(dates.searchsorted(pd.Timestamp(start)))
        splits = walk_forward_splits(
            len(frame), test_start=s0, refit=self.refit, horizon=self.horizon,
            embargo=self.embargo, min_train=self.min_train,
        )  # fmt: skip
        data = training_set(
            frame, weights, horizon=self.horizon, stride=self.stride,
            until=int(splits[-1].train[-1]) + 1, cost_bps=cost_bps, account_type=account_type,
            fractional=fractional, policy=policy,
        )  # fmt: skip
        self.target_ = np.array([weights[s] for s in symbols])
        self.history_dates_ = dates.values.astype("datetime64[D]")
        self.ctx_ = price_context(frame.to_numpy(float), self.target_)
        self.splits_ = splits
        self.block_start_ = np.array([int(s.test[0]) for s in splits], dtype=np.int64)
        self.models_ = [
            fit_model(data.rows(s.train), seed=self.seed, n_threads=self.n_threads) for s in splits
        ]
        self.train_positive_rate_ = [float(data.rows(s.train).y.mean()) for s in splits]
        if pick_rule:
            kw = {"cost_bps": cost_bps, "account_type": account_type, "fractional": fractional,
                  "policy": policy}  # fmt: skip
            train_end = int(splits[0].train[-1]) + 1
            self.best_rule_, self.rule_scores_ = best_rule(frame.iloc[:train_end], weights, **kw)
        return self

    def prepare(self, dates: npt.NDArray[np.datetime64], closes: Array, target: Array) -> None:
        super().prepare(dates, closes, target)
        if not hasattr(self, "models_"):
            raise ConfigError("the learned trigger must be fitted on history before a run")
        days = np.asarray(dates, dtype="datetime64[D]")
        pos = np.searchsorted(self.history_dates_, days)
        known = self.history_dates_
        if (pos >= known.size).any() or (known[np.minimum(pos, known.size - 1)] != days).any():
            raise ConfigError("the run's days are not all in the learned trigger's history")
        if pos[0] < self.block_start_[0]:
            first = known[self.block_start_[0]]
            raise ConfigError(f"the learned trigger was fitted for runs from {first}, not earlier")
        if not np.allclose(target, self.target_):
            raise ConfigError("the learned trigger was fitted on another target portfolio")
        self.pos_ = pos.astype(np.int64)
        self.block_ = np.searchsorted(self.block_start_, self.pos_, side="right") - 1
        self.proba_ = np.full(days.size, np.nan)

    def mask(self, window: Window) -> BoolArray:
        pos = self.pos_[window.index]
        x = features(window, self.ctx_, pos)
        proba = np.empty(window.index.size)
        block = self.block_[window.index]
        for b in np.unique(block):
            rows = block == b
            proba[rows] = self.models_[b].predict_proba(x[rows])[:, 1]
        self.proba_[window.index] = proba
        return np.asarray(proba > self.threshold, dtype=bool)


# ---------------------------------------------------------------------------- judgement
def best_rule(
    closes: pd.DataFrame, weights: dict[str, float], **kw: Any
) -> tuple[BaseTrigger, dict[str, float]]:
    """The rule of :func:`rule_grid` with the highest after-tax final value on ``closes``
    (pass only the training period), and every rule's score."""
    scores: dict[str, float] = {}
    best: tuple[float, BaseTrigger] | None = None
    for rule in rule_grid():
        result = Backtest(rule, weights, **kw).fit(closes).result_
        score = float(metrics(result)["after_tax_final_value"])
        scores[rule.label] = score
        if best is None or score > best[0]:
            best = (score, rule)
    assert best is not None
    return best[1], scores


def evaluate_learned(
    history: pd.DataFrame,
    weights: dict[str, float],
    start: Any,
    *,
    trigger: LearnedTrigger | None = None,
    **kw: Any,
) -> pd.DataFrame:
    """One row per walk-forward fold from ``start``: the rule picked on the fold's training
    period and, on its test block (a fresh account each), that rule's metrics and the learned
    trigger's, after costs and taxes, through the engine."""
    learned = trigger or LearnedTrigger()
    learned.fit(history, weights, start, pick_rule=False, **kw)
    frame = history[list(weights)]
    rows = []
    for k, split in enumerate(learned.splits_):
        train_end = int(split.train[-1]) + 1
        rule, _ = best_rule(frame.iloc[:train_end], weights, **kw)
        test = frame.iloc[int(split.test[0]) : int(split.test[-1]) + 1]
        if len(test) < 2:
            continue
        rule_m = metrics(Backtest(rule, weights, **kw).fit(test).result_)
        learned_m = metrics(Backtest(learned, weights, **kw).fit(test).result_)
        rows.append({
            "fold": k, "train_end": frame.index[train_end - 1].date(),
            "test_start": test.index[0].date(), "test_end": test.index[-1].date(),
            "train_positive_rate": learned.train_positive_rate_[k], "best_rule": rule.label,
            "rule_after_tax": rule_m["after_tax_final_value"],
            "learned_after_tax": learned_m["after_tax_final_value"],
            "rule_sharpe": rule_m["sharpe"], "learned_sharpe": learned_m["sharpe"],
            "rule_rebalances": rule_m["rebalances"], "learned_rebalances": learned_m["rebalances"],
            "rule_taxes": rule_m["taxes_paid"], "learned_taxes": learned_m["taxes_paid"],
        })  # fmt: skip
    return pd.DataFrame(rows)
