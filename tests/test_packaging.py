"""Packaging: what the wheel ships, which extras pull what, and that a core install runs.

The wheel is built for real (``uv build``) from a copy of the sources that also holds a
``src/training`` and a ``src/dashboard``, so the test holds once those entry points exist. A core
install is checked twice: fast, by running the core in a child interpreter that cannot import
anything outside the core's locked dependency closure; and for real, by installing the wheel
with only its core dependencies into a fresh venv (from uv's cache, offline).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from rebalancer import _optional
from rebalancer.errors import ConfigError
from tests.dependencies import (
    REPO_ROOT,
    absent_imports,
    find_uv,
    import_names,
    normalize,
    project_closure,
    project_extras,
    run_without,
)

CORE = {
    "numpy",
    "pandas",
    "pyarrow",
    "duckdb",
    "sqlglot",
    "pydantic",
    "pydantic-settings",
    "typer",
    "rich",
    "skfolio",
}
"""What the local lake, engine, book, market (synthetic + bundled history), config and CLI need."""

EXTRAS = {
    "aws": {"boto3", "awswrangler", "aws-lambda-powertools"},
    "yfinance": {"yfinance"},
    "api": {"fastapi", "mangum", "uvicorn"},
    "model": {"xgboost-cpu", "xgboost", "scikit-learn"},
    "sagemaker": {"boto3"},
    "dashboard": {"streamlit", "authlib", "plotly"},
    "bench": {"pyportfolioopt", "bt"},
}
"""Each runtime extra's own distributions (``dev`` is the test tools plus all runtime extras)."""

ENTRY_POINT_PACKAGES = ("lambdas", "training", "dashboard")

CORE_MODULES = (
    "rebalancer.config",
    "rebalancer.errors",
    "rebalancer.lake",
    "rebalancer.engine",
    "rebalancer.book",
    "rebalancer.market",
    "rebalancer.cli",
)


def _uv() -> str:
    uv = find_uv()
    if uv is None:
        pytest.skip("uv is not installed (make setup installs it)")
    return uv


def _run(
    cmd: list[str], cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=300
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel ``uv build`` makes from the sources, with a training and a dashboard beside."""
    root = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md", ".gitignore"):
        shutil.copy2(REPO_ROOT / name, root / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for tree in ("src", "schemas", "sql"):
        shutil.copytree(REPO_ROOT / tree, root / tree, ignore=ignore)
    for package in ENTRY_POINT_PACKAGES:
        (root / "src" / package).mkdir(exist_ok=True)
        (root / "src" / package / "__init__.py").write_text('"""entry points"""\n')
        (root / "src" / package / "app.py").write_text("def main() -> None: ...\n")
    out = root / "dist"
    uv = _uv()
    command = [uv, "build", "--wheel", "--out-dir", str(out), str(root)]
    built = _run([*command, "--offline"])  # hatchling from uv's cache, when it is there
    if built.returncode != 0:
        built = _run(command)
    assert built.returncode == 0, built.stderr
    (path,) = out.glob("rebalancer-*.whl")
    return path


def _names(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def _metadata(wheel: Path) -> tuple[list[str], list[Requirement]]:
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        message = Parser().parsestr(archive.read(name).decode())
    extras = message.get_all("Provides-Extra") or []
    return extras, [Requirement(line) for line in message.get_all("Requires-Dist") or []]


def _wanted_by(requirements: list[Requirement], extra: str | None) -> set[str]:
    """Distributions a requirement list pulls in for ``extra`` (None: the core), any platform."""
    wanted = set()
    for req in requirements:
        envs = [{"extra": extra or "", "sys_platform": p} for p in ("linux", "darwin", "win32")]
        if req.marker is None:
            applies = extra is None
        else:
            applies = any(req.marker.evaluate(env) for env in envs)
        if applies:
            wanted.add(normalize(req.name))
    return wanted


def test_wheel_ships_the_library_and_its_resources_not_the_entry_points(wheel: Path) -> None:
    names = _names(wheel)
    tops = {name.split("/", 1)[0] for name in names}
    assert tops == {"rebalancer", wheel.name.split("-py3")[0] + ".dist-info"}, tops
    for entry in ENTRY_POINT_PACKAGES:
        assert not [n for n in names if n.startswith(f"{entry}/")], entry

    package = REPO_ROOT / "src" / "rebalancer"
    sources = {
        "rebalancer/" + path.relative_to(package).as_posix()
        for path in package.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }
    assert sources <= set(names), sorted(sources - set(names))
    assert "rebalancer/market/default_universe.csv" in names
    schemas = {
        f"rebalancer/_resources/schemas/{p.name}" for p in (REPO_ROOT / "schemas").glob("*.json")
    }
    sql = {
        f"rebalancer/_resources/sql/{p.relative_to(REPO_ROOT / 'sql').as_posix()}"
        for p in (REPO_ROOT / "sql").rglob("*.sql")
    }
    assert schemas and sql
    assert schemas | sql <= set(names), sorted((schemas | sql) - set(names))
    assert not [n for n in names if n.endswith(".pyc") or "/tests/" in n or "/test_" in n]


def test_wheel_metadata_puts_each_dependency_in_its_extra(wheel: Path) -> None:
    extras, requirements = _metadata(wheel)
    assert set(extras) == {*EXTRAS, "dev"}
    assert _wanted_by(requirements, None) == CORE

    runtime = set()
    for extra, own in EXTRAS.items():
        pulled = _wanted_by(requirements, extra) - CORE
        assert pulled == own, (extra, pulled)
        if extra != "bench":
            runtime |= own
    dev = _wanted_by(requirements, "dev")
    assert runtime <= dev, runtime - dev  # the tests exercise every runtime extra
    assert {"pytest", "moto", "mypy", "ruff"} <= dev

    by_name = {normalize(r.name): r for r in requirements}
    assert "fastapi" not in _wanted_by(requirements, "aws") | _wanted_by(requirements, "model")
    assert by_name["xgboost-cpu"].specifier.contains("3.2.1")  # SageMaker image tag 3.2-0
    assert not by_name["xgboost-cpu"].specifier.contains("3.3.0")
    assert not by_name["xgboost-cpu"].specifier.contains("3.1.3")
    assert "auth" in by_name["streamlit"].extras
    assert not by_name["authlib"].specifier.contains("2.0.0")


def test_the_lock_matches_the_extras() -> None:
    """uv.lock was regenerated after pyproject changed: the same extras, the same members."""
    assert project_extras() == sorted({*EXTRAS, "dev"})
    core = project_closure()
    assert core >= CORE
    via_skfolio = {"scikit-learn", "plotly"}  # the core's bundled history already pulls these
    for extra, own in EXTRAS.items():
        installed = own - {"xgboost"} if sys.platform != "darwin" else own - {"xgboost-cpu"}
        assert installed <= project_closure([extra]), extra
        assert not installed & (core - via_skfolio), extra  # the core stays free of the extras


def test_every_optional_import_belongs_to_the_extra_it_names() -> None:
    for module, extra in _optional.EXTRAS.items():
        providers = {d for d in EXTRAS[extra] if module in import_names([d])}
        assert providers, f"{module} is not provided by any distribution of [{extra}]"


def test_require_names_the_extra_when_the_package_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "yfinance", None)  # what an absent distribution looks like
    with pytest.raises(ConfigError, match=r"rebalancer\[yfinance\]"):
        _optional.require("yfinance")


def test_require_keeps_the_traceback_of_a_broken_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "brokenextra").mkdir()
    (tmp_path / "brokenextra" / "__init__.py").write_text("import dependency_nobody_installed\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(_optional.EXTRAS, "brokenextra", "api")
    with pytest.raises(ModuleNotFoundError, match="dependency_nobody_installed"):
        _optional.require("brokenextra")


def test_the_core_runs_without_any_extra(tmp_path: Path) -> None:
    """Import the core and drive the CLI where nothing outside the core closure imports."""
    absent = absent_imports(project_closure(), project_closure(project_extras()))
    assert {"boto3", "fastapi", "yfinance", "xgboost", "streamlit", "uvicorn"} <= absent
    lake = tmp_path / "lake"
    code = f"""
import importlib, sys
for module in {CORE_MODULES!r}:
    importlib.import_module(module)
from rebalancer.cli import run
def cli(*args):
    sys.argv = ["rebalancer", "--lake", {str(lake)!r}, *args]
    try:
        run()
    except SystemExit as exc:
        return exc.code
    return 0
assert cli("--help") == 0
assert cli("query", "SELECT 41 + 1 AS answer") == 0
print("yfinance exit", cli("ingest", "--source", "yfinance"))
"""
    result = run_without(absent, code, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "answer" in result.stdout and "42" in result.stdout
    assert "yfinance exit 2" in result.stdout, result.stdout
    (line,) = [line for line in result.stderr.splitlines() if line.strip()]  # one line
    assert line.startswith("error: yfinance is not installed") and "'yfinance' extra" in line


@pytest.mark.slow
def test_a_fresh_venv_with_the_core_only_runs_the_cli(wheel: Path, tmp_path: Path) -> None:
    """The wheel + its locked core dependencies, from uv's cache, in a new venv (~10 s)."""
    uv = _uv()
    lock_dir = tmp_path / "lock"
    lock_dir.mkdir()
    pylock = lock_dir / "pylock.core.toml"
    exported = _run(
        [uv, "export", "--frozen", "--no-emit-project", "--format", "pylock.toml",
         "--quiet", "--output-file", str(pylock), "--project", str(REPO_ROOT)]
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    venv = tmp_path / "venv"
    made = _run([uv, "venv", "--quiet", "--python", "3.11", str(venv)])
    assert made.returncode == 0, made.stderr
    python = str(venv / "bin" / "python")
    for args in (["-r", str(pylock)], ["--no-deps", str(wheel)]):
        installed = _run([uv, "pip", "install", "--quiet", "--offline", "--python", python, *args])
        if installed.returncode != 0 and "offline" in installed.stderr.lower():
            pytest.skip(f"a core dependency is not in uv's cache: {installed.stderr.strip()}")
        assert installed.returncode == 0, installed.stderr

    listed = _run([uv, "pip", "list", "--python", python, "--format", "freeze"])
    dists = {normalize(line.split("==")[0]) for line in listed.stdout.splitlines() if line}
    assert dists == project_closure() | {"rebalancer"}, dists ^ (project_closure() | {"rebalancer"})

    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path)}
    probe = (
        "import importlib, importlib.util\n"
        f"for m in {CORE_MODULES!r}: importlib.import_module(m)\n"
        "from rebalancer.resources import schemas_dir\n"
        "print(schemas_dir())\n"
        f"print([p for p in {ENTRY_POINT_PACKAGES!r} if importlib.util.find_spec(p)])\n"
    )
    probed = _run([python, "-c", probe], cwd=tmp_path, env=env)
    assert probed.returncode == 0, probed.stderr
    schemas, entry_points = probed.stdout.splitlines()
    assert Path(schemas).is_relative_to(venv) and Path(schemas, "market_prices.json").is_file()
    assert entry_points == "[]"

    rebalancer = str(venv / "bin" / "rebalancer")
    helped = _run([rebalancer, "--help"], cwd=tmp_path, env=env)
    assert helped.returncode == 0 and "recommend" in helped.stdout, helped.stderr
    queried = _run(
        [rebalancer, "--lake", str(tmp_path / "lake"), "query", "SELECT 41 + 1 AS answer"],
        cwd=tmp_path,
        env=env,
    )
    assert queried.returncode == 0 and "42" in queried.stdout, queried.stderr
