"""`rebalancer backfill | ingest | compact | securities` as users run them."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from rebalancer.lake import LocalLake
from tests.cli.conftest import CLI, env_for, invoke, run

AT = "2024-03-05T14:37:00Z"


def no_temp_files(root: Path) -> bool:
    return not [p for p in root.rglob("*") if p.name.endswith(".tmp")]


def test_sigint_during_catch_up_finishes_the_slot_and_stops(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    proc = subprocess.Popen(
        [*CLI, "ingest", "--source", "synthetic", "--every", "5m", "--at", AT, "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env_for(lake),
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # the first slot is done; the loop now catches up
        assert '"rows_written": 40' in first
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "stopped after the current slot" in err
    assert "Traceback" not in err
    written = LocalLake(lake)
    objects = written.list_objects("market_prices")
    # every object that exists is complete: 40 rows each (or 2 crypto rows after 16:00 NY)
    frame = written.read("market_prices")
    assert len(objects) == 1 + out.count("rows_written")
    assert set(frame.groupby("ts").size()) <= {40, 2}
    assert no_temp_files(lake)


def test_sigint_in_live_mode_while_sleeping(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    proc = subprocess.Popen(
        [*CLI, "ingest", "--source", "synthetic", "--every", "5m"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env_for(lake),
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "row(s) written" in line
        time.sleep(0.5)  # now waiting for the next 5-minute boundary
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "stopped" in err
    assert no_temp_files(lake)


def test_two_processes_ingesting_the_same_slot_leave_each_row_once(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    LocalLake(lake)  # nothing yet: both processes seed securities and race on the slot
    cmd = [*CLI, "ingest", "--source", "synthetic", "--once", "--at", AT]
    procs = [subprocess.Popen(cmd, env=env_for(lake), stderr=subprocess.PIPE) for _ in range(2)]
    for p in procs:
        p.wait(timeout=120)
        assert p.returncode == 0
    result = LocalLake(lake).query(
        "SELECT count(*) AS n, count(DISTINCT symbol) AS s FROM market_prices"
    )
    assert (result["n"].item(), result["s"].item()) == (40, 40)


def test_ingest_then_compact_then_athena_sql(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    code, out, _ = invoke(
        lake, "ingest", "--source", "synthetic", "--every", "5m", "--at", AT, "--max-slots", "3"
    )
    assert code == 0 and out.count("40 row(s) written") == 3
    code, out, _ = invoke(lake, "compact", "--date", "2024-03-05")
    assert code == 0 and "merged 3 slot object(s)" in out
    code, out, _ = invoke(
        lake,
        "query",
        "SELECT count(*) AS n, count(DISTINCT ts) AS slots FROM market_prices "
        "WHERE dt = '2024-03-05' AND \"interval\" = '5m'",
        "--format",
        "csv",
    )
    assert code == 0 and out.splitlines()[1] == "120,3"
    code, out, _ = invoke(lake, "compact", "--date", "2024-03-05")
    assert code == 0 and "no slot objects" in out


@pytest.mark.parametrize(
    ("args", "message", "exit_code"),
    [
        (["ingest", "--once", "--every", "5m"], "either --once or --every", 2),
        (["ingest", "--source", "nasdaq", "--once"], "unknown market data source", 2),
        (["ingest", "--every", "never"], "--every must be a duration", 2),
        (["compact", "--date", "yesterday"], "--date must be a day", 2),
        (["backfill", "--source", "synthetic", "--interval", "1h"], "unsupported interval", 5),
    ],
)
def test_bad_arguments_give_one_line(
    tmp_path: Path, args: list[str], message: str, exit_code: int
) -> None:
    code, _out, err = invoke(tmp_path / "lake", *args)
    assert code == exit_code
    assert message in " ".join(err.split())
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 2


def test_securities_seed_and_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lake = tmp_path / "lake"
    extra = tmp_path / "extra.csv"
    extra.write_text("symbol,name,asset_class,currency\nNVDA,NVIDIA,equity,USD\n")
    monkeypatch.setenv("REBALANCER_SYMBOLS_FILE", str(extra))
    code, out, _ = invoke(lake, "securities", "seed")
    assert code == 0 and "seeded 42 securities" in out
    code, out, _ = invoke(lake, "securities", "seed")
    assert "already seeded" in out
    code, out, _ = invoke(lake, "securities", "list", "--format", "csv")
    assert code == 0 and "NVDA,NVIDIA,equity,USD,XNYS,True" in out


def test_bad_symbols_file_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("symbol,name,asset_class,currency\nNVDA,NVIDIA,stonks,USD\n")
    monkeypatch.setenv("REBALANCER_SYMBOLS_FILE", str(bad))
    code, _, err = invoke(tmp_path / "lake", "securities", "seed")
    assert code == 2
    assert "line 2: unknown asset_class 'stonks'" in " ".join(err.split())


def test_synthetic_daily_backfill_covers_every_universe_symbol(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    code, _out, err = invoke(
        lake, "backfill", "--source", "synthetic", "--interval", "1d",
        "--start", "2023-12-01", "--end", "2024-01-31",
    )  # fmt: skip
    assert code == 0, err
    frame = LocalLake(lake).query(
        "SELECT symbol, count(*) AS n FROM market_prices WHERE \"interval\" = '1d' GROUP BY 1"
    )
    securities = LocalLake(lake).read("securities")
    priced = set(securities.loc[securities["asset_class"] != "cash", "symbol"])
    assert set(frame["symbol"]) == priced
    assert frame.set_index("symbol").loc["BTC-USD", "n"] == 62  # every calendar day
    # XNYS sessions: 44 weekdays minus Christmas, New Year's Day and Martin Luther King Jr. Day
    assert frame.set_index("symbol").loc["AGG", "n"] == 41


def test_synthetic_5m_backfill_writes_one_object_per_day(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    code, out, err = invoke(
        lake, "backfill", "--source", "synthetic", "--interval", "5m",
        "--start", "2024-03-04", "--end", "2024-03-05", "--symbols", "AAPL,BTC-USD",
    )  # fmt: skip
    assert code == 0, err
    names = sorted(Path(k).name for k in LocalLake(lake).list_objects("market_prices"))
    assert names == ["backfill-synthetic-5m.parquet"] * 2
    assert "wrote 732 5m bars" in " ".join(out.split())  # (78 + 288) x 2 days


def test_backfill_history_then_query(tmp_path: Path) -> None:
    lake_dir = tmp_path / "lake"
    result = run(
        [
            "backfill",
            "--source",
            "history",
            "--start",
            "2022-12-01",
            "--end",
            "2022-12-09",
            "--symbols",
            "AAPL,MSFT",
        ],
        lake_dir,
    )
    assert result.returncode == 0, result.stderr
    from rebalancer.market import history_closes

    closes = history_closes().loc["2022-12-01":"2022-12-09", ["AAPL", "MSFT"]]
    assert f"wrote {closes.count().sum()} 1d bars" in result.stdout
    lake = LocalLake(lake_dir)
    got = lake.query(
        """SELECT symbol, ts, close, source, "interval" FROM market_prices ORDER BY symbol, ts"""
    )
    expected = closes.stack().sort_index(level=[1, 0])
    assert got["close"].tolist() == pytest.approx(expected.tolist())
    assert set(got["source"]) == {"history"} and set(got["interval"]) == {"1d"}
    assert len(lake.list_objects("market_prices")) == len(closes)  # one object per day


def test_backfill_is_idempotent(tmp_path: Path) -> None:
    lake_dir = tmp_path / "lake"
    args = ["backfill", "--start", "2022-11-01", "--end", "2022-11-30", "--symbols", "KO"]
    assert run(args, lake_dir).returncode == 0
    assert run(args, lake_dir).returncode == 0
    got = LocalLake(lake_dir).query(
        "SELECT count(*) AS n, count(DISTINCT ts) AS d FROM market_prices"
    )
    assert got["n"].iloc[0] == got["d"].iloc[0] > 15


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--start", "2022-13-01"], "--start must be a date"),
        (["--symbols", "NOPE"], "no bundled history for NOPE"),
        (["--start", "2022-12-01", "--end", "2022-01-01"], "after --end"),
        (["--start", "2030-01-01"], "no history between"),
    ],
)
def test_backfill_bad_input(tmp_path: Path, args: list[str], message: str) -> None:
    result = run(["backfill", *args], tmp_path / "lake")
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "lake").exists() or not any((tmp_path / "lake").rglob("*.parquet"))


def test_markup_in_a_symbols_file_prints_as_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("symbol,name,asset_class,currency\n[/X],Bad,equity,USD\n")
    monkeypatch.setenv("REBALANCER_SYMBOLS_FILE", str(bad))
    for verb in (["securities", "seed"], ["securities", "list"]):
        code, _, err = invoke(tmp_path / "lake", *verb)
        assert code == 2  # was: a MarkupError traceback
        (line,) = err.strip().splitlines()
        assert line.startswith("error: ") and "'[/X]'" in line
    odd = tmp_path / "odd.csv"
    odd.write_text(
        "symbol,name,asset_class,currency\nODD,[/bold] [link=https://evil.example]Odd[/link],"
        "equity,USD\n"
    )
    env = {**env_for(tmp_path / "lake2"), "REBALANCER_SYMBOLS_FILE": str(odd)}
    result = subprocess.run(
        [*CLI, "securities", "list"], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "[/bold] [link=https://evil.example]Odd[/link]" in result.stdout
    assert "\x1b]8;" not in result.stdout
