"""``recommend``: trades for one account or the whole book, written to recommendations."""

from __future__ import annotations

from typing import Annotated

import typer

from rebalancer.cli._app import app, open_lake
from rebalancer.cli._output import console, err_console


@app.command()
def recommend(
    all_accounts: Annotated[bool, typer.Option("--all", help="Every account of the book.")] = False,
    account: Annotated[str | None, typer.Option("--account", help="One account id.")] = None,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Price time, UTC (default: the newest bar's close)."),
    ] = None,
    band: Annotated[str | None, typer.Option(help="absolute | relative | hybrid.")] = None,
    relative_band: Annotated[float | None, typer.Option(help="Fraction of target.")] = None,
    absolute_band: Annotated[float | None, typer.Option(help="Band (floor), points.")] = None,
    max_total_drift: Annotated[float | None, typer.Option(help="Total-drift trigger.")] = None,
    trigger: Annotated[
        str | None, typer.Option(help="threshold | calendar | calendar_threshold.")
    ] = None,
    calendar_days: Annotated[int | None, typer.Option(help="Calendar period, days.")] = None,
    rebalance_to: Annotated[str | None, typer.Option(help="target | band_edge | halfway.")] = None,
    cash_reserve: Annotated[float | None, typer.Option(help="Cash floor, fraction.")] = None,
    min_trade_value: Annotated[float | None, typer.Option(help="Smallest trade, USD.")] = None,
    fee: Annotated[float | None, typer.Option(help="Fee per trade, USD.")] = None,
    spread_bps: Annotated[float | None, typer.Option(help="Spread cost, bps.")] = None,
    drift_value_bps: Annotated[float | None, typer.Option(help="Benefit per $ fixed, bps.")] = None,
    lot_method: Annotated[str | None, typer.Option(help="tax_aware | hifo | fifo.")] = None,
    strict: Annotated[bool, typer.Option(help="Fail if any account is invalid.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Do not write.")] = False,
) -> None:
    """Recommend trades and write them to the recommendations table (one object per run)."""
    from rebalancer.engine import Policy, tune_allocator
    from rebalancer.errors import ConfigError
    from rebalancer.recommend import run_recommendations

    if all_accounts == (account is not None):
        raise ConfigError("give exactly one of --all or --account ID")
    tune_allocator()  # the batch's large temporaries reuse heap pages (engine/_allocator.py)
    policy = Policy.from_options(
        band=band, relative_band=relative_band, absolute_band=absolute_band,
        max_total_drift=max_total_drift, trigger=trigger, calendar_days=calendar_days,
        rebalance_to=rebalance_to, cash_reserve=cash_reserve, min_trade_value=min_trade_value,
        fee_per_trade=fee, spread_bps=spread_bps, drift_value_bps=drift_value_bps,
        lot_method=lot_method,
    )  # fmt: skip
    with err_console.status("recommending..."):
        result = run_recommendations(
            open_lake(), as_of=as_of, account_id=account, policy=policy, write=not dry_run,
            strict=strict,
        )  # fmt: skip
    s = result.summary()
    console.print(
        f"run {s['run_id']} as of {s['as_of']}: {s['accounts']:,} account(s), "
        f"{s['accounts_traded']:,} traded, {s['trades']:,} trade(s), turnover "
        f"${s['turnover_usd']:,.2f} ({s['turnover_pct']:.2f}%)"
        + ("" if dry_run or not result.keys else f"; wrote {len(result.keys)} object(s)")
    )
    rejected = result.recommendation.rejected
    if len(rejected):
        err_console.print(f"[yellow]skipped {len(rejected):,} invalid account(s):[/]")
        for row in rejected.head(5).itertuples(index=False):
            err_console.print(f"  account {row.account_id}: {row.reason}", highlight=False)
