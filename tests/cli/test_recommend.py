"""`rebalancer recommend` end to end on a small hand-written lake (tests/cli/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from rebalancer.cli import app
from rebalancer.engine import Policy
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


# --- policy flags generated from the Policy model -------------------------------------------


def _dry_run(lake: LocalLake, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        app, ["--lake", lake.root, "recommend", "--all", "--as-of", AS_OF, "--dry-run", *args]
    )
    return result.exit_code, " ".join(result.stdout.split()), result.stderr


def _run_id(stdout: str) -> str:
    return stdout.split()[1]


def test_every_policy_field_is_a_flag_with_its_help() -> None:
    import typer.main

    from rebalancer.cli.recommend import flag_name

    command = typer.main.get_command(app).commands["recommend"]  # type: ignore[attr-defined]
    options = {opt: p for p in command.params for opt in [*p.opts, *p.secondary_opts]}
    for name, field in Policy.model_fields.items():
        param = options[flag_name(name)]
        assert param.name == name
        assert field.description and field.description.split(":")[0] in (param.help or "")
        if field.annotation is bool:
            assert f"--no-{name.replace('_', '-')}" in param.secondary_opts
    assert options["--fee"].name == "fee_per_trade"  # the short alias the README shows


def test_flags_and_policy_file_build_the_same_policy(book_lake: LocalLake, tmp_path: Path) -> None:
    code, flags_out, err = _dry_run(book_lake, "--rebalance-to", "target", "--spread-bps", "7")
    assert code == 0, err
    policy_file = tmp_path / "policy.json"
    policy_file.write_text(Policy(rebalance_to="target", spread_bps=12.0).to_json())
    # The file's spread is overridden by the flag: the same policy, so the same run id.
    code, file_out, err = _dry_run(
        book_lake, "--policy-file", str(policy_file), "--spread-bps", "7"
    )
    assert code == 0, err
    assert _run_id(file_out) == _run_id(flags_out)
    code, default_out, _ = _dry_run(book_lake)
    assert _run_id(default_out) != _run_id(flags_out)


def test_policy_flags_reach_the_engine(book_lake: LocalLake) -> None:
    result = CliRunner().invoke(
        app,
        ["--lake", book_lake.root, "recommend", "--all", "--as-of", AS_OF,
         "--rebalance-to", "target", "--fee", "1.5", "--spread-bps", "0"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    costs = book_lake.query("SELECT cost FROM recommendations")["cost"]
    assert len(costs) and set(costs) == {1.5}
    # buy_only is a flag pair; the run id hashes the policy.
    code, on, err = _dry_run(book_lake, "--buy-only")
    assert code == 0, err
    code, off, _ = _dry_run(book_lake, "--no-buy-only")
    code, default, _ = _dry_run(book_lake)
    assert _run_id(off) == _run_id(default) != _run_id(on)


def test_an_optional_knob_can_be_turned_off(book_lake: LocalLake, tmp_path: Path) -> None:
    from rebalancer.cli.recommend import build_policy

    policy_file = tmp_path / "betterment.json"
    policy_file.write_text(Policy(band="absolute", max_total_drift=0.03).to_json())
    assert build_policy(policy_file, {}).max_total_drift == 0.03
    code, with_file, _ = _dry_run(book_lake, "--policy-file", str(policy_file))
    code, turned_off, err = _dry_run(
        book_lake, "--policy-file", str(policy_file), "--max-total-drift", "none"
    )
    assert code == 0, err
    code, plain, _ = _dry_run(book_lake, "--band", "absolute")
    assert _run_id(turned_off) == _run_id(plain) != _run_id(with_file)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--band", "wide"],
            "--band: Input should be 'absolute', 'relative' or 'hybrid' (got 'wide')",
        ),
        (["--relative-band", "-1"], "--relative-band: Input should be greater than or equal to 0"),
        (["--relative-band", "1.5"], "--relative-band: Input should be less than or equal to 1"),
        (["--relative-band", "nan"], "--relative-band: Input should be a finite number"),
        (["--relative-band", "lots"], "--relative-band: Input should be a valid number"),
        (["--calendar-days", "1.5"], "--calendar-days: Input should be a valid integer"),
        (["--calendar-days", "0"], "--calendar-days: Input should be greater than or equal to 1"),
        (["--fee", "-2"], "--fee-per-trade: Input should be greater than or equal to 0"),
        (["--lot-method", "lifo"], "--lot-method: Input should be 'tax_aware', 'hifo' or 'fifo'"),
        (["--min-trade-value", "none"], "--min-trade-value: Input should be a valid number"),
    ],
)
def test_a_bad_policy_flag_is_one_line_naming_it(
    tmp_path: Path, args: list[str], message: str
) -> None:
    lake = tmp_path / "lake"
    result = CliRunner().invoke(app, ["--lake", str(lake), "recommend", "--all", *args])
    assert result.exit_code == ConfigError.exit_code, result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {message}")
    assert "Traceback" not in result.output
    assert not lake.exists()  # checked before any I/O


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("{not json", "policy JSON is not valid JSON"),
        ("[1, 2]", "policy JSON must be an object"),
        ('{"band": "wide"}', "policy.band: Input should be"),
        ('{"bandwidth": 0.1}', "bandwidth"),
        ('{"relative_band": 2}', "policy.relative_band: Input should be less than or equal to 1"),
    ],
)
def test_a_bad_policy_file_is_one_line_naming_it(
    tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "policy.json"
    if content is not None:
        path.write_text(content)
    result = CliRunner().invoke(
        app, ["--lake", str(tmp_path / "lake"), "recommend", "--all", "--policy-file", str(path)]
    )
    assert result.exit_code == ConfigError.exit_code, result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: --policy-file {path}: ") and message in line


# --- square brackets are text -----------------------------------------------------------------


def test_markup_in_an_account_id_prints_as_text(book_lake: LocalLake) -> None:
    result = CliRunner().invoke(
        app, ["--lake", book_lake.root, "recommend", "--account", "[/bold]x", "--as-of", AS_OF]
    )
    assert result.exit_code == NotFoundError.exit_code, result.output  # was: MarkupError
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and "[/bold]x" in line


def test_markup_in_a_rejected_account_prints_as_text(book_lake: LocalLake) -> None:
    from tests.engine.books import account, holdings

    odd = "[link=https://evil.example]A4[/link]"
    book_lake.write("accounts", pd.DataFrame([account(odd, household_id="H4")]))
    book_lake.write("holdings", holdings(odd, VTI=-1))
    result = run(["recommend", "--all", "--as-of", AS_OF, "--dry-run"], book_lake.root)
    assert result.returncode == 0, result.stderr
    assert f"account {odd}: negative or missing quantity of VTI" in result.stderr
    assert "\x1b]8;" not in result.stderr
