"""Build one reproducible deployment zip per Lambda function: ``make package``.

Each zip holds, at its root:

- ``lambdas/__init__.py`` and ``lambdas/<function>.py`` (the thin handler), or the
  ``lambdas/<function>/`` package's modules for a handler kept in a package (``shard_worker``);
- the ``rebalancer`` package from ``src/rebalancer``;
- ``rebalancer/_resources/schemas`` and ``rebalancer/_resources/sql``: copies of the repo's
  ``schemas/`` and ``sql/``, where :mod:`rebalancer.resources` looks first when bundled.

No tests, no caches, no bytecode. The same sources give the same bytes (see
:mod:`reproducible`), so Terraform's ``source_code_hash`` changes only with the code.
Third-party packages are not here: they come from the layers (``make layer``).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from build_layer import FUNCTION_CODE_BUDGET_BYTES
from reproducible import iter_tree, unzipped_size, write_checksum, write_zip

REPO_ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ("fetch_market_data", "compact", "rebalance_portfolio", "shard_worker")
"""The Lambda functions Terraform deploys; each has ``src/lambdas/<name>.py`` with ``handler``
(or a ``src/lambdas/<name>/`` package whose ``handler`` module has it)."""

RESOURCE_DIRS = {"schemas": ("*.json",), "sql": ("*.sql",)}
"""Repo-root data trees bundled under ``rebalancer/_resources``, and the files they carry."""

EXCLUDED_PACKAGE_PARTS = frozenset({"tests", "test", "_resources"})


class PackageError(Exception):
    """A function cannot be packaged (missing handler or sources)."""


@dataclass(frozen=True)
class Artifact:
    """One built zip: where it is, its sha256, its sizes."""

    path: Path
    sha256: str
    zipped_bytes: int
    unzipped_bytes: int
    entries: int


def collect(function: str, root: Path = REPO_ROOT) -> dict[str, Path]:
    """Archive name -> source file for one function's zip."""
    handler = root / "src" / "lambdas" / f"{function}.py"
    handler_package = root / "src" / "lambdas" / function
    if not handler.is_file() and not (handler_package / "__init__.py").is_file():
        raise PackageError(f"handler {handler.relative_to(root)} not found for {function!r}")
    package = root / "src" / "rebalancer"
    if not (package / "__init__.py").is_file():
        raise PackageError(f"{package} is not a Python package")

    entries: dict[str, Path] = {"lambdas/__init__.py": root / "src" / "lambdas" / "__init__.py"}
    if handler.is_file():
        entries[f"lambdas/{function}.py"] = handler
    else:
        for name, path in iter_tree(handler_package, prefix=f"lambdas/{function}/"):
            if name.endswith(".py"):
                entries[name] = path
    if not entries["lambdas/__init__.py"].is_file():
        raise PackageError("src/lambdas/__init__.py not found")

    for name, path in iter_tree(package, prefix="rebalancer/"):
        parts = Path(name).parts[1:-1]
        if any(part in EXCLUDED_PACKAGE_PARTS for part in parts):
            continue
        if Path(name).name.startswith("test_") or Path(name).name == "conftest.py":
            continue
        entries[name] = path

    for tree, patterns in RESOURCE_DIRS.items():
        source = root / tree
        if not source.is_dir():
            raise PackageError(f"resource directory {tree}/ not found under {root}")
        for name, path in iter_tree(source, prefix=f"rebalancer/_resources/{tree}/"):
            if any(Path(name).match(pattern) for pattern in patterns):
                entries[name] = path
    return entries


def build(function: str, out_dir: Path, root: Path = REPO_ROOT) -> Artifact:
    """Build ``<out_dir>/<function>.zip`` and its ``.sha256``."""
    entries = collect(function, root)
    destination = out_dir / f"{function}.zip"
    digest = write_zip(entries, destination)
    unzipped = unzipped_size(destination)
    if unzipped > FUNCTION_CODE_BUDGET_BYTES:
        destination.unlink()
        raise PackageError(
            f"{function} unzips to {unzipped:,d} bytes, over the {FUNCTION_CODE_BUDGET_BYTES:,d}"
            " bytes the layer size check budgets for function code"
        )
    write_checksum(destination, digest)
    return Artifact(destination, digest, destination.stat().st_size, unzipped, len(entries))


def main(argv: list[str] | None = None) -> int:
    """Command line: build the named functions (default: all) into ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("functions", nargs="*", default=list(FUNCTIONS), help="function names")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "dist" / "lambda")
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="repository root")
    args = parser.parse_args(argv)

    failed = False
    for function in args.functions:
        try:
            artifact = build(function, args.out, args.root)
        except PackageError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed = True
            continue
        print(
            f"{artifact.path}  {artifact.zipped_bytes:>9,d} bytes zipped  "
            f"{artifact.unzipped_bytes:>9,d} unzipped  "
            f"{artifact.entries:>4d} files  sha256 {artifact.sha256}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
