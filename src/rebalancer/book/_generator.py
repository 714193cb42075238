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
from collections.abc import Iterator
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
FIRST_NAMES = [
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Carlos",
    "Karen",
    "Wei",
    "Nancy",
    "Daniel",
    "Lisa",
    "Matthew",
    "Betty",
    "Anthony",
    "Aisha",
    "Mark",
    "Sandra",
    "Priya",
    "Ashley",
    "Steven",
    "Kimberly",
    "Andrew",
    "Emily",
    "Kenji",
    "Donna",
    "Omar",
    "Michelle",
]
LAST_NAMES = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Nguyen",
    "Hill",
    "Flores",
    "Patel",
]
STATES = [
    "CA",
    "TX",
    "FL",
    "NY",
    "PA",
    "IL",
    "OH",
    "GA",
    "NC",
    "MI",
    "NJ",
    "VA",
    "WA",
    "AZ",
    "MA",
    "TN",
    "IN",
    "MD",
    "MO",
    "WI",
    "CO",
    "MN",
    "SC",
    "AL",
]
REGIONS = ("Northeast", "Southeast", "Midwest", "Southwest", "West")
LEGACY_REASONS = ("employer stock", "concentrated position")
OTHER_REASONS = ("client request", "ESG screen", "legal hold", "pending corporate action")


@dataclass(frozen=True)
class BookChunk:
    """One chunk of the book: a DataFrame per table, rows of accounts ``[start, stop)``."""

    index: int
    start: int
    stop: int
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


def check_size(n_accounts: int, chunk_size: int) -> None:
    """Reject account counts and chunk sizes the generator will not attempt."""
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
    check_size(n_accounts, chunk_size)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ConfigError(f"--seed must be a non-negative integer, got {seed!r}")
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
        yield BookChunk(index=index, start=start, stop=stop, tables=tables)


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
def _ids(prefix: str, numbers: np.ndarray, width: int = ID_WIDTH) -> np.ndarray:
    """``prefix`` + zero-padded numbers, as an object array of str (vectorized in Arrow)."""
    text = pc.utf8_lpad(pc.cast(pa.array(numbers, type=pa.int64()), pa.string()), width, "0")
    joined = pc.binary_join_element_wise(prefix, text, "")
    return np.asarray(joined.to_numpy(zero_copy_only=False), dtype=object)


def _suffixed(base: np.ndarray, numbers: np.ndarray, width: int) -> np.ndarray:
    """``base`` + '-' + zero-padded numbers (lot and transaction ids)."""
    text = pc.utf8_lpad(pc.cast(pa.array(numbers, type=pa.int64()), pa.string()), width, "0")
    joined = pc.binary_join_element_wise(pa.array(base, type=pa.string()), text, "-")
    return np.asarray(joined.to_numpy(zero_copy_only=False), dtype=object)


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
    scores = np.where(allowed, rng.random(allowed.shape), -1.0)
    pick = scores.argmax(axis=1)
    return np.where(allowed.any(axis=1), pick, -1)


def _uniform_int(rng: np.random.Generator, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Integers uniform in ``[low, high]`` per element (``high >= low``)."""
    span = np.maximum(high - low + 1, 1)
    return low + (rng.random(len(low)) * span).astype(np.int64)


def _advisors(ctx: _Context) -> pd.DataFrame:
    rng = np.random.default_rng(np.random.SeedSequence(ctx.seed, spawn_key=(0,)))
    n = ctx.n_advisors
    first = np.array(FIRST_NAMES, dtype=object)[rng.integers(len(FIRST_NAMES), size=n)]
    last = np.array(LAST_NAMES, dtype=object)[rng.integers(len(LAST_NAMES), size=n)]
    return pd.DataFrame(
        {
            "advisor_id": _ids("ADV", np.arange(1, n + 1), 5),
            "name": first + " " + last,
            "region": np.array(REGIONS, dtype=object)[rng.integers(len(REGIONS), size=n)],
        }
    )


# ---------------------------------------------------------------------------- one chunk
def _generate_chunk(ctx: _Context, chunk_index: int, start: int, n: int) -> dict[str, pd.DataFrame]:
    """Every per-account table for accounts ``start .. start + n - 1`` (0-based)."""
    rng = np.random.default_rng(np.random.SeedSequence(ctx.seed, spawn_key=(1, chunk_index)))
    panel = ctx.panel
    dates, closes = panel.dates, panel.closes
    te = len(dates) - 1
    as_of = dates[-1]
    symbols = np.array(panel.symbols, dtype=object)
    account_no = start + 1 + np.arange(n)
    account_id = _ids("A", account_no)

    # ---- households: consecutive accounts, never straddling a chunk
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

    # ---- clients: 1-2 per household, numbered after the household's first account
    c_hh = np.repeat(np.arange(k), n_clients)
    c_rank = np.arange(len(c_hh)) - _offsets(n_clients)[c_hh]
    c_age = np.where(
        c_rank == 0, age[c_hh], np.clip(age[c_hh] + rng.normal(0, 4, len(c_hh)), 22, 95)
    )
    first_names = np.array(FIRST_NAMES, dtype=object)[
        rng.integers(len(FIRST_NAMES), size=len(c_hh))
    ]
    as_of_year = int(str(as_of)[:4])
    clients = pd.DataFrame(
        {
            "client_id": _ids("C", start + 1 + hh_first[c_hh] + c_rank),
            "household_id": hh_id[c_hh],
            "advisor_id": _ids("ADV", advisor[c_hh] + 1, 5),
            "name": first_names + " " + np.array(LAST_NAMES, dtype=object)[hh_last[c_hh]],
            "risk_profile": np.array(RISK_PROFILES, dtype=object)[profile[c_hh]],
            "birth_year": (as_of_year - np.floor(c_age)).astype(np.int32),
            "state": np.array(STATES, dtype=object)[hh_state[c_hh]],
        }
    )

    # ---- accounts
    client_rank = pos % n_clients[hh]
    acct_type = rng.choice(len(ACCOUNT_TYPES), size=n, p=ACCOUNT_TYPE_P)
    model = hh_model[hh]
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

    # ---- target weights at the last rebalance, with noise, legacy and missing positions
    w = ctx.weights[model].copy()
    cash_w = ctx.cash_weights[model].copy()
    noisy = rng.random(n) < EXECUTION_NOISE_P
    w *= np.where(noisy[:, None], np.exp(rng.normal(0.0, EXECUTION_NOISE_SIGMA, w.shape)), 1.0)
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
    w[is_new] = 0.0

    price_r = closes[rebal]  # (n x symbols)
    scale = np.where(fractional[:, None], ctx.scale[None, :], ctx.whole_scale[None, :])
    raw_q = value0[:, None] * w / price_r
    units = np.floor(raw_q * scale + 1e-9).astype(np.int64)
    quantity = units / scale
    leftover = ((raw_q - quantity) * price_r).sum(axis=1)
    cash = np.where(is_new, value0 * rng.uniform(0.3, 1.0, size=n), value0 * cash_w + leftover)
    cash = np.floor(np.maximum(cash, 0.0) * 100.0) / 100.0
    market_value = (quantity * closes[te]).sum(axis=1)
    total_value = cash + market_value

    # ---- pending cash flows
    u = rng.random(n)
    deposit = np.round(total_value * np.exp(rng.normal(-3.0, 0.8, size=n)), 2)
    withdrawal = -np.round(total_value * rng.uniform(*WITHDRAWAL_FRACTION, size=n), 2)
    pending = np.where(u < DEPOSIT_P, deposit, np.where(u > 1.0 - WITHDRAWAL_P, withdrawal, 0.0))
    pending = np.where(is_new, np.round(value0 - cash, 2), pending)

    accounts = pd.DataFrame(
        {
            "account_id": account_id,
            "household_id": hh_id[hh],
            "client_id": _ids("C", start + 1 + hh_first[hh] + client_rank),
            "advisor_id": _ids("ADV", advisor[hh] + 1, 5),
            "account_type": np.array(ACCOUNT_TYPES, dtype=object)[acct_type],
            "model_id": np.array(ctx.models.model_ids, dtype=object)[model],
            "cash": cash,
            "pending_cash_flow": pending + 0.0,
            "fractional_shares": fractional,
            "last_rebalanced": pd.Series(
                np.where(is_new, np.datetime64("NaT"), dates[rebal]).astype("datetime64[s]")
            ),
            "opened": pd.Series(opened.astype("datetime64[D]").astype("datetime64[s]")),
        }
    )

    # ---- holdings: non-zero positions, ordered by account then symbol
    h_acct, h_sym = np.nonzero(units)
    h_units = units[h_acct, h_sym]
    h_scale = scale[h_acct, h_sym]
    holdings = pd.DataFrame(
        {
            "account_id": account_id[h_acct],
            "symbol": symbols[h_sym],
            "quantity": h_units / h_scale,
        }
    )

    # ---- tax lots: 1-4 per position, integer split so lots sum exactly to the holding
    active = (~is_new) & ((rebal >= ctx.window_start) | (rng.random(n) < ACTIVE_P))
    n_lots = np.minimum(rng.choice(len(LOTS_P), size=len(h_acct), p=LOTS_P) + 1, h_units)
    l_hold = np.repeat(np.arange(len(h_acct)), n_lots)
    l_acct, l_sym = h_acct[l_hold], h_sym[l_hold]
    share = rng.random(len(l_hold)) + 0.2
    group_total = np.add.reduceat(share, _offsets(n_lots)) if len(l_hold) else share
    l_units = np.floor(h_units[l_hold] * share / group_total[l_hold]).astype(np.int64)
    remainder = h_units - np.add.reduceat(l_units, _offsets(n_lots)) if len(l_hold) else h_units
    l_units[_offsets(n_lots)] += remainder
    kind = rng.random(len(l_hold))
    recent = active[l_acct] & (kind < RECENT_LOT_P)
    at_rebalance = (~recent) & (kind > 1.0 - LOT_AT_REBALANCE_P)
    lo = opened_idx[l_acct]
    hi = np.where(active[l_acct], te - 1, ctx.window_start - 1)
    l_date = _uniform_int(rng, lo, np.maximum(hi, lo))
    l_date = np.where(
        recent,
        _uniform_int(rng, np.full(len(l_hold), ctx.window_start), np.full(len(l_hold), te - 1)),
        l_date,
    )
    l_date = np.where(at_rebalance, rebal[l_acct], l_date)
    keep = l_units > 0
    l_acct, l_sym, l_units, l_date = l_acct[keep], l_sym[keep], l_units[keep], l_date[keep]
    l_qty = l_units / scale[l_acct, l_sym]
    l_price = closes[l_date, l_sym]
    l_seq = _rank_in_group(l_acct, n) + 1
    tax_lots = pd.DataFrame(
        {
            "account_id": account_id[l_acct],
            "symbol": symbols[l_sym],
            "lot_id": _suffixed(account_id[l_acct], l_seq, 3),
            "quantity": l_qty,
            "cost_basis": l_qty * l_price,
            "acquired": pd.Series(dates[l_date].astype("datetime64[s]")),
        }
    )

    # ---- transactions: BUYs = lots bought in the window; SELLs of part of a position
    buy = l_date >= ctx.window_start
    n_pos = np.bincount(h_acct, minlength=n)
    n_sells = np.where(active & (n_pos > 0), rng.choice(len(SELLS_P), size=n, p=SELLS_P), 0)
    s_acct = np.repeat(np.arange(n), n_sells)
    s_row = _offsets(n_pos)[s_acct] + (rng.random(len(s_acct)) * n_pos[s_acct]).astype(np.int64)
    s_sym = h_sym[s_row]
    s_scale = h_scale[s_row]
    s_units = np.maximum(
        1, np.floor(h_units[s_row] * rng.uniform(*SELL_FRACTION, size=len(s_acct)))
    )
    s_date = _uniform_int(rng, np.full(len(s_acct), ctx.window_start), np.full(len(s_acct), te - 1))
    s_acq = _uniform_int(rng, opened_idx[s_acct], s_date - 1)
    s_qty = s_units / s_scale
    s_price = closes[s_date, s_sym]
    t_acct = np.concatenate([l_acct[buy], s_acct])
    t_date = np.concatenate([l_date[buy], s_date])
    t_sym = np.concatenate([l_sym[buy], s_sym])
    order = np.lexsort((t_sym, t_date, t_acct))
    t_acct, t_date, t_sym = t_acct[order], t_date[order], t_sym[order]
    t_side = np.concatenate([np.zeros(int(buy.sum()), bool), np.ones(len(s_acct), bool)])[order]
    t_qty = np.concatenate([l_qty[buy], s_qty])[order]
    t_price = np.concatenate([l_price[buy], s_price])[order]
    t_gain = np.concatenate(
        [np.full(int(buy.sum()), np.nan), s_qty * (s_price - closes[s_acq, s_sym])]
    )[order]
    transactions = pd.DataFrame(
        {
            "transaction_id": _suffixed(
                _ids("T", account_no[t_acct]), _rank_in_group(t_acct, n) + 1, 3
            ),
            "account_id": account_id[t_acct],
            "household_id": hh_id[hh[t_acct]],
            "symbol": symbols[t_sym],
            "side": np.where(t_side, "SELL", "BUY").astype(object),
            "quantity": t_qty,
            "price": t_price,
            "trade_date": pd.Series(dates[t_date].astype("datetime64[s]")),
            "realized_gain": t_gain,
        }
    )

    # ---- restrictions: a legacy holding (employer stock) or a model symbol
    restricted = rng.random(n) < RESTRICTED_P
    use_legacy = has_legacy & (rng.random(n) < 0.6)
    model_pick = _pick_masked(rng, ctx.weights[model] > 0)
    r_sym = np.where(use_legacy, legacy_col, model_pick)
    r_rows = np.flatnonzero(restricted & (r_sym >= 0))
    reason_legacy = np.array(LEGACY_REASONS, dtype=object)[
        rng.integers(len(LEGACY_REASONS), size=n)
    ]
    reason_other = np.array(OTHER_REASONS, dtype=object)[rng.integers(len(OTHER_REASONS), size=n)]
    dnt = rng.random(n) < DO_NOT_TRADE_P
    restrictions = pd.DataFrame(
        {
            "account_id": account_id[r_rows],
            "symbol": symbols[r_sym[r_rows]],
            "restriction": np.where(dnt[r_rows], "do_not_trade", "restricted").astype(object),
            "reason": np.where(use_legacy, reason_legacy, reason_other)[r_rows],
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
