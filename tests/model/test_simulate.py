"""The decision simulator: seeded, per-advisor styles, documented noise, engine constraints,
the ceiling, and the decisions it writes to the lake."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from rebalancer.book import BookTables
from rebalancer.errors import ConfigError
from rebalancer.lake import LocalLake, get_schema
from rebalancer.model import (
    ACTIONS,
    SimulationConfig,
    SimulationResult,
    classification_report,
    codes,
    draw_styles,
    price_bars,
    replay_dates,
    simulate,
    write_simulation,
)
from tests.cli.conftest import invoke
from tests.model.conftest import BOOK_START, SEED


def test_same_seed_same_decisions(
    simulation: SimulationResult, book: BookTables, panel: pd.DataFrame, sim_dates: list
) -> None:
    again = simulate(book, panel, sim_dates[:1], SimulationConfig(seed=SEED, noise_rate=0.05))
    first_two = simulation.decisions[
        simulation.decisions["as_of"] <= again.decisions["as_of"].max()
    ]
    pd.testing.assert_frame_equal(first_two.reset_index(drop=True), again.decisions)


def test_styles_drawn_per_advisor_from_the_seed() -> None:
    ids = ["ADV3", "ADV1", "ADV2", "ADV1"]
    styles = draw_styles(ids, SimulationConfig(seed=1))
    assert [s.advisor_id for s in styles] == ["ADV1", "ADV2", "ADV3"]
    assert len({s.band_scale for s in styles}) == 3  # each advisor differs
    assert styles == draw_styles(list(reversed(ids)), SimulationConfig(seed=1))
    assert styles != draw_styles(ids, SimulationConfig(seed=2))
    for s in styles:
        policy = s.policy()
        assert policy.relative_band == pytest.approx(min(1.0, 0.2 * s.band_scale))
        assert policy.min_trade_value == s.min_trade_value


def test_labels_schema_and_vocabulary(simulation: SimulationResult) -> None:
    d = simulation.decisions
    assert list(d.columns) == get_schema("decisions").column_names
    assert set(d["action"]) <= set(ACTIONS)
    assert (d["source"] == "simulated").all()
    assert d["note"].str.fullmatch(r"latent=(SELL|HOLD|BUY) rule=(SELL|HOLD|BUY)").all()
    assert not d.duplicated(["as_of", "account_id", "symbol"]).any()
    assert set(simulation.styles_frame()["advisor_id"]) == {"ADV00001", "ADV00002", "ADV00003"}


def test_noise_rate_is_the_documented_share(
    book: BookTables, panel: pd.DataFrame, sim_dates: list
) -> None:
    noisy = simulate(book, panel, sim_dates[:2], SimulationConfig(seed=9, noise_rate=0.25))
    flipped = (noisy.dataset["action"] != noisy.dataset["latent"]).mean()
    assert 0.21 < flipped < 0.29  # 2 dates, ~1,300 rows: binomial spread ~ 0.012
    clean = SimulationResult(
        decisions=noisy.decisions, dataset=noisy.dataset.assign(action=noisy.dataset["latent"])
    )
    assert clean.ceiling()["macro_f1"] == pytest.approx(1.0)
    with pytest.raises(ConfigError, match="noise_rate"):
        SimulationConfig(noise_rate=0.5)


def test_ceiling_scores_latent_policy_against_labels(simulation: SimulationResult) -> None:
    d = simulation.dataset
    expected = classification_report(codes(d["action"]), codes(d["latent"]))
    assert simulation.ceiling() == expected
    assert 0.5 < expected["macro_f1"] < 1.0  # noise costs something, not everything


def test_engine_constraints_always_apply(simulation: SimulationResult) -> None:
    """The latent decision is an engine trade: no buy of a restricted or do-not-trade symbol,
    no sale of a do-not-trade one (noise may flip a label, never the latent action)."""
    d = simulation.dataset
    blocked_buy = (d["restricted"] > 0) | (d["do_not_trade"] > 0)
    assert blocked_buy.any()
    assert not ((d["latent"] == "BUY") & blocked_buy).any()
    assert not ((d["latent"] == "SELL") & (d["do_not_trade"] > 0)).any()
    # nothing sold that is not held
    assert not ((d["latent"] == "SELL") & (d["held"] == 0)).any()


def test_advisors_differ_from_the_textbook_rule(simulation: SimulationResult) -> None:
    d = simulation.dataset
    assert (d["latent"] != d["rule"]).mean() > 0.05
    assert set(d["latent"]) == set(ACTIONS)


def test_replay_dates_skip_unpriced_sessions(panel: pd.DataFrame, book: BookTables) -> None:
    holey = panel.copy()
    day = holey.index[holey.index >= BOOK_START][1]
    holey.loc[day, "BND"] = float("nan")
    dates = replay_dates(holey, BOOK_START, 1, count=3)
    assert day not in dates and len(dates) == 3
    with pytest.raises(ConfigError, match="step_days"):
        replay_dates(panel, BOOK_START, 0)
    with pytest.raises(ConfigError, match="no prices for NOPE"):
        replay_dates(panel, BOOK_START, 1, symbols=["NOPE"])
    with pytest.raises(ConfigError, match="at least one"):
        simulate(BookTables.from_frames(**book.frames()), panel, [])


def test_written_decisions_are_a_lake_table(simulation: SimulationResult, lake: LocalLake) -> None:
    write_simulation(lake, simulation, seed=SEED)
    write_simulation(lake, simulation, seed=SEED)  # a rerun replaces, never duplicates
    counts = lake.query(
        "SELECT action, count(*) AS n FROM decisions WHERE source = :source GROUP BY action",
        params={"source": "simulated"},
    )
    assert dict(zip(counts["action"], counts["n"], strict=True)) == (
        simulation.decisions["action"].value_counts().to_dict()
    )
    joined = lake.query(
        "SELECT count(*) AS n FROM decisions d JOIN decision_features f "
        "ON f.as_of = d.as_of AND f.account_id = d.account_id AND f.symbol = d.symbol"
    )
    assert int(joined["n"].iloc[0]) == len(simulation.decisions)


def test_cli_simulate_writes_decisions_and_reports_the_ceiling(
    panel: pd.DataFrame, tmp_path: Path
) -> None:
    lake = LocalLake(tmp_path / "lake")
    lake.write("market_prices", price_bars(panel), name="bars")
    args = ["decisions", "simulate", "--accounts", "12", "--dates", "2", "--step-days", "3"]
    code, out, err = invoke(lake.root, *args, "--seed", "4")
    assert code == 0, err
    assert "simulated decisions" in out and "ceiling (latent policy vs noisy labels)" in out
    rows = lake.query("SELECT count(DISTINCT as_of) AS dates, count(*) AS n FROM decisions")
    assert int(rows["dates"].iloc[0]) == 2 and int(rows["n"].iloc[0]) > 0
    code, _, err = invoke(lake.root, *args, "--start", "1999-01-01")
    assert code == 2 and "less than 400 days" in err
    code, _, err = invoke(lake.root, "decisions", "simulate", "--dates", "5000")
    assert code == 2 and "sessions" in err
