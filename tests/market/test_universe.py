"""The securities universe: default, user CSV validation, seeding the table."""

from __future__ import annotations

from pathlib import Path

import pytest

from rebalancer.config import Settings
from rebalancer.errors import ConfigError
from rebalancer.market import default_universe, load_securities, read_symbols_file, seed_securities
from rebalancer.market import universe as build_universe


def test_default_universe_covers_every_asset_class() -> None:
    frame = default_universe()
    assert set(frame["asset_class"]) == {"equity", "equity_etf", "bond_etf", "crypto", "cash"}
    assert {"AGG", "BND", "TLT", "IEF", "SHY", "TIP", "LQD", "BTC-USD", "ETH-USD", "CASH"} <= set(
        frame["symbol"]
    )
    assert frame["symbol"].is_unique
    crypto = frame[frame["asset_class"] == "crypto"]
    assert (crypto["calendar"] == "24/7").all()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "symbols.csv"
    path.write_text(text)
    return path


def test_user_file_adds_and_overrides(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "symbol,name,asset_class,currency\nnvda,NVIDIA Corp.,equity,usd\n"
        "SPY,S&P 500 (renamed),equity_etf,USD\nSOL-USD,Solana,crypto,USD\n",
    )
    frame = build_universe(Settings(symbols_file=str(path)))
    nvda = frame[frame["symbol"] == "NVDA"].iloc[0]
    assert nvda["calendar"] == "XNYS" and nvda["currency"] == "USD" and bool(nvda["active"])
    assert frame.loc[frame["symbol"] == "SOL-USD", "calendar"].item() == "24/7"
    assert frame.loc[frame["symbol"] == "SPY", "name"].item() == "S&P 500 (renamed)"
    assert frame["symbol"].is_unique


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty file"),
        ("symbol,name\nA,B\n", "line 1: missing column(s) asset_class, currency"),
        ("symbol,name,asset_class,currency,colour\n", "unknown column(s) colour"),
        ("symbol,name,asset_class,currency\nA,Alpha,stock,USD\n", "line 2: unknown asset_class"),
        ("symbol,name,asset_class,currency\nA,Alpha,equity,US\n", "line 2: currency"),
        ("symbol,name,asset_class,currency\nA,Alpha,equity\n", "line 2: expected 4 fields"),
        (
            "symbol,name,asset_class,currency\nA,Alpha,equity,USD\n\nA,Again,equity,USD\n",
            "line 4: duplicate symbol A (first on line 2)",
        ),
        ("symbol,name,asset_class,currency\n'; DROP TABLE,x,equity,USD\n", "invalid symbol"),
        ("symbol,name,asset_class,currency,active\nA,Alpha,equity,USD,maybe\n", "active must be"),
        ("symbol,name,asset_class,currency,calendar\nA,Alpha,equity,USD,LSE\n", "unknown calendar"),
        ("symbol,name,asset_class,currency\nA,,equity,USD\n", "name must be"),
    ],
)
def test_bad_files_fail_with_one_line_naming_the_line(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        read_symbols_file(path)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_binary_and_huge_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        read_symbols_file(tmp_path / "nope.csv")
    binary = tmp_path / "bin.csv"
    binary.write_bytes(b"\xff\xfe\x00\x01garbage")
    with pytest.raises(ConfigError, match=r"not UTF-8|not a text"):
        read_symbols_file(binary)
    huge = tmp_path / "huge.csv"
    rows = "".join(f"S{i},n,equity,USD\n" for i in range(10_001))
    huge.write_text("symbol,name,asset_class,currency\n" + rows)
    with pytest.raises(ConfigError, match="more than 10000"):
        read_symbols_file(huge)


def test_seed_writes_once_and_load_reads_back(lake) -> None:  # type: ignore[no-untyped-def]
    assert lake.list_objects("securities") == []
    first = seed_securities(lake)
    assert first == len(default_universe())
    assert seed_securities(lake) == 0  # not empty any more: untouched
    frame = load_securities(lake)
    assert sorted(frame["symbol"]) == sorted(default_universe()["symbol"])
    assert lake.query("SELECT count(*) AS n FROM securities")["n"].item() == first
