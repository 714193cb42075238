"""Artifact and registry: ``models/<version>/`` in the lake, ``models/latest.json`` names one.

``model.tar.gz`` holds exactly one file, ``xgboost-model`` (SageMaker's XGBoost container
averages the predictions of every model file it finds, so one file it is), written as JSON;
the tar and gzip headers carry no time or owner, so the same booster gives the same bytes.
``metadata.json`` beside it records the version, the features in order, the classes, the
metrics, each feature's share of the split gain (``importance``), the split, the
training-data snapshot and the library versions; ``report.json``, ``report.md`` and PNG plots
are the evaluation report.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import platform
import tarfile
import tempfile
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rebalancer.errors import ModelError, NotFoundError
from rebalancer.lake import Lake
from rebalancer.lake._manifest import BlobStore
from rebalancer.model._decisions import ACTIONS
from rebalancer.model._report import report_files

if TYPE_CHECKING:  # xgboost is imported where a model is built or loaded, not to read metadata
    import xgboost as xgb

    from rebalancer.model._train import TrainedModel

#: The one file in ``model.tar.gz`` (also ``rebalancer.model.serving.MODEL_FILE``).
MODEL_FILE = "xgboost-model"

PREFIX = "models"
LATEST = f"{PREFIX}/latest.json"
ARCHIVE = "model.tar.gz"
METADATA = "metadata.json"


def blobs_of(lake: Lake) -> BlobStore:
    """The lake's raw object store (both lakes have one)."""
    blobs: BlobStore | None = getattr(lake, "blobs", None)
    if blobs is None:
        raise ModelError(f"{lake!r} has no object store for models")
    return blobs


def model_bytes(booster: xgb.Booster) -> bytes:
    """The booster saved as JSON (what ``xgboost-model`` holds)."""
    return bytes(booster.save_raw(raw_format="json"))


def pack(model: bytes) -> bytes:
    """``model.tar.gz`` holding exactly ``xgboost-model``; no time, owner or name recorded."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(MODEL_FILE)
        info.size, info.mode, info.mtime = len(model), 0o644, 0
        tar.addfile(info, io.BytesIO(model))
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def unpack(archive: bytes, directory: Path) -> Path:
    """Extract ``xgboost-model`` from ``model.tar.gz`` into ``directory`` (as SageMaker does);
    ModelError if the archive is corrupt or holds anything else."""
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
            members = tar.getmembers()
            names = [m.name for m in members]
            if names != [MODEL_FILE] or not members[0].isfile():
                raise ModelError(f"{ARCHIVE} must hold exactly one file {MODEL_FILE}, has {names}")
            tar.extractall(directory, filter="data")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ModelError(f"{ARCHIVE} is not a readable tar.gz ({exc})") from None
    return directory / MODEL_FILE


def new_version(model: bytes, now: datetime | None = None) -> str:
    """``YYYYMMDDTHHMMSSZ-<sha256 of the model, 8 hex>``: sortable, names its bytes."""
    when = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{when:%Y%m%dT%H%M%SZ}-{hashlib.sha256(model).hexdigest()[:8]}"


def feature_importance(booster: xgb.Booster, features: list[str]) -> dict[str, float]:
    """Each feature's share of the trees' total split gain (``get_score(importance_type=
    "total_gain")``), every feature listed (0.0 when never split on), largest first, summing
    to 1 (all zero for a model without splits). The dashboard's Model page shows it."""
    gains = {
        str(f): float(v)  # one number per feature for trees (lists only for linear boosters)
        for f, v in booster.get_score(importance_type="total_gain").items()
        if not isinstance(v, list)
    }
    total = sum(gains.values())
    shares = {f: (float(gains.get(f, 0.0)) / total if total > 0 else 0.0) for f in features}
    return dict(sorted(shares.items(), key=lambda kv: (-kv[1], kv[0])))


def metadata_for(trained: TrainedModel, version: str, snapshot: dict[str, Any]) -> dict[str, Any]:
    """The metadata document (features in order, classes, metrics, split, snapshot, versions)."""
    import numpy
    import pandas
    import xgboost as xgb

    from rebalancer import __version__
    from rebalancer.model._train import config_dict

    return {
        "version": version,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "features": list(trained.features),
        "classes": list(ACTIONS),
        "objective": "multi:softprob",
        "metrics": trained.metrics(),
        "evaluation": trained.evaluation,
        "importance": feature_importance(trained.booster, list(trained.features)),
        "split": trained.split,
        "training": {
            "config": config_dict(trained.config),
            "params": trained.config.params(),
            "rounds": trained.booster.num_boosted_rounds(),
            "rows": trained.rows,
            "sources": trained.sources,
        },
        "data_snapshot": snapshot,
        "libraries": {
            "xgboost": xgb.__version__,
            "numpy": numpy.__version__,
            "pandas": pandas.__version__,
            "python": platform.python_version(),
            "rebalancer": __version__,
        },
        "artifact": {"file": ARCHIVE, "members": [MODEL_FILE]},
    }


def register(
    lake: Lake,
    trained: TrainedModel,
    *,
    snapshot: dict[str, Any] | None = None,
    promote: bool = True,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Write ``models/<version>/`` (archive, metadata, report) and, with ``promote``, point
    ``models/latest.json`` at it. The archive is written before the metadata and the metadata
    before ``latest.json``: a reader never finds a version without its model."""
    blobs = blobs_of(lake)
    model = model_bytes(trained.booster)
    version = new_version(model, now)
    metadata = metadata_for(trained, version, snapshot or {})
    base = f"{PREFIX}/{version}"
    blobs.put(f"{base}/{ARCHIVE}", pack(model))
    for name, data in report_files(metadata).items():
        blobs.put(f"{base}/{name}", data)
    blobs.put(f"{base}/{METADATA}", _json(metadata))
    if promote:
        promote_version(lake, version)
    return metadata


def _json(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=False, default=str) + "\n").encode()


def _read_json(blobs: BlobStore, key: str) -> dict[str, Any] | None:
    raw = blobs.get(key)
    if raw is None:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        raise ModelError(f"{key} is not valid JSON") from None
    if not isinstance(data, dict):
        raise ModelError(f"{key} is not a JSON object")
    return data


def list_versions(lake: Lake) -> list[str]:
    """Registered versions (those with metadata), oldest first."""
    keys = blobs_of(lake).list_keys(f"{PREFIX}/")
    return sorted(k.split("/")[1] for k in keys if k.count("/") == 2 and k.endswith(f"/{METADATA}"))


def current_version(lake: Lake) -> str | None:
    """The version ``models/latest.json`` names, or None."""
    latest = _read_json(blobs_of(lake), LATEST)
    return None if latest is None else str(latest["version"])


def model_metadata(lake: Lake, version: str | None = None) -> dict[str, Any]:
    """One version's metadata (the current one by default); NotFoundError if none."""
    wanted = version or current_version(lake)
    if wanted is None:
        raise NotFoundError("no model registered: run `rebalancer train`")
    if "/" in wanted or "\\" in wanted or wanted in ("", ".", ".."):
        raise NotFoundError(f"no model version {wanted!r}")
    data = _read_json(blobs_of(lake), f"{PREFIX}/{wanted}/{METADATA}")
    if data is None:
        if not list_versions(lake):
            raise NotFoundError(f"no model registered: no version {wanted}")
        raise NotFoundError(f"no model version {wanted}")
    return data


def current_model(lake: Lake) -> dict[str, Any] | None:
    """The current model's metadata, or None when no model is registered."""
    try:
        return model_metadata(lake)
    except NotFoundError:
        return None


def promote_version(lake: Lake, version: str) -> dict[str, Any]:
    """Make ``version`` the current model (it must be registered)."""
    model_metadata(lake, version)
    pointer = {
        "version": version,
        "metadata": f"{PREFIX}/{version}/{METADATA}",
        "artifact": f"{PREFIX}/{version}/{ARCHIVE}",
        "promoted_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
    }
    blobs_of(lake).put(LATEST, _json(pointer))
    return pointer


@dataclass(frozen=True)
class LoadedModel:
    """A booster loaded as the SageMaker container loads it, with its metadata."""

    booster: xgb.Booster
    metadata: dict[str, Any]

    @property
    def version(self) -> str:
        return str(self.metadata["version"])

    @property
    def features(self) -> list[str]:
        return list(self.metadata["features"])


#: Boosters loaded in this process, by their archive's SHA-256 (newest last): a batch loads
#: the model once per shard and the per-class boosters of its reasons hang off the booster,
#: so reloading the same bytes cost seconds per shard. Keyed on the bytes, not the version,
#: so a replaced (or corrupted) archive is loaded (and refused) afresh.
_LOADED: dict[str, Any] = {}
_LOADED_MAX = 4
#: Guards :data:`_LOADED`: the API serves requests on threads, and two that miss at once
#: would each load the model (seconds) and could evict the same entry twice.
_LOADING = threading.Lock()


def load_model(lake: Lake, version: str | None = None) -> LoadedModel:
    """Unpack ``model.tar.gz`` and load it through the inference script's ``model_fn``
    (once per archive content per process); ModelError if the archive or model is corrupt
    or its features differ from the metadata."""
    from rebalancer.model.serving import ServingError, model_fn

    metadata = model_metadata(lake, version)
    key = f"{PREFIX}/{metadata['version']}/{ARCHIVE}"
    archive = blobs_of(lake).get(key)
    if archive is None:
        raise ModelError(f"model {metadata['version']}: {key} is missing")
    digest = hashlib.sha256(archive).hexdigest()
    with _LOADING:
        booster = _LOADED.get(digest)
        if booster is None:
            with tempfile.TemporaryDirectory(prefix="model-") as tmp:
                unpack(archive, Path(tmp))
                try:
                    booster = model_fn(tmp)
                except ServingError as exc:
                    raise ModelError(f"model {metadata['version']}: {exc}") from None
            _LOADED[digest] = booster
            while len(_LOADED) > _LOADED_MAX:
                _LOADED.pop(next(iter(_LOADED)))
    if list(booster.feature_names or []) != list(metadata["features"]):
        raise ModelError(
            f"model {metadata['version']}: the booster's features differ from metadata.json"
        )
    return LoadedModel(booster=booster, metadata=metadata)
