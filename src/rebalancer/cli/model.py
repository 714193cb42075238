"""Model verbs: ``decisions import|simulate`` (labels), ``train``, ``models list|show|promote``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from rebalancer.cli._app import app, iso_date, open_lake
from rebalancer.cli._output import console, err_console, progress_bar

decisions_app = typer.Typer(
    help="Advisor decisions (the model's labels): import a firm's history or simulate one.",
    no_args_is_help=True,
)
app.add_typer(decisions_app, name="decisions")


@decisions_app.command("import")
def decisions_import(
    file: Annotated[Path, typer.Argument(help="CSV: as_of,account_id,symbol,action[,...].")],
    strict: Annotated[
        bool, typer.Option("--strict", help="One bad row writes nothing and fails.")
    ] = False,
) -> None:
    """Import a firm's own decisions (source=import). Bad rows are listed with their line
    numbers and left out; every other row is written (exit code 3 if any row was bad)."""
    from rebalancer.usecases._model import import_decision_file

    result = import_decision_file(open_lake(), file, strict=strict)
    for line, reason in result.rejected[["line", "reason"]].itertuples(index=False):
        err_console.print(f"{escape(file.name)} line {line}: {escape(str(reason))}", soft_wrap=True)
    console.print(
        f"imported {result.written:,} decision(s) from {escape(file.name)}; "
        f"rejected {len(result.rejected):,}"
    )
    if not result.ok:
        raise typer.Exit(3)


@decisions_app.command("simulate")
def decisions_simulate(
    accounts: Annotated[int, typer.Option("--accounts", min=1, help="Accounts.")] = 500,
    dates: Annotated[int, typer.Option("--dates", min=1, help="As-of dates replayed.")] = 30,
    step_days: Annotated[
        int, typer.Option("--step-days", min=1, help="Sessions between dates.")
    ] = 10,
    start: Annotated[
        str | None,
        typer.Option("--start", help="First date YYYY-MM-DD (default: room for every date)."),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same decisions.")] = 7,
    noise_rate: Annotated[
        float,
        typer.Option("--noise-rate", min=0.0, max=0.49, help="Share of decisions flipped."),
    ] = 0.03,
) -> None:
    """Simulate advisors' decisions over the lake's price history (a synthetic book replayed
    date by date; each advisor's latent style plus noise) and write them with their features."""
    from rebalancer.usecases._model import simulate_decisions

    first = iso_date(start, "--start")
    lake = open_lake()
    with progress_bar() as bar:
        task = bar.add_task("simulate decisions", total=dates)
        summary = simulate_decisions(
            lake,
            accounts=accounts,
            dates=dates,
            step_days=step_days,
            start=first,
            seed=seed,
            noise_rate=noise_rate,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    counts = ", ".join(f"{a} {n:,}" for a, n in sorted(summary.actions.items()))
    console.print(
        f"wrote {summary.rows:,} simulated decisions ({counts}) for {summary.accounts:,} "
        f"accounts over {len(summary.dates)} dates "
        f"{summary.dates[0].date()}..{summary.dates[-1].date()}"
    )
    console.print(
        f"ceiling (latent policy vs noisy labels): macro-F1 {summary.ceiling['macro_f1']:.3f}, "
        f"accuracy {summary.ceiling['accuracy']:.3f}; the plain engine rule agrees with "
        f"{summary.rule_agreement:.1%} of the labels"
    )


def _json(data: object) -> None:
    console.print_json(json.dumps(data, default=str))
