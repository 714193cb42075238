"""Backtest verb: ``backtest`` (rebalancing policies replayed on a target portfolio over the
lake's daily history, through the real engine)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from rebalancer.cli._app import app, iso_date, open_lake
from rebalancer.cli._output import OutputFormat, console, err_console, escape, print_frame
from rebalancer.errors import ConfigError

_POLICY_HELP = (
    "Rule, name[:param]; repeat to compare, or 'all' for the rule grid and the learned "
    "trigger. never, monthly, quarterly, annual, calendar:<period>, absolute:<w> (0.05), "
    "relative:<w> (0.25), "
    "hybrid:<w> (0.20), calendar_threshold:<w> (0.05), daryanani:<w> (0.20), vanguard, 5/25, "
    "learned:<p> (0.5; trained on the lake's history before --start)."
)


def _weights(text: str) -> list[float]:
    try:
        return [float(w) for w in text.split(",") if w.strip()]
    except ValueError:
        raise ConfigError(f"--weights must be numbers separated by commas, got {text!r}") from None


def _cell(metric: str, value: object) -> str:
    return f"{int(value):,}" if metric == "rebalances" else f"{float(value):.4f}"  # type: ignore[call-overload, arg-type]


@app.command()
def backtest(
    start: Annotated[str, typer.Option("--start", help="First day, YYYY-MM-DD.")],
    end: Annotated[str, typer.Option("--end", help="Last day, YYYY-MM-DD.")],
    symbols: Annotated[
        str | None, typer.Option("--symbols", help="Comma-separated symbols.")
    ] = None,
    weights: Annotated[
        str | None,
        typer.Option("--weights", help="Comma-separated target weights summing to 1."),
    ] = None,
    accounts: Annotated[
        int | None,
        typer.Option(
            "--accounts",
            help="Instead of --symbols/--weights: replay N accounts sampled from the book "
            "(their models, tax treatment and share rule); metrics averaged per policy.",
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the --accounts sample.")] = 0,
    policy: Annotated[list[str], typer.Option("--policy", help=_POLICY_HELP)] = ["monthly"],  # noqa: B006
    cost_bps: Annotated[
        float, typer.Option("--cost-bps", help="Cost per trade, bps of its value.")
    ] = 5.0,
    account_type: Annotated[
        str, typer.Option("--account-type", help="taxable (gains taxed lot by lot) or ira.")
    ] = "taxable",
    fractional: Annotated[
        bool, typer.Option("--fractional/--whole-shares", help="Fractional or whole shares.")
    ] = False,
    fmt: Annotated[
        OutputFormat, typer.Option("--format", help="table, csv (metrics) or json (+ curves).")
    ] = OutputFormat.table,
    report: Annotated[
        Path | None, typer.Option("--report", help="Write an HTML report (plotly) here.")
    ] = None,
    write: Annotated[
        bool, typer.Option("--write/--no-write", help="Write the runs to the backtests table.")
    ] = True,
) -> None:
    """Backtest rebalancing policies on a target portfolio over the lake's daily closes.

    Each run starts with 1.0 in cash, invested on the first day at the engine's prices and
    costs; metrics are per 1.0. Taxes (taxable accounts) are paid from outside the account.
    """
    from rebalancer.backtest import metrics_table, render_html
    from rebalancer.usecases import run_backtests

    first = iso_date(start, "--start")
    last = iso_date(end, "--end")
    assert first is not None and last is not None  # required options
    if accounts is not None:
        if symbols is not None or weights is not None:
            raise ConfigError("--accounts replays the book's models: drop --symbols/--weights")
        _book_sample(accounts, seed, policy, first, last, cost_bps, fmt, write)
        return
    if symbols is None or weights is None:
        raise ConfigError("give --symbols and --weights (or --accounts N for a book sample)")
    runs = run_backtests(
        open_lake(), symbols=symbols.split(","), weights=_weights(weights), policies=policy,
        start=first, end=last, cost_bps=cost_bps, account_type=account_type,
        fractional=fractional, write=write,
    )  # fmt: skip
    for note in dict.fromkeys(n for r in runs for n in r.notes):  # stderr: stdout is the data
        err_console.print(f"[dim]{escape(note)}[/]", soft_wrap=True)
    if report is not None:
        title = ", ".join(f"{s} {w:g}" for s, w in runs[0].weights.items())
        title = f"{title}: {runs[0].start} to {runs[0].end}, {account_type}, {cost_bps:g} bps"
        report.write_text(render_html([r.result for r in runs], title=title), encoding="utf-8")
    if fmt is OutputFormat.json:
        payload = [r.to_dict() for r in runs]
        sys.stdout.write(json.dumps(payload if len(payload) > 1 else payload[0]) + "\n")
        return
    table = metrics_table([r.result for r in runs])
    if fmt is OutputFormat.csv:
        print_frame(table, fmt)
        return
    # A tall table: one row per metric, one column per policy.
    shown = pd.DataFrame({"metric": table.columns[1:]})
    for _, row in table.iterrows():
        shown[str(row["policy"])] = [_cell(m, row[m]) for m in table.columns[1:]]
    head = runs[0]
    title = ", ".join(f"{s} {w:g}" for s, w in head.weights.items())
    print_frame(shown, fmt, title=f"{title}  {head.start} to {head.end}  {account_type}  "
                f"{cost_bps:g} bps")  # fmt: skip
    if write:
        console.print(f"[dim]wrote {len(runs)} run(s) to the backtests table[/]")
    if report is not None:
        console.print(f"[dim]report: {report}[/]")


def _book_sample(
    n: int,
    seed: int,
    policy: list[str],
    first: object,
    last: object,
    cost_bps: float,
    fmt: OutputFormat,
    write: bool,
) -> None:
    """``--accounts N``: per-account runs, shown as the mean of each metric per policy."""
    from rebalancer.usecases import run_book_backtests

    runs = run_book_backtests(
        open_lake(), accounts=n, seed=seed, policies=policy, start=first, end=last,  # type: ignore[arg-type]
        cost_bps=cost_bps, write=write,
    )  # fmt: skip
    if fmt is OutputFormat.json:
        sys.stdout.write(json.dumps([r.to_dict() for r in runs]) + "\n")
        return
    frame = pd.DataFrame([{"policy": r.policy, **r.metrics} for r in runs])
    table = frame.groupby("policy", sort=False).mean().reset_index()
    table.insert(1, "accounts", frame.groupby("policy", sort=False).size().to_numpy())
    ids = sorted({str(r.account_id) for r in runs})
    print_frame(table, fmt, title=f"{len(ids)} book accounts (seed {seed}), mean per policy  "
                f"{runs[0].start} to {runs[0].end}  {cost_bps:g} bps")  # fmt: skip
    if write:
        console.print(f"[dim]wrote {len(runs)} run(s) to the backtests table[/]")
