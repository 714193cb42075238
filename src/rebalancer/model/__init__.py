"""The advisor-action model (SELL / HOLD / BUY).

For now this package only fixes the XGBoost contract shared by training, the artifact metadata
and the Terraform SageMaker endpoint: the model is saved with XGBoost ``XGBOOST_VERSION`` and
served by SageMaker's built-in XGBoost image ``XGBOOST_IMAGE_TAG``. Keeping both in one place
lets a test prove the endpoint's image matches the library that wrote the model.
"""

from __future__ import annotations

XGBOOST_VERSION = "3.2"
"""Major.minor XGBoost version the model artifact is written with (``xgboost-cpu`` 3.2.x)."""

XGBOOST_IMAGE_TAG = "3.2-0"
"""Tag of SageMaker's prebuilt ``sagemaker-xgboost`` image that serves that version."""

__all__ = ["XGBOOST_IMAGE_TAG", "XGBOOST_VERSION"]
