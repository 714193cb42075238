"""The training job's side: what ``src/training/train.py`` runs inside SageMaker's XGBoost image.

Script mode: SageMaker copies the ``train`` channel (the Parquet files Athena UNLOADed from
``sql/features/training_set.sql``) to ``SM_CHANNEL_TRAIN``, runs the entry script with the
hyperparameters as ``--name value`` arguments, then tars ``SM_MODEL_DIR`` into
``model.tar.gz`` and ``SM_OUTPUT_DATA_DIR`` into ``output.tar.gz``. This calls the same
:func:`rebalancer.model._train.train` as ``rebalancer train``, writes the one file
``xgboost-model`` to the model directory and the facts the registry's ``metadata.json`` needs
(split, evaluation, config, rows) as ``training.json`` to the output directory.

The image has Python 3.10, numpy, pandas, pyarrow and xgboost, and no rebalancer install:
only this module, :mod:`rebalancer.model._train` and the light modules they import are
shipped beside the script (:data:`rebalancer.model._sagemaker_job.TRAINING_SOURCES`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rebalancer.model._train import TrainConfig, TrainedModel, prepare_training_frame, train

MODEL_FILE = "xgboost-model"
#: The output-data file the registration step reads (inside the job's ``output.tar.gz``).
TRAINING_FACTS = "training.json"
#: Row order the model is fitted in: the query's ORDER BY (UNLOAD writes files in any order).
ORDER = ["as_of", "account_id", "symbol"]


def read_training_files(directory: str | Path) -> pd.DataFrame:
    """Every Parquet file under ``directory`` (Athena names UNLOAD files without an extension;
    hidden and ``_``-prefixed markers are skipped) as one frame in the query's row order."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = Path(directory)
    files = sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and not p.name.startswith((".", "_")) and p.stat().st_size > 0
    )
    if not files:
        raise SystemExit(f"no training files under {root}")
    table = pa.concat_tables([pq.read_table(p) for p in files], promote_options="default")
    frame = prepare_training_frame(table.to_pandas())
    return frame.sort_values(ORDER, kind="stable").reset_index(drop=True)


def data_digest(data: pd.DataFrame) -> str:
    """sha256 of the training rows (as ``rebalancer train`` records it, the note left out)."""
    hashed = pd.util.hash_pandas_object(data.drop(columns=["note"], errors="ignore"), index=False)
    return hashlib.sha256(hashed.to_numpy().tobytes()).hexdigest()


def training_facts(trained: TrainedModel, data: pd.DataFrame) -> dict[str, Any]:
    """What the registry's metadata records, besides the model file itself."""
    return {
        "features": list(trained.features),
        "config": asdict(trained.config),
        "split": trained.split,
        "evaluation": trained.evaluation,
        "train_seconds": trained.train_seconds,
        "rows": trained.rows,
        "sources": trained.sources,
        "rounds": trained.booster.num_boosted_rounds(),
        "first_as_of": str(data["as_of"].min()),
        "last_as_of": str(data["as_of"].max()),
        "sha256": data_digest(data),
        "libraries": libraries(),
    }


def libraries() -> dict[str, str]:
    """Versions inside the job (the image's, recorded beside the registering machine's)."""
    import platform

    import pyarrow
    import xgboost

    return {
        "xgboost": xgboost.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "pyarrow": pyarrow.__version__,
        "python": platform.python_version(),
    }


def _config_type(name: str) -> type:
    default = getattr(TrainConfig(), name)
    return type(default)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Hyperparameters (every :class:`TrainConfig` field, ``--num_boost_round 500`` or
    ``--num-boost-round 500``) and the SageMaker directories (from ``SM_*`` by default)."""
    parser = argparse.ArgumentParser(description="Train the advisor-action model (script mode).")
    for f in fields(TrainConfig):
        parser.add_argument(
            f"--{f.name}", f"--{f.name.replace('_', '-')}", dest=f.name, type=_config_type(f.name)
        )
    parser.add_argument("--train", default=os.environ.get("SM_CHANNEL_TRAIN"))
    parser.add_argument("--model-dir", "--model_dir", default=os.environ.get("SM_MODEL_DIR"))
    parser.add_argument(
        "--output-data-dir", "--output_data_dir", default=os.environ.get("SM_OUTPUT_DATA_DIR")
    )
    args, _unknown = parser.parse_known_args(argv)  # SageMaker may pass more than ours
    for name in ("train", "model_dir", "output_data_dir"):
        if not getattr(args, name):
            parser.error(f"--{name.replace('_', '-')} (or its SM_* variable) is required")
    return args


def run(argv: list[str] | None = None) -> TrainedModel:
    """Read the channel, train, write ``xgboost-model`` and ``training.json``."""
    args = parse_args(argv)
    given = {f.name: getattr(args, f.name) for f in fields(TrainConfig)}
    config = TrainConfig(**{k: v for k, v in given.items() if v is not None})
    data = read_training_files(args.train)
    print(f"training on {len(data):,} rows, {data['as_of'].nunique()} dates", flush=True)
    trained = train(data, config)
    model_dir, output_dir = Path(args.model_dir), Path(args.output_data_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    output_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / MODEL_FILE).write_bytes(bytes(trained.booster.save_raw(raw_format="json")))
    facts = json.dumps(training_facts(trained, data), indent=2, default=_plain)
    (output_dir / TRAINING_FACTS).write_text(facts + "\n", encoding="utf-8")
    metrics = trained.metrics()
    print(
        f"macro_f1={metrics['macro_f1']:.4f} ece={metrics['ece']:.4f} "
        f"rounds={trained.booster.num_boosted_rounds()}",
        flush=True,
    )
    return trained


def main(argv: list[str] | None = None) -> int:
    """The entry script's body: train once. On failure the one-line reason also goes to
    ``SM_OUTPUT_DIR/failure``, which SageMaker reports as the job's FailureReason."""
    try:
        run(argv)
    except BaseException as exc:
        output = os.environ.get("SM_OUTPUT_DIR")
        if output and not isinstance(exc, SystemExit | KeyboardInterrupt):
            reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:1000]
            Path(output).mkdir(parents=True, exist_ok=True)
            (Path(output) / "failure").write_text(reason + "\n", encoding="utf-8")
        raise
    return 0


def _plain(value: Any) -> Any:
    """numpy scalars and timestamps as JSON values."""
    if isinstance(value, np.generic):
        return value.item()
    return str(value)
