"""``recommend``: trades for one account or the whole book, written to recommendations.

The policy flags are generated from :class:`rebalancer.engine.Policy`'s fields (name, type, bounds
and help text), so a new knob is a new flag without editing this module. A flag that is not given
keeps the policy default (or the ``--policy-file`` value); a bad value is one line naming the flag.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ConfigDict, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo

from rebalancer.cli._app import app, open_lake
from rebalancer.cli._output import OutputFormat, console, err_console, escape, print_frame
from rebalancer.engine import Policy
from rebalancer.errors import ConfigError

if typing.TYPE_CHECKING:
    from rebalancer.usecases import RunResult

POLICY_PANEL = "Policy (rebalancer.engine.Policy; flags override --policy-file)"

#: Short names kept from before the flags were generated (documented in the README).
ALIASES: dict[str, tuple[str, ...]] = {"fee_per_trade": ("--fee",)}

#: Most shard worker processes a run may start (each holds one shard, ~0.5 GiB at 10k accounts).
MAX_WORKERS = 64

#: Spellings that turn an optional knob off (``--max-total-drift none``).
NONE_WORDS = frozenset({"none", "null", "off"})


class _Clear:
    """A flag's value meaning "set this optional knob to None" (None itself means not given)."""

    def __repr__(self) -> str:
        return "none"


CLEAR: Any = _Clear()


def flag_name(field: str) -> str:
    """``fee_per_trade`` -> ``--fee-per-trade``."""
    return "--" + field.replace("_", "-")


def _is_optional(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    return origin in (typing.Union, types.UnionType) and type(None) in typing.get_args(annotation)


def _value_parser(name: str, flag: str, field: FieldInfo) -> Callable[[str], Any]:
    """Validate one flag with the field's own type and bounds, before any I/O."""
    optional = _is_optional(field.annotation)
    # The field's type with its constraints, under the policy's config (no inf or nan).
    annotated: Any = (
        Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
    )
    config = ConfigDict(allow_inf_nan=Policy.model_config.get("allow_inf_nan", True))
    adapter: TypeAdapter[Any] = TypeAdapter(annotated, config=config)

    def parse(raw: str) -> Any:
        if optional and raw.strip().lower() in NONE_WORDS:
            return CLEAR
        try:
            value = adapter.validate_python(raw)
        except ValidationError as exc:
            why = exc.errors()[0].get("msg", "invalid value")
            raise ConfigError(f"{flag}: {why} (got {raw!r})") from None
        if value is None:
            return CLEAR
        return value

    return parse


def _bounds(field: FieldInfo) -> str:
    """``0 <= x <= 1`` from the field's constraints ('' when it has none)."""
    low = high = ""
    for item in field.metadata:
        for attr, text in (("ge", "<="), ("gt", "<")):
            if getattr(item, attr, None) is not None:
                low = f"{getattr(item, attr)} {text} "
        for attr, text in (("le", "<="), ("lt", "<")):
            if getattr(item, attr, None) is not None:
                high = f" {text} {getattr(item, attr)}"
    return f" Range: {low}x{high}." if low or high else ""


def _help(field: FieldInfo, optional: bool) -> str:
    default = "none" if field.default is None else str(field.default)
    extra = " Give none to turn it off." if optional else ""
    text = f"{field.description or ''}{_bounds(field)}{extra} Policy default: {default}."
    return escape(text)


def policy_parameters() -> list[inspect.Parameter]:
    """One keyword-only typer option per ``Policy`` field (default None: not given)."""
    params = []
    for name, field in Policy.model_fields.items():
        flag = flag_name(name)
        annotation: Any = field.annotation
        optional = _is_optional(annotation)
        if annotation is bool:
            option = typer.Option(
                f"{flag}/--no-{flag[2:]}",
                help=_help(field, optional),
                rich_help_panel=POLICY_PANEL,
                show_default=False,
            )
        else:
            base = typing.get_args(annotation)[0] if optional else annotation
            metavar = None
            if optional:
                kind = "float" if base is float else "integer" if base is int else "value"
                metavar = f"<{kind}|none>"
            option = typer.Option(
                flag,
                *ALIASES.get(name, ()),
                parser=_value_parser(name, flag, field),
                metavar=metavar,
                help=_help(field, optional),
                rich_help_panel=POLICY_PANEL,
                show_default=False,
            )
        params.append(
            inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                default=None,
                annotation=Annotated[annotation | None, option],
            )
        )
    return params


def build_policy(policy_file: Path | None, flags: dict[str, Any]) -> Policy:
    """The policy of a run: the file (or the defaults), with the given flags on top."""
    base = None
    if policy_file is not None:
        if not policy_file.is_file():
            raise ConfigError(f"--policy-file {policy_file}: no such file")
        try:
            base = Policy.from_json(policy_file.read_bytes())
        except ConfigError as exc:
            raise ConfigError(f"--policy-file {policy_file}: {exc}") from None
    given = {k: v for k, v in flags.items() if v is not None and v is not CLEAR}
    policy = Policy.from_options(base, **given)
    cleared = [k for k, v in flags.items() if v is CLEAR]
    if cleared:
        policy = Policy(**{**policy.model_dump(), **dict.fromkeys(cleared)})
    return policy


def recommend(
    all_accounts: Annotated[bool, typer.Option("--all", help="Every account of the book.")] = False,
    account: Annotated[str | None, typer.Option("--account", help="One account id.")] = None,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Price time, UTC (default: the newest bar's close)."),
    ] = None,
    policy_file: Annotated[
        Path | None,
        typer.Option(
            "--policy-file",
            help="A policy as JSON (Policy.to_json); policy flags override its values.",
            dir_okay=False,
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            help="Processes that stage the shards of a sharded local book (--all only; "
            "default: one per core, at most 2, for 50,000 accounts or more). The run is the "
            "same for any number.",
            show_default=False,
        ),
    ] = None,
    strict: Annotated[bool, typer.Option(help="Fail if any account is invalid.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Do not write.")] = False,
    **policy_flags: Any,
) -> None:
    """Recommend trades and write them to the recommendations table (one object per run)."""
    from rebalancer.engine import tune_allocator
    from rebalancer.usecases import run_recommendations

    if all_accounts == (account is not None):
        raise ConfigError("give exactly one of --all or --account ID")
    if workers is not None and (workers < 1 or workers > MAX_WORKERS):
        raise ConfigError(f"--workers must be between 1 and {MAX_WORKERS}, got {workers}")
    if workers is not None and account is not None:
        raise ConfigError("--workers applies to --all only (one account is one household)")
    policy = build_policy(policy_file, policy_flags)
    tune_allocator()  # the batch's large temporaries reuse heap pages (engine/_allocator.py)
    with err_console.status("recommending..."):
        # A stored batch keeps only its totals: memory follows the shard, not the book.
        result = run_recommendations(
            open_lake(), as_of=as_of, account_id=account, policy=policy, write=not dry_run,
            strict=strict, collect=account is not None or dry_run, workers=workers,
        )  # fmt: skip
    s = result.summary()
    console.print(
        f"run {s['run_id']} as of {s['as_of']}: {s['accounts']:,} account(s), "
        f"{s['accounts_traded']:,} traded, {s['trades']:,} trade(s), turnover "
        f"${s['turnover_usd']:,.2f} ({s['turnover_pct']:.2f}%)"
        + ("" if dry_run or not result.keys else f"; wrote {len(result.keys)} object(s)")
    )
    if result.model_version is not None:
        print_advice(result, policy, account)
    rejected = result.recommendation.rejected
    if len(rejected):
        err_console.print(f"[yellow]skipped {len(rejected):,} invalid account(s):[/]")
        for row in rejected.head(5).itertuples(index=False):
            line = f"  account {row.account_id}: {row.reason}"
            err_console.print(line, markup=False, highlight=False, soft_wrap=True)
    for warning in result.warnings:
        err_console.print(
            f"[bold yellow]warning:[/] {escape(warning)}", highlight=False, soft_wrap=True
        )


def print_advice(result: RunResult, policy: Policy, account: str | None) -> None:
    """The model's line (version, actions, sleeves the gate pinned) and, for one account,
    its per-holding advice (action, confidence, reasons)."""
    counts = result.model_counts
    scored = ", ".join(f"{a} {counts.get(a, 0):,}" for a in ("SELL", "HOLD", "BUY"))
    pinned = f"; {counts.get('pinned', 0):,} pinned by the gate" if policy.model == "gate" else ""
    console.print(
        f"model {result.model_version} ({policy.model}): "
        f"{sum(counts.get(a, 0) for a in ('SELL', 'HOLD', 'BUY')):,} sleeve(s) scored: "
        f"{scored}{pinned}",
        markup=False,
        highlight=False,
    )
    advice = result.recommendation.advice
    if account is None or advice is None:
        return
    frame = advice.drop(columns=["account_id"]).rename(
        columns={"model_action": "action", "model_confidence": "confidence",
                 "model_reasons": "reasons"}
    )  # fmt: skip
    print_frame(frame, OutputFormat.table, title=f"model advice for account {account}")


def _signature() -> inspect.Signature:
    """recommend's own options, then the generated policy flags (``--workers``, ``--strict``,
    ``--dry-run`` last)."""
    own = [
        p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
        for p in inspect.signature(recommend, eval_str=True).parameters.values()
        if p.kind is not inspect.Parameter.VAR_KEYWORD
    ]
    last = ("workers", "strict", "dry_run")
    head = [p for p in own if p.name not in last]
    tail = [p for p in own if p.name in last]
    return inspect.Signature([*head, *policy_parameters(), *tail])


recommend.__signature__ = _signature()  # type: ignore[attr-defined]
app.command()(recommend)
