"""Launch the model's SageMaker training job (thin; the logic is
:mod:`rebalancer.model._sagemaker_job`).

``python src/training/sagemaker_job.py [--role-arn ARN] [--rounds N] ...`` is
``rebalancer train --on sagemaker ...``: Athena UNLOADs ``sql/features/training_set.sql`` to
Parquet, a training job runs ``train.py`` (the same training as ``rebalancer train``) on the
``sagemaker-xgboost`` image, and its artifact is registered under ``models/<version>/``.
Needs the ``aws`` and ``model`` extras and the aws backend (``REBALANCER_BACKEND=aws``).

``python src/training/sagemaker_job.py --package-inference PATH`` writes the endpoint's
``sourcedir.tar.gz`` (``inference.py`` + ``serving.py``) that Terraform uploads.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    """Package the inference script, or hand the arguments to ``rebalancer train``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--package-inference"]:
        if len(args) != 2:
            print("usage: sagemaker_job.py --package-inference PATH", file=sys.stderr)
            return 2
        from rebalancer.model._sagemaker_job import inference_sourcedir

        target = Path(args[1])
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(inference_sourcedir())
        print(target)
        return 0
    from rebalancer.cli import run

    sys.argv = ["rebalancer", "train", "--on", "sagemaker", *args]
    run()
    return 0  # pragma: no cover - run() exits


if __name__ == "__main__":
    sys.exit(main())
