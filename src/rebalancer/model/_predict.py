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

import json
import math
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
    ),
    "cash": (
        "cash_share", "cash_target", "cash_gap", "cash_band_ratio", "cash_gap_after_flow",
        "cash_band_ratio_after_flow",
    ),
    "cash_flow": ("flow_share",),
    "trade_size": ("gap_usd", "trade_vs_min", "gap_shares", "fractional", "log_account_value"),
    "tax": ("unrealized_share", "st_gain_share", "st_quantity_share", "is_taxable", "is_roth"),
    "market": ("vol_20", "vol_60", "vol_120", "mom_21", "mom_63", "mom_126"),
    "restriction": ("restricted", "do_not_trade", "loss_sale_30d", "buy_30d", "held"),
    "timing": ("days_since_rebalance",),
}  # fmt: skip


def _num(row: dict[str, float], name: str) -> float:
    value = row.get(name, math.nan)
    return float(value) if value is not None else math.nan


def reason_text(family: str, row: dict[str, float]) -> str:
    """The sentence for one reason family, from the row's feature values."""
    if family == "sleeve_drift":
        drift = _num(row, "drift")
        return (
            f"sleeve {abs(drift) * 100:.1f} points {'over' if drift >= 0 else 'under'} target "
            f"({_num(row, 'band_ratio'):.1f}x its band)"
        )
    if family == "account_drift":
        return f"account total drift {_num(row, 'account_drift') * 100:.1f} points"
    if family == "cash":
        gap = _num(row, "cash_gap")
        return f"cash {abs(gap) * 100:.1f} points {'above' if gap >= 0 else 'below'} target"
    if family == "cash_flow":
        flow = _num(row, "flow_share")
        kind = "deposit" if flow > 0 else "withdrawal" if flow < 0 else "no cash flow"
        return f"pending {kind} of {abs(flow) * 100:.1f}% of the account"
    if family == "trade_size":
        return f"the gap is worth ${_num(row, 'gap_usd'):,.0f}"
    if family == "tax":
        if _num(row, "st_gain_share") > 0:
            return "a short-term gain would be realized"
        return f"unrealized gain {_num(row, 'unrealized_share') * 100:.0f}% of the position"
    if family == "market":
        return f"63-day momentum {_num(row, 'mom_63') * 100:+.1f}%"
    if family == "restriction":
        for name, text in (
            ("do_not_trade", "do-not-trade"),
            ("restricted", "restricted"),
            ("loss_sale_30d", "wash-sale window"),
        ):
            if _num(row, name) > 0:
                return text
        return "not held yet" if _num(row, "held") == 0 else "no restriction"
    if family == "timing":
        return f"last rebalanced {_num(row, 'days_since_rebalance'):.0f} days ago"
    return family


def reason_codes(
    contributions: np.ndarray, features: Sequence[str], rows: pd.DataFrame
) -> list[list[str]]:
    """At most four reasons per row: reason families ranked by their summed contribution to
    the predicted class (positive only); ties broken by family name."""
    index = {f: i for i, f in enumerate(features)}
    members = {fam: [index[f] for f in names if f in index] for fam, names in FAMILIES.items()}
    members = {fam: cols for fam, cols in members.items() if cols}
    names = sorted(members)
    scores = np.column_stack([contributions[:, members[n]].sum(axis=1) for n in names])
    records = rows.to_dict("records")
    out: list[list[str]] = []
    for r, row in enumerate(records):
        order = sorted(range(len(names)), key=lambda j: (-round(scores[r, j], 9), names[j]))
        chosen = [names[j] for j in order if scores[r, j] > 0][:MAX_REASONS]
        out.append([f"{fam}: {reason_text(fam, row)}" for fam in chosen])
    return out


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
    result: dict[str, Any], features: Sequence[str], rows: pd.DataFrame
) -> pd.DataFrame:
    """The predictor's output frame from the inference script's JSON answer."""
    classes = list(result["classes"])
    proba = np.asarray(result["probabilities"], dtype=np.float64).reshape(len(rows), len(classes))
    predicted = np.asarray(result["predicted"], dtype=np.int64)
    contributions = np.asarray(result["contributions"], dtype=np.float64).reshape(
        len(rows), len(features) + 1
    )
    return _frame(classes, proba, predicted, contributions, features, rows)


def _frame(
    classes: list[str],
    proba: np.ndarray,
    predicted: np.ndarray,
    contributions: np.ndarray,
    features: Sequence[str],
    rows: pd.DataFrame,
) -> pd.DataFrame:
    """The output frame from the scoring arrays (both predictors end here)."""
    out = pd.DataFrame(
        {
            "model_action": [classes[i] for i in predicted],
            "model_confidence": proba[np.arange(len(rows)), predicted] if len(rows) else [],
            "model_reasons": reason_codes(contributions, features, rows),
        }
    )
    for j, name in enumerate(classes):
        out[f"p_{name}"] = proba[:, j]
    return out


@runtime_checkable
class Predictor(Protocol):
    """Scores feature rows (the features query's columns); returns one row per input row."""

    @property
    def version(self) -> str: ...

    @property
    def features(self) -> list[str]: ...

    def predict(self, rows: pd.DataFrame) -> pd.DataFrame: ...


class LocalPredictor:
    """The booster in-process, through the inference script's own scoring function on the
    feature matrix (the fast path: no CSV, no JSON)."""

    def __init__(self, model: LoadedModel) -> None:
        self._model = model

    @property
    def version(self) -> str:
        return self._model.version

    @property
    def features(self) -> list[str]:
        return self._model.features

    def predict(self, rows: pd.DataFrame) -> pd.DataFrame:
        """Score ``rows`` (see :class:`Predictor`)."""
        rows = rows.reset_index(drop=True)
        if rows.empty:
            return prediction_frame(_empty(self.features), self.features, rows)
        from rebalancer.model.serving import score_arrays  # xgboost: only where scoring

        matrix = feature_matrix(rows, self.features)
        try:
            classes, proba, predicted, contributions = score_arrays(
                matrix, self._model.booster, contributions=True
            )
        except ServingError as exc:
            raise ModelError(str(exc)) from None
        return _frame(classes, proba, predicted, contributions, self.features, rows)


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

    def predict(self, rows: pd.DataFrame) -> pd.DataFrame:
        """Score ``rows`` on the endpoint (see :class:`Predictor`)."""
        rows = rows.reset_index(drop=True)
        if rows.empty:
            return prediction_frame(_empty(self.features), self.features, rows)
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
        return prediction_frame(merged, self.features, rows)


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
    return LocalPredictor(load_model(lake))
