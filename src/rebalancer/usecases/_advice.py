"""The model advises the engine (``Policy.model``): score a book's sleeves, pin HOLDs.

``off`` reads nothing and changes nothing. ``advise`` scores every sleeve (the features SQL,
``sql/features/holding_features.sql``, run on the book's own tables in a scratch lake with the
lake's daily bars, then one predictor call for the whole book or shard) and attaches the
model's action, confidence and reasons; the trades are the engine's alone. ``gate`` also pins
the sleeves the model says HOLD with at least ``min_confidence``: the engine keeps them where
they are for the run (``BookArrays.hold``), except for sales a cash shortfall or withdrawal
forces. The model never adds a trade: a SELL or BUY only leaves the engine's rules to decide,
and a pin counts only in an account the rules act on (a rule fires or cash is short), so a
gate never makes a quiet account trade; a batch ``gate`` run scores only those accounts
(:func:`gated_accounts`), a single account or posted portfolio its whole household.

A model mode with no registered model is a :class:`~rebalancer.errors.ModelError` (exit 9,
503), never a silent fallback to ``off``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from json.encoder import encode_basestring
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from rebalancer._arrow import member
from rebalancer.book import BookTables
from rebalancer.engine import CHUNK_SIZE, Book, Policy, acting_accounts
from rebalancer.errors import ModelError
from rebalancer.lake import Lake

if TYPE_CHECKING:  # XGBoost is imported only when a model is used
    from rebalancer.model._predict import Predictor

#: The per-holding advice columns (``reasons`` as a list of strings).
ADVICE_COLUMNS = ["account_id", "symbol", "model_action", "model_confidence", "model_reasons"]
#: What the advice adds to a ``recommendations`` row (reasons as a JSON array of strings).
ROW_COLUMNS = ["model_action", "model_confidence", "model_reasons"]
_BARS_SQL = (
    'SELECT symbol, ts, "interval", open, high, low, close, volume, source, ingested_at '
    "FROM market_prices WHERE \"interval\" = '1d' AND dt >= :start_dt AND ts <= :cutoff"
)


def model_predictor(lake: Lake, policy: Policy) -> Predictor | None:
    """The predictor a run with ``policy`` uses: ``None`` for ``model=off``; otherwise the
    configured one (SageMaker endpoint or the current model in-process). No registered model
    is a one-line :class:`ModelError`."""
    if policy.model == "off":
        return None
    from rebalancer.model._registry import current_version

    if current_version(lake) is None:
        raise ModelError(
            f"policy model={policy.model} needs a registered model and none is: run "
            "`rebalancer train` (or use model=off)"
        )
    try:
        from rebalancer.model._predict import get_predictor
    except ImportError as exc:  # e.g. the API Lambda without the model extra or an endpoint
        raise ModelError(
            f"policy model={policy.model}: the model cannot load here ({exc})"
        ) from None
    return get_predictor(lake)


def feature_bars(lake: Lake, as_of: pd.Timestamp) -> pd.DataFrame:
    """The lake's daily bars the features query reads at ``as_of`` (its lookback window)."""
    from rebalancer.model._features import feature_params

    params = feature_params(as_of)
    return lake.query(_BARS_SQL, params={k: params[k] for k in ("start_dt", "cutoff")})


def advise(
    book: BookTables,
    bars: pd.DataFrame,
    as_of: pd.Timestamp,
    policy: Policy,
    predictor: Predictor,
    *,
    reasons: bool = True,
) -> pd.DataFrame:
    """Every sleeve of ``book`` scored in one predictor call (:data:`ADVICE_COLUMNS`).

    ``reasons=False`` (a batch run: it stores only traded sleeves) leaves ``model_reasons``
    None and keeps the sleeves' feature columns beside the advice, so :func:`explain_trades`
    can explain the traded ones afterwards: the actions and confidences do not change, and
    exact reasons cost far more than the prediction."""
    from rebalancer.model._features import book_features
    from rebalancer.model._predict import start_loading

    if book.accounts.empty:
        return pd.DataFrame(columns=ADVICE_COLUMNS)
    start_loading(predictor)  # XGBoost's import (seconds) overlaps the features query
    rows = book_features(_storable(book), bars, as_of, min_trade_value=policy.min_trade_value)
    scored = predictor.predict(rows, reasons=reasons)
    out = pd.DataFrame(
        {
            "account_id": rows["account_id"].astype(str).to_numpy(),
            "symbol": rows["symbol"].astype(str).to_numpy(),
            "model_action": scored["model_action"].astype(str).to_numpy(),
            "model_confidence": scored["model_confidence"].to_numpy(np.float64),
            "model_reasons": scored["model_reasons"].to_numpy(),
        },
        columns=ADVICE_COLUMNS,
    )
    if not reasons:
        features = [f for f in predictor.features if f not in out.columns]
        out = pd.concat([out, rows[features].reset_index(drop=True)], axis=1)
    return out


def explain_trades(
    advice: pd.DataFrame | None, trades: pd.DataFrame, predictor: Predictor | None
) -> pd.DataFrame | None:
    """``advice`` (from ``advise(..., reasons=False)``) with the reasons of the sleeves in
    ``trades`` filled in (one :meth:`Predictor.explain` call over those sleeves only, for the
    actions already predicted) and the feature columns dropped: what a run's rows show."""
    if advice is None or predictor is None:
        return advice
    features = [f for f in predictor.features if f in advice.columns]
    out = advice[ADVICE_COLUMNS].copy()
    if not features or trades.empty:
        return out
    traded = pd.MultiIndex.from_arrays(
        [trades["account_id"].astype(str), trades["symbol"].astype(str)]
    )
    keys = pd.MultiIndex.from_arrays([out["account_id"], out["symbol"]])
    at = np.flatnonzero(keys.isin(traded) & out["model_reasons"].isna().to_numpy())
    if at.size:
        rows = advice.iloc[at][["account_id", "symbol", *features]].reset_index(drop=True)
        explained = predictor.explain(rows, out["model_action"].to_numpy(object)[at].tolist())
        reasons = out["model_reasons"].to_numpy(object).copy()
        reasons[at] = _object_array(explained)
        out["model_reasons"] = reasons
    return out


def _object_array(items: list[list[str]]) -> np.ndarray:
    """A 1-d object array holding each list as one element (``np.asarray`` of equal-length
    lists would make a 2-d array)."""
    out = np.empty(len(items), dtype=object)
    for i, item in enumerate(items):
        out[i] = item
    return out


#: What a posted portfolio's empty, unread non-null column holds in the scratch lake.
_PLACEHOLDER: dict[str, object] = {
    "date": pd.Timestamp("1970-01-01").date(),
    "timestamp": pd.Timestamp("1970-01-01"),
    "double": 0.0,
    "bigint": 0,
    "int": 0,
    "boolean": False,
}


def _storable(book: BookTables) -> BookTables:
    """``book`` as the scratch lake stores it: a posted portfolio leaves ids the features do
    not read (``client_id``, ...) empty, and the table schemas refuse nulls there."""
    from rebalancer.lake import get_schema

    frames = {}
    for name, frame in book.frames().items():
        schema = get_schema(name)
        fill = {
            c.name: _PLACEHOLDER.get(c.type, "")
            for c in schema.columns
            if not c.nullable and c.name in frame.columns and frame[c.name].isna().any()
        }
        frames[name] = frame.fillna(fill) if fill else frame
    return BookTables.from_mapping(frames)


def gated_accounts(
    book: BookTables, prepared: Book, policy: Policy, *, chunk_size: int = CHUNK_SIZE
) -> list[str] | None:
    """The accounts whose pins count in a ``gate`` run (:func:`acting_accounts`: the rules
    act on them; the engine ignores a pin anywhere else); ``None`` (every account) for the
    other modes. A batch run scores only these: on a book where few accounts drift out of
    band, the model's cost follows the accounts the rules act on, not the book's size."""
    if policy.model != "gate" or book.accounts.empty:
        return None
    return acting_accounts(prepared, policy, chunk_size=chunk_size)


def _pin_mask(
    advice: pd.DataFrame, policy: Policy, acting: Collection[str] | None = None
) -> np.ndarray:
    """Per advice row: the gate holds it (HOLD at ``min_confidence`` or above, in an account
    of ``acting`` when given)."""
    if policy.model != "gate":
        return np.zeros(len(advice), dtype=bool)
    hold = (advice["model_action"] == "HOLD").to_numpy(bool) & (
        advice["model_confidence"].to_numpy(np.float64) >= policy.min_confidence
    )
    if acting is not None:
        hold &= member(advice["account_id"], acting)
    return hold


def pinned_sleeves(
    advice: pd.DataFrame | None, policy: Policy, acting: Collection[str] | None = None
) -> pd.DataFrame | None:
    """The sleeves ``gate`` pins: the model says HOLD with at least ``min_confidence`` (in an
    account of ``acting``, the ones the rules act on, when given)."""
    if policy.model != "gate" or advice is None:
        return None
    hold = _pin_mask(advice, policy, acting)
    return advice.loc[hold, ["account_id", "symbol"]].reset_index(drop=True)


def with_pins(
    advice: pd.DataFrame, policy: Policy, acting: Collection[str] | None = None
) -> pd.DataFrame:
    """``advice`` with a ``pinned`` column (True where the gate held the sleeve: see
    :func:`pinned_sleeves`)."""
    return advice.assign(pinned=_pin_mask(advice, policy, acting))


def _json_strings(texts: Iterable[str]) -> str:
    """``json.dumps(list(texts), ensure_ascii=False)`` for strings, the same text at half the
    cost (its string encoder, without building an encoder per call): a shard has ~30k rows."""
    return "[" + ", ".join(map(encode_basestring, texts)) + "]"


def advice_rows(trades: pd.DataFrame, advice: pd.DataFrame | None) -> pd.DataFrame:
    """``trades`` with the model's columns for their sleeves (reasons as a JSON array); all
    null without advice (``model=off``)."""
    if advice is None:
        return trades.assign(model_action=None, model_confidence=np.nan, model_reasons=None)
    keyed = advice.drop_duplicates(["account_id", "symbol"]).set_index(["account_id", "symbol"])
    index = pd.MultiIndex.from_arrays(
        [trades["account_id"].astype(str), trades["symbol"].astype(str)]
    )
    found = keyed.reindex(index)
    reasons = [
        _json_strings(r) if isinstance(r, list | tuple | np.ndarray) else None
        for r in found["model_reasons"].to_numpy()
    ]
    return trades.assign(
        model_action=found["model_action"].to_numpy(object),
        model_confidence=found["model_confidence"].to_numpy(np.float64),
        model_reasons=np.asarray(reasons, dtype=object),
    )


def action_counts(
    advice: pd.DataFrame | None, policy: Policy, acting: Collection[str] | None = None
) -> dict[str, int]:
    """``{SELL, HOLD, BUY, pinned}`` counts of one advice frame (empty without advice)."""
    if advice is None:
        return {}
    counts = {a: int((advice["model_action"] == a).sum()) for a in ("SELL", "HOLD", "BUY")}
    counts["pinned"] = int(_pin_mask(advice, policy, acting).sum())
    return counts
