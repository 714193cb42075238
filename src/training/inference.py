"""SageMaker inference entry point (script mode, sagemaker-xgboost image ``3.2-0``).

The endpoint's container calls ``model_fn`` / ``input_fn`` / ``predict_fn`` / ``output_fn``;
they are :mod:`rebalancer.model.serving`'s, the very functions ``LocalPredictor`` runs
in-process. On the endpoint the rebalancer package is not installed: ``serving.py`` is shipped
beside this file (:data:`SOURCE_FILES`) and imported from there.
"""

from __future__ import annotations

from pathlib import Path

try:
    from rebalancer.model.serving import input_fn, model_fn, output_fn, predict_fn
except ImportError:  # pragma: no cover - on the endpoint, serving.py sits beside this file
    from serving import input_fn, model_fn, output_fn, predict_fn  # type: ignore[no-redef]

#: Files of the endpoint's source directory: this script and the serving module it imports.
SOURCE_FILES = (Path(__file__), Path(__file__).resolve().parents[1] / "rebalancer/model/serving.py")

__all__ = ["SOURCE_FILES", "input_fn", "model_fn", "output_fn", "predict_fn"]
