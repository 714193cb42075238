"""``decisions import``: a firm's own history, validated row by row; bad rows are rejected with
their line numbers and every other row is written."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from rebalancer.errors import ConfigError, SchemaValidationError
from rebalancer.lake import LocalLake
from rebalancer.model import import_decisions, parse_decisions_csv
from tests.cli.conftest import invoke

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
