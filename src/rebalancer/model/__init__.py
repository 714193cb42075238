"""The advisor-action model (SELL / HOLD / BUY): labels, features, training, serving.

* labels: the ``decisions`` table, written by the decision simulator
  (:func:`simulate`, advisors with latent documented styles plus noise), by
  :func:`import_decisions` (a firm's own history) and by the dashboard;
* features: one Athena SQL text, ``sql/features/holding_features.sql``, read through
  ``Lake.query`` for training and for one household alike (:func:`holding_features`).

The model is saved with XGBoost ``XGBOOST_VERSION`` and served by SageMaker's XGBoost image
``XGBOOST_IMAGE_TAG``; keeping both here lets a test prove the endpoint's image matches the
library that wrote the model.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

XGBOOST_VERSION = "3.2"
"""Major.minor XGBoost version the model artifact is written with (``xgboost-cpu`` 3.2.x)."""

XGBOOST_IMAGE_TAG = "3.2-0"
"""Tag of SageMaker's prebuilt ``sagemaker-xgboost`` image that serves that version."""

if TYPE_CHECKING:
    from rebalancer.model._decisions import (
        ACTIONS,
        SOURCES,
        ImportResult,
        decision_columns,
        import_decisions,
        parse_decisions_csv,
    )
    from rebalancer.model._features import (
        KEY_COLUMNS,
        book_features,
        feature_names,
        features_sql,
        holding_features,
        price_bars,
    )
    from rebalancer.model._metrics import calibration, classification_report, codes
    from rebalancer.model._predict import (
        LocalPredictor,
        Predictor,
        SageMakerPredictor,
        get_predictor,
        reason_codes,
    )
    from rebalancer.model._registry import (
        LoadedModel,
        current_model,
        list_versions,
        load_model,
        model_metadata,
        promote_version,
        register,
    )
    from rebalancer.model._simulate import (
        AdvisorStyle,
        SimulationConfig,
        SimulationResult,
        draw_styles,
        replay_dates,
        simulate,
        write_simulation,
    )
    from rebalancer.model._train import (
        TrainConfig,
        TrainedModel,
        model_features,
        split_dataset,
        train,
        training_set,
    )

#: Where each public name lives. Imported on first use (PEP 562): reading a model's metadata
#: (the API's model routes, on a Lambda without XGBoost) must not import XGBoost.
_LAZY: dict[str, str] = {
    "ACTIONS": "rebalancer.model._decisions",
    "AdvisorStyle": "rebalancer.model._simulate",
    "ImportResult": "rebalancer.model._decisions",
    "KEY_COLUMNS": "rebalancer.model._features",
    "LoadedModel": "rebalancer.model._registry",
    "LocalPredictor": "rebalancer.model._predict",
    "Predictor": "rebalancer.model._predict",
    "SOURCES": "rebalancer.model._decisions",
    "SageMakerPredictor": "rebalancer.model._predict",
    "SimulationConfig": "rebalancer.model._simulate",
    "SimulationResult": "rebalancer.model._simulate",
    "TrainConfig": "rebalancer.model._train",
    "TrainedModel": "rebalancer.model._train",
    "book_features": "rebalancer.model._features",
    "calibration": "rebalancer.model._metrics",
    "classification_report": "rebalancer.model._metrics",
    "codes": "rebalancer.model._metrics",
    "current_model": "rebalancer.model._registry",
    "decision_columns": "rebalancer.model._decisions",
    "draw_styles": "rebalancer.model._simulate",
    "feature_names": "rebalancer.model._features",
    "features_sql": "rebalancer.model._features",
    "get_predictor": "rebalancer.model._predict",
    "holding_features": "rebalancer.model._features",
    "import_decisions": "rebalancer.model._decisions",
    "list_versions": "rebalancer.model._registry",
    "load_model": "rebalancer.model._registry",
    "model_features": "rebalancer.model._train",
    "model_metadata": "rebalancer.model._registry",
    "parse_decisions_csv": "rebalancer.model._decisions",
    "price_bars": "rebalancer.model._features",
    "promote_version": "rebalancer.model._registry",
    "reason_codes": "rebalancer.model._predict",
    "register": "rebalancer.model._registry",
    "replay_dates": "rebalancer.model._simulate",
    "simulate": "rebalancer.model._simulate",
    "split_dataset": "rebalancer.model._train",
    "train": "rebalancer.model._train",
    "training_set": "rebalancer.model._train",
    "write_simulation": "rebalancer.model._simulate",
}


def __getattr__(name: str) -> Any:
    try:
        module = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "ACTIONS",
    "KEY_COLUMNS",
    "SOURCES",
    "XGBOOST_IMAGE_TAG",
    "XGBOOST_VERSION",
    "AdvisorStyle",
    "ImportResult",
    "LoadedModel",
    "LocalPredictor",
    "Predictor",
    "SageMakerPredictor",
    "SimulationConfig",
    "SimulationResult",
    "TrainConfig",
    "TrainedModel",
    "book_features",
    "calibration",
    "classification_report",
    "codes",
    "current_model",
    "decision_columns",
    "draw_styles",
    "feature_names",
    "features_sql",
    "get_predictor",
    "holding_features",
    "import_decisions",
    "list_versions",
    "load_model",
    "model_features",
    "model_metadata",
    "parse_decisions_csv",
    "price_bars",
    "promote_version",
    "reason_codes",
    "register",
    "replay_dates",
    "simulate",
    "split_dataset",
    "train",
    "training_set",
    "write_simulation",
]
