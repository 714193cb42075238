"""The model behind the entry points: the API's model routes return the registered model's
metadata (without importing XGBoost, as on the API Lambda), and one household is scored with
the same features SQL and predictor as the batch path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pandas as pd
import pytest

from rebalancer.api import create_app
from rebalancer.book import BookTables
from rebalancer.config import Settings
from rebalancer.errors import NotFoundError
from rebalancer.lake import LocalLake
from rebalancer.model import LocalPredictor, holding_features, load_model, price_bars
from rebalancer.usecases import get_model, score_household
from tests.api.conftest import running
from tests.model.conftest import BOOK_START

KEY = "model-test-key-" + "m" * 24


def copy_models(source: LocalLake, target: LocalLake) -> None:
    for key in source.blobs.list_keys("models/"):
        target.blobs.put(key, source.blobs.get(key))  # type: ignore[arg-type]


def test_model_routes(sim_lake: LocalLake, registered: dict, tmp_path: Path) -> None:
    empty = LocalLake(tmp_path / "empty")
    with running(create_app(Settings(lake=empty.root, api_key=KEY), lake=empty)) as url:
        none = httpx.get(f"{url}/v1/models/current", headers={"X-API-Key": KEY}, timeout=30)
        assert none.status_code == 404 and "no model registered" in none.json()["detail"]
    with running(create_app(Settings(lake=sim_lake.root, api_key=KEY), lake=sim_lake)) as url:
        current = httpx.get(f"{url}/v1/models/current", headers={"X-API-Key": KEY}, timeout=30)
        assert current.status_code == 200
        body = current.json()
        assert body["version"] == get_model(sim_lake)["version"]
        assert body["features"] == registered["features"]
        assert body["classes"] == ["SELL", "HOLD", "BUY"]
        assert body["metrics"]["macro_f1"] == pytest.approx(
            get_model(sim_lake)["metrics"]["macro_f1"]
        )
        one = httpx.get(
            f"{url}/v1/models/{registered['version']}", headers={"X-API-Key": KEY}, timeout=30
        )
        assert one.status_code == 200 and one.json()["version"] == registered["version"]
        missing = httpx.get(f"{url}/v1/models/nope", headers={"X-API-Key": KEY}, timeout=30)
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("application/problem+json")
        assert httpx.get(f"{url}/v1/models/current", timeout=30).status_code == 401


def test_metadata_reads_without_xgboost(sim_lake: LocalLake, registered: dict) -> None:
    """The API Lambda ships without XGBoost: its model routes read metadata only."""
    code = (
        "import sys; sys.modules['xgboost'] = None\n"
        "from rebalancer.lake import LocalLake\n"
        "from rebalancer.usecases import get_model\n"
        "import rebalancer.api.app\n"
        f"print(get_model(LocalLake({sim_lake.root!r}), {registered['version']!r})['version'])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == registered["version"]


def test_score_household(
    sim_lake: LocalLake, registered: dict, book: BookTables, panel: pd.DataFrame, tmp_path: Path
) -> None:
    lake = LocalLake(tmp_path / "lake")
    lake.write("market_prices", price_bars(panel.loc["2022-10-01":BOOK_START]), name="bars")
    for name, frame in book.frames().items():
        lake.write(name, frame, name="book")
    copy_models(sim_lake, lake)
    as_of = BOOK_START + pd.Timedelta(days=1)
    account = str(book.accounts["account_id"].iloc[3])
    household = str(book.accounts["household_id"].iloc[3])
    scored = score_household(lake, account, as_of=as_of)
    assert set(scored["household_id"]) == {household}
    assert (scored["model_version"] == get_model(lake)["version"]).all()
    # the batch path: the whole book's features, the same predictor, this household's rows
    whole = holding_features(lake, as_of)
    mine = whole[whole["household_id"] == household].reset_index(drop=True)
    expected = LocalPredictor(load_model(lake)).predict(mine)
    pd.testing.assert_frame_equal(scored[expected.columns].reset_index(drop=True), expected)
    with pytest.raises(NotFoundError, match="account nope not found"):
        score_household(lake, "nope", as_of=as_of)
