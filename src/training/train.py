"""SageMaker training entry point (script mode, sagemaker-xgboost image): the model's training.

SageMaker runs ``python train.py --seed 7 --num_boost_round 500 ...`` with the training set
(Parquet UNLOADed by Athena) in ``SM_CHANNEL_TRAIN``; this calls the same
:func:`rebalancer.model.train` as ``rebalancer train`` and writes ``xgboost-model`` (the one
file of ``model.tar.gz``) and ``training.json`` (the facts the registry records). The logic is
in :mod:`rebalancer.model._container`; the light modules it imports are shipped beside this
file (``rebalancer.model._sagemaker_job.TRAINING_SOURCES``). Locally:
``python src/training/train.py --train DIR --model-dir DIR --output-data-dir DIR``.
"""

from __future__ import annotations

import sys

from rebalancer.model._container import main

if __name__ == "__main__":
    sys.exit(main())
