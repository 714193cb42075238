"""`rebalancer recommend` end to end on a small hand-written lake (tests/cli/conftest.py)."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from rebalancer.cli import app
from rebalancer.errors import ConfigError, InvalidAccountError, NotFoundError
from rebalancer.lake import LocalLake
from tests.cli.conftest import AS_OF, run


def test_recommend_all_writes_the_audit_trail(book_lake: LocalLake) -> None:
    result = run(
        ["recommend", "--all", "--as-of", AS_OF, "--rebalance-to", "target"], book_lake.root
    )
    assert result.returncode == 0, result.stderr
    assert "2 account(s), 2 traded, 4 trade(s)" in result.stdout
    assert "skipped 1 invalid account(s)" in result.stderr
    assert "account A3: negative or missing quantity of VTI" in result.stderr
    rows = book_lake.query(
        "SELECT account_id, symbol, side, quantity, price, value, est_tax, cost, reason, lots, "
        "engine_version, model_version, run_id, as_of, dt FROM recommendations "
        "ORDER BY account_id, symbol"
    )
    got = {(r.account_id, r.symbol, r.side): r.quantity for r in rows.itertuples()}
    # A1 75/25 -> 60/40 at VTI 100 (the open 16:00 bar is not used), BND 100 (12-30 daily close):
    # sell 150 VTI; the 5 bps costs leave room for 149 BND. A2: 65/35 plus a 10k deposit ->
    # buys only (cash first): 10 VTI + 90 BND would cost $10,005, so VTI drops to 9.
    assert got == {("A1", "BND", "BUY"): 149.0, ("A1", "VTI", "SELL"): 150.0,
                   ("A2", "BND", "BUY"): 90.0, ("A2", "VTI", "BUY"): 9.0}  # fmt: skip
    assert set(rows["price"]) == {100.0}
    a1_sell = rows[(rows["account_id"] == "A1") & (rows["side"] == "SELL")].iloc[0]
    assert a1_sell["lots"] == "A1-VTI-1:150.0"
    assert a1_sell["est_tax"] == pytest.approx(150 * 20 * 0.15)  # long-term gain of 20/unit
    assert (rows["cost"] == rows["value"] * 5e-4).all()
    assert rows["run_id"].nunique() == 1 and rows["model_version"].isna().all()
    assert set(rows["dt"]) == {"2024-12-31"}
    assert str(pd.Timestamp(rows["as_of"].iloc[0])) == "2024-12-31 16:00:00"

    # Same inputs, same run id, same object: a rerun does not duplicate rows.
    again = CliRunner().invoke(
        app,
        [
            "--lake",
            book_lake.root,
            "recommend",
            "--all",
            "--as-of",
            AS_OF,
            "--rebalance-to",
            "target",
        ],
    )
    assert again.exit_code == 0, again.output
    assert len(book_lake.query("SELECT * FROM recommendations")) == 4
    assert len(book_lake.list_objects("recommendations")) == 1


def test_recommend_one_account_and_bad_input_give_one_line_errors(book_lake: LocalLake) -> None:
    ok = CliRunner().invoke(
        app, ["--lake", book_lake.root, "recommend", "--account", "A2", "--as-of", AS_OF]
    )
    assert ok.exit_code == 0, ok.output
    assert "1 account(s), 1 traded, 2 trade(s)" in " ".join(ok.stdout.split())
    bad = CliRunner().invoke(
        app, ["--lake", book_lake.root, "recommend", "--account", "A3", "--as-of", AS_OF]
    )
    assert bad.exit_code == InvalidAccountError.exit_code
    assert "account A3: negative or missing quantity of VTI" in bad.stderr
    runner = CliRunner()
    for args, code in [
        (["recommend", "--account", "NOPE", "--as-of", AS_OF], NotFoundError.exit_code),
        (["recommend", "--all", "--account", "A1"], ConfigError.exit_code),
        (["recommend"], ConfigError.exit_code),
        (["recommend", "--all", "--band", "wide"], ConfigError.exit_code),
        (["recommend", "--all", "--as-of", "yesterday-ish"], ConfigError.exit_code),
        (["recommend", "--all", "--relative-band", "-1"], ConfigError.exit_code),
        (["recommend", "--all", "--strict", "--as-of", AS_OF], InvalidAccountError.exit_code),
    ]:
        result = runner.invoke(app, ["--lake", book_lake.root, *args])
        assert result.exit_code == code, (args, result.output)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "Traceback" not in result.output
