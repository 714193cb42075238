"""layers/package.py: function zips are complete, clean and byte-for-byte reproducible."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import build_layer
import numpy as np
import package
import pytest
import reproducible

REPO_ROOT = Path(__file__).resolve().parents[2]


def _fake_repo(root: Path) -> Path:
    """A minimal repo: a handler, a package with caches and tests, schemas and sql."""
    (root / "src" / "lambdas").mkdir(parents=True)
    (root / "src" / "lambdas" / "__init__.py").write_text("")
    (root / "src" / "lambdas" / "fetch_market_data.py").write_text(
        "def handler(e, c):\n    return 1\n"
    )
    (root / "src" / "lambdas" / "other.py").write_text("def handler(e, c):\n    return 2\n")
    pkg = root / "src" / "rebalancer"
    (pkg / "lake" / "__pycache__").mkdir(parents=True)
    (pkg / "tests").mkdir()
    (pkg / "__init__.py").write_text('"""pkg"""\n')
    (pkg / "lake" / "__init__.py").write_text("X = 1\n")
    (pkg / "lake" / "__pycache__" / "__init__.cpython-311.pyc").write_bytes(b"\x00cache")
    (pkg / "lake" / "stale.pyc").write_bytes(b"\x00stale")
    (pkg / "tests" / "test_x.py").write_text("def test(): pass\n")
    (pkg / "test_inline.py").write_text("def test(): pass\n")
    (pkg / "conftest.py").write_text("")
    (pkg / ".pytest_cache").mkdir()
    (pkg / ".pytest_cache" / "v").write_text("cache")
    (root / "schemas").mkdir()
    (root / "schemas" / "market_prices.json").write_text('{"name": "market_prices"}')
    (root / "schemas" / "notes.txt").write_text("not a schema")
    (root / "sql" / "views").mkdir(parents=True)
    (root / "sql" / "views" / "latest.sql").write_text("SELECT 1")
    return root


def _names(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as archive:
        return archive.namelist()


def test_zip_holds_handler_package_and_resources_only(tmp_path: Path) -> None:
    repo = _fake_repo(tmp_path / "repo")
    artifact = package.build("fetch_market_data", tmp_path / "out", repo)
    assert _names(artifact.path) == sorted(
        [
            "lambdas/__init__.py",
            "lambdas/fetch_market_data.py",
            "rebalancer/__init__.py",
            "rebalancer/_resources/schemas/market_prices.json",
            "rebalancer/_resources/sql/views/latest.sql",
            "rebalancer/lake/__init__.py",
        ]
    )


def test_same_sources_same_bytes(tmp_path: Path) -> None:
    repo = _fake_repo(tmp_path / "repo")
    first = package.build("fetch_market_data", tmp_path / "a", repo)
    # Different mtimes and permissions must not leak into the archive.
    handler = repo / "src" / "lambdas" / "fetch_market_data.py"
    os.utime(handler, (1_700_000_000, 1_700_000_000))
    handler.chmod(0o755)
    second = package.build("fetch_market_data", tmp_path / "b", repo)
    assert first.sha256 == second.sha256
    assert first.path.read_bytes() == second.path.read_bytes()
    assert reproducible.sha256_file(second.path) == second.sha256
    checksum = (tmp_path / "b" / "fetch_market_data.zip.sha256").read_text()
    assert checksum == f"{second.sha256}  fetch_market_data.zip\n"

    handler.write_text("def handler(e, c):\n    return 3\n")
    third = package.build("fetch_market_data", tmp_path / "c", repo)
    assert third.sha256 != first.sha256


def test_entries_have_fixed_dates_and_modes(tmp_path: Path) -> None:
    repo = _fake_repo(tmp_path / "repo")
    (repo / "src" / "lambdas" / "fetch_market_data.py").chmod(0o777)
    artifact = package.build("fetch_market_data", tmp_path / "out", repo)
    with zipfile.ZipFile(artifact.path) as archive:
        infos = archive.infolist()
    assert [i.filename for i in infos] == sorted(i.filename for i in infos)
    for info in infos:
        assert info.date_time == reproducible.FIXED_DATE_TIME
        assert stat.S_IMODE(info.external_attr >> 16) == 0o644, info.filename
        assert info.compress_type == zipfile.ZIP_DEFLATED


def test_missing_handler_is_an_error(tmp_path: Path) -> None:
    repo = _fake_repo(tmp_path / "repo")
    with pytest.raises(package.PackageError, match=r"src/lambdas/nope\.py not found"):
        package.build("nope", tmp_path / "out", repo)
    assert not (tmp_path / "out" / "nope.zip").exists()
    assert package.main(["nope", "--root", str(repo), "--out", str(tmp_path / "out")]) == 1


def test_missing_resources_are_an_error(tmp_path: Path) -> None:
    repo = _fake_repo(tmp_path / "repo")
    shutil.rmtree(repo / "sql")
    with pytest.raises(package.PackageError, match="sql/"):
        package.build("fetch_market_data", tmp_path / "out", repo)


def test_real_package_runs_from_the_zip_with_bundled_resources(tmp_path: Path) -> None:
    """The real rebalancer package, zipped, finds schemas/ and sql/ under _resources."""
    repo = tmp_path / "repo"
    shutil.copytree(REPO_ROOT / "src" / "rebalancer", repo / "src" / "rebalancer")
    shutil.copytree(REPO_ROOT / "schemas", repo / "schemas")
    shutil.copytree(REPO_ROOT / "sql", repo / "sql")
    (repo / "src" / "lambdas").mkdir()
    (repo / "src" / "lambdas" / "__init__.py").write_text("")
    (repo / "src" / "lambdas" / "probe.py").write_text(
        "from rebalancer.lake import get_schema\n"
        "from rebalancer.resources import schemas_dir, sql_dir\n\n"
        "def handler(event, context):\n"
        "    return [str(schemas_dir()), str(sql_dir()), get_schema('market_prices').name]\n"
    )
    artifact = package.build("probe", tmp_path / "out", repo)
    names = _names(artifact.path)
    assert "rebalancer/_resources/schemas/market_prices.json" in names
    assert any(n.startswith("rebalancer/_resources/sql/views/") for n in names)
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)

    extracted = tmp_path / "task"
    with zipfile.ZipFile(artifact.path) as archive:
        archive.extractall(extracted)
    result = subprocess.run(
        [sys.executable, "-c", "import lambdas.probe as p; print('|'.join(p.handler(None, None)))"],
        capture_output=True,
        text=True,
        check=False,
        cwd=extracted,
        env={**os.environ, "PYTHONPATH": str(extracted), "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert result.returncode == 0, result.stderr
    schemas, sql, table = result.stdout.strip().split("|")
    assert Path(schemas) == extracted / "rebalancer" / "_resources" / "schemas"
    assert Path(sql) == extracted / "rebalancer" / "_resources" / "sql"
    assert table == "market_prices"


def test_real_repo_zip_excludes_tests_and_caches(tmp_path: Path) -> None:
    """Packaging the real tree (with whatever caches the checkout has) stays clean."""
    entries = package.collect("rebalance_portfolio")
    assert {n for n in entries if n.startswith("lambdas/")} == {
        "lambdas/__init__.py",
        "lambdas/rebalance_portfolio.py",
    }
    assert "rebalancer/__init__.py" in entries
    assert "rebalancer/_resources/schemas/market_prices.json" in entries
    for name in entries:
        assert not reproducible.is_excluded(Path(name)), name
        assert "/tests/" not in name and not Path(name).name.startswith("test_"), name


def test_function_code_over_its_budget_is_an_error(tmp_path: Path) -> None:
    """The layer check budgets 1 MiB for function code; a bigger zip must not slip through."""
    repo = _fake_repo(tmp_path / "repo")
    big = repo / "src" / "rebalancer" / "data.bin"
    big.write_bytes(np.random.default_rng(0).bytes(build_layer.FUNCTION_CODE_BUDGET_BYTES))
    with pytest.raises(package.PackageError, match="over the"):
        package.build("fetch_market_data", tmp_path / "out", repo)
    assert not (tmp_path / "out" / "fetch_market_data.zip").exists()
    assert not (tmp_path / "out" / "fetch_market_data.zip.sha256").exists()


def test_shard_worker_package_is_zipped_and_imports_its_handler(tmp_path: Path) -> None:
    """The shard worker's handler lives in a package (``lambdas.shard_worker.handler``): its
    modules are zipped and Terraform's handler path resolves inside the zip."""
    entries = package.collect("shard_worker")
    assert {n for n in entries if n.startswith("lambdas/")} == {
        "lambdas/__init__.py",
        "lambdas/shard_worker/__init__.py",
        "lambdas/shard_worker/handler.py",
    }
    artifact = package.build("shard_worker", tmp_path / "out")
    extracted = tmp_path / "task"
    with zipfile.ZipFile(artifact.path) as archive:
        archive.extractall(extracted)
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import lambdas.shard_worker.handler as h; print(callable(h.handler))",
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=extracted,
        env={**os.environ, "PYTHONPATH": str(extracted), "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"
