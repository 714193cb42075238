"""The synthetic client book: vectorized, chunked, seeded, drawn from real price paths.

Each chunk of accounts is generated from its own random stream,
``SeedSequence(seed, spawn_key=(1, chunk_index))``, with numpy array operations only (no
per-account Python loop), so memory is bounded by the chunk size and the same
``(seed, n_accounts, chunk_size, prices, as_of)`` always gives the same rows.

How a book is drawn (all distributions are the constants below):

* households of 1-4 accounts, 1-2 clients each, one advisor per household; the primary
  client's age drives the household's risk profile, which picks one of its model portfolios;
* account types taxable / IRA / Roth; account values lognormal (median about $150k);
* at ``last_rebalanced`` (1-18 months ago) the account held its model's target weights (with
  some execution noise, an occasional legacy holding outside the model and an occasional
  missing position) bought at that day's close; the positions then drift with the real price
  path to ``as_of``. Whole shares unless the account allows fractional shares (4 decimals);
  crypto always fractional (6 decimals). Rounding left-overs and the CASH sleeve are cash;
* every position is split into 1-4 tax lots acquired across the history (before and after
  the rebalance, long- and short-term), cost basis = quantity x close on the acquisition day,
  so gains and losses are the market's;
* "active" accounts (rebalanced in the last 60 days, or drawn) have lots bought in the last 60
  days, recorded as BUY transactions, and SELLs of part of a position with realized gains or
  losses; a few accounts are new (all cash, never rebalanced);
* some accounts have pending deposits / withdrawals and restricted or do-not-trade symbols.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from rebalancer.book._models import (
    CRYPTO_SYMBOLS,
    DEFAULT_MODELS,
    RISK_PROFILES,
    ModelSet,
)
from rebalancer.book._prices import PricePanel, prepare_panel
from rebalancer.errors import ConfigError

MAX_ACCOUNTS = 10_000_000
MAX_CHUNK_SIZE = 1_000_000
DEFAULT_CHUNK_SIZE = 50_000
ID_WIDTH = 8  # A00000001: room for MAX_ACCOUNTS

#: Tables a chunk carries (the first chunk also carries ``advisors`` and ``model_portfolios``).
CHUNK_TABLES: tuple[str, ...] = (
    "clients",
    "accounts",
    "holdings",
    "tax_lots",
    "restrictions",
    "transactions",
)
STATIC_TABLES: tuple[str, ...] = ("advisors", "model_portfolios")
BOOK_TABLES: tuple[str, ...] = STATIC_TABLES + CHUNK_TABLES

# ---------------------------------------------------------------------------- distributions
HOUSEHOLD_SIZE_P = (0.35, 0.35, 0.20, 0.10)  # 1, 2, 3, 4 accounts
SECOND_CLIENT_P = 0.6  # households with 2+ accounts: a second (joint/spouse) client
ACCOUNT_TYPES = ("taxable", "ira", "roth")
ACCOUNT_TYPE_P = (0.50, 0.35, 0.15)
ACCOUNT_TYPE_VALUE_FACTOR = (1.0, 1.0, 0.45)  # Roth contributions are capped: smaller
VALUE_MEDIAN = 150_000.0
VALUE_SIGMA = 1.0  # of log value; half household-wide, half per account
VALUE_BOUNDS = (2_000.0, 25_000_000.0)
ACCOUNTS_PER_ADVISOR = 400
FRACTIONAL_P = 0.30
NEW_ACCOUNT_P = 0.02  # opened < 45 days ago, all cash, never rebalanced
REBALANCED_TRADING_DAYS = (21, 378)  # 1 to 18 months before as_of
OPENED_DAYS = (550, 5_500)
EXECUTION_NOISE_P = 0.4
EXECUTION_NOISE_SIGMA = 0.12
MISSING_POSITION_P = 0.08
LEGACY_P = 0.15
LEGACY_WEIGHT = (0.01, 0.08)
LOTS_P = (0.40, 0.30, 0.20, 0.10)  # 1, 2, 3, 4 lots per position
LOT_AT_REBALANCE_P = 0.35
RECENT_WINDOW_DAYS = 60
ACTIVE_P = 0.30
RECENT_LOT_P = 0.15  # active accounts: share of lots bought in the last 60 days
SELLS_P = (0.2, 0.4, 0.25, 0.15)  # 0-3 sells per active account
SELL_FRACTION = (0.1, 0.5)
RESTRICTED_P = 0.08
DO_NOT_TRADE_P = 0.3
DEPOSIT_P = 0.10
WITHDRAWAL_P = 0.07
WITHDRAWAL_FRACTION = (0.01, 0.30)

AGE_MEAN, AGE_SD, AGE_BOUNDS = 56.0, 14.0, (22, 92)
# fmt: off
FIRST_NAMES = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
    "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas",
    "Sarah", "Carlos", "Karen", "Wei", "Nancy", "Daniel", "Lisa", "Matthew", "Betty", "Anthony",
    "Aisha", "Mark", "Sandra", "Priya", "Ashley", "Steven", "Kimberly", "Andrew", "Emily",
    "Kenji", "Donna", "Omar", "Michelle",
)
LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez",
    "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright",
    "Scott", "Nguyen", "Hill", "Flores", "Patel",
)
STATES = (
    "CA", "TX", "FL", "NY", "PA", "IL", "OH", "GA", "NC", "MI", "NJ", "VA", "WA", "AZ", "MA",
    "TN", "IN", "MD", "MO", "WI", "CO", "MN", "SC", "AL",
)
# fmt: on
REGIONS = ("Northeast", "Southeast", "Midwest", "Southwest", "West")
LEGACY_REASONS = ("employer stock", "concentrated position")
OTHER_REASONS = ("client request", "ESG screen", "legal hold", "pending corporate action")


@dataclass(frozen=True)
class BookChunk:
    """One chunk of the book: a DataFrame per table, rows of accounts ``[start, stop)``."""

    index: int
    start: int
    stop: int
    as_of: date
    tables: dict[str, pd.DataFrame] = field(repr=False)

    @property
    def n_accounts(self) -> int:
        """Accounts in this chunk."""
        return self.stop - self.start


@dataclass(frozen=True)
class _Context:
    """What every chunk shares: the panel, the models as arrays, the sampling tables."""

    seed: int
    panel: PricePanel
    models: ModelSet
    weights: np.ndarray  # (models x panel symbols)
    cash_weights: np.ndarray  # (models,)
    scale: np.ndarray  # (symbols,) quantity units per share for fractional accounts
    whole_scale: np.ndarray  # (symbols,) same for whole-share accounts (1, crypto 1e6)
    legacy_ok: np.ndarray  # (symbols,) bool: may appear as a legacy holding
    profile_models: np.ndarray  # (profiles x variants) model index, -1 padded
    profile_cum: np.ndarray  # (profiles x variants) cumulative popularity
    n_advisors: int
    window_start: int  # first trading-day index of the recent-transactions window


def check_size(n_accounts: int, chunk_size: int, seed: int | None = None) -> None:
    """Reject account counts, chunk sizes (and seeds) the generator will not attempt."""
    if seed is not None and (
        isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0
    ):
        raise ConfigError(f"--seed must be a non-negative integer, got {seed!r}")
    if isinstance(n_accounts, bool) or not isinstance(n_accounts, int | np.integer):
        raise ConfigError(f"--accounts must be an integer, got {n_accounts!r}")
    if n_accounts <= 0:
        raise ConfigError(f"--accounts must be positive, got {n_accounts}")
    if n_accounts > MAX_ACCOUNTS:
        raise ConfigError(f"--accounts {n_accounts:,} is above the cap of {MAX_ACCOUNTS:,}")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int | np.integer):
        raise ConfigError(f"--chunk-size must be an integer, got {chunk_size!r}")
    if not 1 <= chunk_size <= MAX_CHUNK_SIZE:
        raise ConfigError(f"--chunk-size must be between 1 and {MAX_CHUNK_SIZE:,}")


def n_advisors_for(n_accounts: int) -> int:
    """Advisors in a book of ``n_accounts`` (about 400 accounts, 200 households each)."""
    return max(1, math.ceil(n_accounts / ACCOUNTS_PER_ADVISOR))


def generate_book(
    n_accounts: int,
    *,
    seed: int,
    prices: pd.DataFrame,
    as_of: date | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    models: ModelSet = DEFAULT_MODELS,
) -> Iterator[BookChunk]:
    """Generate a synthetic book of ``n_accounts`` accounts, one chunk at a time.

    Parameters
    ----------
    n_accounts
        Accounts in the book, 1 .. :data:`MAX_ACCOUNTS`.
    seed
        Seed of every random draw: the same arguments give the same rows.
    prices
        Daily closes, index = dates, columns = symbols. Must cover every model symbol
        (CASH excluded) for at least :data:`~rebalancer.book._prices.MIN_HISTORY_DAYS`
        before ``as_of``; extra columns may appear as legacy holdings.
    as_of
        Snapshot date (default: the panel's last date; a weekend snaps to the Friday before).
    chunk_size
        Accounts per chunk; bounds memory. Part of the output's identity (households never
        straddle chunks).
    models
        The model lineup; every one of its symbols must have prices (no silent substitution).

    Yields
    ------
    BookChunk
        Chunk ``i`` holds accounts ``[i * chunk_size, (i + 1) * chunk_size)``; chunk 0 also
        carries the ``advisors`` and ``model_portfolios`` tables.

    Raises
    ------
    ConfigError, MarketDataError
        Bad sizes, missing prices, ``as_of`` outside the panel. Raised on the call, before
        the first chunk, not lazily.
    """
    check_size(n_accounts, chunk_size, seed)
    panel = prepare_panel(prices, models.symbols, as_of)
    ctx = _context(int(seed), panel, models, n_accounts)
    return _chunks(ctx, int(n_accounts), int(chunk_size))


def _chunks(ctx: _Context, n_accounts: int, chunk_size: int) -> Iterator[BookChunk]:
    for index, start in enumerate(range(0, n_accounts, chunk_size)):
        stop = min(start + chunk_size, n_accounts)
        tables = _generate_chunk(ctx, index, start, stop - start)
        if index == 0:
            tables = {
                "advisors": _advisors(ctx),
                "model_portfolios": ctx.models.frame(),
                **tables,
            }
        yield BookChunk(index=index, start=start, stop=stop, as_of=ctx.panel.as_of, tables=tables)
        del tables  # the consumer holds the chunk; never keep two alive while generating


def _context(seed: int, panel: PricePanel, models: ModelSet, n_accounts: int) -> _Context:
    symbols = panel.symbols
    weights, cash = models.weight_matrix(symbols)
    crypto = np.array([s in CRYPTO_SYMBOLS for s in symbols])
    scale = np.where(crypto, 1e6, 1e4)
    whole_scale = np.where(crypto, 1e6, 1.0)
    variants = max(sum(m.risk_profile == p for m in models.models) for p in RISK_PROFILES)
    profile_models = np.full((len(RISK_PROFILES), variants), -1, dtype=np.int64)
    profile_cum = np.full((len(RISK_PROFILES), variants), 2.0)
    for p, profile in enumerate(RISK_PROFILES):
        idx = [i for i, m in enumerate(models.models) if m.risk_profile == profile]
        pop = np.array([models.models[i].popularity for i in idx])
        profile_models[p, : len(idx)] = idx
        profile_cum[p, : len(idx)] = np.cumsum(pop / pop.sum())
        profile_cum[p, len(idx) - 1] = 1.0
    window_first = panel.dates[-1] - np.timedelta64(RECENT_WINDOW_DAYS, "D")
    window_start = int(np.searchsorted(panel.dates, window_first, side="left"))
    return _Context(
        seed=seed,
        panel=panel,
        models=models,
        weights=weights,
        cash_weights=cash,
        scale=scale,
        whole_scale=whole_scale,
        legacy_ok=~crypto,
        profile_models=profile_models,
        profile_cum=profile_cum,
        n_advisors=n_advisors_for(n_accounts),
        window_start=min(window_start, len(panel.dates) - 2),
    )


# ---------------------------------------------------------------------------- helpers
def _digits(numbers: np.ndarray, width: int) -> pa.Array:
    text = pc.cast(pa.array(numbers, type=pa.int64()), pa.string())
    return pc.utf8_lpad(text, width, "0")


def _ids(prefix: str, numbers: np.ndarray, width: int = ID_WIDTH) -> pa.Array:
    """``prefix`` + zero-padded numbers, built in Arrow (no Python string per row)."""
    return pc.binary_join_element_wise(prefix, _digits(numbers, width), "")


def _suffixed(base: pa.Array, numbers: np.ndarray, width: int) -> pa.Array:
    """``base`` + '-' + zero-padded numbers (lot and transaction ids)."""
    return pc.binary_join_element_wise(base, _digits(numbers, width), "-")


def _take(values: pa.Array | Sequence[str], index: np.ndarray) -> pa.Array:
    """``values[index]`` as an Arrow string array."""
    array = values if isinstance(values, pa.Array) else pa.array(list(values), type=pa.string())
    return array.take(pa.array(index, type=pa.int64()))


def _text(values: pa.Array) -> pd.Series:
    """An Arrow string array as a pandas string column (no per-row Python objects)."""
    return pd.Series(values.to_pandas(), dtype=pd.StringDtype("pyarrow"))


def _days(values: np.ndarray) -> pd.Series:
    return pd.Series(values.astype("datetime64[s]"))


def _offsets(group_sizes: np.ndarray) -> np.ndarray:
    """Start offset of each group in a flat array of consecutive groups."""
    out = np.zeros(len(group_sizes), dtype=np.int64)
    np.cumsum(group_sizes[:-1], out=out[1:])
    return out


def _rank_in_group(group: np.ndarray, n_groups: int) -> np.ndarray:
    """0-based position of each element within its group (``group`` sorted ascending)."""
    counts = np.bincount(group, minlength=n_groups)
    return np.arange(len(group)) - _offsets(counts)[group]


def _pick_masked(rng: np.random.Generator, allowed: np.ndarray) -> np.ndarray:
    """One random allowed column per row (-1 where a row allows none)."""
    scores = rng.random(allowed.shape, dtype=np.float32)
    scores[~allowed] = -1.0
    pick = scores.argmax(axis=1)
    return np.where(allowed.any(axis=1), pick, -1)


def _uniform_int(
    rng: np.random.Generator, low: np.ndarray | int, high: np.ndarray | int, size: int
) -> np.ndarray:
    """Integers uniform in ``[low, high]`` per element (``high < low`` gives ``low``)."""
    span = np.maximum(np.asarray(high) - np.asarray(low) + 1, 1)
    return np.asarray(low) + (rng.random(size) * span).astype(np.int64)


def _advisors(ctx: _Context) -> pd.DataFrame:
    rng = np.random.default_rng(np.random.SeedSequence(ctx.seed, spawn_key=(0,)))
    n = ctx.n_advisors
    first = _take(FIRST_NAMES, rng.integers(len(FIRST_NAMES), size=n))
    last = _take(LAST_NAMES, rng.integers(len(LAST_NAMES), size=n))
    return pd.DataFrame(
        {
            "advisor_id": _text(_ids("ADV", np.arange(1, n + 1), 5)),
            "name": _text(pc.binary_join_element_wise(first, last, " ")),
            "region": _text(_take(REGIONS, rng.integers(len(REGIONS), size=n))),
        }
    )


# ---------------------------------------------------------------------------- one chunk
@dataclass
class _Accounts:
    """Per-account arrays of one chunk that later steps need (small: O(accounts))."""

    account_id: pa.Array
    household_id: pa.Array  # per account
    household: np.ndarray  # household index per account
    model: np.ndarray
    fractional: np.ndarray
    is_new: np.ndarray
    value0: np.ndarray
    rebal: np.ndarray  # trading-day index of the last rebalance
    opened_idx: np.ndarray  # first trading-day index on or after the opening date
    active: np.ndarray  # traded in the recent window
    client_id: pa.Array
    advisor_id: pa.Array
    account_type: pa.Array
    opened: np.ndarray  # datetime64[D]


@dataclass
class _Positions:
    """Non-zero positions in integer units (shares x scale), ordered by account, symbol."""

    account: np.ndarray
    symbol: np.ndarray
    units: np.ndarray
    scale: np.ndarray
    legacy_col: np.ndarray  # per account: legacy symbol column or -1
    has_legacy: np.ndarray  # per account


def _generate_chunk(ctx: _Context, chunk_index: int, start: int, n: int) -> dict[str, pd.DataFrame]:
    """Every per-account table for accounts ``start .. start + n - 1`` (0-based).

    Steps run in sub-functions so each step's temporaries (dense accounts x symbols matrices,
    per-lot scratch arrays) are freed before the next one: peak memory ~ a few chunk tables.
    """
    rng = np.random.default_rng(np.random.SeedSequence(ctx.seed, spawn_key=(1, chunk_index)))
    clients, acc = _households_and_accounts(ctx, rng, start, n)
    accounts, pos = _positions(ctx, rng, acc)
    tax_lots, buys = _tax_lots(ctx, rng, acc, pos)
    transactions = _transactions(ctx, rng, acc, pos, buys)
    restrictions = _restrictions(ctx, rng, acc, pos)
    holdings = pd.DataFrame(
        {
            "account_id": _text(_take(acc.account_id, pos.account)),
            "symbol": _text(_take(ctx.panel.symbols, pos.symbol)),
            "quantity": pos.units / pos.scale,
        }
    )
    return {
        "clients": clients,
        "accounts": accounts,
        "holdings": holdings,
        "tax_lots": tax_lots,
        "restrictions": restrictions,
        "transactions": transactions,
    }


def _households_and_accounts(
    ctx: _Context, rng: np.random.Generator, start: int, n: int
) -> tuple[pd.DataFrame, _Accounts]:
    """Households (consecutive accounts, never straddling a chunk), clients, account basics."""
    dates = ctx.panel.dates
    te = len(dates) - 1
    as_of = dates[-1]
    sizes = rng.choice(len(HOUSEHOLD_SIZE_P), size=n, p=HOUSEHOLD_SIZE_P) + 1
    ends = np.cumsum(sizes)
    k = int(np.searchsorted(ends, n)) + 1
    sizes = sizes[:k].copy()
    sizes[-1] -= int(ends[k - 1]) - n
    hh = np.repeat(np.arange(k), sizes)
    hh_first = _offsets(sizes)
    pos = np.arange(n) - hh_first[hh]
    hh_id = _ids("H", start + 1 + hh_first)  # named after the household's first account
    advisor = (rng.random(k) * ctx.n_advisors).astype(np.int64)  # same draws for any N
    adv_id = _ids("ADV", advisor + 1, 5)
    age = np.clip(rng.normal(AGE_MEAN, AGE_SD, size=k), *AGE_BOUNDS)
    profile = np.clip(
        np.rint(3.3 - (age - 30.0) / 15.0 + rng.normal(0.0, 0.8, size=k)), 0, 4
    ).astype(np.int64)
    n_clients = 1 + ((sizes >= 2) & (rng.random(k) < SECOND_CLIENT_P))
    hh_last = rng.integers(len(LAST_NAMES), size=k)
    hh_state = rng.integers(len(STATES), size=k)
    variant_u = rng.random(k)
    hh_model = ctx.profile_models[
        profile, (variant_u[:, None] > ctx.profile_cum[profile]).sum(axis=1)
    ]
    hh_wealth = rng.normal(0.0, VALUE_SIGMA / math.sqrt(2.0), size=k)

    # clients: 1-2 per household, numbered after the household's first account
    c_hh = np.repeat(np.arange(k), n_clients)
    c_rank = np.arange(len(c_hh)) - _offsets(n_clients)[c_hh]
    spouse_age = np.clip(age[c_hh] + rng.normal(0, 4, len(c_hh)), 22, 95)
    c_age = np.where(c_rank == 0, age[c_hh], spouse_age)
    first = _take(FIRST_NAMES, rng.integers(len(FIRST_NAMES), size=len(c_hh)))
    as_of_year = int(str(as_of)[:4])
    clients = pd.DataFrame(
        {
            "client_id": _text(_ids("C", start + 1 + hh_first[c_hh] + c_rank)),
            "household_id": _text(_take(hh_id, c_hh)),
            "advisor_id": _text(_take(adv_id, c_hh)),
            "name": _text(
                pc.binary_join_element_wise(first, _take(LAST_NAMES, hh_last[c_hh]), " ")
            ),
            "risk_profile": _text(_take(RISK_PROFILES, profile[c_hh])),
            "birth_year": (as_of_year - np.floor(c_age)).astype(np.int32),
            "state": _text(_take(STATES, hh_state[c_hh])),
        }
    )

    account_no = start + 1 + np.arange(n)
    acct_type = rng.choice(len(ACCOUNT_TYPES), size=n, p=ACCOUNT_TYPE_P)
    fractional = rng.random(n) < FRACTIONAL_P
    is_new = rng.random(n) < NEW_ACCOUNT_P
    log_value = (
        math.log(VALUE_MEDIAN)
        + hh_wealth[hh]
        + rng.normal(0.0, VALUE_SIGMA / math.sqrt(2.0), size=n)
        + np.log(np.asarray(ACCOUNT_TYPE_VALUE_FACTOR)[acct_type])
    )
    value0 = np.clip(np.exp(log_value), *VALUE_BOUNDS)
    back = rng.integers(REBALANCED_TRADING_DAYS[0], REBALANCED_TRADING_DAYS[1] + 1, size=n)
    rebal = np.maximum(te - back, 0)
    opened = np.where(
        is_new,
        as_of - rng.integers(1, 45, size=n).astype("timedelta64[D]"),
        np.minimum(
            as_of - rng.integers(*OPENED_DAYS, size=n).astype("timedelta64[D]"),
            dates[rebal] - np.timedelta64(30, "D"),
        ),
    )
    opened_idx = np.minimum(np.searchsorted(dates, opened, side="left"), te - 1)
    active = (~is_new) & ((rebal >= ctx.window_start) | (rng.random(n) < ACTIVE_P))
    acc = _Accounts(
        account_id=_ids("A", account_no),
        household_id=_take(hh_id, hh),
        household=hh,
        model=hh_model[hh],
        fractional=fractional,
        is_new=is_new,
        value0=value0,
        rebal=rebal,
        opened_idx=opened_idx,
        active=active,
        client_id=_ids("C", start + 1 + hh_first[hh] + pos % n_clients[hh]),
        advisor_id=_take(adv_id, hh),
        account_type=_take(ACCOUNT_TYPES, acct_type),
        opened=opened,
    )
    return clients, acc


def _positions(
    ctx: _Context, rng: np.random.Generator, acc: _Accounts
) -> tuple[pd.DataFrame, _Positions]:
    """Target weights at the last rebalance (noise, legacy, missing), bought, then drifted."""
    closes = ctx.panel.closes
    te = len(closes) - 1
    n = len(acc.model)
    w = ctx.weights[acc.model]
    cash_w = ctx.cash_weights[acc.model].copy()
    noisy = np.flatnonzero(rng.random(n) < EXECUTION_NOISE_P)
    w[noisy] *= np.exp(rng.normal(0.0, EXECUTION_NOISE_SIGMA, (len(noisy), w.shape[1])))
    w *= ((1.0 - cash_w) / w.sum(axis=1))[:, None]
    missing = (rng.random(n) < MISSING_POSITION_P) & ((w > 0).sum(axis=1) > 1)
    drop = _pick_masked(rng, w > 0)
    rows = np.flatnonzero(missing)
    cash_w[rows] += w[rows, drop[rows]]
    w[rows, drop[rows]] = 0.0
    legacy_col = _pick_masked(rng, (w == 0) & ctx.legacy_ok[None, :])
    has_legacy = (rng.random(n) < LEGACY_P) & (legacy_col >= 0)
    rows = np.flatnonzero(has_legacy)
    legacy_w = rng.uniform(*LEGACY_WEIGHT, size=len(rows))
    w[rows] *= (1.0 - legacy_w)[:, None]
    cash_w[rows] *= 1.0 - legacy_w
    w[rows, legacy_col[rows]] = legacy_w
    w[acc.is_new] = 0.0

    # buy at the rebalance close: whole shares, 4 decimals if fractional, crypto 6 decimals
    price_r = closes[acc.rebal]
    scale = np.where(acc.fractional[:, None], ctx.scale[None, :], ctx.whole_scale[None, :])
    raw_q = acc.value0[:, None] * w / price_r
    del w
    units = np.floor(raw_q * scale + 1e-9).astype(np.int64)
    leftover = ((raw_q - units / scale) * price_r).sum(axis=1)
    del raw_q, price_r
    draw = rng.uniform(0.3, 1.0, size=n)
    cash = np.where(acc.is_new, acc.value0 * draw, acc.value0 * cash_w + leftover)
    cash = np.floor(np.maximum(cash, 0.0) * 100.0) / 100.0
    p_acct, p_sym = np.nonzero(units)
    p_units = units[p_acct, p_sym]
    p_scale = scale[p_acct, p_sym]
    del units, scale
    market_value = np.bincount(p_acct, weights=p_units / p_scale * closes[te, p_sym], minlength=n)
    total_value = cash + market_value

    # pending cash flows: deposits (+), withdrawals (-) never above the account's value
    u = rng.random(n)
    deposit = np.round(total_value * np.exp(rng.normal(-3.0, 0.8, size=n)), 2)
    withdrawal = -np.round(total_value * rng.uniform(*WITHDRAWAL_FRACTION, size=n), 2)
    pending = np.where(u < DEPOSIT_P, deposit, np.where(u > 1.0 - WITHDRAWAL_P, withdrawal, 0.0))
    pending = np.where(acc.is_new, np.round(acc.value0 - cash, 2), pending) + 0.0

    rebalanced = np.where(acc.is_new, np.datetime64("NaT"), ctx.panel.dates[acc.rebal])
    accounts = pd.DataFrame(
        {
            "account_id": _text(acc.account_id),
            "household_id": _text(acc.household_id),
            "client_id": _text(acc.client_id),
            "advisor_id": _text(acc.advisor_id),
            "account_type": _text(acc.account_type),
            "model_id": _text(_take(ctx.models.model_ids, acc.model)),
            "cash": cash,
            "pending_cash_flow": pending,
            "fractional_shares": acc.fractional,
            "last_rebalanced": _days(rebalanced),
            "opened": _days(acc.opened.astype("datetime64[D]")),
        }
    )
    positions = _Positions(
        account=p_acct,
        symbol=p_sym,
        units=p_units,
        scale=p_scale,
        legacy_col=legacy_col,
        has_legacy=has_legacy,
    )
    return accounts, positions


def _tax_lots(
    ctx: _Context, rng: np.random.Generator, acc: _Accounts, pos: _Positions
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """1-4 lots per position, split in integer units so they sum exactly to the holding.

    Returns the frame and the lots bought in the recent window (they are the BUY trades).
    """
    te = len(ctx.panel.dates) - 1
    w0 = ctx.window_start
    n_pos = len(pos.account)
    n_lots = np.minimum(rng.choice(len(LOTS_P), size=n_pos, p=LOTS_P) + 1, pos.units)
    first_lot = _offsets(n_lots)
    l_hold = np.repeat(np.arange(n_pos), n_lots)
    share = rng.random(len(l_hold)) + 0.2
    if len(l_hold):
        share /= np.add.reduceat(share, first_lot)[l_hold]
    l_units = np.floor(pos.units[l_hold] * share).astype(np.int64)
    del share
    if len(l_hold):
        l_units[first_lot] += pos.units - np.add.reduceat(l_units, first_lot)
    l_acct = pos.account[l_hold]
    active = acc.active[l_acct]
    kind = rng.random(len(l_hold))
    recent = active & (kind < RECENT_LOT_P)
    at_rebalance = (~recent) & (kind > 1.0 - LOT_AT_REBALANCE_P)
    lo = acc.opened_idx[l_acct]
    hi = np.where(active, te - 1, w0 - 1)
    l_date = _uniform_int(rng, lo, np.maximum(hi, lo), len(l_hold))
    recent_date = _uniform_int(rng, w0, te - 1, len(l_hold))
    l_date = np.where(recent, recent_date, l_date)
    l_date = np.where(at_rebalance, acc.rebal[l_acct], l_date)
    del kind, recent, at_rebalance, lo, hi, recent_date, active
    keep = np.flatnonzero(l_units > 0)
    l_acct, l_units, l_date = l_acct[keep], l_units[keep], l_date[keep]
    l_sym, l_scale = pos.symbol[l_hold[keep]], pos.scale[l_hold[keep]]
    del l_hold, keep
    l_qty = l_units / l_scale
    l_price = ctx.panel.closes[l_date, l_sym]
    account_of_lot = _take(acc.account_id, l_acct)
    tax_lots = pd.DataFrame(
        {
            "account_id": _text(account_of_lot),
            "symbol": _text(_take(ctx.panel.symbols, l_sym)),
            "lot_id": _text(
                _suffixed(account_of_lot, _rank_in_group(l_acct, len(acc.model)) + 1, 3)
            ),
            "quantity": l_qty,
            "cost_basis": l_qty * l_price,
            "acquired": _days(ctx.panel.dates[l_date]),
        }
    )
    buy = np.flatnonzero(l_date >= w0)
    buys = {
        "account": l_acct[buy],
        "date": l_date[buy],
        "symbol": l_sym[buy],
        "quantity": l_qty[buy],
        "price": l_price[buy],
    }
    return tax_lots, buys


def _transactions(
    ctx: _Context,
    rng: np.random.Generator,
    acc: _Accounts,
    pos: _Positions,
    buys: dict[str, np.ndarray],
) -> pd.DataFrame:
    """The last 60 days: the recent lots as BUYs, plus SELLs of part of a position."""
    closes = ctx.panel.closes
    te = len(closes) - 1
    n = len(acc.model)
    n_pos = np.bincount(pos.account, minlength=n)
    n_sells = np.where(acc.active & (n_pos > 0), rng.choice(len(SELLS_P), size=n, p=SELLS_P), 0)
    s_acct = np.repeat(np.arange(n), n_sells)
    m = len(s_acct)
    s_row = _offsets(n_pos)[s_acct] + (rng.random(m) * n_pos[s_acct]).astype(np.int64)
    s_sym = pos.symbol[s_row]
    s_units = np.maximum(1.0, np.floor(pos.units[s_row] * rng.uniform(*SELL_FRACTION, size=m)))
    s_date = _uniform_int(rng, ctx.window_start, te - 1, m)
    s_acquired = _uniform_int(rng, acc.opened_idx[s_acct], s_date - 1, m)
    s_qty = s_units / pos.scale[s_row]
    s_price = closes[s_date, s_sym]
    s_gain = s_qty * (s_price - closes[s_acquired, s_sym])

    n_buys = len(buys["account"])
    t_acct = np.concatenate([buys["account"], s_acct])
    t_date = np.concatenate([buys["date"], s_date])
    t_sym = np.concatenate([buys["symbol"], s_sym])
    order = np.lexsort((t_sym, t_date, t_acct))
    t_acct, t_date, t_sym = t_acct[order], t_date[order], t_sym[order]
    sell = np.concatenate([np.zeros(n_buys, bool), np.ones(m, bool)])[order]
    account_of_trade = _take(acc.account_id, t_acct)
    account_digits = pc.utf8_slice_codeunits(account_of_trade, 1)  # A00000001 -> 00000001
    return pd.DataFrame(
        {
            "transaction_id": _text(
                _suffixed(
                    pc.binary_join_element_wise("T", account_digits, ""),
                    _rank_in_group(t_acct, n) + 1,
                    3,
                )
            ),
            "account_id": _text(account_of_trade),
            "household_id": _text(_take(acc.household_id, t_acct)),
            "symbol": _text(_take(ctx.panel.symbols, t_sym)),
            "side": _text(_take(("BUY", "SELL"), sell.astype(np.int64))),
            "quantity": np.concatenate([buys["quantity"], s_qty])[order],
            "price": np.concatenate([buys["price"], s_price])[order],
            "trade_date": _days(ctx.panel.dates[t_date]),
            "realized_gain": np.concatenate([np.full(n_buys, np.nan), s_gain])[order],
        }
    )


def _restrictions(
    ctx: _Context, rng: np.random.Generator, acc: _Accounts, pos: _Positions
) -> pd.DataFrame:
    """A few accounts restrict a legacy holding (employer stock) or a model symbol."""
    n = len(acc.model)
    restricted = rng.random(n) < RESTRICTED_P
    use_legacy = pos.has_legacy & (rng.random(n) < 0.6)
    model_pick = _pick_masked(rng, ctx.weights[acc.model] > 0)
    symbol = np.where(use_legacy, pos.legacy_col, model_pick)
    rows = np.flatnonzero(restricted & (symbol >= 0))
    reason_legacy = rng.integers(len(LEGACY_REASONS), size=n)
    reason_other = rng.integers(len(OTHER_REASONS), size=n)
    dnt = rng.random(n) < DO_NOT_TRADE_P
    reasons = (*LEGACY_REASONS, *OTHER_REASONS)
    reason = np.where(use_legacy, reason_legacy, len(LEGACY_REASONS) + reason_other)
    return pd.DataFrame(
        {
            "account_id": _text(_take(acc.account_id, rows)),
            "symbol": _text(_take(ctx.panel.symbols, symbol[rows])),
            "restriction": _text(_take(("restricted", "do_not_trade"), dnt[rows].astype(np.int64))),
            "reason": _text(_take(reasons, reason[rows])),
        }
    )
