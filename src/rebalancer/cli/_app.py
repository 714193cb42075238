"""The typer app, its global options, and the one place errors become exit codes.

Every verb module registers its commands on :data:`app`. Domain errors raised anywhere below
the root group become one line on stderr and the error's exit code (:class:`ErrorMappingGroup`);
a traceback is shown only with ``--debug``.
"""

from __future__ import annotations

import sys
from datetime import date
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from rebalancer import __version__
from rebalancer.cli._output import console, err_console, escape
from rebalancer.config import Settings, load_settings
from rebalancer.errors import ConfigError, RebalancerError
from rebalancer.lake import Lake, get_lake

try:  # typer >= 0.20 vendors click
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover - older typer on plain click
    import click.exceptions as click_errors  # type: ignore[no-redef]

#: Exit code of an unexpected exception (a bug): EX_SOFTWARE.
INTERNAL_ERROR_EXIT = 70


class _State:
    lake: str | None = None
    backend: str | None = None
    debug: bool = False


state = _State()


def settings() -> Settings:
    """Settings from the environment, with global command-line options on top; a bad value is
    one line naming the flag or the ``REBALANCER_*`` variable that gave it."""
    overrides: dict[str, Any] = {}
    if state.lake:
        overrides["lake"] = state.lake
    if state.backend:
        overrides["backend"] = state.backend
    return load_settings({name: f"--{name}" for name in overrides}, **overrides)


def open_lake() -> Lake:
    """The lake the command line and environment point at."""
    return get_lake(settings())


def print_error(message: str) -> None:
    """``error: <message>`` on stderr; the message is text, never markup."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print a one-line error and return the Exit to raise."""
    print_error(message)
    return typer.Exit(code)


def iso_date(value: str | None, flag: str) -> date | None:
    """A ``YYYY-MM-DD`` option as a date (None stays None); ConfigError names the flag."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"{flag} must be a date like 2024-01-31, got {value!r}") from None


def error_exit(exc: Exception) -> typer.Exit:
    """The one mapping of an exception to a message and an exit code."""
    if isinstance(exc, RebalancerError):
        return fail(" ".join(str(exc).split()), exc.exit_code)
    message = " ".join(str(exc).split()) or type(exc).__name__
    return fail(
        f"{type(exc).__name__}: {message} (re-run with --debug for details)", INTERNAL_ERROR_EXIT
    )


_PASS_THROUGH = (typer.Exit, typer.Abort, KeyboardInterrupt, click_errors.ClickException)


class ErrorMappingGroup(TyperGroup):
    """The root group: every verb (nested groups too) runs inside its ``invoke``, so errors are
    mapped to exit codes here once instead of by a decorator on each verb."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except _PASS_THROUGH:
            raise
        except Exception as exc:
            if state.debug:
                raise
            raise error_exit(exc) from None


app = typer.Typer(
    name="rebalancer",
    cls=ErrorMappingGroup,
    help="Portfolio rebalancing on a Parquet data lake (local DuckDB or AWS Athena).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def main(
    lake: Annotated[
        str | None, typer.Option("--lake", help="Lake directory or s3:// URI (REBALANCER_LAKE).")
    ] = None,
    backend: Annotated[
        str | None, typer.Option("--backend", help="local or aws (REBALANCER_BACKEND).")
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
) -> None:
    """Global options; each verb's --help says what it does."""
    state.lake, state.backend, state.debug = lake, backend, debug


@app.command()
def version() -> None:
    """Print the version."""
    console.print(__version__)


def run() -> None:
    """Console entry point: usage errors too become one line (click prints a box by default)."""
    try:
        result = app(standalone_mode=False)
    except click_errors.NoArgsIsHelpError as exc:
        typer.echo(exc.ctx.get_help() if exc.ctx is not None else "", err=True)
        sys.exit(2)
    except click_errors.UsageError as exc:
        hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx is not None else ""
        print_error(" ".join(exc.format_message().split()) + hint)
        sys.exit(exc.exit_code)
    except click_errors.ClickException as exc:
        print_error(" ".join(exc.format_message().split()))
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err_console.print("aborted")
        sys.exit(130)
    sys.exit(result if isinstance(result, int) else 0)
