"""Model verbs: ``decisions import|simulate`` (labels), ``train``, ``models list|show|promote``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from rebalancer.cli._app import app, iso_date, open_lake, settings
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
    features: Annotated[
        bool,
        typer.Option(
            "--features/--no-features",
            help="Describe the rows with the features query over the lake's book (trainable).",
        ),
    ] = True,
) -> None:
    """Import a firm's own decisions (source=import). Bad rows are listed with their line
    numbers and left out; every other row is written (exit code 3 if any row was bad)."""
    from rebalancer.usecases._model import import_decision_file

    result = import_decision_file(open_lake(), file, strict=strict, features=features)
    for line, reason in result.rejected[["line", "reason"]].itertuples(index=False):
        err_console.print(f"{escape(file.name)} line {line}: {escape(str(reason))}", soft_wrap=True)
    console.print(
        f"imported {result.written:,} decision(s) from {escape(file.name)}; "
        f"rejected {len(result.rejected):,}; {result.with_features:,} described by the "
        "features query over the lake's book (training rows)"
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


def fmt(row: dict[str, object], key: str) -> str:
    """A score to 3 decimals, or n/a."""
    value = row.get(key)
    return f"{value:.3f}" if isinstance(value, float | int) else "n/a"


def _json(data: object) -> None:
    console.print_json(json.dumps(data, default=str))


@app.command()
def train(
    seed: Annotated[int, typer.Option("--seed", help="Same seed and data, same model.")] = 7,
    rounds: Annotated[
        int, typer.Option("--rounds", min=1, help="Most boosting rounds (early stopping).")
    ] = 500,
    embargo_days: Annotated[
        int, typer.Option("--embargo-days", min=0, help="Days between train and test dates.")
    ] = 10,
    threads: Annotated[int, typer.Option("--threads", min=1, help="XGBoost threads.")] = 1,
    reasons: Annotated[
        str,
        typer.Option(
            "--reasons",
            help="Reason contributions: approx (Saabas, the cost of a prediction) or exact "
            "(TreeSHAP, ~100x dearer).",
        ),
    ] = "approx",
    source: Annotated[
        str, typer.Option("--source", help="Train on one source only (simulated|import|dashboard).")
    ] = "",
    promote: Annotated[
        bool, typer.Option("--promote/--no-promote", help="Make it the current model.")
    ] = True,
    on: Annotated[
        str,
        typer.Option(
            "--on",
            help="local (in this process) or sagemaker (a managed training job on the "
            "training set Athena UNLOADs; aws backend).",
        ),
    ] = "local",
    role_arn: Annotated[
        str | None,
        typer.Option(
            "--role-arn", help="SageMaker: the job's role (REBALANCER_SAGEMAKER_ROLE_ARN)."
        ),
    ] = None,
    instance_type: Annotated[
        str | None,
        typer.Option("--instance-type", help="SageMaker: instance type (ml.m5.xlarge)."),
    ] = None,
    image: Annotated[
        str | None,
        typer.Option("--image", help="SageMaker: image URI (default sagemaker-xgboost)."),
    ] = None,
    timeout_minutes: Annotated[
        float,
        typer.Option("--timeout-minutes", min=1, help="SageMaker: stop the job after this."),
    ] = 120.0,
) -> None:
    """Train the advisor-action model on the lake's decisions, evaluate it on held-out
    households and later dates, and register it under models/<version>/."""
    from rebalancer.model import TrainConfig
    from rebalancer.usecases._model import train_model

    config = TrainConfig(
        seed=seed, num_boost_round=rounds, embargo_days=embargo_days, nthread=threads,
        reasons=reasons,
    )  # fmt: skip
    if on not in ("local", "sagemaker"):
        raise typer.BadParameter(f"must be local or sagemaker, got {on!r}", param_hint="--on")
    lake = open_lake()
    if on == "sagemaker":
        from rebalancer.model._sagemaker_job import clients_for, job_settings, train_on_sagemaker

        job = job_settings(
            settings(),
            lake,
            role_arn=role_arn,
            instance_type=instance_type,
            image=image,
            timeout_seconds=timeout_minutes * 60,
        )
        meta = train_on_sagemaker(
            lake,
            job,
            clients_for(lake),
            config,
            source=source,
            promote=promote,
            on_status=_status_printer(),
        )
        _print_trained(meta, promote)
        return
    with progress_bar() as bar:
        task = bar.add_task("train", total=rounds)
        meta = train_model(
            lake,
            config,
            source=source,
            promote=promote,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
        bar.update(task, completed=rounds)
    _print_trained(meta, promote)


def _status_printer() -> Callable[[str, str], None]:
    """Print the job's status when it changes (it is polled every 30 s)."""
    last: list[tuple[str, str]] = []

    def show(status: str, detail: str) -> None:
        if not last or last[-1] != (status, detail):
            last.append((status, detail))
            err_console.print(f"{escape(status)}: {escape(detail)}", highlight=False)

    return show


def _print_trained(meta: dict[str, Any], promote: bool) -> None:
    """The registered version, its size and the evaluation table (and a warning when some
    features had no value in any training row)."""
    m = meta["metrics"]
    empty = meta.get("data_snapshot", {}).get("empty_features") or []
    if empty:
        err_console.print(
            f"warning: {len(empty)} feature(s) had no value in any training row "
            f"({escape(', '.join(empty[:5]))}{', ...' if len(empty) > 5 else ''}): the decisions' "
            "features were written before them; run `rebalancer decisions simulate` (or "
            "import) again so the model can use them",
            highlight=False,
            soft_wrap=True,
        )
    console.print(
        f"model {meta['version']}{' (current)' if promote else ''}: "
        f"{meta['training']['rows']:,} rows, {meta['training']['rounds']} rounds in "
        f"{m['train_seconds']:.1f} s"
    )
    from rebalancer.model._report import comparison_table

    console.print(comparison_table(meta["evaluation"]), markup=False, highlight=False)
    console.print(f"expected calibration error {m['ece']:.4f}")


models_app = typer.Typer(help="Registered models (models/<version>/).", no_args_is_help=True)
app.add_typer(models_app, name="models")


@models_app.command("list")
def models_list() -> None:
    """Registered model versions, oldest first; * marks the current one."""
    from rebalancer.usecases._model import list_models

    rows = list_models(open_lake())
    if not rows:
        console.print("no model registered: run `rebalancer train`")
        return
    for row in rows:
        console.print(
            f"{'*' if row['current'] else ' '} {row['version']}  rows {row['rows']:,}  "
            f"macro-F1 {fmt(row, 'macro_f1')}  rule {fmt(row, 'rule_macro_f1')}  "
            f"ceiling {fmt(row, 'ceiling_macro_f1')}  ECE {fmt(row, 'ece')}",
            highlight=False,
        )


@models_app.command("show")
def models_show(
    version: Annotated[
        str | None, typer.Argument(help="Version (default: the current model).")
    ] = None,
) -> None:
    """One model's metadata as JSON."""
    from rebalancer.usecases._model import get_model

    _json(get_model(open_lake(), version))


@models_app.command("promote")
def models_promote(
    version: Annotated[str, typer.Argument(help="Version to make current.")],
) -> None:
    """Make a registered version the current model (models/latest.json)."""
    from rebalancer.usecases._model import promote_model

    pointer = promote_model(open_lake(), version)
    console.print(f"current model: {pointer['version']}")
