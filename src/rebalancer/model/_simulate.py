"""The decision simulator: what a firm's advisors would have decided, holding by holding.

Labels for the advisor-action model come from the ``decisions`` table. A firm with no history
of its own gets simulated advisors: the book is replayed over many as-of dates of the real price
history (:func:`rebalancer.engine.execute` carries it from one date to the next) and at each
date every advisor decides, for every sleeve of every account, SELL, HOLD or BUY.

How a simulated advisor decides (documented, so the labels can be explained):

* each advisor has a latent :class:`AdvisorStyle`, drawn per advisor around the firm's style:
  how wide a sleeve may run (a multiple of the default hybrid band), how much short-term gain
  they will realize (a taxable sleeve whose sale would realize short-term gains above that share
  of the position is left alone), the smallest trade worth the trouble (USD), and whether a
  deposit is only invested (cash-flow-only fixes: no sales);
* the engine runs with the advisor's policy: the engine's constraints always apply (the latent
  decision is a sleeve the engine trades under that policy: SELL, BUY, otherwise HOLD);
* a documented share of decisions (``noise_rate``) is replaced by another action drawn
  uniformly: advisors are not perfectly consistent.

The latent (noise-free) decision and the plain engine rule's decision (default :class:`Policy`)
are kept beside each label (``note`` of the decisions row), so the evaluation can score the
simulator's own policy against its noisy labels: the *ceiling* no model can beat.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from rebalancer.book._tables import BookTables
from rebalancer.engine import Policy, Recommendation, execute, recommend_book
from rebalancer.errors import ConfigError
from rebalancer.lake import Lake, get_schema
from rebalancer.model._decisions import ACTIONS
from rebalancer.model._features import LOOKBACK_DAYS, ScratchLake, price_bars
from rebalancer.model._metrics import classification_report, codes

#: Calendar days of bars the scratch lake holds before the first as-of date: the features
#: query's own lookback (:data:`rebalancer.model._features.LOOKBACK_DAYS`) plus a margin.
BARS_LOOKBACK_DAYS = LOOKBACK_DAYS + 7


@dataclass(frozen=True)
class AdvisorStyle:
    """One advisor's latent preferences (see the module docstring)."""

    advisor_id: str
    band_scale: float
    tax_threshold: float
    min_trade_value: float
    cash_flow_only: bool

    def policy(self, *, buy_only: bool = False) -> Policy:
        """The engine policy this advisor rebalances with."""
        return Policy(
            relative_band=min(1.0, 0.20 * self.band_scale),
            absolute_band=min(1.0, 0.02 * self.band_scale),
            min_trade_value=self.min_trade_value,
            buy_only=buy_only,
        )


@dataclass(frozen=True)
class SimulationConfig:
    """Knobs of a simulation (defaults: the firm's style and the noise the README documents).

    ``firm_band_scale`` etc. are the firm's style; each advisor's is drawn around it with a
    relative spread of ``advisor_spread`` (log-normal), and ``cash_flow_only_share`` of the
    advisors only invest deposits.
    """

    seed: int = 7
    step_days: int = 10
    noise_rate: float = 0.03
    flow_rate: float = 0.08
    firm_band_scale: float = 1.5
    firm_tax_threshold: float = 0.04
    firm_min_trade_value: float = 400.0
    advisor_spread: float = 0.08
    cash_flow_only_share: float = 0.4

    def __post_init__(self) -> None:
        if not 0 <= self.noise_rate < 0.5:
            raise ConfigError(f"noise_rate must be in [0, 0.5), got {self.noise_rate}")
        if self.step_days < 1:
            raise ConfigError(f"step_days must be at least 1, got {self.step_days}")


@dataclass
class SimulationResult:
    """The decisions rows (``decisions`` schema), the feature rows they label (features plus
    ``as_of``, ``action``, ``latent``, ``rule``), and the advisors' latent styles."""

    decisions: pd.DataFrame
    dataset: pd.DataFrame
    styles: list[AdvisorStyle] = field(default_factory=list)

    def styles_frame(self) -> pd.DataFrame:
        """The styles as a table (for the report)."""
        return pd.DataFrame([asdict(s) for s in self.styles])

    def ceiling(self) -> dict[str, Any]:
        """The simulator's own latent policy scored against its noisy labels: what a perfect
        model of the advisors would score (macro-F1 and the rest)."""
        d = self.dataset
        return classification_report(codes(d["action"]), codes(d["latent"]))

    def features(self) -> pd.DataFrame:
        """The ``decision_features`` rows (schema columns, in order)."""
        return self.dataset[get_schema("decision_features").column_names]


def write_simulation(lake: Lake, result: SimulationResult, *, seed: int) -> list[str]:
    """Write the simulated decisions and their features at names fixed by the seed (a rerun
    with the same seed replaces them). Returns the keys written."""
    name = f"simulated-seed{seed}"
    keys = lake.write("decision_features", result.features(), name=name)
    return keys + lake.write("decisions", result.decisions, name=name)


def draw_styles(advisor_ids: Sequence[str], config: SimulationConfig) -> list[AdvisorStyle]:
    """One style per advisor, seeded, drawn around the firm's style (sorted ids: stable)."""
    rng = np.random.default_rng([config.seed, 1])
    out = []
    for advisor in sorted({str(a) for a in advisor_ids}):
        jitter = np.exp(rng.normal(0.0, config.advisor_spread, 3))
        out.append(
            AdvisorStyle(
                advisor_id=advisor,
                band_scale=round(float(config.firm_band_scale * jitter[0]), 4),
                tax_threshold=round(float(config.firm_tax_threshold * jitter[1]), 4),
                min_trade_value=round(float(config.firm_min_trade_value * jitter[2]), 2),
                cash_flow_only=bool(rng.random() < config.cash_flow_only_share),
            )
        )
    return out


def replay_dates(
    panel: pd.DataFrame,
    start: pd.Timestamp,
    step_days: int,
    *,
    symbols: Sequence[str] | None = None,
    count: int | None = None,
) -> list[pd.Timestamp]:
    """Every ``step_days``-th session from ``start`` on (at most ``count``): sessions on which
    every one of ``symbols`` (default: every panel column) has a close, so no account is
    skipped for a missing price (weekends only price crypto)."""
    if step_days < 1:
        raise ConfigError(f"step_days must be at least 1, got {step_days}")
    cols = [s for s in (symbols if symbols is not None else panel.columns) if s != "CASH"]
    missing = [s for s in cols if s not in panel.columns]
    if missing:
        raise ConfigError(f"no prices for {', '.join(sorted(missing)[:5])}")
    priced = panel[cols].notna().all(axis=1) if cols else pd.Series(True, index=panel.index)
    days = panel.index[priced.to_numpy() & (panel.index >= pd.Timestamp(start))]
    chosen = [pd.Timestamp(d) for d in days[::step_days]]
    return chosen[:count] if count is not None else chosen


def simulate(
    book: BookTables,
    panel: pd.DataFrame,
    dates: Sequence[pd.Timestamp],
    config: SimulationConfig | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> SimulationResult:
    """Replay ``book`` over ``dates`` (sessions of ``panel``, daily closes) and record every
    advisor's decision on every sleeve. Deterministic for a given ``config.seed``."""
    config = config or SimulationConfig()
    if not dates:
        raise ConfigError("the simulation needs at least one as-of date")
    advisors = book.accounts["advisor_id"].fillna("ADV-NONE").astype(str)
    styles = draw_styles(advisors.unique(), config)
    by_id = {s.advisor_id: s for s in styles}
    # Only the bars the features can read: one object per day, so a narrow window is fast.
    first = pd.Timestamp(min(dates)) - pd.Timedelta(days=BARS_LOOKBACK_DAYS)
    scratch = ScratchLake(price_bars(panel.loc[first : pd.Timestamp(max(dates))]))
    decisions: list[pd.DataFrame] = []
    rows: list[pd.DataFrame] = []
    try:
        for step, day in enumerate(dates):
            prices = panel.loc[pd.Timestamp(day)].dropna()
            as_of = pd.Timestamp(day) + pd.Timedelta(days=1)  # the day's bar has closed
            rng = np.random.default_rng([config.seed, 2, step])
            book = _with_cash_flows(book, prices, rng, config.flow_rate)
            features = scratch.features(book, as_of)
            rule = recommend_book(book, prices, Policy(), as_of=as_of)
            latent = _advisors_decide(book, prices, as_of, features, by_id)
            labelled = _label(features, rule, latent, rng, config.noise_rate)
            labelled.insert(0, "as_of", as_of)
            rows.append(labelled)
            decisions.append(_decision_rows(labelled, config.seed))
            book = execute(book, latent)
            if progress is not None:
                progress(step + 1, len(dates))
    finally:
        scratch.close()
    return SimulationResult(
        decisions=pd.concat(decisions, ignore_index=True),
        dataset=pd.concat(rows, ignore_index=True),
        styles=styles,
    )


def _with_cash_flows(
    book: BookTables, prices: pd.Series, rng: np.random.Generator, rate: float
) -> BookTables:
    """Fresh pending cash flows: a share of accounts gets a deposit (most) or a withdrawal."""
    acc = book.accounts.copy()
    held = book.holdings
    value = (
        (held["quantity"].to_numpy(float) * held["symbol"].map(prices).fillna(0.0).to_numpy())
        if len(held)
        else np.zeros(0)
    )
    invested = pd.Series(value).groupby(held["account_id"].astype(str).to_numpy()).sum()
    total = acc["account_id"].astype(str).map(invested).fillna(0.0).to_numpy() + acc[
        "cash"
    ].to_numpy(float)
    n = len(acc)
    draw = rng.random(n)
    deposit = rng.random(n) < 0.7
    size = np.where(deposit, rng.uniform(0.02, 0.15, n), -rng.uniform(0.01, 0.06, n))
    flow = np.where(draw < rate, np.round(size * total, 2), 0.0)
    acc["pending_cash_flow"] = flow
    return BookTables.from_frames(**{**book.frames(), "accounts": acc})


def _advisors_decide(
    book: BookTables,
    prices: pd.Series,
    as_of: pd.Timestamp,
    features: pd.DataFrame,
    styles: dict[str, AdvisorStyle],
) -> Recommendation:
    """Each advisor's engine run on their accounts (their policy, their tax pins)."""
    acc = book.accounts
    advisor = acc["advisor_id"].fillna("ADV-NONE").astype(str)
    deposit = acc["pending_cash_flow"].to_numpy(float) > 0
    pins = _tax_pins(features, styles)
    pinned = BookTables.from_frames(
        **{**book.frames(), "restrictions": pd.concat([book.restrictions, pins], ignore_index=True)}
    )
    parts: list[Recommendation] = []
    for style in styles.values():
        for buy_only in (False, True):
            mine = (advisor == style.advisor_id).to_numpy() & (
                (deposit & style.cash_flow_only) == buy_only
            )
            if not mine.any():
                continue
            sub = pinned.select(acc.loc[mine, "account_id"].astype(str))
            parts.append(recommend_book(sub, prices, style.policy(buy_only=buy_only), as_of=as_of))
    return Recommendation(
        trades=pd.concat([p.trades for p in parts], ignore_index=True),
        accounts=pd.concat([p.accounts for p in parts], ignore_index=True),
        rejected=pd.concat([p.rejected for p in parts], ignore_index=True),
        as_of=as_of,
    )


def _tax_pins(features: pd.DataFrame, styles: dict[str, AdvisorStyle]) -> pd.DataFrame:
    """``do_not_trade`` rows for overweight taxable sleeves whose sale would realize more
    short-term gain than the advisor accepts."""
    threshold = features["advisor_id"].map({k: s.tax_threshold for k, s in styles.items()})
    pin = (
        (features["is_taxable"] > 0)
        & (features["drift"] > 0)
        & (features["st_gain_share"].fillna(0.0) > threshold.fillna(np.inf))
    )
    out = features.loc[pin, ["account_id", "symbol"]].copy()
    out["restriction"] = "do_not_trade"
    out["reason"] = "simulated advisor defers a short-term gain"
    return out.reset_index(drop=True)


def actions_of(rec: Recommendation, keys: pd.DataFrame) -> np.ndarray:
    """SELL / BUY / HOLD per ``(account_id, symbol)`` row of ``keys`` from a run's trades."""
    side = rec.trades.drop_duplicates(["account_id", "symbol"]).set_index(["account_id", "symbol"])[
        "side"
    ]
    index = pd.MultiIndex.from_frame(keys[["account_id", "symbol"]].astype(str))
    return side.reindex(index).fillna("HOLD").astype(str).to_numpy(dtype=object)


def _label(
    features: pd.DataFrame,
    rule: Recommendation,
    latent: Recommendation,
    rng: np.random.Generator,
    noise_rate: float,
) -> pd.DataFrame:
    """The feature rows of accounts both runs rebalanced, with latent, rule and noisy labels."""
    rejected = set(latent.rejected["account_id"].astype(str)) | set(
        rule.rejected["account_id"].astype(str)
    )
    rows = features[~features["account_id"].isin(rejected)].reset_index(drop=True)
    rows["latent"] = actions_of(latent, rows)
    rows["rule"] = actions_of(rule, rows)
    noisy = rows["latent"].to_numpy(dtype=object).copy()
    flip = rng.random(len(rows)) < noise_rate
    shift = rng.integers(1, 3, len(rows))
    code = np.array([ACTIONS.index(a) for a in noisy], dtype=np.int64)
    noisy[flip] = np.array(ACTIONS, dtype=object)[(code[flip] + shift[flip]) % 3]
    rows["action"] = noisy
    return rows


def _decision_rows(labelled: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Rows of the ``decisions`` table for one simulated date."""
    return pd.DataFrame(
        {
            "as_of": labelled["as_of"],
            "account_id": labelled["account_id"],
            "household_id": labelled["household_id"],
            "advisor_id": labelled["advisor_id"],
            "symbol": labelled["symbol"],
            "action": labelled["action"],
            "source": "simulated",
            "decided_by": f"simulator(seed={seed})",
            "decided_at": labelled["as_of"],
            "note": "latent=" + labelled["latent"] + " rule=" + labelled["rule"],
        }
    )
