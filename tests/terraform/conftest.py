"""Parse the Terraform tree with python-hcl2 (v8 output format) for consistency tests.

python-hcl2 >= 7 keeps HCL's quotes on literal strings and block labels (``'"aws"'``), renders
expressions as ``"${...}"``, and adds ``__is_block__`` / ``__comments__`` keys. :func:`clean`
turns that into plain Python values; comments stay reachable through :func:`comments`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
TERRAFORM_DIR = REPO_ROOT / "terraform"
MODULE_NAMES = (
    "data_lake",
    "ingest",
    "rebalance_api",
    "model_endpoint",
    "batch_run",
    "model_training",
)
_META_KEYS = {"__is_block__", "__comments__"}


def unquote(value: str) -> str:
    """``'"abc"'`` -> ``'abc'``; expressions and bare words are returned as they are."""
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace('\\"', '"')
    return value


def clean(node: Any) -> Any:
    """python-hcl2 v8 output -> plain values: labels and strings unquoted, meta keys dropped."""
    if isinstance(node, dict):
        return {unquote(k): clean(v) for k, v in node.items() if k not in _META_KEYS}
    if isinstance(node, list):
        return [clean(item) for item in node]
    if isinstance(node, str):
        return unquote(node)
    return node


def comments(node: dict[str, Any]) -> list[str]:
    """The comments python-hcl2 attached to a block (inline and leading)."""
    return [c["value"] for c in node.get("__comments__", [])]


def is_expression(value: Any) -> bool:
    """True for an HCL expression rendered by python-hcl2 (``${...}``)."""
    return isinstance(value, str) and value.startswith("${") and value.endswith("}")


@dataclass
class Module:
    """One Terraform module directory: its blocks by kind, raw (with comments) per file."""

    path: Path
    files: dict[str, dict[str, Any]] = field(default_factory=dict)

    def blocks(self, kind: str) -> list[tuple[str, str, dict[str, Any]]]:
        """(type, name, raw body) for every ``resource`` or ``data`` block."""
        found = []
        for parsed in self.files.values():
            for entry in parsed.get(kind, []):
                for rtype, named in entry.items():
                    if rtype in _META_KEYS:
                        continue
                    for name, body in named.items():
                        if name in _META_KEYS:
                            continue
                        found.append((unquote(rtype), unquote(name), body))
        return found

    def resources(self, rtype: str) -> dict[str, dict[str, Any]]:
        """Raw bodies of the resources of one type, by name."""
        return {n: b for t, n, b in self.blocks("resource") if t == rtype}

    def data(self, dtype: str) -> dict[str, dict[str, Any]]:
        """Raw bodies of the data sources of one type, by name."""
        return {n: b for t, n, b in self.blocks("data") if t == dtype}

    @property
    def locals(self) -> dict[str, Any]:
        """Every local value of the module (raw)."""
        merged: dict[str, Any] = {}
        for parsed in self.files.values():
            for block in parsed.get("locals", []):
                merged.update({k: v for k, v in block.items() if k not in _META_KEYS})
        return merged

    @property
    def variables(self) -> dict[str, dict[str, Any]]:
        """Every variable of the module, cleaned, by name."""
        merged: dict[str, dict[str, Any]] = {}
        for parsed in self.files.values():
            for entry in parsed.get("variable", []):
                for name, body in entry.items():
                    if name not in _META_KEYS:
                        merged[unquote(name)] = clean(body)
        return merged

    @property
    def module_calls(self) -> dict[str, dict[str, Any]]:
        """``module`` blocks of the module, cleaned, by name."""
        calls: dict[str, dict[str, Any]] = {}
        for parsed in self.files.values():
            for entry in parsed.get("module", []):
                for name, body in entry.items():
                    if name not in _META_KEYS:
                        calls[unquote(name)] = clean(body)
        return calls

    def resolve_local(self, value: Any) -> Any:
        """Follow ``${local.x}`` references (one or more hops) to the local's raw value."""
        seen = 0
        while is_expression(value) and (m := re.fullmatch(r"\$\{local\.(\w+)\}", value)):
            value = self.locals[m[1]]
            seen += 1
            assert seen < 10, "local reference loop"
        return value


def parse_module(path: Path) -> Module:
    """Parse every ``*.tf`` file of a module directory."""
    module = Module(path)
    for tf in sorted(path.glob("*.tf")):
        with tf.open() as handle:
            module.files[tf.name] = hcl2.load(handle)
    return module


@pytest.fixture(scope="session")
def root() -> Module:
    """The root module (terraform/)."""
    return parse_module(TERRAFORM_DIR)


@pytest.fixture(scope="session")
def modules() -> dict[str, Module]:
    """The child modules by name."""
    return {name: parse_module(TERRAFORM_DIR / "modules" / name) for name in MODULE_NAMES}


@pytest.fixture(scope="session")
def all_modules(root: Module, modules: dict[str, Module]) -> dict[str, Module]:
    """Root and child modules by name (root as ``root``)."""
    return {"root": root, **modules}
