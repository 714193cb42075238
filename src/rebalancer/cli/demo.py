"""``demo``: the whole system offline on the configured (local) lake, then the API and the
dashboard served on it until Ctrl-C."""

from __future__ import annotations

from typing import Annotated

import typer

from rebalancer.cli._app import app, open_lake, settings
from rebalancer.cli._output import console, progress_bar


@app.command()
def demo(
    start: Annotated[str, typer.Option(help="First day of history to load.")] = "2019-01-01",
    accounts: Annotated[int, typer.Option(min=1, help="Accounts in the demo book.")] = 2_000,
    seed: Annotated[int, typer.Option(help="Seed of the demo book.")] = 7,
    decision_accounts: Annotated[
        int, typer.Option(min=1, help="Accounts whose advisors' decisions are simulated.")
    ] = 400,
    decision_dates: Annotated[
        int, typer.Option(min=1, help="Dates the decisions are simulated on.")
    ] = 16,
    decision_step_days: Annotated[
        int, typer.Option(min=1, help="Sessions between simulated dates.")
    ] = 10,
    train_rounds: Annotated[
        int, typer.Option(min=1, help="Most boosting rounds of the demo model.")
    ] = 300,
    serve: Annotated[
        bool,
        typer.Option(
            "--serve/--no-serve", help="End by serving the API and the dashboard until Ctrl-C."
        ),
    ] = True,
    serve_seconds: Annotated[
        float | None,
        typer.Option(min=0.0, help="Stop serving after this many seconds (CI); default: Ctrl-C."),
    ] = None,
    api_port: Annotated[int, typer.Option(min=1, max=65535, help="API port.")] = 8000,
    dashboard_port: Annotated[int, typer.Option(min=1, max=65535, help="Dashboard port.")] = 8501,
) -> None:
    """Run the whole system offline on the configured (local) lake, then serve the API and
    the dashboard on it (127.0.0.1) until Ctrl-C."""
    from rebalancer.demo import DemoOptions, ServeOptions, run_demo, serve_demo

    current = settings()
    lake = open_lake()
    run_demo(
        lake,
        options=DemoOptions(
            start=start,
            accounts=accounts,
            seed=seed,
            decision_accounts=decision_accounts,
            decision_dates=decision_dates,
            decision_step_days=decision_step_days,
            train_rounds=train_rounds,
        ),
        settings=current,
        console=console,
        progress=progress_bar,
    )
    if serve:
        code = serve_demo(
            lake,
            settings=current,
            console=console,
            options=ServeOptions(
                api_port=api_port, dashboard_port=dashboard_port, seconds=serve_seconds
            ),
        )
        if code:
            raise typer.Exit(code)
