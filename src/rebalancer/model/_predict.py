"""Predictors: one protocol, two implementations, one factory.

:class:`LocalPredictor` scores in-process with the inference script's own scoring function
(:func:`~rebalancer.model.serving.score_arrays`) on the float32 feature matrix directly: no
CSV text, no JSON round trip (they cost more than the scoring itself on a whole book); the
:class:`SageMakerPredictor` sends the CSV the script's ``input_fn`` parses to an endpoint
running the same script (``predict_fn`` = the same scoring, ``output_fn`` = its JSON).
A test proves both give the same frame. Both return
the same frame: the model's action, its (calibrated) confidence, the class probabilities and
at most four reason codes from XGBoost's own contributions (``pred_contribs``).

The model advises; the engine decides. Nothing here makes a trade.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import math
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from rebalancer.config import Settings, get_settings
from rebalancer.errors import ModelError
from rebalancer.lake import Lake
from rebalancer.model._registry import LoadedModel, load_model, model_metadata
from rebalancer.model.serving import CSV, JSON, ServingError

MAX_REASONS = 4
#: SageMaker's real-time payload limit is 6 MB; batches stay well under it.
DEFAULT_MAX_PAYLOAD_BYTES = 5_000_000
PREDICTION_COLUMNS = ("model_action", "model_confidence", "model_reasons")
_RETRYABLE = frozenset({"ThrottlingException", "ServiceUnavailable", "InternalFailure"})

#: Reason families: the features whose contributions add up to one human reason.
FAMILIES: dict[str, tuple[str, ...]] = {
    "sleeve_drift": (
        "weight", "target", "drift", "rel_drift", "band_ratio", "drift_after_flow",
        "band_ratio_after_flow",
    ),
    "account_drift": (
        "account_max_band_ratio", "account_drift", "account_max_band_ratio_after_flow",
        "account_max_band_ratio_tradable", "account_max_band_ratio_no_st_gain",
    ),
    "cash": (
        "cash_share", "cash_target", "cash_gap", "cash_band_ratio", "cash_gap_after_flow",
        "cash_band_ratio_after_flow",
    ),
    "cash_flow": ("flow_share", "buy_fill_left", "buy_fill_left_usd", "sell_raise_left"),
    "trade_size": ("gap_usd", "trade_vs_min", "gap_shares", "fractional", "log_account_value"),
    "tax": ("unrealized_share", "st_gain_share", "st_quantity_share", "is_taxable", "is_roth"),
    "market": ("vol_20", "vol_60", "vol_120", "mom_21", "mom_63", "mom_126"),
    "restriction": ("restricted", "do_not_trade", "loss_sale_30d", "buy_30d", "held"),
    "timing": ("days_since_rebalance",),
}  # fmt: skip


def _column(rows: pd.DataFrame, name: str) -> np.ndarray:
    """A feature column as float64 (absent or None = NaN)."""
    if name not in rows.columns:
        return np.full(len(rows), math.nan)
    return rows[name].to_numpy(dtype=np.float64, na_value=math.nan)


def family_texts(family: str, rows: pd.DataFrame, at: np.ndarray) -> list[str]:
    """The sentence for one reason family on each row ``at`` (positions in ``rows``), from
    the rows' feature values; one column read per family, not one dict per row."""

    def v(name: str) -> list[float]:
        values: list[float] = _column(rows, name)[at].tolist()
        return values

    if family == "sleeve_drift":
        return [
            f"sleeve {abs(d) * 100:.1f} points {'over' if d >= 0 else 'under'} target "
            f"({b:.1f}x its band)"
            for d, b in zip(v("drift"), v("band_ratio"), strict=True)
        ]
    if family == "account_drift":
        return [f"account total drift {d * 100:.1f} points" for d in v("account_drift")]
    if family == "cash":
        return [
            f"cash {abs(g) * 100:.1f} points {'above' if g >= 0 else 'below'} target"
            for g in v("cash_gap")
        ]
    if family == "cash_flow":
        return [
            f"pending {'deposit' if f > 0 else 'withdrawal' if f < 0 else 'no cash flow'} of "
            f"{abs(f) * 100:.1f}% of the account"
            for f in v("flow_share")
        ]
    if family == "trade_size":
        return [f"the gap is worth ${g:,.0f}" for g in v("gap_usd")]
    if family == "tax":
        return [
            "a short-term gain would be realized"
            if st > 0
            else f"unrealized gain {u * 100:.0f}% of the position"
            for st, u in zip(v("st_gain_share"), v("unrealized_share"), strict=True)
        ]
    if family == "market":
        return [f"63-day momentum {m * 100:+.1f}%" for m in v("mom_63")]
    if family == "restriction":
        return [
            "do-not-trade"
            if dnt > 0
            else "restricted"
            if res > 0
            else "wash-sale window"
            if wash > 0
            else "not held yet"
            if held == 0
            else "no restriction"
            for dnt, res, wash, held in zip(
                v("do_not_trade"), v("restricted"), v("loss_sale_30d"), v("held"), strict=True
            )
        ]
    if family == "timing":
        return [f"last rebalanced {d:.0f} days ago" for d in v("days_since_rebalance")]
    return [family] * len(at)


def reason_text(family: str, row: dict[str, float]) -> str:
    """The sentence for one reason family, from one row's feature values."""
    frame = pd.DataFrame([{k: (math.nan if x is None else x) for k, x in row.items()}])
    return family_texts(family, frame, np.zeros(1, dtype=np.int64))[0]


def reason_codes(
    contributions: np.ndarray, features: Sequence[str], rows: pd.DataFrame
) -> list[list[str]]:
    """At most four reasons per row: reason families ranked by their summed contribution to
    the predicted class (positive only); ties (at 9 decimals) broken by family name.

    Vectorised: a stable argsort of the negated rounded family scores (families in name
    order, so a tie keeps name order), the positive ones kept up to :data:`MAX_REASONS`,
    then each family's sentences built from its columns for the rows that cite it."""
    index = {f: i for i, f in enumerate(features)}
    members = {fam: [index[f] for f in names if f in index] for fam, names in FAMILIES.items()}
    members = {fam: cols for fam, cols in members.items() if cols}
    names = sorted(members)
    n = len(rows)
    if n == 0 or not names:
        return [[] for _ in range(n)]
    scores = np.column_stack([contributions[:, members[name]].sum(axis=1) for name in names])
    order = np.argsort(-np.round(scores, 9), axis=1, kind="stable")
    positive = np.take_along_axis(scores > 0, order, axis=1)
    keep = positive & (np.cumsum(positive, axis=1) <= MAX_REASONS)
    texts = np.empty(order.shape, dtype=object)
    for j, name in enumerate(names):
        at = np.flatnonzero((keep & (order == j)).any(axis=1))
        if at.size:
            cited = np.asarray([f"{name}: {t}" for t in family_texts(name, rows, at)], object)
            rank = np.argmax(order[at] == j, axis=1)
            texts[at, rank] = cited
    flat: list[str] = texts[keep].tolist()  # row-major: each row's reasons in rank order
    ends = np.cumsum(keep.sum(axis=1)).tolist()
    return [flat[a:b] for a, b in zip([0, *ends[:-1]], ends, strict=True)]


def _check_features(frame: pd.DataFrame, features: Sequence[str]) -> None:
    """A missing feature column is a ModelError naming it: the request and the model disagree."""
    missing = [f for f in features if f not in frame.columns]
    if missing:
        raise ModelError(
            f"feature mismatch: the request lacks {', '.join(missing[:5])}"
            + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        )


def feature_matrix(frame: pd.DataFrame, features: Sequence[str]) -> np.ndarray:
    """The rows as a float32 matrix in the model's feature order (NaN = missing): what the
    booster stores anyway, so it equals the parsed CSV's values after XGBoost's conversion."""
    _check_features(frame, features)
    return np.ascontiguousarray(frame[list(features)].to_numpy(np.float32))


def rows_csv(frame: pd.DataFrame, features: Sequence[str]) -> list[str]:
    """One ``text/csv`` line per row, no header, in the model's feature order (empty = missing).
    A missing feature column is a ModelError naming it: the request and the model disagree."""
    _check_features(frame, features)
    values = frame[list(features)].to_numpy(np.float64)
    return [",".join("" if math.isnan(v) else repr(float(v)) for v in row) for row in values]


def prediction_frame(
    result: dict[str, Any], features: Sequence[str], rows: pd.DataFrame, *, reasons: bool = True
) -> pd.DataFrame:
    """The predictor's output frame from the inference script's JSON answer (without
    ``reasons`` the contributions are not read and ``model_reasons`` is None)."""
    classes = list(result["classes"])
    proba = np.asarray(result["probabilities"], dtype=np.float64).reshape(len(rows), len(classes))
    predicted = np.asarray(result["predicted"], dtype=np.int64)
    contributions = (
        np.asarray(result["contributions"], dtype=np.float64).reshape(len(rows), len(features) + 1)
        if reasons
        else None
    )
    return _frame(classes, proba, predicted, contributions, features, rows)


def _frame(
    classes: list[str],
    proba: np.ndarray,
    predicted: np.ndarray,
    contributions: np.ndarray | None,
    features: Sequence[str],
    rows: pd.DataFrame,
) -> pd.DataFrame:
    """The output frame from the scoring arrays (both predictors end here); no
    ``contributions``: ``model_reasons`` is None on every row (not explained)."""
    out = pd.DataFrame(
        {
            "model_action": np.asarray(classes, dtype=object)[predicted],
            "model_confidence": proba[np.arange(len(rows)), predicted] if len(rows) else [],
            "model_reasons": (
                reason_codes(contributions, features, rows)
                if contributions is not None
                else [None] * len(rows)
            ),
        }
    )
    for j, name in enumerate(classes):
        out[f"p_{name}"] = proba[:, j]
    return out


@runtime_checkable
class Predictor(Protocol):
    """Scores feature rows (the features query's columns); returns one row per input row.

    ``reasons=False`` skips the reason codes (``model_reasons`` None): the action and the
    confidence are the same either way, and the contributions cost far more than the
    prediction (exact TreeSHAP), so a batch explains only the sleeves its output shows, with
    :meth:`explain` (the reasons ``predict`` would have given those rows)."""

    @property
    def version(self) -> str: ...

    @property
    def features(self) -> list[str]: ...

    def predict(self, rows: pd.DataFrame, *, reasons: bool = True) -> pd.DataFrame: ...

    def explain(self, rows: pd.DataFrame, actions: Sequence[str]) -> list[list[str]]: ...


class LocalPredictor:
    """The booster in-process, through the inference script's own scoring function on the
    feature matrix (the fast path: no CSV, no JSON)."""

    def __init__(self, model: LoadedModel) -> None:
        self._loaded: LoadedModel | None = model
        self._metadata = model.metadata
        self._load: Callable[[], LoadedModel] = lambda: model

    @classmethod
    def on_first_use(cls, lake: Lake, metadata: dict[str, Any]) -> LocalPredictor:
        """The model ``metadata`` names, its booster loaded when first used. Nothing is
        imported here: a process that only plans a run (its shard workers score) never
        imports XGBoost (~3 s of CPU); whoever scores starts the import in the background
        first (:func:`prefetch_xgboost`: the advice, a shard's staging), so it overlaps the
        reads and the features query. A corrupt archive is a ModelError at that first use."""
        version = str(metadata["version"])
        predictor = cls.__new__(cls)
        predictor._loaded = None
        predictor._metadata = metadata
        predictor._load = lambda: load_model(lake, version)
        return predictor

    @property
    def _model(self) -> LoadedModel:
        if self._loaded is None:
            self._loaded = self._load()
        return self._loaded

    @property
    def version(self) -> str:
        return str(self._metadata["version"])

    @property
    def features(self) -> list[str]:
        return list(self._metadata["features"])

    def predict(self, rows: pd.DataFrame, *, reasons: bool = True) -> pd.DataFrame:
        """Score ``rows`` (see :class:`Predictor`)."""
        rows = rows.reset_index(drop=True)
        if rows.empty:
            return prediction_frame(_empty(self.features), self.features, rows, reasons=reasons)
        from rebalancer.model.serving import score_arrays  # xgboost: only where scoring

        matrix = feature_matrix(rows, self.features)
        try:
            classes, proba, predicted, contributions = score_arrays(
                matrix, self._model.booster, contributions=reasons
            )
        except ServingError as exc:
            raise ModelError(str(exc)) from None
        chosen = contributions if reasons else None
        return _frame(classes, proba, predicted, chosen, self.features, rows)

    def explain(self, rows: pd.DataFrame, actions: Sequence[str]) -> list[list[str]]:
        """The reason codes ``predict(rows)`` gives, for the ``actions`` an earlier
        ``predict`` returned for these rows: each row's class contributions only, no second
        prediction."""
        rows = rows.reset_index(drop=True)
        if len(actions) != len(rows):
            raise ModelError(f"explain: {len(actions)} actions for {len(rows)} rows")
        if rows.empty:
            return []
        from rebalancer.model.serving import ATTR_CLASSES, explain_arrays

        classes = json.loads(self._model.booster.attr(ATTR_CLASSES) or "[]")
        given = np.asarray(actions, dtype=object).astype(str)  # one pass, not a dict per row
        predicted = pd.Index(classes).get_indexer(given).astype(np.int64)
        if (predicted < 0).any():
            unknown = sorted(set(given[predicted < 0].tolist()))
            raise ModelError(f"explain: {unknown[0]!r} is not one of the model's {classes}")
        try:
            contributions = explain_arrays(
                feature_matrix(rows, self.features), self._model.booster, predicted
            )
        except ServingError as exc:
            raise ModelError(str(exc)) from None
        return reason_codes(contributions, self.features, rows)


def _empty(features: Sequence[str]) -> dict[str, Any]:
    return {"classes": ["SELL", "HOLD", "BUY"], "probabilities": [], "predicted": [],
            "contributions": []}  # fmt: skip


class SageMakerPredictor:
    """A SageMaker endpoint running the same inference script (``text/csv`` in, JSON out).

    ``client`` is a boto3 ``sagemaker-runtime`` client (its timeouts come from its botocore
    config); rows are sent in batches under ``max_payload_bytes``; a throttled or failing
    call is retried ``retries`` times with backoff, then a :class:`ModelError` names the
    endpoint and the reason.
    """

    def __init__(
        self,
        client: Any,
        endpoint: str,
        metadata: dict[str, Any],
        *,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
        retries: int = 2,
        backoff_seconds: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self.endpoint = endpoint
        self._metadata = metadata
        self._max = max_payload_bytes
        self._retries = retries
        self._backoff = backoff_seconds
        self._sleep = sleep

    @property
    def version(self) -> str:
        return str(self._metadata["version"])

    @property
    def features(self) -> list[str]:
        return list(self._metadata["features"])

    def batches(self, lines: list[str]) -> list[str]:
        """CSV bodies, each under the payload limit (a single larger row is refused)."""
        bodies: list[str] = []
        current: list[str] = []
        size = 0
        for line in lines:
            need = len(line.encode()) + 1
            if need > self._max:
                raise ModelError(f"one row is {need} bytes, over the {self._max}-byte payload")
            if current and size + need > self._max:
                bodies.append("\n".join(current))
                current, size = [], 0
            current.append(line)
            size += need
        if current:
            bodies.append("\n".join(current))
        return bodies

    def _invoke(self, body: str) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError

        last = ""
        for attempt in range(self._retries + 1):
            try:
                response = self._client.invoke_endpoint(
                    EndpointName=self.endpoint, ContentType=CSV, Accept=JSON, Body=body.encode()
                )
                payload = response["Body"].read()
                result: dict[str, Any] = json.loads(payload)
                return result
            except ClientError as exc:
                error = exc.response.get("Error", {})
                code = str(error.get("Code", "ClientError"))
                last = f"{code}: {error.get('Message', '')}".strip()
                status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
                if not (status == 429 or status >= 500 or code in _RETRYABLE):
                    break  # a bad request or the script's refusal: retrying cannot help
            except BotoCoreError as exc:  # unreachable endpoint, timeout
                last = " ".join(str(exc).split())
            except ValueError:
                last = "the endpoint's answer is not JSON"
                break
            if attempt < self._retries:
                self._sleep(self._backoff * 2**attempt)
        raise ModelError(f"SageMaker endpoint {self.endpoint}: {last[:300]}")

    def predict(self, rows: pd.DataFrame, *, reasons: bool = True) -> pd.DataFrame:
        """Score ``rows`` on the endpoint (see :class:`Predictor`; the endpoint's answer
        always carries the contributions, ``reasons=False`` only skips the reason texts)."""
        rows = rows.reset_index(drop=True)
        if rows.empty:
            return prediction_frame(_empty(self.features), self.features, rows, reasons=reasons)
        bodies = self.batches(rows_csv(rows, self.features))
        parts: list[dict[str, Any]] = [self._invoke(body) for body in bodies]
        merged = {
            "classes": parts[0]["classes"],
            "probabilities": [p for part in parts for p in part["probabilities"]],
            "predicted": [p for part in parts for p in part["predicted"]],
            "contributions": [c for part in parts for c in part["contributions"]],
        }
        if len(merged["predicted"]) != len(rows):
            raise ModelError(
                f"SageMaker endpoint {self.endpoint}: {len(merged['predicted'])} answers "
                f"for {len(rows)} rows"
            )
        return prediction_frame(merged, self.features, rows, reasons=reasons)

    def explain(self, rows: pd.DataFrame, actions: Sequence[str]) -> list[list[str]]:
        """The reason codes of ``rows`` for ``actions`` (see :class:`Predictor`): the endpoint
        explains the class it predicts, so the rows are scored again and an action that
        differs from the one given (another model behind the endpoint) is a ModelError."""
        rows = rows.reset_index(drop=True)
        if len(actions) != len(rows):
            raise ModelError(f"explain: {len(actions)} actions for {len(rows)} rows")
        if rows.empty:
            return []
        scored = self.predict(rows, reasons=True)
        given = np.asarray([str(a) for a in actions], dtype=object)
        differ = np.flatnonzero(scored["model_action"].to_numpy(object) != given)
        if differ.size:
            raise ModelError(
                f"SageMaker endpoint {self.endpoint}: row {int(differ[0])} is now "
                f"{scored['model_action'].iloc[differ[0]]}, was {given[differ[0]]}: "
                "the model changed during the run"
            )
        return [list(r) for r in scored["model_reasons"]]


def get_predictor(lake: Lake, settings: Settings | None = None, *, client: Any = None) -> Predictor:
    """The predictor the settings describe: the SageMaker endpoint when
    ``REBALANCER_SAGEMAKER_ENDPOINT`` is set (the current model's metadata gives the feature
    order), otherwise the current model in-process."""
    settings = settings or get_settings()
    if settings.sagemaker_endpoint:
        metadata = model_metadata(lake)
        if client is None:
            import boto3
            from botocore.config import Config

            client = boto3.client(
                "sagemaker-runtime",
                region_name=settings.region,
                config=Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 0}),
            )
        return SageMakerPredictor(client, settings.sagemaker_endpoint, metadata)
    return LocalPredictor.on_first_use(lake, model_metadata(lake))


def start_loading(predictor: Predictor) -> None:
    """Start XGBoost's import in the background if ``predictor`` scores in this process (a
    SageMaker predictor needs no XGBoost): called where scoring is about to happen, so the
    import overlaps the features query."""
    if isinstance(predictor, LocalPredictor):
        prefetch_xgboost()


_prefetch_lock = threading.Lock()
_prefetching: list[threading.Thread] = []


def prefetch_xgboost(*, scoring_only: bool = False) -> None:
    """Import XGBoost in a daemon thread, once per process (nothing if it is imported). A
    thread that needs it meanwhile waits on Python's import lock for the same module, so
    the import happens once either way; a failure is left to that thread's own import.

    ``scoring_only``: a process that only scores (a shard worker) imports it without its
    scikit-learn wrappers (:func:`import_xgboost_for_scoring`)."""
    if "xgboost" in sys.modules:
        return
    with _prefetch_lock:
        if _prefetching:
            return
        target = import_xgboost_for_scoring if scoring_only else _import_xgboost
        thread = threading.Thread(target=target, name="prefetch-xgboost", daemon=True)
        _prefetching.append(thread)
        thread.start()


def _import_xgboost() -> None:
    with contextlib.suppress(Exception):
        importlib.import_module("xgboost")


def import_xgboost_for_scoring() -> None:
    """Import XGBoost without scikit-learn, in a process that only scores boosters.

    ``xgboost.compat`` imports scikit-learn when it is installed (for ``XGBClassifier``
    and friends), and scikit-learn imports most of SciPy: ~2 s of a ~2.6 s import, paid by
    every shard worker. ``Booster``, ``DMatrix`` and ``inplace_predict`` do not use it, so
    during this import ``sklearn`` reads as absent (``xgboost.compat`` then defines its own
    stand-ins, as without scikit-learn); ``sklearn`` itself stays importable afterwards.
    Only for a process that never uses XGBoost's scikit-learn API (its ``XGBClassifier``
    would say scikit-learn is missing): nothing if XGBoost or scikit-learn is imported."""
    if "xgboost" in sys.modules or "sklearn" in sys.modules:
        return
    sys.modules["sklearn"] = None  # type: ignore[assignment]  # "import sklearn" fails
    try:
        with contextlib.suppress(Exception):
            importlib.import_module("xgboost")
    finally:
        if sys.modules.get("sklearn", ...) is None:
            del sys.modules["sklearn"]
