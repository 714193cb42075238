"""The model advises the engine (``Policy.model``): a small real model, trained on the shared
simulation, scores a lake's book through the features SQL; ``advise`` leaves the trades as
they are, ``gate`` pins confident HOLDs, no registered model is a ModelError everywhere, and
the recommendations rows, the CLI and the API carry the model's action, confidence and
reasons."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from rebalancer.api import create_app
from rebalancer.book import BookTables
from rebalancer.cli import app
from rebalancer.config import Settings
from rebalancer.engine import Policy
from rebalancer.errors import ModelError
from rebalancer.lake import LocalLake
from rebalancer.model import price_bars
from rebalancer.usecases import RunResult, run_recommendations
from tests.api.conftest import running
from tests.api.test_portfolio import request_for
from tests.model.conftest import BOOK_START, sharded_model_lake
from tests.model.test_serving_paths import copy_models

KEY = "advise-test-key-" + "a" * 24
AS_OF = BOOK_START + pd.Timedelta(days=1)
KEYS = ["account_id", "symbol", "side", "quantity", "price", "reason"]


def _book_lake(root: Path, book: BookTables, panel: pd.DataFrame) -> LocalLake:
    lake = LocalLake(root)
    lake.write("market_prices", price_bars(panel.loc["2022-10-01":BOOK_START]), name="bars")
    for name, frame in book.frames().items():
        lake.write(name, frame, name="book")
    return lake


@pytest.fixture(scope="module")
def bare_lake(
    tmp_path_factory: pytest.TempPathFactory, book: BookTables, panel: pd.DataFrame
) -> LocalLake:
    """The book and its prices, no model registered."""
    return _book_lake(tmp_path_factory.mktemp("bare") / "lake", book, panel)


@pytest.fixture(scope="module")
def model_lake(
    tmp_path_factory: pytest.TempPathFactory,
    book: BookTables,
    panel: pd.DataFrame,
    sim_lake: LocalLake,
    registered: dict,
) -> LocalLake:
    """The book, its prices and the small trained model (current)."""
    lake = _book_lake(tmp_path_factory.mktemp("model") / "lake", book, panel)
    copy_models(sim_lake, lake)
    return lake


def _run(lake: LocalLake, **policy: object) -> RunResult:
    return run_recommendations(lake, as_of=AS_OF, policy=Policy(**policy), write=False)


@pytest.fixture(scope="module")
def off(model_lake: LocalLake) -> RunResult:
    return _run(model_lake)


@pytest.fixture(scope="module")
def advised(model_lake: LocalLake) -> RunResult:
    return _run(model_lake, model="advise")


def _traded(result: RunResult) -> pd.DataFrame:
    return result.recommendation.trades[KEYS].reset_index(drop=True)


def test_advise_leaves_the_trades_as_off_and_scores_every_sleeve(
    off: RunResult, advised: RunResult, registered: dict, book: BookTables
) -> None:
    pd.testing.assert_frame_equal(_traded(advised), _traded(off))
    pd.testing.assert_frame_equal(
        advised.recommendation.accounts, off.recommendation.accounts, check_exact=True
    )
    assert off.model_version is None and off.recommendation.advice is None
    assert advised.model_version == registered["version"]
    assert advised.run_id != off.run_id  # the policy and the model are part of the run
    advice = advised.recommendation.advice
    assert advice is not None
    # one row per sleeve each account holds (or targets): every held position is scored
    held = book.holdings[book.holdings["quantity"] > 0]
    pairs = set(zip(advice["account_id"], advice["symbol"], strict=True))
    assert set(zip(held["account_id"], held["symbol"], strict=True)) <= pairs
    assert set(advice["model_action"]) <= {"SELL", "HOLD", "BUY"}
    assert advice["model_confidence"].between(0, 1).all()
    # a whole-book run explains the sleeves its rows show (the traded ones), no others
    traded = set(zip(advised.rows["account_id"], advised.rows["symbol"], strict=True))
    explained = advice["model_reasons"].map(lambda r: isinstance(r, list))
    assert traded and {
        p for p, e in zip(zip(advice["account_id"], advice["symbol"], strict=True), explained,
                          strict=True) if e
    } == traded  # fmt: skip
    assert all(len(r) <= 4 for r in advice.loc[explained, "model_reasons"])
    assert advice.loc[~explained, "model_reasons"].isna().all()
    assert not advice["pinned"].any()  # advise pins nothing
    counts = advised.model_counts
    assert sum(counts[a] for a in ("SELL", "HOLD", "BUY")) == len(advice)
    assert counts["pinned"] == 0


def test_recommendation_rows_carry_the_model_columns(off: RunResult, advised: RunResult) -> None:
    rows = advised.rows
    assert len(rows) and (rows["model_version"] == advised.model_version).all()
    advice = advised.recommendation.advice
    assert advice is not None
    keyed = advice.set_index(["account_id", "symbol"])
    for row in rows.itertuples():
        mine = keyed.loc[(row.account_id, row.symbol)]
        assert row.model_action == mine["model_action"]
        assert row.model_confidence == mine["model_confidence"]
        assert json.loads(row.model_reasons) == list(mine["model_reasons"])
    plain = off.rows
    assert plain["model_version"].isna().all() and plain["model_action"].isna().all()
    assert plain["model_confidence"].isna().all() and plain["model_reasons"].isna().all()


def test_written_rows_round_trip_through_the_table(model_lake: LocalLake) -> None:
    done = run_recommendations(model_lake, as_of=AS_OF, policy=Policy(model="advise"))
    stored = model_lake.query(
        "SELECT model_version, model_action, model_confidence, model_reasons FROM "
        "recommendations WHERE run_id = :run",
        params={"run": done.run_id},
    )
    assert len(stored) == len(done.rows) > 0
    assert set(stored["model_version"]) == {done.model_version}
    assert set(stored["model_action"]) <= {"SELL", "HOLD", "BUY"}
    assert stored["model_confidence"].between(0, 1).all()
    assert all(isinstance(json.loads(r), list) for r in stored["model_reasons"])


def _forced(reason: str) -> bool:
    return "FORCED" in reason.split("+")


def test_gate_pins_confident_holds_and_nothing_below_the_threshold(
    model_lake: LocalLake, off: RunResult, advised: RunResult
) -> None:
    advice = advised.recommendation.advice
    assert advice is not None
    traded = off.recommendation.trades[["account_id", "symbol"]].drop_duplicates()
    held_traded = traded.merge(
        advice[advice["model_action"] == "HOLD"], on=["account_id", "symbol"]
    )
    assert len(held_traded) >= 2, "the model says HOLD on no sleeve the engine trades"
    # a threshold between two of those sleeves' confidences: one side pinned, one not
    confidence = np.sort(held_traded["model_confidence"].to_numpy())
    cut = float(confidence[len(confidence) // 2])
    gated = _run(model_lake, model="gate", min_confidence=cut)
    g_advice = gated.recommendation.advice
    assert g_advice is not None
    expect = (g_advice["model_action"] == "HOLD") & (g_advice["model_confidence"] >= cut)
    assert (g_advice["pinned"] == expect).all() and expect.any()
    assert gated.model_counts["pinned"] == int(expect.sum())
    pinned = g_advice.loc[expect, ["account_id", "symbol"]]
    trades = gated.recommendation.trades
    on_pins = trades.merge(pinned, on=["account_id", "symbol"])
    assert all(_forced(r) for r in on_pins["reason"]), "a pinned sleeve traded unforced"
    # sleeves the engine traded and the gate pinned: their trades are gone
    assert len(traded.merge(pinned, on=["account_id", "symbol"])) > 0
    # a household without a pinned sleeve trades exactly as with the model off
    households = off.recommendation.accounts.assign(
        household=lambda f: f["account_id"].map(
            dict(
                zip(
                    *(model_lake.read("accounts")[c] for c in ("account_id", "household_id")),
                    strict=True,
                )
            )
        )
    )
    touched = set(households[households["account_id"].isin(pinned["account_id"])]["household"])
    free = set(households[~households["household"].isin(touched)]["account_id"])
    assert free, "every household has a pinned sleeve: the comparison is empty"

    def mine(result: RunResult) -> pd.DataFrame:
        t = _traded(result)
        return t[t["account_id"].isin(free)].reset_index(drop=True)

    pd.testing.assert_frame_equal(mine(gated), mine(off))
    # min_confidence 1: a HOLD below certainty pins nothing, trades as off
    strict = _run(model_lake, model="gate", min_confidence=1.0)
    assert strict.recommendation.advice is not None
    below = strict.recommendation.advice["model_confidence"] < 1.0
    assert not strict.recommendation.advice.loc[below, "pinned"].any()
    if below.all():
        pd.testing.assert_frame_equal(_traded(strict), _traded(off))


def test_no_registered_model_is_a_model_error(bare_lake: LocalLake) -> None:
    for mode in ("advise", "gate"):
        with pytest.raises(ModelError, match="needs a registered model"):
            _run(bare_lake, model=mode)
    assert _run(bare_lake).model_version is None  # off needs none
    account = str(bare_lake.read("accounts")["account_id"].iloc[0])
    cli = CliRunner().invoke(
        app,
        ["--lake", bare_lake.root, "recommend", "--account", account, "--as-of",
         AS_OF.isoformat(), "--model", "gate", "--dry-run"],
    )  # fmt: skip
    assert cli.exit_code == 9, cli.output
    lines = [line for line in cli.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "needs a registered model" in lines[0]
    served = create_app(Settings(lake=bare_lake.root, api_key=KEY), lake=bare_lake)
    with running(served) as url:
        got = httpx.get(
            f"{url}/v1/accounts/{account}/recommendation",
            params={"model": "advise", "as_of": AS_OF.isoformat()},
            headers={"X-API-Key": KEY},
            timeout=60,
        )
    assert got.status_code == 503
    assert got.headers["content-type"].startswith("application/problem+json")
    assert "needs a registered model" in got.json()["detail"]


def test_cli_prints_the_model_line_and_one_accounts_advice(
    model_lake: LocalLake, advised: RunResult
) -> None:
    account = str(advised.rows["account_id"].iloc[0])
    done = CliRunner().invoke(
        app,
        ["--lake", model_lake.root, "recommend", "--account", account, "--as-of",
         AS_OF.isoformat(), "--model", "gate", "--min-confidence", "0.7", "--dry-run"],
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert f"model {advised.model_version} (gate):" in done.output
    assert "pinned by the gate" in done.output
    assert f"model advice for account {account}" in done.output
    assert advised.recommendation.advice is not None
    mine = advised.recommendation.advice[advised.recommendation.advice["account_id"] == account]
    for symbol in mine["symbol"]:
        assert symbol in done.output
    every = CliRunner().invoke(
        app,
        ["--lake", model_lake.root, "recommend", "--all", "--as-of", AS_OF.isoformat(),
         "--model", "advise", "--dry-run"],
    )  # fmt: skip
    assert every.exit_code == 0, every.output
    assert f"model {advised.model_version} (advise): {len(advised.recommendation.advice):,}" in (
        every.output
    )


def test_api_carries_the_models_advice(
    model_lake: LocalLake, advised: RunResult, book: BookTables
) -> None:
    account = str(advised.rows["account_id"].iloc[0])
    advice = advised.recommendation.advice
    assert advice is not None
    mine = advice[advice["account_id"] == account].set_index("symbol")
    served = create_app(Settings(lake=model_lake.root, api_key=KEY), lake=model_lake)
    with running(served) as url:
        got = httpx.get(
            f"{url}/v1/accounts/{account}/recommendation",
            params={"model": "advise", "as_of": AS_OF.isoformat()},
            headers={"X-API-Key": KEY},
            timeout=60,
        )
        assert got.status_code == 200, got.text
        body = got.json()
        assert body["model_version"] == advised.model_version
        assert body["policy"]["model"] == "advise"
        assert {a["symbol"] for a in body["model_advice"]} == set(mine.index)
        for item in body["model_advice"]:
            assert item["model_action"] == mine.loc[item["symbol"], "model_action"]
            assert item["model_confidence"] == pytest.approx(
                mine.loc[item["symbol"], "model_confidence"]
            )
            batch = mine.loc[item["symbol"], "model_reasons"]  # None: not traded, unexplained
            assert isinstance(item["model_reasons"], list) and len(item["model_reasons"]) <= 4
            assert batch is None or item["model_reasons"] == list(batch)
        plain = httpx.get(
            f"{url}/v1/accounts/{account}/recommendation",
            params={"as_of": AS_OF.isoformat()},
            headers={"X-API-Key": KEY},
            timeout=60,
        ).json()
        assert plain["model_version"] is None and plain["model_advice"] == []
        # the posted portfolio of the same account, gated: per-holding model fields
        request = request_for(book, account, AS_OF)
        request["policy"] = {"model": "gate", "min_confidence": 0.5}
        posted = httpx.post(
            f"{url}/v1/recommendations", json=request, headers={"X-API-Key": KEY}, timeout=60
        )
        assert posted.status_code == 200, posted.text
        answer = posted.json()
        assert answer["model_version"] == advised.model_version
        # (its features are the posted household's own: IRA lots are not posted, so the
        # confidences may differ from the stored account's; the fields must be consistent)
        pinned = set()
        for holding in answer["holdings"]:
            assert holding["model_action"] in {"SELL", "HOLD", "BUY"}
            assert 0 <= holding["model_confidence"] <= 1
            assert isinstance(holding["model_reasons"], list)
            assert holding["model_pinned"] == (
                holding["model_action"] == "HOLD" and holding["model_confidence"] >= 0.5
            )
            if holding["model_pinned"]:
                pinned.add(holding["symbol"])
        assert pinned, "the gate pinned nothing in the posted account"
        for trade in answer["trades"]:
            if trade["symbol"] in pinned:
                assert "FORCED" in trade["reason"].split("+")
        openapi = httpx.get(f"{url}/openapi.json", timeout=30).json()
    policy_schema = openapi["components"]["schemas"]["Policy"]["properties"]
    assert policy_schema["model"]["enum"] == ["off", "advise", "gate"]
    assert policy_schema["min_confidence"]["maximum"] == 1
    params = openapi["paths"]["/v1/accounts/{account_id}/recommendation"]["get"]["parameters"]
    assert {"model", "min_confidence"} <= {p["name"] for p in params}


def test_sharded_batch_scores_each_shard_in_one_call(
    tmp_path: Path,
    panel: pd.DataFrame,
    model_lake: LocalLake,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A sharded book: one predictor call per shard (not per account), and the same gated
    trades, counts and run id as the whole book read at once."""
    from rebalancer.model import LocalPredictor

    lake = sharded_model_lake(tmp_path / "lake", panel, model_lake, accounts=40, seed=9)
    calls: list[int] = []
    exact = LocalPredictor.predict
    explained: list[int] = []
    exact_explain = LocalPredictor.explain

    def counted(self: LocalPredictor, rows: pd.DataFrame, *, reasons: bool = True) -> pd.DataFrame:
        assert not reasons  # a batch predicts without reasons, then explains what it trades
        calls.append(len(rows))
        return exact(self, rows, reasons=reasons)

    def counted_explain(self: LocalPredictor, rows: pd.DataFrame, actions: list[str]) -> list:
        explained.append(len(rows))
        return exact_explain(self, rows, actions)

    monkeypatch.setattr(LocalPredictor, "predict", counted)
    monkeypatch.setattr(LocalPredictor, "explain", counted_explain)
    policy = Policy(model="gate", min_confidence=0.5)
    sharded = run_recommendations(lake, as_of=AS_OF, policy=policy, write=False)
    assert len(calls) == 3 and sum(calls) == sum(sharded.model_counts[a] for a in
                                                 ("SELL", "HOLD", "BUY"))  # fmt: skip
    # then each shard explains only its traded sleeves: one more call, the rows' count
    assert len(explained) <= 3 and sum(explained) == len(sharded.rows) > 0
    calls.clear()
    whole = run_recommendations(lake, as_of=AS_OF, policy=policy, write=False, stream=False)
    assert len(calls) == 1
    assert sharded.run_id == whole.run_id
    assert sharded.model_counts == whole.model_counts and whole.model_counts["pinned"] > 0
    order = ["account_id", "symbol"]
    pd.testing.assert_frame_equal(
        sharded.rows.sort_values(order).reset_index(drop=True),
        whole.rows.sort_values(order).reset_index(drop=True),
        check_dtype=False,
    )


def test_explaining_only_traded_sleeves_gives_the_full_explanation(
    model_lake: LocalLake, advised: RunResult
) -> None:
    """The reasons a run stores for its traded sleeves are exactly those the full pass (every
    sleeve explained) gives them, and the actions and confidences do not depend on it."""
    from rebalancer.model._predict import get_predictor
    from rebalancer.usecases._advice import advise, feature_bars

    predictor = get_predictor(model_lake)
    when = advised.as_of
    tables = BookTables.from_lake(model_lake)
    bars = feature_bars(model_lake, when)
    full = advise(tables, bars, when, Policy(model="advise"), predictor)
    lazy = advise(tables, bars, when, Policy(model="advise"), predictor, reasons=False)
    assert lazy["model_reasons"].isna().all() and len(lazy.columns) > len(full.columns)
    pd.testing.assert_frame_equal(
        lazy[["account_id", "symbol", "model_action", "model_confidence"]],
        full[["account_id", "symbol", "model_action", "model_confidence"]],
    )
    stored = advised.recommendation.advice
    assert stored is not None
    keyed = full.set_index(["account_id", "symbol"])["model_reasons"]
    explained = stored[stored["model_reasons"].map(lambda r: isinstance(r, list))]
    assert len(explained) > 0
    for row in explained.itertuples():
        assert list(row.model_reasons) == list(keyed.loc[(row.account_id, row.symbol)])


def test_a_gate_scores_the_accounts_the_rules_act_on_and_trades_as_if_it_scored_all(
    model_lake: LocalLake, advised: RunResult
) -> None:
    """A whole-book ``gate`` run scores only the accounts the engine's rules act on (a pin
    anywhere else counts for nothing), and trades exactly as the engine does with the pins of
    every sleeve's advice (``advise`` scores them all)."""
    from rebalancer.engine import acting_accounts, prepare_book, recommend_book
    from rebalancer.market._prices import load_prices

    cut = 0.5
    gated = _run(model_lake, model="gate", min_confidence=cut)
    book = BookTables.from_lake(model_lake)
    policy = Policy(model="gate", min_confidence=cut)
    prices = load_prices(model_lake, gated.as_of)
    acting = set(acting_accounts(prepare_book(book, prices, policy, as_of=gated.as_of), policy))
    everyone = set(book.accounts["account_id"].astype(str))
    assert acting and acting < everyone, "the book needs quiet and acting accounts"
    advice = gated.recommendation.advice
    assert advice is not None and set(advice["account_id"]) == acting
    scored = sum(gated.model_counts[a] for a in ("SELL", "HOLD", "BUY"))
    assert scored == len(advice) < len(advised.recommendation.advice)
    # the pins of every sleeve's advice, quiet accounts included: the same trades
    every = advised.recommendation.advice
    assert every is not None
    hold = (every["model_action"] == "HOLD") & (every["model_confidence"] >= cut)
    assert (hold & ~every["account_id"].isin(acting)).any(), "no pin in a quiet account"
    rec = recommend_book(
        book, prices, policy, as_of=gated.as_of,
        pinned=every.loc[hold, ["account_id", "symbol"]],
    )  # fmt: skip
    pd.testing.assert_frame_equal(rec.trades[KEYS], _traded(gated))


def test_a_gated_cli_run_exits_quietly(model_lake: LocalLake) -> None:
    """``rebalancer recommend --all --model gate`` in its own process: its output is the run's
    and nothing else (the in-memory DuckDB it scored on is closed at exit; alive then, the
    bindings printed a leak report into the terminal)."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "rebalancer.cli", "--lake", model_lake.root, "recommend",
         "--all", "--as-of", AS_OF.isoformat(), "--model", "gate", "--dry-run"],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "pinned by the gate" in done.stdout
    assert "leak" not in (done.stdout + done.stderr).lower(), done.stderr
