"""``demo``: the whole system offline on the configured (local) lake."""

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
) -> None:
    """Run the whole system offline on the configured (local) lake."""
    from rebalancer.demo import DemoOptions, run_demo

    run_demo(
        open_lake(),
        options=DemoOptions(start=start, accounts=accounts, seed=seed),
        settings=settings(),
        console=console,
        progress=progress_bar,
    )
