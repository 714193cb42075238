"""Typed report queries for the dashboard: the book's drift, one account, runs, market freshness,
decisions.

Pages render these and nothing else: every figure a page shows is computed here, from the
lake, through the named SQL in ``sql/reports/`` (values only as ``:name`` parameters) and the
one price read (:func:`rebalancer.market.load_prices`). Each report works on an empty or a
partial lake: a missing table gives an empty frame, never an exception, so a page can say
what is missing.

Drift is measured as the engine measures it (``sum |w - target| / 2``, cash included, cash
being the settled balance plus the pending flow) at the latest run's as-of time, or, before
any run, at the book's default as-of.
"""

from __future__ import annotations

import getpass
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from rebalancer.engine import Policy
from rebalancer.errors import (
    ConfigError,
    MarketDataError,
    NotFoundError,
    RebalancerError,
    UnknownTableError,
)
from rebalancer.lake import Lake, get_schema, partition_of
from rebalancer.market import book_as_of, load_prices
from rebalancer.resources import sql_dir
from rebalancer.usecases._runs import list_runs

if TYPE_CHECKING:  # the API client needs the [api] extra; only the dashboard passes one
    from rebalancer.api.client import RebalancerClient

#: Actions a decision row may carry (the decisions schema's vocabulary).
ACTIONS = ("SELL", "HOLD", "BUY")
#: How the dashboard tags the decisions it writes (decisions.source).
DASHBOARD_SOURCE = "dashboard"
CASH = "CASH"
_HOLDING_COLUMNS = [
    "symbol",
    "asset_class",
    "quantity",
    "target_weight",
    "price",
    "value",
    "weight",
]
_ACCOUNT_COLUMNS = [
    "account_id", "household_id", "client_id", "advisor_id", "account_type", "model_id",
    "risk_profile", "cash", "pending_cash_flow", "value", "drift", "cash_to_deploy", "status",
    "trades", "traded_value", "est_tax", "cost", "drift_after",
]  # fmt: skip


@cache
def report_sql(name: str) -> str:
    """The text of ``sql/reports/<name>.sql`` (read once per process)."""
    return (sql_dir() / "reports" / f"{name}.sql").read_text(encoding="utf-8")


def has_tables(lake: Lake, *tables: str) -> bool:
    """True when every table has at least one object (a view exists to query)."""
    try:
        return all(lake.list_objects(t) for t in tables)
    except UnknownTableError:
        return False


# ------------------------------------------------------------------ the latest run
@dataclass(frozen=True)
class RunInfo:
    """The newest run: its id and market time (``None`` before any run)."""

    run_id: str | None
    as_of: pd.Timestamp | None


def latest_run(lake: Lake) -> RunInfo:
    """The newest run (the first row of :func:`list_runs`)."""
    runs = list_runs(lake, limit=1)
    if runs.empty:
        return RunInfo(None, None)
    return RunInfo(str(runs["run_id"].iloc[0]), pd.Timestamp(runs["as_of"].iloc[0]))


# ------------------------------------------------------------------ drift of the book
@dataclass(frozen=True)
class BookSummary:
    """The Book page's summary strip."""

    accounts: int
    assets: float
    outside_bands: int
    worst_drift: float
    worst_account: str | None
    cash_to_deploy: float
    run_id: str | None
    run_as_of: pd.Timestamp | None
    as_of: pd.Timestamp | None


@dataclass(frozen=True)
class BookReport:
    """Every account with its value and drift, and drift by asset class x risk profile."""

    accounts: pd.DataFrame
    class_drift: pd.DataFrame
    as_of: pd.Timestamp | None
    run: RunInfo
    unpriced: list[str] = field(default_factory=list)

    def summary(self) -> BookSummary:
        """Totals over the accounts (NaN drift of an unpriced account is left out)."""
        frame = self.accounts
        drift = frame["drift"].astype(float) if len(frame) else pd.Series(dtype=float)
        worst = drift.idxmax() if drift.notna().any() else None
        return BookSummary(
            accounts=len(frame),
            assets=float(frame["value"].sum()) if len(frame) else 0.0,
            outside_bands=int((frame["status"] == "rebalance").sum()) if len(frame) else 0,
            worst_drift=float(drift.max()) if worst is not None else 0.0,
            worst_account=None if worst is None else str(frame.loc[worst, "account_id"]),
            cash_to_deploy=float(frame["cash_to_deploy"].sum()) if len(frame) else 0.0,
            run_id=self.run.run_id,
            run_as_of=self.run.as_of,
            as_of=self.as_of,
        )

    def attention(
        self,
        *,
        advisor_id: str | None = None,
        household_id: str | None = None,
        account_type: str | None = None,
        model_id: str | None = None,
        min_drift: float = 0.0,
        only_outside_bands: bool = False,
    ) -> pd.DataFrame:
        """Accounts needing attention, worst drift first, filtered (``None`` = any)."""
        frame = self.accounts
        mask = pd.Series(True, index=frame.index)
        for column, wanted in (("advisor_id", advisor_id), ("household_id", household_id),
                               ("account_type", account_type), ("model_id", model_id)):  # fmt: skip
            if wanted is not None:
                mask &= frame[column].astype(str) == wanted
        if min_drift > 0:
            mask &= frame["drift"].astype(float) >= min_drift
        if only_outside_bands:
            mask &= frame["status"] == "rebalance"
        return frame[mask].sort_values(["drift", "account_id"], ascending=[False, True])


def _priced(
    positions: pd.DataFrame, accounts: pd.DataFrame, prices: pd.Series
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Weights of every position and drift per account (the engine's measure).

    Returns ``(per_account, per_position, unpriced_symbols)``; an account holding a symbol with
    no price has NaN value and drift (its figures would be wrong).
    """
    cash_target = (
        positions[positions["symbol"] == CASH].groupby("account_id")["target_weight"].sum()
    )
    pos = positions[positions["symbol"] != CASH].copy()
    pos["price"] = pos["symbol"].map(prices).astype(float)
    unpriced = sorted(set(pos.loc[pos["price"].isna() & (pos["quantity"] != 0), "symbol"]))
    pos["value"] = pos["quantity"].astype(float) * pos["price"]
    held_value = pos.groupby("account_id")["value"].sum(min_count=1)
    bad = pos[pos["price"].isna() & (pos["quantity"] != 0)]["account_id"].unique()
    acc = accounts.set_index("account_id")
    cash = acc["cash"].astype(float) + acc["pending_cash_flow"].astype(float)
    total = held_value.reindex(acc.index).fillna(0.0) + cash
    total[total.index.isin(bad)] = np.nan
    pos["weight"] = pos["value"] / pos["account_id"].map(total)
    pos.loc[pos["account_id"].map(total).fillna(0) <= 0, "weight"] = 0.0
    legs = (pos["weight"] - pos["target_weight"].astype(float)).abs()
    sym_dev = legs.groupby(pos["account_id"]).sum().reindex(acc.index).fillna(0.0)
    ct = cash_target.reindex(acc.index).fillna(0.0)
    w_cash = (cash / total.where(total > 0)).fillna(0.0)
    drift = (sym_dev + (w_cash - ct).abs()) / 2.0
    drift[total.isna()] = np.nan
    out = pd.DataFrame(
        {"value": total, "drift": drift, "cash_weight": w_cash, "cash_target": ct,
         "cash_to_deploy": (cash - ct * total).clip(lower=0.0).fillna(0.0)}
    )  # fmt: skip
    cash_rows = pd.DataFrame(
        {"account_id": acc.index, "symbol": CASH, "asset_class": "cash",
         "quantity": cash.to_numpy(), "target_weight": ct.to_numpy(), "price": 1.0,
         "value": cash.to_numpy(), "weight": w_cash.to_numpy()}
    )  # fmt: skip
    per_position = pd.concat([pos, cash_rows], ignore_index=True)
    return out, per_position, unpriced


def _run_accounts(lake: Lake, run: RunInfo) -> pd.DataFrame:
    if run.run_id is None:
        return pd.DataFrame(
            columns=["account_id", "trades", "traded_value", "est_tax", "cost", "drift_before",
                     "drift_after"]
        )  # fmt: skip
    return lake.query(report_sql("run_accounts"), params={"run_id": run.run_id})


def _empty_accounts() -> pd.DataFrame:
    return pd.DataFrame(columns=_ACCOUNT_COLUMNS)


#: Where ``book_base.sql`` takes the generated price rows.
_PRICE_ROWS = "/* price rows */"


def _book_sql(
    part: str, prices: pd.Series, household_id: str | None
) -> tuple[str, dict[str, object]]:
    """``book_base.sql`` followed by ``book_<part>.sql``, with one VALUES row of placeholders per
    priced symbol; the symbols and prices go through the params, never into the text."""
    base = report_sql("book_base")
    if base.count(_PRICE_ROWS) != 1:
        raise ConfigError(f"sql/reports/book_base.sql must hold {_PRICE_ROWS} exactly once")
    priced = prices.astype(float)
    priced = priced[np.isfinite(priced.to_numpy())]  # a NaN close is no price
    priced = priced[~priced.index.duplicated(keep="last")]
    params: dict[str, object] = {"household_id": household_id}
    rows = []
    for i, (symbol, price) in enumerate(priced.items()):
        rows.append(f", (:symbol_{i}, :price_{i})")
        params[f"symbol_{i}"] = str(symbol)
        params[f"price_{i}"] = float(price)
    sql = base.replace(_PRICE_ROWS, _PRICE_ROWS + "".join(rows)) + report_sql(f"book_{part}")
    return sql, params


def _book_query(lake: Lake, part: str, prices: pd.Series, household_id: str | None) -> pd.DataFrame:
    sql, params = _book_sql(part, prices, household_id)
    return lake.query(sql, params=params)


def _book_prices(
    lake: Lake, run: RunInfo, household_id: str | None
) -> tuple[pd.Timestamp | None, pd.Series]:
    """The as-of drift is measured at and the prices there (none without market data)."""
    if not has_tables(lake, "market_prices"):
        return None, pd.Series(dtype=float)
    try:
        if run.as_of is not None:
            as_of = run.as_of
        else:
            held = _book_query(lake, "symbols", pd.Series(dtype=float), household_id)
            as_of = book_as_of(lake, set(held["symbol"].astype(str)))
        return as_of, load_prices(lake, as_of)
    except MarketDataError:
        return None, pd.Series(dtype=float)


def _empty_class_drift() -> pd.DataFrame:
    return pd.DataFrame(columns=["asset_class", "risk_profile", "drift", "accounts"])


@dataclass(frozen=True)
class _Rows:
    """What :func:`_account_rows` found: the account rows and what they were priced with."""

    accounts: pd.DataFrame
    as_of: pd.Timestamp | None
    run: RunInfo
    unpriced: list[str]
    prices: pd.Series


def _account_rows(lake: Lake, household_id: str | None) -> _Rows:
    """Accounts (all or one household) with value, drift and latest-run status.

    The figures are computed in the lake's engine (``book_base.sql`` + ``book_accounts.sql``):
    one row per account comes back, never the book's positions.
    """
    run = latest_run(lake)
    if not has_tables(lake, "accounts"):
        return _Rows(_empty_accounts(), None, run, [], pd.Series(dtype=float))
    as_of, prices = _book_prices(lake, run, household_id)
    merged = _book_query(lake, "accounts", prices, household_id)
    if merged.empty:
        return _Rows(_empty_accounts(), None, run, [], prices)
    unpriced: list[str] = []
    if merged["unpriced"].astype(bool).any():
        found = _book_query(lake, "unpriced", prices, household_id)
        unpriced = sorted(found["symbol"].astype(str))
    ran = _run_accounts(lake, run)
    merged = merged.merge(ran.drop(columns=["drift_before"]), on="account_id", how="left")
    if run.run_id is None:
        merged["status"] = "no_run"
    else:
        merged["status"] = np.where(merged["trades"].notna(), "rebalance", "within_bands")
    merged["trades"] = merged["trades"].fillna(0).astype(int)
    for column in ("traded_value", "est_tax", "cost"):
        merged[column] = merged[column].astype(float).fillna(0.0)
    return _Rows(merged[_ACCOUNT_COLUMNS], as_of, run, unpriced, prices)


def book_report(lake: Lake) -> BookReport:
    """Every account's value and drift, its status in the latest run, and class drift (both
    computed in the lake's engine: pandas gets one row per account and the class table)."""
    rows = _account_rows(lake, None)
    class_drift = (
        _book_query(lake, "class_drift", rows.prices, None)
        if len(rows.accounts)
        else _empty_class_drift()
    )
    return BookReport(
        accounts=rows.accounts.reset_index(drop=True),
        class_drift=class_drift,
        as_of=rows.as_of,
        run=rows.run,
        unpriced=rows.unpriced,
    )


def _household_positions(
    lake: Lake, household_id: str, accounts: pd.DataFrame, prices: pd.Series
) -> pd.DataFrame:
    """Every priced position of one household's accounts (``_priced``, in pandas: a household
    is a handful of accounts); the same figures ``book_base.sql`` computes for the book."""
    positions = lake.query(report_sql("positions"), params={"household_id": household_id})
    return _priced(positions, accounts, prices)[1]


# ------------------------------------------------------------------ one account
@dataclass(frozen=True)
class AccountReport:
    """One account: its row, holdings vs target before and after the latest run's trades,
    the household's other accounts and the trade list."""

    account: dict[str, Any]
    holdings: pd.DataFrame
    household: pd.DataFrame
    trades: pd.DataFrame
    run: RunInfo
    as_of: pd.Timestamp | None


def _after_weights(holdings: pd.DataFrame, trades: pd.DataFrame) -> pd.DataFrame:
    """Quantities and weights after the trades (cash: + sells - buys - costs)."""
    out = holdings.copy()
    if trades.empty:
        out["trade_quantity"] = 0.0
        out["quantity_after"] = out["quantity"].astype(float)
        out["weight_after"] = out["weight"]
        return out
    sign = np.where(trades["side"].astype(str) == "BUY", 1.0, -1.0)
    signed = (trades["quantity"].astype(float) * sign).groupby(trades["symbol"].astype(str)).sum()
    flow = -(trades["value"].astype(float) * sign).sum() - trades["cost"].astype(float).sum()
    for symbol in sorted(set(signed.index) - set(out["symbol"])):
        price = float(trades.loc[trades["symbol"] == symbol, "price"].iloc[0])
        extra = {"symbol": symbol, "asset_class": "other", "quantity": 0.0, "price": price,
                 "value": 0.0, "weight": 0.0, "target_weight": 0.0}  # fmt: skip
        out = pd.concat([out, pd.DataFrame([extra])], ignore_index=True)
    out["trade_quantity"] = out["symbol"].map(signed).fillna(0.0)
    out["quantity_after"] = out["quantity"].astype(float) + out["trade_quantity"]
    out.loc[out["symbol"] == CASH, "quantity_after"] += flow
    after_value = out["quantity_after"] * out["price"].astype(float)
    total = float(after_value.sum())
    out["weight_after"] = after_value / total if total > 0 else 0.0
    return out


def account_report(lake: Lake, account_id: str) -> AccountReport:
    """One account of the book; :class:`NotFoundError` when the book has no such account."""
    account_id = str(account_id).strip()
    if not account_id:
        raise ConfigError("account_id: give an account id")
    if not has_tables(lake, "accounts"):
        raise NotFoundError(f"account {account_id} not found: the lake has no accounts")
    found = lake.query(
        "SELECT household_id FROM accounts WHERE account_id = :account_id",
        params={"account_id": account_id},
    )
    if found.empty:
        raise NotFoundError(f"account {account_id} not found")
    household_id = str(found["household_id"].iloc[0])
    rows = _account_rows(lake, household_id)
    accounts, as_of, run = rows.accounts, rows.as_of, rows.run
    row = accounts[accounts["account_id"] == account_id].iloc[0]
    per_position = _household_positions(lake, household_id, accounts, rows.prices)
    mine = per_position[per_position["account_id"] == account_id] if len(per_position) else None
    holdings = (
        mine.drop(columns=["account_id"]).sort_values("symbol").reset_index(drop=True)
        if mine is not None
        else pd.DataFrame(columns=_HOLDING_COLUMNS)
    )
    trades = run_trades(lake, run.run_id, account_id=account_id) if run.run_id else _no_trades()
    others = accounts[accounts["account_id"] != account_id].reset_index(drop=True)
    return AccountReport(
        account={k: (None if pd.isna(v) else v) for k, v in row.to_dict().items()},
        holdings=_after_weights(holdings, trades),
        household=others,
        trades=trades,
        run=run,
        as_of=as_of,
    )


def _no_trades() -> pd.DataFrame:
    columns = [
        "run_id", "as_of", "account_id", "symbol", "side", "quantity", "price", "value",
        "est_tax", "cost", "realized_gain", "lots", "reason", "target_weight", "post_weight",
        "drift_before", "drift_after", "engine_version", "model_version",
    ]  # fmt: skip
    return pd.DataFrame(columns=columns)


def run_trades(lake: Lake, run_id: str | None, *, account_id: str | None = None) -> pd.DataFrame:
    """The trades of a run (one account's, or all): what the CSV export writes."""
    if run_id is None or not has_tables(lake, "recommendations"):
        return _no_trades()
    return lake.query(report_sql("run_trades"), params={"run_id": run_id, "account_id": account_id})


def trades_csv(trades: pd.DataFrame) -> bytes:
    """A trade list as CSV bytes (UTF-8, header row, no index)."""
    return trades.to_csv(index=False).encode("utf-8")


# ------------------------------------------------------------------ runs and the audit
AUDIT_TABLES = ("recommendations", "holdings", "restrictions", "accounts", "transactions",
                "tax_lots")  # fmt: skip


@dataclass(frozen=True)
class AuditResult:
    """The audit query's rows for a run, or why it could not run."""

    violations: pd.DataFrame
    missing: list[str]


def run_violations(lake: Lake, run_id: str) -> AuditResult:
    """``sql/queries/recommendation_violations.sql`` for one run (no rows: every rule holds)."""
    missing = [t for t in AUDIT_TABLES if not has_tables(lake, t)]
    if missing:
        return AuditResult(pd.DataFrame(columns=["run_id", "account_id", "symbol", "violation"]),
                           missing)  # fmt: skip
    audit = (sql_dir() / "queries" / "recommendation_violations.sql").read_text(encoding="utf-8")
    body = audit.strip().rstrip(";")
    rows = lake.query(
        f"SELECT * FROM (\n{body}\n) audit WHERE run_id = :run_id", params={"run_id": run_id}
    )
    return AuditResult(rows, [])


# ------------------------------------------------------------------ market
@dataclass(frozen=True)
class Freshness:
    """The newest day of market data: per interval its last bar and ingest time, and the
    newest live slot object (``slot-HHMM``; ``compacted`` once the day's slots were merged)."""

    day: str | None
    intervals: pd.DataFrame
    latest_slot: str | None
    age: pd.Timedelta | None


def _days(lake: Lake, table: str) -> list[str]:
    if not has_tables(lake, table):
        return []
    return sorted({partition_of(k) for k in lake.list_objects(table)} - {""})


def market_freshness(lake: Lake, *, now: datetime | None = None) -> Freshness:
    """Freshness of the newest ``market_prices`` partition (``age``: now - last ingest)."""
    days = _days(lake, "market_prices")
    if not days:
        return Freshness(None, pd.DataFrame(), None, None)
    day = days[-1]
    intervals = lake.query(report_sql("latest_slot"), params={"day": day})
    names = [
        k.rsplit("/", 1)[-1].removesuffix(".parquet")
        for k in lake.list_objects("market_prices")
        if partition_of(k) == day
    ]
    slots = sorted(n for n in names if n.startswith("slot-"))
    # A compaction supersedes the day's slots: the listing then shows only its object.
    latest = slots[-1] if slots else ("compacted" if "compacted" in names else None)
    age = None
    if len(intervals) and intervals["last_ingested"].notna().any():
        last = pd.Timestamp(intervals["last_ingested"].max())
        last = last.tz_localize("UTC") if last.tzinfo is None else last.tz_convert("UTC")
        age = pd.Timestamp(now or datetime.now(UTC)) - last
    return Freshness(day, intervals, latest, age)


@dataclass(frozen=True)
class Rejects:
    """The newest day's ingest rejects by source and reason."""

    day: str | None
    by_reason: pd.DataFrame


def latest_rejects(lake: Lake) -> Rejects:
    """Rejects of the newest ``ingest_rejects`` partition (``day=None``: none ever)."""
    days = _days(lake, "ingest_rejects")
    if not days:
        return Rejects(None, pd.DataFrame(columns=["source", "reason", "rejected_rows", "symbols"]))
    return Rejects(days[-1], lake.query(report_sql("rejects_day"), params={"day": days[-1]}))


def market_symbols(lake: Lake) -> list[str]:
    """Symbols to offer for charts: the securities universe (empty lake: none)."""
    if not has_tables(lake, "securities"):
        return []
    rows = lake.query("SELECT symbol FROM securities ORDER BY symbol")
    return [str(s) for s in rows["symbol"]]


# ------------------------------------------------------------------ decisions
def decisions_available() -> bool:
    """True once the model issue's ``decisions`` table schema exists."""
    try:
        get_schema("decisions")
    except UnknownTableError:
        return False
    return True


def decided_by_default() -> str:
    """Who approves when no login is configured: the OS user."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # pragma: no cover - a container with no passwd entry
        return "unknown"


def record_decision(
    lake: Lake,
    account_id: str,
    *,
    approve: bool,
    note: str = "",
    decided_by: str | None = None,
    now: datetime | None = None,
) -> pd.DataFrame:
    """Approve or reject the latest run's trades for one account: one ``decisions`` row per
    symbol the account holds or trades (approve: the trade's side, HOLD where none; reject:
    HOLD everywhere: the advisor keeps the portfolio). The note names the run and the verdict.
    Written at a deterministic key per run and account, so deciding again replaces the
    earlier decision instead of adding to it. Returns the rows written."""
    if not decisions_available():
        raise ConfigError("the decisions table has no schema yet (schemas/decisions.json)")
    report = account_report(lake, account_id)
    if report.run.run_id is None or report.run.as_of is None:
        raise NotFoundError("no recommendation run yet: run `rebalancer recommend --all` first")
    trades = report.trades
    side = trades.groupby(trades["symbol"].astype(str))["side"].first() if len(trades) else None
    symbols = sorted(
        (set(report.holdings.loc[report.holdings["quantity"] != 0, "symbol"].astype(str))
         | set(trades["symbol"].astype(str))) - {CASH}
    )  # fmt: skip
    if not symbols:
        raise ConfigError(f"account {account_id} holds and trades nothing: nothing to decide")
    verdict = "approve" if approve else "reject"
    actions = [
        (str(side[s]) if approve and side is not None and s in side.index else "HOLD")
        for s in symbols
    ]
    text = " ".join(note.split())
    when = pd.Timestamp(now or datetime.now(UTC))
    when = when.tz_convert("UTC").tz_localize(None) if when.tzinfo is not None else when
    rows = pd.DataFrame(
        {
            "as_of": report.run.as_of,
            "account_id": account_id,
            "household_id": report.account.get("household_id"),
            "advisor_id": report.account.get("advisor_id"),
            "symbol": symbols,
            "action": actions,
            "source": DASHBOARD_SOURCE,
            "decided_by": decided_by or decided_by_default(),
            "decided_at": when,
            "note": f"run={report.run.run_id} {verdict}" + (f": {text}" if text else ""),
        }
    )
    lake.write("decisions", rows, name=f"dashboard-{report.run.run_id}-{account_id}")
    return rows


def account_decisions(lake: Lake, account_id: str) -> pd.DataFrame:
    """The dashboard decisions recorded for an account, newest first."""
    if not decisions_available() or not has_tables(lake, "decisions"):
        return pd.DataFrame(
            columns=["as_of", "account_id", "symbol", "action", "source", "decided_by",
                     "decided_at", "note"]
        )  # fmt: skip
    return lake.query(report_sql("account_decisions"), params={"account_id": account_id})


def decisions_summary(lake: Lake) -> pd.DataFrame:
    """Decisions per source and action (empty before any)."""
    if not decisions_available() or not has_tables(lake, "decisions"):
        return pd.DataFrame(
            columns=["source", "action", "decisions", "accounts", "last_decided_at"]
        )
    return lake.query(report_sql("decisions_summary"))


# ------------------------------------------------------------------ model and backtests
@dataclass(frozen=True)
class Availability:
    """Whether a later issue's results exist yet, and if not, what is missing (one line)."""

    ready: bool
    missing: str
    frame: pd.DataFrame = field(default_factory=pd.DataFrame)
    info: dict[str, object] = field(default_factory=dict)


def model_status(lake: Lake) -> Availability:
    """The registered model, when the model package offers a registry and one is registered.

    Imported lazily: the model issue may not have landed, and a page must say so, not fail.
    """
    import importlib

    try:
        module = importlib.import_module("rebalancer.model")
    except ImportError as exc:
        return Availability(False, f"the model package cannot be imported ({exc})")
    current = getattr(module, "current_model", None)
    if current is None:
        return Availability(
            False, "no model registered: the model registry has not landed yet (`rebalancer train`)"
        )
    try:
        model = current(lake)
    except (RebalancerError, FileNotFoundError) as exc:
        return Availability(False, f"no model registered ({' '.join(str(exc).split())})")
    if model is None:
        return Availability(False, "no model registered: train one with `rebalancer train`")
    info = model if isinstance(model, dict) else getattr(model, "__dict__", {"model": str(model)})
    return Availability(True, "", info=dict(info))


#: The model report's rows, in the order the README shows them.
BASELINES = (("majority", "majority class"), ("rule", "plain engine rule"),
             ("model", "model (XGBoost)"), ("ceiling", "simulator's ceiling"))  # fmt: skip


def model_baselines(metadata: dict[str, Any]) -> pd.DataFrame:
    """The model against the baselines on the same held-out rows: one row per predictor the
    metadata's evaluation scored (macro-F1, accuracy, recall per class)."""
    evaluation: dict[str, Any] = metadata.get("evaluation") or {}
    rows = []
    for key, label in BASELINES:
        scores = evaluation.get(key)
        if not isinstance(scores, dict) or "macro_f1" not in scores:
            continue
        row: dict[str, Any] = {"predictor": label, "macro_f1": float(scores["macro_f1"]),
                               "accuracy": float(scores.get("accuracy", float("nan")))}  # fmt: skip
        for action, per in (scores.get("per_class") or {}).items():
            row[f"{action} recall"] = float(per.get("recall", float("nan")))
        rows.append(row)
    return pd.DataFrame(rows, columns=None if rows else ["predictor", "macro_f1", "accuracy"])


def model_importance(metadata: dict[str, Any], *, top: int = 15) -> pd.DataFrame:
    """The ``top`` features by share of the split gain (the metadata's ``importance``; empty
    for a model registered before it was recorded)."""
    shares: dict[str, Any] = metadata.get("importance") or {}
    frame = pd.DataFrame(
        {"feature": list(shares), "share": [float(v) for v in shares.values()]},
        columns=["feature", "share"],
    )
    frame = frame.sort_values(["share", "feature"], ascending=[False, True], kind="stable")
    return frame.head(top).reset_index(drop=True)


def backtest_runs(lake: Lake, *, limit: int = 500) -> Availability:
    """One row per backtest run with its metrics, once the backtests issue writes results."""
    try:
        get_schema("backtests")
    except UnknownTableError:
        return Availability(False, "no backtests table yet: the backtests have not landed")
    if not has_tables(lake, "backtests"):
        return Availability(False, "no backtests in the lake: run `rebalancer backtest`")
    rows = lake.query(report_sql("backtest_runs"), params={"limit": int(limit)})
    return Availability(True, "", frame=rows)


def comparison_set(runs: pd.DataFrame) -> list[str]:
    """The runs comparable with the newest: same symbols, account type and period."""
    if runs.empty:
        return []
    keys = ["symbols", "account_type", "period_start", "period_end"]
    newest = runs.iloc[0]
    same = (runs[keys] == newest[keys]).all(axis=1)
    return [str(r) for r in runs.loc[same, "run_id"]]


def backtest_curves(lake: Lake, run_ids: list[str]) -> pd.DataFrame:
    """Daily equity, drift and the benchmark of the given runs."""
    if not run_ids:
        return pd.DataFrame(columns=["run_id", "policy", "day", "equity", "drift", "benchmark"])
    return lake.query(report_sql("backtest_curves"), params={"run_ids": sorted(run_ids)})


# ------------------------------------------------------------------ what-if
#: The model's per-sleeve advice as the Account page shows it.
ADVICE_COLUMNS = ["symbol", "model_action", "model_confidence", "model_reasons", "pinned"]
WHAT_IF_FIELDS = ("drift_before", "drift_after", "turnover", "cash_after", "account_value")


@dataclass(frozen=True)
class WhatIf:
    """One account re-asked under a policy: summary figures, the trades, who answered, and
    the model's advice per sleeve (empty unless ``policy.model`` is advise or gate)."""

    source: str
    summary: dict[str, float]
    trades: pd.DataFrame
    advice: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=ADVICE_COLUMNS))

    @property
    def traded_value(self) -> float:
        """Sum of the trades' values."""
        return float(self.trades["value"].sum()) if len(self.trades) else 0.0


def what_if(
    lake: Lake,
    account_id: str,
    policy: Policy,
    *,
    as_of: datetime | pd.Timestamp | None = None,
    client: RebalancerClient | None = None,
) -> WhatIf:
    """Recommend one account under ``policy`` (nothing written): through the API when a
    ``client`` is given, else in process with the same use case the API runs."""
    trade_columns = ["symbol", "side", "quantity", "price", "value", "est_tax", "cost", "reason"]
    if client is not None:
        when = None if as_of is None else pd.Timestamp(as_of).isoformat()
        answer = client.what_if(account_id, policy, as_of=when)
        summary = answer.summary.model_dump()
        trades = pd.DataFrame([t.model_dump() for t in answer.trades], columns=trade_columns)
        advice = pd.DataFrame([a.model_dump() for a in answer.model_advice], columns=ADVICE_COLUMNS)
        source = "api"
    else:
        from rebalancer.usecases._recommend import run_recommendations

        result = run_recommendations(
            lake, account_id=account_id, policy=policy, as_of=as_of, write=False
        )
        summary = result.recommendation.accounts.iloc[0].to_dict()
        trades = result.rows.reindex(columns=trade_columns)
        found = result.recommendation.advice
        advice = pd.DataFrame(columns=ADVICE_COLUMNS) if found is None else found
        if "account_id" in advice.columns:
            advice = advice[advice["account_id"] == account_id]
        advice = advice.reindex(columns=ADVICE_COLUMNS)
        source = "in-process"
    figures = {k: float(summary[k]) for k in WHAT_IF_FIELDS if summary.get(k) is not None}
    return WhatIf(source, figures, trades.reset_index(drop=True), _advice_frame(advice))


def _advice_frame(advice: pd.DataFrame) -> pd.DataFrame:
    """Advice rows with reasons as one readable string (the API sends a list, the engine a
    JSON array), sorted by symbol."""

    def reasons(value: Any) -> str:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                return str(value)
        if isinstance(value, np.ndarray):
            value = value.tolist()
        if isinstance(value, (list, tuple)):
            return "; ".join(str(v) for v in value)
        return "" if value is None else str(value)

    out = advice.copy()
    out["model_reasons"] = out["model_reasons"].map(reasons)
    out["pinned"] = out["pinned"].map(lambda v: isinstance(v, (bool, np.bool_)) and bool(v))
    return out.sort_values("symbol", kind="stable").reset_index(drop=True)
