"""layers/build_layer.py: pin selection, purity and size checks (the parts that need no network).

Building the real layer downloads wheels from PyPI, so it is ``make layer``'s job, not a test's;
the functions that decide what goes in and whether it fits are tested here.
"""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import build_layer
import pytest

from tests.dependencies import (
    absent_imports,
    closure,
    find_uv,
    project_closure,
    project_extras,
    run_without,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
MB = build_layer.MB


def test_parse_pins_reads_compiled_requirements() -> None:
    text = (
        "# comment\n"
        "Pydantic_Core==2.50.4\n"
        "    # via pydantic\n"
        "numpy==2.5.5 ; python_full_version >= '3.12'\n"
        "-e ./local\n"
        "yfinance==1.7.0\n"
    )
    assert build_layer.parse_pins(text) == {
        "pydantic-core": "2.50.4",
        "numpy": "2.5.5",
        "yfinance": "1.7.0",
    }


def test_select_pins_drops_what_the_managed_layer_provides() -> None:
    pins = {"numpy": "2", "pandas": "2", "boto3": "1", "yfinance": "1.7", "peewee": "4"}
    assert build_layer.select_pins(pins) == {"peewee": "4", "yfinance": "1.7"}


def _layer_requirements() -> set[str]:
    lines = (REPO_ROOT / "layers" / "requirements.txt").read_text().splitlines()
    return {build_layer.normalize(line) for line in lines if line and not line.startswith("#")}


def test_layer_requirements_are_project_dependencies_not_in_the_managed_layer() -> None:
    wanted = _layer_requirements()
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    lambda_deps = list(project["dependencies"])
    for extra in build_layer.LAMBDA_EXTRAS:
        lambda_deps += project["optional-dependencies"][extra]
    declared = {build_layer.normalize(re.split(r"[<>=!~\[ ;]", d)[0]) for d in lambda_deps}
    assert wanted <= declared, wanted - declared  # versions then come from uv.lock
    assert {"yfinance", "fastapi", "mangum", "aws-lambda-powertools"} <= wanted
    assert not wanted & build_layer.PROVIDED_BY_MANAGED_LAYER
    assert "duckdb" not in wanted  # 65 MB: would break the 250 MB budget
    assert not wanted & {"skfolio", "typer", "rich", "uvicorn", "xgboost-cpu", "streamlit"}


def test_the_layer_constraints_pin_every_layer_requirement() -> None:
    """``uv export`` (as the build runs it) pins each requirement, so none floats at build time."""
    uv = find_uv()
    if uv is None:
        pytest.skip("uv is not installed (make setup installs it)")
    exported = subprocess.run(
        build_layer.export_command(uv), capture_output=True, text=True, check=False, timeout=120
    )
    assert exported.returncode == 0, exported.stderr
    pinned = build_layer.parse_pins(exported.stdout)
    assert _layer_requirements() <= set(pinned), _layer_requirements() - set(pinned)
    assert {"boto3", "awswrangler"} <= set(pinned)  # constraints for the managed layer's too
    assert "streamlit" not in pinned and "xgboost-cpu" not in pinned  # no unrelated extras


def test_the_handlers_import_with_only_the_layers(tmp_path: Path) -> None:
    """Everything the core pulls in beyond the two layers (DuckDB, skfolio, typer, rich...) is
    made unimportable; the three handlers still import (the API app is built at import)."""
    in_layers = closure(
        (name, ()) for name in _layer_requirements() | build_layer.PROVIDED_BY_MANAGED_LAYER
    )
    absent = absent_imports(in_layers, project_closure(project_extras()))
    assert {"duckdb", "skfolio", "scipy", "typer", "rich", "uvicorn", "xgboost"} <= absent
    assert not {"yfinance", "fastapi", "mangum", "boto3", "awswrangler"} & absent
    code = (
        "import importlib\n"
        "for name in ('compact', 'fetch_market_data', 'rebalance_portfolio'):\n"
        "    importlib.import_module(f'lambdas.{name}')\n"
    )
    env = {"REBALANCER_LAKE": str(tmp_path / "lake"), "PYTHONPATH": str(REPO_ROOT / "src")}
    result = run_without(absent, code, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr


def test_size_limits() -> None:
    build_layer.check_sizes(15 * MB, 42 * MB)  # what the layer measures today
    with pytest.raises(build_layer.LayerError, match="50 MiB upload limit"):
        build_layer.check_sizes(50 * MB + 1, 60 * MB)
    room = build_layer.UNZIPPED_LIMIT_BYTES - build_layer.SDK_PANDAS_LAYER_BYTES
    build_layer.check_sizes(10 * MB, room - build_layer.FUNCTION_CODE_BUDGET_BYTES)
    with pytest.raises(build_layer.LayerError, match="over Lambda's 250 MiB"):
        build_layer.check_sizes(10 * MB, room - build_layer.FUNCTION_CODE_BUDGET_BYTES + 1)


def _dist(site: Path, name: str, wheel_tag: str, purelib: bool, record: str) -> None:
    info = site / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "WHEEL").write_text(
        f"Wheel-Version: 1.0\nRoot-Is-Purelib: {str(purelib).lower()}\nTag: {wheel_tag}\n"
    )
    (info / "RECORD").write_text(record)


def test_sdist_builds_must_be_pure_python(tmp_path: Path) -> None:
    site = tmp_path / "python"
    _dist(site, "multitasking", "py3-none-any", True, "multitasking/__init__.py,sha256=x,10\n")
    _dist(site, "peewee", "cp311-cp311-linux_x86_64", False, "peewee.py,sha256=x,10\n")
    _dist(site, "other", "cp312-cp312-manylinux_2_17_x86_64", False, "other/_c.so,sha256=x,10\n")
    build_layer.check_pure_python(site, {"multitasking"})
    build_layer.check_pure_python(site, {"other-not-built-from-sdist"})
    with pytest.raises(build_layer.LayerError, match="peewee built from sdist is not a pure"):
        build_layer.check_pure_python(site, {"peewee"})


def test_a_compiled_extension_in_a_pure_wheel_is_caught(tmp_path: Path) -> None:
    site = tmp_path / "python"
    _dist(site, "frozendict", "py3-none-any", True, "frozendict/_frozendict.so,sha256=x,10\n")
    with pytest.raises(build_layer.LayerError, match="compiled extension"):
        build_layer.check_pure_python(site, {"frozendict"})


def test_known_sdist_only_yfinance_deps_are_allowed_to_build() -> None:
    assert {"multitasking", "peewee", "frozendict"} <= build_layer.PURE_PYTHON_SDISTS
    assert build_layer.SDIST_BUILD_ENV["NO_SQLITE"] == "1"  # peewee without its C extension
    assert build_layer.PYTHON_VERSION == "3.12"
    assert build_layer.PYTHON_PLATFORM.startswith("x86_64-manylinux")


def test_strip_without_a_strip_binary_changes_nothing(tmp_path: Path) -> None:
    so = tmp_path / "python" / "lib.so"
    so.parent.mkdir()
    so.write_bytes(b"\x7fELF" + b"\x00" * 64)
    assert build_layer.strip_debug_info(tmp_path / "python", None) == 0
    assert so.read_bytes() == b"\x7fELF" + b"\x00" * 64
