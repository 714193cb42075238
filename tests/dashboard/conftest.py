"""A small generated lake (60 accounts, a week of daily bars, one run) shared read-only by the
dashboard tests, a fresh copy for tests that write decisions, and AppTest helpers."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from rebalancer.lake import LocalLake
from tests.api.conftest import build_generated_lake

APP = Path(__file__).resolve().parents[2] / "src" / "dashboard" / "app.py"


@pytest.fixture(scope="session")
def dash_lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalLake, Any]]:
    """(lake, run result): the API tests' generated book, built once for the session."""
    lake, result = build_generated_lake(tmp_path_factory.mktemp("dash") / "lake")
    yield lake, result
    lake.close()


@pytest.fixture
def lake_copy(dash_lake: tuple[LocalLake, Any], tmp_path: Path) -> Iterator[LocalLake]:
    """A private copy of the generated lake (for tests that write)."""
    root = tmp_path / "copy"
    shutil.copytree(dash_lake[0].root, root)
    copy = LocalLake(root)
    yield copy
    copy.close()


def app_on(
    lake_root: str | Path,
    monkeypatch: pytest.MonkeyPatch,
    page: str | None = None,
    **query: str,
) -> AppTest:
    """The dashboard on ``lake_root``, run once, then switched to ``page`` (``views/x.py``)."""
    monkeypatch.setenv("REBALANCER_LAKE", str(lake_root))
    at = AppTest.from_file(str(APP), default_timeout=60)
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    if page is not None:
        at.switch_page(page)
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metrics(at: AppTest) -> dict[str, str]:
    """Metric label -> shown value."""
    return {m.label: m.value for m in at.metric}
