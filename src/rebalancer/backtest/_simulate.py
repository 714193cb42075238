"""The backtest: one account replayed day by day through the real engine.

Between engine calls nothing trades (adjusted closes, no cash flows), so holdings are constant
and a whole window of days is marked to market with one matrix product. The trigger's mask
(:class:`~rebalancer.backtest.BaseTrigger`) picks the first day of the window on which the
engine may act; only then is the engine called. Two ways to call it, same trades:

* ``mode="tables"``: :func:`rebalancer.engine.recommend_book` on a ``BookTables`` then
  :func:`rebalancer.engine.execute` (the production path, validation and all);
* ``mode="arrays"`` (default, fast): the account's ``BookArrays`` are built once by
  :func:`rebalancer.engine.build_book`; on a fire day prices, quantities, cash, lots (with their
  ages) and the wash-sale blocks are updated in place of the pandas layer and the engine's
  :func:`rebalance` sizes the trades; they settle as ``execute`` settles them (lots sold unit by
  unit with basis pro rata, taxable buys open lots at cost). A test checks the two modes give
  the same trades.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from rebalancer.backtest._base import Array, BaseTrigger, Window
from rebalancer.backtest._compat import bt_cash, bt_orders
from rebalancer.book import BookTables
from rebalancer.engine import (
    BookArrays,
    LotArrays,
    Policy,
    build_book,
    execute,
    rebalance,
    recommend_book,
)
from rebalancer.errors import ConfigError, MarketDataError

ACCOUNT = "BT"
#: Days marked per look-ahead right after a rebalance (doubled while nothing fires).
_FIRST_WINDOW = 32
_ZERO = 1e-9
Mode = Literal["arrays", "tables"]
Sizing = Literal["engine", "bt"]
Trades = dict[str, npt.NDArray[Any]]


@dataclass(frozen=True)
class BacktestResult:
    """What a run produced: the daily curves, one row per rebalance, and tax totals.

    ``equity`` is the account value over the start value (1.0 on day 0 before trading);
    ``benchmark`` is the target rebalanced every day for free (the tracking-error reference).
    """

    policy: str
    dates: pd.DatetimeIndex
    equity: Array
    drift: Array
    benchmark: Array
    rebalances: pd.DataFrame
    taxes_paid: float
    taxes_deferred: float
    account_type: str
    initial_value: float = 1.0
    trades: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)

    def curve(self) -> pd.DataFrame:
        """``date, equity, drift, benchmark`` per day."""
        return pd.DataFrame(
            {"date": self.dates, "equity": self.equity, "drift": self.drift,
             "benchmark": self.benchmark}
        )  # fmt: skip


class Backtest:
    """Replay ``trigger`` on a target portfolio over daily closes.

    Parameters: ``weights`` (symbol -> target, summing to 1), ``account_type`` (``taxable``
    realizes gains lot by lot and pays tax; ``ira`` does not), ``cost_bps`` (the engine's
    ``spread_bps``, paid from cash on each trade), ``fractional`` (fractional shares or whole
    shares, as the engine sizes them), ``initial_value`` (USD; results are reported per 1.0),
    ``policy`` (the base engine policy the trigger's options go on top of).

    :meth:`fit` runs it; the result is ``result_``.
    """

    def __init__(
        self,
        trigger: BaseTrigger,
        weights: dict[str, float],
        *,
        account_type: str = "taxable",
        cost_bps: float = 5.0,
        fractional: bool = False,
        initial_value: float = 1_000_000.0,
        policy: Policy | None = None,
        mode: Mode = "arrays",
        sizing: Sizing = "engine",
        window: int = 512,
    ) -> None:
        self.trigger = trigger
        self.weights = dict(weights)
        self.account_type = account_type
        self.cost_bps = float(cost_bps)
        self.fractional = fractional
        self.initial_value = float(initial_value)
        self.policy = policy
        self.mode = mode
        self.sizing = sizing
        self.window = int(window)
        check_weights(self.weights)
        if account_type not in ("taxable", "ira", "roth"):
            raise ConfigError(f"account type must be taxable or ira, got {account_type!r}")
        if mode not in ("arrays", "tables"):
            raise ConfigError(f"mode must be arrays or tables, got {mode!r}")
        if sizing not in ("engine", "bt"):
            raise ConfigError(f"sizing must be engine or bt, got {sizing!r}")

    def engine_policy(self) -> Policy:
        """The trigger's policy on top of the base one, with this run's cost."""
        base = Policy.from_options(self.policy, spread_bps=self.cost_bps)
        return self.trigger.engine_policy(base)

    def fit(self, closes: pd.DataFrame) -> Backtest:
        """Run over ``closes`` (dates x symbols; every weight's symbol, no gaps)."""
        symbols = list(self.weights)
        missing = [s for s in symbols if s not in closes.columns]
        if missing:
            raise MarketDataError(f"no prices for {', '.join(missing)}")
        frame = closes[symbols]
        if frame.empty or len(frame) < 2:
            raise MarketDataError("fewer than two days of prices in the range")
        if frame.isna().any().any():
            bad = frame.columns[frame.isna().any()].tolist()
            raise MarketDataError(f"missing closes in the range for {', '.join(bad)}")
        self.result_ = _Run(self, frame).run()
        return self


def check_weights(weights: dict[str, float]) -> None:
    """Weights are positive and sum to 1 (one line otherwise)."""
    if not weights:
        raise ConfigError("no symbols given")
    values = np.array(list(weights.values()), dtype=float)
    if not np.isfinite(values).all() or (values < 0).any():
        raise ConfigError("weights must be finite and non-negative")
    if abs(values.sum() - 1.0) > 1e-6:
        raise ConfigError(f"weights must sum to 1, got {values.sum():.6g}")


def one_account_book(
    weights: dict[str, float], *, account_type: str, fractional: bool, cash: float, opened: Any
) -> BookTables:
    """An all-cash account following a one-off model of ``weights``."""
    symbols = list(weights)
    accounts = pd.DataFrame(
        [{
            "account_id": ACCOUNT, "household_id": ACCOUNT, "client_id": ACCOUNT,
            "advisor_id": ACCOUNT, "account_type": account_type, "model_id": ACCOUNT,
            "cash": float(cash), "pending_cash_flow": 0.0, "fractional_shares": fractional,
            "last_rebalanced": None, "opened": opened,
        }]
    )  # fmt: skip
    models = pd.DataFrame(
        {"model_id": ACCOUNT, "symbol": symbols, "target_weight": list(weights.values())}
    )
    securities = pd.DataFrame(
        {"symbol": symbols, "name": symbols, "asset_class": "equity", "currency": "USD",
         "calendar": "XNYS", "active": True}
    )  # fmt: skip
    holdings = pd.DataFrame(
        {"account_id": pd.Series(dtype=str), "symbol": pd.Series(dtype=str),
         "quantity": pd.Series(dtype=float)}
    )  # fmt: skip
    return BookTables.from_frames(
        accounts=accounts, model_portfolios=models, holdings=holdings, securities=securities
    )


class _Run:
    """One backtest's state (quantities per asset, cash, lots, recent trades)."""

    def __init__(self, spec: Backtest, closes: pd.DataFrame) -> None:
        self.spec = spec
        self.symbols = list(closes.columns)
        self.symbol_array = np.array(self.symbols, dtype=object)
        self.dates = pd.DatetimeIndex(closes.index)
        self.days = self.dates.values.astype("datetime64[D]")
        self.px = closes.to_numpy(dtype=float)
        self.target = np.array([spec.weights[s] for s in self.symbols])
        self.policy = spec.engine_policy()
        self.taxable = spec.account_type == "taxable"
        self.qty = np.zeros(len(self.symbols))
        self.cash = spec.initial_value
        self.last_day: np.datetime64 | None = None
        self.last_index = 0
        self.rows: list[dict[str, Any]] = []
        self.trade_frames: list[pd.DataFrame] = []
        self.book = one_account_book(
            spec.weights, account_type=spec.account_type, fractional=spec.fractional,
            cash=spec.initial_value, opened=self.dates[0].date(),
        )  # fmt: skip
        if spec.mode == "arrays" and spec.sizing == "engine":
            self._init_arrays()

    # ------------------------------------------------------------------ the day loop
    def run(self) -> BacktestResult:
        n = len(self.days)
        equity = np.empty(n)
        drift = np.empty(n)
        trigger = self.spec.trigger
        trigger.prepare(self.days, self.px, self.target)
        self._engine(0)  # invest the cash on day 0
        equity[0], drift[0] = self._mark(0)
        pos, size = 1, _FIRST_WINDOW
        while pos < n:
            end = min(pos + size, n)
            index = np.arange(pos, end)
            window, value = self._window(index)
            hits = np.flatnonzero(trigger.mask(window))
            stop = end if hits.size == 0 else pos + int(hits[0])
            equity[pos:stop] = value[: stop - pos]
            drift[pos:stop] = window.total_drift[: stop - pos]
            if stop < end:
                self._engine(stop)
                equity[stop], drift[stop] = self._mark(stop)
                stop += 1
                size = _FIRST_WINDOW
            else:  # a quiet stretch: look further ahead next time
                size = min(2 * size, self.spec.window)
            pos = stop
        returns = self.px[1:] / self.px[:-1] - 1.0
        benchmark = np.concatenate([[1.0], np.cumprod(1.0 + returns @ self.target)])
        paid, deferred = self._taxes()
        columns = [*_TRADE_COLUMNS, "date"]
        trades = pd.DataFrame(
            {
                c: np.concatenate([t[c] for t in self.trade_frames])
                if self.trade_frames
                else np.zeros(0)
                for c in columns
            },
            columns=columns,
        )
        return BacktestResult(
            policy=trigger.label, dates=self.dates, equity=equity / self.spec.initial_value,
            drift=drift, benchmark=benchmark, rebalances=_rebalance_frame(self.rows),
            taxes_paid=paid / self.spec.initial_value,
            taxes_deferred=deferred / self.spec.initial_value, account_type=self.spec.account_type,
            initial_value=self.spec.initial_value, trades=trades,
        )  # fmt: skip

    def _window(self, index: npt.NDArray[np.int64]) -> tuple[Window, Array]:
        pv = self.px[index] * self.qty
        value = pv.sum(axis=1) + self.cash
        safe = np.where(value > 0, value, 1.0)
        last = self.days[self.last_index]
        window = Window(
            index=index,
            weights=pv / safe[:, None],
            cash_weight=self.cash / safe,
            target=self.target,
            since=(index - self.last_index).astype(float),
            days_since=(self.days[index] - last).astype(np.int64).astype(float),
            unrealized=self._unrealized(pv, safe),
        )
        return window, value

    def _unrealized(self, pv: Array, value: Array) -> Array:
        """Unrealized gain per day and asset over the account value (zeros where no lots are
        kept: IRA, bt mode)."""
        if not self.taxable or self.spec.sizing == "bt":
            return np.zeros_like(pv)
        if self.spec.mode == "tables":
            lots = self.book.tax_lots
            per = lots.groupby("symbol")["cost_basis"].sum() if len(lots) else pd.Series()
            basis = per.reindex(self.symbols).fillna(0.0).to_numpy(dtype=float)
        else:
            asset = self.slot_asset[self.lot_col]
            basis = np.bincount(asset, weights=self.lot_basis, minlength=len(self.symbols))
        return np.asarray((pv - basis) / value[:, None], dtype=float)

    def _mark(self, j: int) -> tuple[float, float]:
        """Value and total drift at day ``j``'s close (after its trades)."""
        pv = self.px[j] * self.qty
        value = float(pv.sum()) + self.cash
        if value <= 0:
            return value, 0.0
        drift = (np.abs(pv / value - self.target).sum() + abs(self.cash / value)) / 2.0
        return value, float(drift)

    # ------------------------------------------------------------------ engine calls
    def _engine(self, j: int) -> None:
        if self.spec.sizing == "bt":
            trades = self._size_bt(j)
        elif self.spec.mode == "tables":
            trades = self._engine_tables(j)
        else:
            trades = self._engine_arrays(j)
        if trades is None:
            return
        self.last_day, self.last_index = self.days[j], j
        self.rows.append(
            {
                "date": self.days[j],
                "trades": len(trades["value"]),
                "turnover": float(trades["value"].sum()),
                "cost": float(trades["cost"].sum()),
                "realized_gain": float(trades["realized_gain"].sum()),
                "est_tax": float(trades["est_tax"].sum()) if self.taxable else 0.0,
                "value": float(self.px[j] @ self.qty + self.cash),
            }
        )
        trades["date"] = np.full(len(trades["value"]), self.days[j])
        self.trade_frames.append(trades)

    def _size_bt(self, j: int) -> Trades | None:
        """bt's sizing (compatibility mode): no engine, no lots (taxes are not modelled)."""
        price = self.px[j]
        rate = self.spec.cost_bps / 10_000.0
        dq, fee = bt_orders(
            self.qty, price, self.cash, self.target, rate=rate, integer=not self.spec.fractional
        )
        cols = np.flatnonzero(dq)
        if cols.size == 0:
            return None
        self.qty = self.qty + dq
        self.cash = bt_cash(self.cash, dq, price, fee)
        return _trades(
            {
                "symbol": self.symbol_array[cols],
                "side": np.where(dq[cols] > 0, "BUY", "SELL"),
                "quantity": np.abs(dq[cols]),
                "price": price[cols],
                "value": np.abs(dq[cols]) * price[cols],
                "cost": fee[cols],
                "realized_gain": np.zeros(cols.size),
                "est_tax": np.zeros(cols.size),
            }
        )

    def _engine_tables(self, j: int) -> Trades | None:
        prices = pd.Series(self.px[j], index=self.symbols)
        rec = recommend_book(self.book, prices, self.policy, as_of=self.dates[j])
        if len(rec.rejected):
            raise MarketDataError(f"the engine rejected the account: {rec.rejected.iloc[0, 1]}")
        if rec.trades.empty:
            return None
        self.book = execute(self.book, rec)
        held = self.book.holdings.set_index("symbol")["quantity"]
        self.qty = held.reindex(self.symbols).fillna(0.0).to_numpy(dtype=float)
        self.cash = float(self.book.accounts["cash"].iloc[0])
        return _trades({c: rec.trades[c].to_numpy() for c in _TRADE_COLUMNS})

    def _init_arrays(self) -> None:
        self.arrays = self._built()
        slots = list(self.arrays.symbol[0])
        self.slot_asset = np.array([self.symbols.index(s) if s else -1 for s in slots])
        self.valid = self.slot_asset >= 0
        self.slot_symbol = np.array(slots, dtype=object)
        self.lot_col = np.zeros(0, dtype=np.int64)
        self.lot_id = np.zeros(0, dtype=object)
        self.lot_qty = np.zeros(0)
        self.lot_basis = np.zeros(0)
        self.lot_day = np.zeros(0, dtype="datetime64[D]")
        self.tx_day = np.zeros(0, dtype="datetime64[D]")
        self.tx_slot = np.zeros(0, dtype=np.int64)
        self.tx_loss_sale = np.zeros(0, dtype=bool)
        self.tx_buy = np.zeros(0, dtype=bool)

    def _built(self) -> BookArrays:
        """The account's ``BookArrays`` from :func:`build_book` (the pandas layer, validation
        and all). Every field a day changes is replaced on each call (prices, quantities,
        cash, lots, wash-sale blocks, days since the last rebalance), so runs of the same
        account and policy share one build (runs are many when the learned trigger trains)."""
        spec = self.spec
        key = (tuple(spec.weights.items()), spec.account_type, spec.fractional,
               self.policy.to_json())  # fmt: skip
        if key not in _BUILT:
            built = build_book(
                self.book.accounts, self.book.model_portfolios, self.book.holdings,
                pd.Series(self.px[0], index=self.symbols), as_of=self.dates[0],
                securities=self.book.securities, policy=self.policy,
            )  # fmt: skip
            if len(built.rejected):
                reason = built.rejected.iloc[0, 1]
                raise MarketDataError(f"the engine rejected the account: {reason}")
            if len(_BUILT) >= 64:
                _BUILT.pop(next(iter(_BUILT)))
            _BUILT[key] = built.arrays
        return _BUILT[key]

    def _slots(self, per_asset: Array, pad: float) -> Array:
        out = np.full(self.slot_asset.size, pad)
        out[self.valid] = per_asset[self.slot_asset[self.valid]]
        return out

    def _engine_inputs(self, j: int) -> dict[str, Any]:
        """The account's ``BookArrays`` fields that change between engine calls, on day ``j``
        (prices, quantities, cash, lots with their ages, wash-sale blocks)."""
        today = self.days[j]
        k = self.slot_asset.size
        since = np.inf if self.last_day is None else float((today - self.last_day).astype(int))
        recent = (self.tx_day <= today) & (
            (today - self.tx_day).astype(np.int64) <= self.policy.wash_sale_days
        )
        buy_block = np.zeros(k, dtype=bool)
        loss_block = np.zeros(k, dtype=bool)
        buy_block[self.tx_slot[recent & self.tx_loss_sale]] = True
        if self.taxable:
            loss_block[self.tx_slot[recent & self.tx_buy]] = True
        lots = LotArrays(
            row=np.zeros(self.lot_col.size, dtype=np.int64),
            col=self.lot_col,
            lot_id=self.lot_id,
            quantity=self.lot_qty,
            cost_basis=self.lot_basis,
            age_days=(today - self.lot_day).astype(np.int64).astype(float),
        )
        return {
            "cash": np.array([self.cash]),
            "price": self._slots(self.px[j], 1.0)[None, :],
            "quantity": self._slots(self.qty, 0.0)[None, :],
            "days_since_rebalance": np.array([since]),
            "wash_buy_block": buy_block[None, :],
            "wash_loss_block": loss_block[None, :],
            "lots": lots,
        }

    def _engine_arrays(self, j: int) -> Trades | None:
        today = self.days[j]
        arrays = dataclasses.replace(self.arrays, **self._engine_inputs(j))
        res = rebalance(arrays, self.policy)
        dq = res.quantity[0]
        cols = np.flatnonzero(dq)
        if cols.size == 0:
            return None
        # Settle as execute does.
        new_qty = self._slots(self.qty, 0.0) + dq
        new_qty[np.abs(new_qty) <= _ZERO] = 0.0
        self.qty = np.zeros(len(self.symbols))
        self.qty[self.slot_asset[self.valid]] = new_qty[self.valid]
        self.cash = max(float(res.cash_after[0]), 0.0)
        value = np.abs(res.value[0])
        if self.taxable:
            sold = res.lot_sold
            keep = np.divide(
                self.lot_qty - sold, self.lot_qty, out=np.zeros_like(self.lot_qty),
                where=self.lot_qty > 0,
            )  # fmt: skip
            self.lot_basis = self.lot_basis * keep
            self.lot_qty = self.lot_qty * keep
            alive = self.lot_qty > _ZERO
            buys = cols[dq[cols] > 0]
            stamp = pd.Timestamp(today).strftime("%Y%m%d")
            ids = np.array(
                [f"X{stamp}-{ACCOUNT}-{s}" for s in self.slot_symbol[buys]], dtype=object
            )
            col = np.concatenate([self.lot_col[alive], buys])
            order = np.argsort(col, kind="stable")
            self.lot_col = col[order]
            self.lot_id = np.concatenate([self.lot_id[alive], ids])[order]
            self.lot_qty = np.concatenate([self.lot_qty[alive], dq[buys]])[order]
            self.lot_basis = np.concatenate([self.lot_basis[alive], value[buys]])[order]
            self.lot_day = np.concatenate([self.lot_day[alive], np.full(buys.size, today)])[order]
        gain = res.realized_gain[0, cols]
        self.tx_day = np.concatenate([self.tx_day, np.full(cols.size, today)])
        self.tx_slot = np.concatenate([self.tx_slot, cols])
        self.tx_loss_sale = np.concatenate([self.tx_loss_sale, (dq[cols] < 0) & (gain < 0)])
        self.tx_buy = np.concatenate([self.tx_buy, dq[cols] > 0])
        keep_tx = (today - self.tx_day).astype(np.int64) <= self.policy.wash_sale_days
        self.tx_day, self.tx_slot = self.tx_day[keep_tx], self.tx_slot[keep_tx]
        self.tx_loss_sale, self.tx_buy = self.tx_loss_sale[keep_tx], self.tx_buy[keep_tx]
        return _trades(
            {
                "symbol": self.slot_symbol[cols],
                "side": np.where(dq[cols] > 0, "BUY", "SELL"),
                "quantity": np.abs(dq[cols]),
                "price": res.value[0, cols] / dq[cols],
                "value": value[cols],
                "cost": res.cost[0, cols],
                "realized_gain": gain,
                "est_tax": res.est_tax[0, cols],
            }
        )

    # ------------------------------------------------------------------ taxes
    def _open_lots(self) -> tuple[Array, Array, Array, npt.NDArray[np.int64]]:
        """``(quantity, basis, age_days, asset)`` of the open lots at the end."""
        end = self.days[-1]
        if self.spec.mode == "tables":
            lots = self.book.tax_lots
            acquired = pd.to_datetime(lots["acquired"]).to_numpy().astype("datetime64[D]")
            asset = np.array([self.symbols.index(s) for s in lots["symbol"]], dtype=np.int64)
            return (
                lots["quantity"].to_numpy(float), lots["cost_basis"].to_numpy(float),
                (end - acquired).astype(np.int64).astype(float), asset,
            )  # fmt: skip
        age = (end - self.lot_day).astype(np.int64).astype(float)
        return self.lot_qty, self.lot_basis, age, self.slot_asset[self.lot_col]

    def _taxes(self) -> tuple[float, float]:
        """Taxes paid (each year's estimated tax net of losses, losses carried forward) and the
        tax deferred (due if the open lots were sold at the last close)."""
        if not self.taxable or self.spec.sizing == "bt":
            return 0.0, 0.0
        carry = paid = 0.0
        if self.rows:
            frame = pd.DataFrame(self.rows)
            for tax in frame.groupby(frame["date"].dt.year)["est_tax"].sum():
                net = tax + carry
                paid += max(net, 0.0)
                carry = min(net, 0.0)
        qty, basis, age, asset = self._open_lots()
        gain = qty * self.px[-1][asset] - basis
        rate = np.where(age > 365, self.policy.long_term_tax_rate, self.policy.short_term_tax_rate)
        deferred = max(float((gain * rate).sum()) + carry, 0.0)
        return paid, deferred


#: Built accounts by (weights, account type, fractional, engine policy): see ``_Run._built``.
_BUILT: dict[tuple[Any, ...], BookArrays] = {}

_ROWS = ["date", "trades", "turnover", "cost", "realized_gain", "est_tax", "value"]
_TRADE_COLUMNS = [
    "symbol",
    "side",
    "quantity",
    "price",
    "value",
    "cost",
    "realized_gain",
    "est_tax",
]


def _rebalance_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=_ROWS)
    frame["date"] = pd.to_datetime(frame["date"])
    return frame


def _trades(columns: dict[str, Any]) -> Trades:
    """One engine call's trades, column arrays (a DataFrame per call would cost more than the
    sizing itself)."""
    return {c: np.asarray(columns[c]) for c in _TRADE_COLUMNS}
