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

XGBOOST_VERSION = "3.2"
"""Major.minor XGBoost version the model artifact is written with (``xgboost-cpu`` 3.2.x)."""

XGBOOST_IMAGE_TAG = "3.2-0"
"""Tag of SageMaker's prebuilt ``sagemaker-xgboost`` image that serves that version."""

# isort: off
from rebalancer.model._decisions import (  # noqa: E402
    ACTIONS,
    SOURCES,
    ImportResult,
    decision_columns,
    import_decisions,
    parse_decisions_csv,
)
from rebalancer.model._features import (  # noqa: E402
    KEY_COLUMNS,
    book_features,
    feature_names,
    features_sql,
    holding_features,
    price_bars,
)
from rebalancer.model._metrics import calibration, classification_report, codes  # noqa: E402
from rebalancer.model._predict import (  # noqa: E402
    LocalPredictor,
    Predictor,
    SageMakerPredictor,
    get_predictor,
    reason_codes,
)
from rebalancer.model._registry import (  # noqa: E402
    LoadedModel,
    current_model,
    list_versions,
    load_model,
    model_metadata,
    promote_version,
    register,
)
from rebalancer.model._train import (  # noqa: E402
    TrainConfig,
    TrainedModel,
    model_features,
    split_dataset,
    train,
    training_set,
)
from rebalancer.model._simulate import (  # noqa: E402
    AdvisorStyle,
    SimulationConfig,
    SimulationResult,
    draw_styles,
    replay_dates,
    simulate,
    write_simulation,
)

# isort: on

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
