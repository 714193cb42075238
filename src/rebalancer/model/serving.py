"""The model's serving functions: one script for SageMaker and for the in-process predictor.

SageMaker's XGBoost image runs an entry script in *script mode* that defines ``model_fn``,
``input_fn``, ``predict_fn`` and ``output_fn``. This module is that script's body: it imports
only the standard library, numpy and xgboost (the image has nothing else), so the endpoint and
:class:`~rebalancer.model.LocalPredictor` run exactly the same code. The endpoint returns
probabilities AND the predicted class's feature contributions (``pred_contribs``) as JSON, so
reason codes exist on AWS too.

Request: ``text/csv``, no header, one row per holding, columns in the metadata's feature
order (empty field = missing). Response: ``application/json``
``{"classes": [...], "probabilities": [[...]], "predicted": [...], "contributions": [[...]]}``
where a contribution row is the predicted class's per-feature contribution plus the bias last.
"""

from __future__ import annotations

import io
import json
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # imported where a booster is loaded or scored: the API Lambda has no xgboost
    import xgboost as xgb

MODEL_FILE = "xgboost-model"
#: Booster attributes written at training time (saved inside the one model file).
ATTR_CLASSES = "rebalancer_classes"
ATTR_PRIOR = "rebalancer_prior_correction"
#: Per-class factors on the calibrated probabilities when picking the action (chosen on the
#: validation fold for macro-F1: rare SELL/BUY decisions are worth more than their prior).
ATTR_DECISION = "rebalancer_decision_scale"
#: How the reasons' contributions are computed: ``approx`` (XGBoost's ``approx_contribs``,
#: Saabas: each split's change in the margin along the row's path, the cost of a prediction)
#: or ``exact`` (TreeSHAP, ~100x dearer on depth-4 trees). Absent: ``exact`` (older models).
ATTR_REASONS = "rebalancer_reasons"
REASON_METHODS = ("approx", "exact")
CSV = "text/csv"
JSON = "application/json"


class ServingError(ValueError):
    """A request or model the serving functions cannot handle (message says why)."""


def load_booster(path: str) -> xgb.Booster:
    """The booster in ``path``; a corrupt or missing file is a ServingError naming it."""
    try:
        with open(path, "rb") as handle:  # noqa: PTH123 - the image has no rebalancer helpers
            data = handle.read()
    except OSError as exc:
        raise ServingError(f"cannot read model {path}: {exc.strerror or exc}") from None
    return booster_from_bytes(data, path)


def booster_from_bytes(data: bytes, name: str = "model") -> xgb.Booster:
    """A booster from the saved model's bytes (JSON or UBJSON); ServingError if corrupt or not
    a rebalancer model."""
    import xgboost as xgb

    booster = xgb.Booster()
    try:
        booster.load_model(bytearray(data))
    except (xgb.core.XGBoostError, OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ServingError(f"cannot load model {name}: {first[:200]}") from None
    if booster.attr(ATTR_CLASSES) is None:
        raise ServingError(f"model {name} has no {ATTR_CLASSES} attribute: not a rebalancer model")
    return booster


def model_fn(model_dir: str) -> xgb.Booster:
    """SageMaker: load the model from the unpacked ``model.tar.gz`` directory."""
    return load_booster(str(Path(model_dir) / MODEL_FILE))


def input_fn(request_body: str | bytes, request_content_type: str = CSV) -> np.ndarray:
    """SageMaker: a ``text/csv`` body (no header, empty = missing) as a float matrix."""
    if (request_content_type or CSV).split(";")[0].strip() != CSV:
        raise ServingError(f"content type {request_content_type!r} is not supported: use {CSV}")
    text = request_body.decode("utf-8") if isinstance(request_body, bytes) else request_body
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return np.zeros((0, 0), dtype=np.float64)
    width = lines[0].count(",") + 1
    try:
        data = np.genfromtxt(
            io.StringIO("\n".join(lines)), delimiter=",", dtype=np.float64, filling_values=np.nan
        )
    except ValueError as exc:
        raise ServingError(f"malformed CSV: {str(exc).splitlines()[0][:200]}") from None
    data = np.atleast_2d(data).reshape(len(lines), width) if data.size else data
    if data.shape != (len(lines), width):
        raise ServingError("malformed CSV: rows have different numbers of fields")
    return data


def predict_fn(input_data: np.ndarray, model: xgb.Booster) -> dict[str, Any]:
    """SageMaker: probabilities (prior-corrected, see training), the predicted class (the
    calibrated probabilities times the decision scale, argmax) and its feature
    contributions. A row width other than the model's feature count is refused."""
    return score(input_data, model, contributions=True)


def score(input_data: np.ndarray, model: xgb.Booster, *, contributions: bool) -> dict[str, Any]:
    """:func:`predict_fn`'s answer; without ``contributions`` (evaluation) the costly
    ``pred_contribs`` pass is skipped and ``contributions`` is empty."""
    classes, probs, predicted, chosen = score_arrays(input_data, model, contributions=contributions)
    return {
        "classes": classes,
        "probabilities": probs.tolist(),
        "predicted": predicted.tolist(),
        "contributions": chosen.tolist() if contributions else [],
    }


def score_arrays(
    input_data: np.ndarray, model: xgb.Booster, *, contributions: bool
) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """:func:`score` as arrays: ``(classes, probabilities, predicted, contributions)``, the
    floats rounded to 6 decimals exactly as the JSON answer carries them. The in-process
    predictor calls this on its float32 matrix directly (no CSV, no JSON): XGBoost stores
    float32 either way, so both paths see the same values. ``input_data`` of another float
    dtype is used as is; integers become float64."""
    classes = json.loads(model.attr(ATTR_CLASSES) or "[]")
    n_features = model.num_features()
    rows = np.asarray(input_data)
    if rows.dtype.kind != "f":
        rows = rows.astype(np.float64)
    if rows.size == 0:
        empty = np.zeros((0, len(classes)))
        return classes, empty, np.zeros(0, np.int64), np.zeros((0, n_features + 1))
    if rows.ndim != 2 or rows.shape[1] != n_features:
        raise ServingError(
            f"feature mismatch: the model takes {n_features} features, the request has "
            f"{rows.shape[1] if rows.ndim == 2 else 'a malformed'} column(s)"
        )
    # inplace_predict: no DMatrix copy of the rows (the width is checked above; the names are
    # the model's own order, which the caller's matrix follows by construction)
    raw = np.asarray(model.inplace_predict(rows, missing=np.nan, validate_features=False)).reshape(
        len(rows), len(classes)
    )
    prior = np.asarray(json.loads(model.attr(ATTR_PRIOR) or "null") or [1.0] * len(classes))
    probs = raw * prior
    probs /= probs.sum(axis=1, keepdims=True)
    scale = np.asarray(json.loads(model.attr(ATTR_DECISION) or "null") or [1.0] * len(classes))
    predicted = (probs * scale).argmax(axis=1)
    chosen: np.ndarray = np.zeros((len(rows), 0))
    if contributions:
        chosen = explain_arrays(rows, model, predicted)
    return classes, np.round(probs, 6), predicted, chosen


def explain_arrays(input_data: np.ndarray, model: xgb.Booster, predicted: np.ndarray) -> np.ndarray:
    """The contributions :func:`score_arrays` gives rows predicted as ``predicted`` (class
    indices), without predicting them again: an earlier call's actions explained later
    (a batch explains only the sleeves it trades). Rounded to 6 decimals as the JSON answer."""
    rows = np.asarray(input_data)
    if rows.dtype.kind != "f":
        rows = rows.astype(np.float64)
    if rows.ndim != 2 or rows.shape[1] != model.num_features():
        raise ServingError(
            f"feature mismatch: the model takes {model.num_features()} features, the request "
            f"has {rows.shape[1] if rows.ndim == 2 else 'a malformed'} column(s)"
        )
    return np.round(predicted_class_contributions(rows, model, np.asarray(predicted)), 6)


#: Per-class boosters of a loaded model (built once per booster, freed with it).
_CLASS_BOOSTERS: weakref.WeakKeyDictionary[Any, list[Any]] = weakref.WeakKeyDictionary()


def class_boosters(model: xgb.Booster) -> list[xgb.Booster]:
    """One booster per class holding only that class's trees (``tree_info == k``) as a
    regression model. Its exact TreeSHAP ``pred_contribs`` are the full multi-class model's
    contributions for class ``k`` (a tree only feeds its own class's margin), at a third of
    the cost: ``pred_contribs`` on the full model computes every class's. Empty if the model
    is not multi-class."""
    cached = _CLASS_BOOSTERS.get(model)
    if cached is not None:
        return cached
    import xgboost as xgb

    saved = json.loads(bytes(model.save_raw("json")))
    learner = saved["learner"]
    params = learner["learner_model_param"]
    gbm = learner["gradient_booster"]
    out: list[xgb.Booster] = []
    if int(params.get("num_class", "0")) > 1 and gbm.get("name") == "gbtree":
        base = json.loads(params["base_score"])
        trees, info = gbm["model"]["trees"], gbm["model"]["tree_info"]
        for k in range(int(params["num_class"])):
            # shallow copies down the path that changes (the trees are only re-numbered)
            own = (t for t, c in zip(trees, info, strict=True) if c == k)
            mine = [dict(t, id=i) for i, t in enumerate(own)]
            body = dict(
                gbm["model"],
                trees=mine,
                tree_info=[0] * len(mine),
                iteration_indptr=list(range(len(mine) + 1)),
                gbtree_model_param=dict(
                    gbm["model"]["gbtree_model_param"], num_trees=str(len(mine))
                ),
            )
            part = dict(
                saved,
                learner=dict(
                    learner,
                    learner_model_param=dict(
                        params,
                        num_class="0",
                        base_score=repr(float(base[k] if isinstance(base, list) else base)),
                    ),
                    gradient_booster=dict(gbm, model=body),
                    objective={
                        "name": "reg:squarederror", "reg_loss_param": {"scale_pos_weight": "1"}
                    },
                ),
            )  # fmt: skip
            booster = xgb.Booster()
            booster.load_model(bytearray(json.dumps(part).encode()))
            out.append(booster)
    _CLASS_BOOSTERS[model] = out
    return out


def reasons_method(model: xgb.Booster) -> str:
    """The model's :data:`ATTR_REASONS` (``exact`` when absent); anything else is refused."""
    method = model.attr(ATTR_REASONS) or "exact"
    if method not in REASON_METHODS:
        raise ServingError(f"model has {ATTR_REASONS}={method!r}: expected approx or exact")
    return method


#: Fewer rows than this get approximate contributions from one full-model pass, unless the
#: per-class boosters exist already: building them (~0.2 s, once per model and process) costs
#: more than the two thirds of a small pass they save (a daily run's shard explains ~30 rows).
FULL_PASS_ROWS = 4_096


def predicted_class_contributions(
    rows: np.ndarray, model: xgb.Booster, predicted: np.ndarray
) -> np.ndarray:
    """Contributions (features + bias) of each row's predicted class, by the model's
    :func:`reasons_method`: each class's booster scores only the rows predicted as that
    class (both methods are per tree, so a class's trees alone give its contributions)."""
    import xgboost as xgb

    n_features = model.num_features()
    approx = reasons_method(model) == "approx"
    few = approx and len(rows) < FULL_PASS_ROWS and model not in _CLASS_BOOSTERS
    parts = [] if few else class_boosters(model)
    if not parts:  # few rows, or not a multi-class gbtree: the full pass, then the class
        full = model.predict(
            xgb.DMatrix(rows, missing=np.nan, feature_names=model.feature_names),
            pred_contribs=True,
            approx_contribs=approx,
        ).reshape(len(rows), -1, n_features + 1)
        return full[np.arange(len(rows)), predicted, :].astype(np.float64)
    out = np.zeros((len(rows), n_features + 1))
    for k, booster in enumerate(parts):
        at = np.flatnonzero(predicted == k)
        if at.size:
            matrix = xgb.DMatrix(rows[at], missing=np.nan, feature_names=model.feature_names)
            out[at] = booster.predict(matrix, pred_contribs=True, approx_contribs=approx)
    return out


def output_fn(prediction: dict[str, Any], accept: str = JSON) -> tuple[str, str]:
    """SageMaker: the prediction as JSON (the only accept type)."""
    if (accept or JSON).split(";")[0].strip() not in (JSON, "*/*"):
        raise ServingError(f"accept type {accept!r} is not supported: use {JSON}")
    return json.dumps(prediction, separators=(",", ":")), JSON
