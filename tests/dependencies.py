"""Dependency closures read from ``uv.lock``, and Python run as if only some were installed.

The packaging tests ask "does this part of the code run with only these distributions?" without
building one environment per question: the closure of a set of requirements comes from the
lock's graph, its import names from the dev environment's metadata, and a child interpreter
refuses to import every name outside the closure (a ``ModuleNotFoundError``, exactly what a
missing distribution raises).
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from packaging.markers import Marker

REPO_ROOT = Path(__file__).resolve().parents[1]
PROJECT = "rebalancer"


def normalize(name: str) -> str:
    """PEP 503 normalised distribution name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def find_uv() -> str | None:
    """The uv executable (on PATH, or where ``make setup`` installs it)."""
    found = shutil.which("uv")
    if found:
        return found
    home = Path.home() / ".local" / "bin" / "uv"
    return str(home) if home.is_file() else None


@cache
def _lock() -> dict[str, dict[str, Any]]:
    lock = tomllib.loads((REPO_ROOT / "uv.lock").read_text())
    packages: dict[str, dict[str, Any]] = {}
    for package in lock["package"]:
        # A name may be locked twice (e.g. numpy per Python version): merge their edges.
        entry = packages.setdefault(
            normalize(package["name"]), {"dependencies": [], "optional-dependencies": {}}
        )
        entry["dependencies"] += package.get("dependencies", [])
        for extra, deps in package.get("optional-dependencies", {}).items():
            entry["optional-dependencies"].setdefault(extra, []).extend(deps)
    return packages


def _applies(edge: Mapping[str, Any]) -> bool:
    marker = edge.get("marker")
    return marker is None or Marker(marker).evaluate()


def closure(requirements: Iterable[tuple[str, Iterable[str]]]) -> set[str]:
    """Every distribution ``(name, extras)`` pulls in on this platform, by the lock's graph."""
    packages = _lock()
    seen: set[tuple[str, str | None]] = set()
    stack = [(normalize(name), extra) for name, extras in requirements for extra in (None, *extras)]
    while stack:
        name, extra = stack.pop()
        if (name, extra) in seen or name not in packages:
            continue
        seen.add((name, extra))
        entry = packages[name]
        edges = entry["dependencies"] if extra is None else entry["optional-dependencies"][extra]
        for edge in edges:
            if _applies(edge):
                child = normalize(edge["name"])
                stack += [(child, None), *((child, e) for e in edge.get("extra", []))]
    return {name for name, _ in seen} - {PROJECT}


def project_closure(extras: Iterable[str] = ()) -> set[str]:
    """What ``pip install 'rebalancer[<extras>]'`` installs (the project itself excluded)."""
    return closure([(PROJECT, tuple(extras))])


def project_extras() -> list[str]:
    """The project's extras, as locked."""
    return sorted(_lock()[PROJECT]["optional-dependencies"])


@cache
def _imports_by_distribution() -> dict[str, frozenset[str]]:
    by_dist: dict[str, set[str]] = {}
    for module, dists in importlib.metadata.packages_distributions().items():
        for dist in dists:
            by_dist.setdefault(normalize(dist), set()).add(module)
    return {dist: frozenset(modules) for dist, modules in by_dist.items()}


def import_names(distributions: Iterable[str]) -> set[str]:
    """Top-level import names the (installed) ``distributions`` provide."""
    names = _imports_by_distribution()
    return {module for dist in distributions for module in names.get(normalize(dist), ())}


def absent_imports(installed: set[str], universe: set[str]) -> set[str]:
    """Import names of ``universe - installed``, minus any name an installed one also provides."""
    return import_names(universe - installed) - import_names(installed)


_PRELUDE = """\
import importlib.abc, sys
# Names a .pth file imported at start-up (setuptools' _distutils_hack) stay importable.
_ABSENT = frozenset({absent!r}) - {{m.partition(".")[0] for m in sys.modules}}
class _Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in _ABSENT:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None
sys.meta_path.insert(0, _Absent())
"""


def run_without(
    absent: Iterable[str], code: str, *, cwd: Path, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a child of this interpreter where ``absent`` modules cannot be imported."""
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("REBALANCER_")}
    child_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-c", _PRELUDE.format(absent=sorted(absent)) + code],
        cwd=cwd,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
