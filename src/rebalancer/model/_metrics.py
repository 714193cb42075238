"""Classification metrics, written once for the model, the baselines and the ceiling.

Plain numpy (no scikit-learn dependency): macro-F1, per-class precision and recall, the
confusion matrix, and calibration (reliability curve, expected calibration error).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from rebalancer.model._decisions import ACTIONS


def codes(labels: Sequence[str] | np.ndarray, classes: Sequence[str] = ACTIONS) -> np.ndarray:
    """Class labels as integer codes in ``classes`` order (ValueError on an unknown label)."""
    index = {c: i for i, c in enumerate(classes)}
    try:
        return np.fromiter((index[str(v)] for v in labels), dtype=np.int64, count=len(labels))
    except KeyError as exc:
        raise ValueError(f"unknown class label {exc.args[0]!r}") from None


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int = 3) -> np.ndarray:
    """Rows = true class, columns = predicted class (integer codes)."""
    out = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(out, (y_true, y_pred), 1)
    return out


def classification_report(
    y_true: np.ndarray, y_pred: np.ndarray, classes: Sequence[str] = ACTIONS
) -> dict[str, Any]:
    """Macro-F1, accuracy, per-class precision / recall / F1 / support, the confusion matrix.

    A class with no prediction has precision 0 (and F1 0): a baseline that never says SELL is
    scored as never finding a SELL.
    """
    matrix = confusion(y_true, y_pred, len(classes))
    tp = np.diag(matrix).astype(float)
    predicted = matrix.sum(axis=0).astype(float)
    support = matrix.sum(axis=1).astype(float)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    present = support > 0
    return {
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "accuracy": float(tp.sum() / max(1.0, support.sum())),
        "rows": int(support.sum()),
        "per_class": {
            c: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, c in enumerate(classes)
        },
        "confusion": matrix.tolist(),
    }


def calibration(
    y_true: np.ndarray, proba: np.ndarray, predicted: np.ndarray | None = None, bins: int = 10
) -> dict[str, Any]:
    """Calibration of the stated confidence (the probability of the predicted class, the top
    label by default): the reliability curve (mean confidence vs accuracy per confidence bin)
    and the expected calibration error (bin-size-weighted mean gap)."""
    chosen = proba.argmax(axis=1) if predicted is None else np.asarray(predicted)
    confidence = proba[np.arange(len(proba)), chosen]
    correct = (chosen == y_true).astype(float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    curve = []
    ece = 0.0
    for b in range(bins):
        mask = which == b
        if not mask.any():
            continue
        conf, acc = float(confidence[mask].mean()), float(correct[mask].mean())
        ece += mask.mean() * abs(conf - acc)
        curve.append({"bin": b, "confidence": conf, "accuracy": acc, "count": int(mask.sum())})
    return {"ece": float(ece), "reliability": curve}
