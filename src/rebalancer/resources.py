"""Where the project's data files (schemas/, sql/) live, installed or in a checkout.

They are single sources of truth shared with Terraform, so they stay at the repo root; a built
wheel or Lambda zip carries copies under ``rebalancer/_resources``.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent
_BUNDLED = _PACKAGE_DIR / "_resources"
_REPO_ROOT = _PACKAGE_DIR.parent.parent


def resource_dir(name: str) -> Path:
    """Directory of a resource tree (``schemas`` or ``sql``), bundled copy first."""
    for base in (_BUNDLED, _REPO_ROOT):
        candidate = base / name
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        f"resource directory {name!r} not found under {_BUNDLED} or {_REPO_ROOT}"
    )


def schemas_dir() -> Path:
    """The ``schemas/`` directory: one JSON file per lake table."""
    return resource_dir("schemas")


def sql_dir() -> Path:
    """The ``sql/`` directory: named Athena SQL (views, features, analyst queries)."""
    return resource_dir("sql")
