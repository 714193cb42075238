"""``decisions import``: a firm's own history, validated row by row; bad rows are rejected with
their line numbers and every other row is written."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from rebalancer.book import BookTables
from rebalancer.errors import ConfigError, SchemaValidationError
from rebalancer.lake import LocalLake
from rebalancer.model import (
    holding_features,
    import_decisions,
    parse_decisions_csv,
    price_bars,
    training_set,
)
from tests.cli.conftest import invoke
from tests.model.conftest import BOOK_START

GOOD_AND_BAD = """as_of,account_id,symbol,action,advisor_id,note
2024-03-01T16:00:00Z,A1,VTI,sell,ADV1,trim
2024-03-01T16:00:00Z,A1,BND,HOLD,ADV1,
2024-03-01T16:00:00Z,A1,VXUS,MAYBE,ADV1,bad action
not-a-date,A2,VTI,BUY,ADV1,
2024-03-01T16:00:00Z,,VTI,BUY,ADV1,no account

2024-03-01T16:00:00Z,A2,VTI,BUY,ADV1,"a note
over two lines"
2024-03-01T16:00:00Z,A2,BND,BUY,ADV1
2024-03-01 11:00:00-05:00,A1,VTI,HOLD,ADV1,same time as line 2
2024-03-02T16:00:00Z,A2,BND,buy,ADV1,ok
"""


def write(tmp_path: Path, text: str, name: str = "history.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_bad_rows_rejected_with_line_numbers(tmp_path: Path, lake: LocalLake) -> None:
    result = import_decisions(lake, write(tmp_path, GOOD_AND_BAD))
    rejected = dict(zip(result.rejected["line"], result.rejected["reason"], strict=True))
    assert sorted(rejected) == [4, 5, 6, 10, 11]
    assert "MAYBE" in rejected[4]
    assert "not-a-date" in rejected[5]
    assert "account_id is empty" in rejected[6]
    assert "5 fields, the header has 6" in rejected[10]
    assert "repeats line 2" in rejected[11]
    assert result.written == 4
    rows = lake.query(
        "SELECT account_id, symbol, action, source, decided_by, note, as_of FROM decisions "
        "ORDER BY as_of, account_id, symbol"
    )
    assert rows[["account_id", "symbol", "action"]].values.tolist() == [
        ["A1", "BND", "HOLD"], ["A1", "VTI", "SELL"], ["A2", "VTI", "BUY"], ["A2", "BND", "BUY"],
    ]  # fmt: skip
    assert (rows["source"] == "import").all()
    assert (rows["decided_by"] == "import:history.csv").all()
    assert rows["note"].tolist()[2] == "a note\nover two lines"
    assert rows["as_of"].iloc[0] == pd.Timestamp("2024-03-01 16:00:00")  # UTC, naive


def test_same_file_twice_is_one_copy(tmp_path: Path, lake: LocalLake) -> None:
    path = write(tmp_path, GOOD_AND_BAD)
    import_decisions(lake, path)
    import_decisions(lake, path)
    assert int(lake.query("SELECT count(*) AS n FROM decisions")["n"].iloc[0]) == 4


def test_strict_writes_nothing(tmp_path: Path, lake: LocalLake) -> None:
    with pytest.raises(SchemaValidationError, match=r"history.csv line 4: .*5 bad row"):
        import_decisions(lake, write(tmp_path, GOOD_AND_BAD), strict=True)
    assert lake.list_objects("decisions") == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("as_of,account_id,symbol\n", "missing column"),
        ("as_of,account_id,symbol,action,price\n", "unknown column"),
        ("as_of,account_id,symbol,action,action\n", "twice"),
    ],
)
def test_bad_header_fails_whole_file(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_decisions_csv(text.encode(), decided_by="t")


def test_not_utf8() -> None:
    with pytest.raises(ConfigError, match="UTF-8"):
        parse_decisions_csv(b"as_of,account_id,symbol,action\n\xff\xfe", decided_by="t")


def test_cli_import(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    code, out, err = invoke(lake, "decisions", "import", str(write(tmp_path, GOOD_AND_BAD)))
    assert code == 3
    assert "imported 4 decision(s)" in out and "rejected 5" in out
    assert "history.csv line 4: action 'MAYBE'" in err
    assert err.count("\n") == 5
    good = "as_of,account_id,symbol,action\n2024-03-01,A9,VTI,BUY\n"
    code, out, _ = invoke(lake, "decisions", "import", str(write(tmp_path, good, "ok.csv")))
    assert code == 0 and "imported 1 decision(s)" in out
    code, _, err = invoke(lake, "decisions", "import", str(tmp_path / "missing.csv"))
    assert code == 2 and "cannot read" in err and "Traceback" not in err


def test_imported_rows_on_the_lakes_book_become_training_rows(
    tmp_path: Path, book: BookTables, panel: pd.DataFrame
) -> None:
    lake = LocalLake(tmp_path / "lake")
    lake.write("market_prices", price_bars(panel.loc["2022-10-01":BOOK_START]), name="bars")
    for name, frame in book.frames().items():
        lake.write(name, frame, name="book")
    as_of = BOOK_START + pd.Timedelta(days=1)
    held = book.holdings[book.holdings["symbol"] != "CASH"].iloc[:2]
    lines = [
        f"{as_of.isoformat()},{a},{s},HOLD"
        for a, s in zip(held["account_id"], held["symbol"], strict=True)
    ]
    text = (
        "as_of,account_id,symbol,action\n"
        + "\n".join([*lines, f"{as_of.isoformat()},NOPE,VTI,BUY"])
        + "\n"
    )
    result = import_decisions(lake, write(tmp_path, text))
    assert result.written == 3 and result.with_features == 2
    rows = training_set(lake, source="import")
    assert sorted(rows["account_id"]) == sorted(held["account_id"])
    expected = holding_features(lake, as_of).merge(held[["account_id", "symbol"]])
    got = rows[expected.columns].sort_values(["account_id", "symbol"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(
        got,
        expected.sort_values(["account_id", "symbol"]).reset_index(drop=True),
        check_dtype=False,  # keys: string vs object, same values
    )
    assert (
        import_decisions(lake, write(tmp_path, text, "again.csv"), features=False).with_features
        == 0
    )
