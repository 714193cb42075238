"""``rebalancer demo``: the whole system, offline, on the local lake, step by step.

Each step calls the same core functions as the CLI verbs and the Lambdas, so the demo is a
smoke test of the real paths: seed the universe, backfill real daily history, fill the symbols
it lacks with the synthetic provider, ingest a few live 5-minute slots and compact them,
publish the analyst views, generate a client book, recommend trades and query the results,
simulate advisors' decisions and train the advisor-action model on them, compare rebalancing
policies in a backtest, and finally serve the API and the dashboard on that lake
(:func:`serve_demo`) until Ctrl-C.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from types import FrameType

import pandas as pd
from rich.console import Console
from rich.progress import Progress

from rebalancer.config import Settings
from rebalancer.errors import ConfigError
from rebalancer.lake import Lake

SAMPLE_QUERY = """
SELECT symbol,
       count(*)                      AS bars,
       min(ts)                       AS first_bar,
       max(ts)                       AS last_bar,
       round(approx_percentile(close, 0.5), 2) AS median_close
FROM market_prices
WHERE "interval" = '1d'
GROUP BY symbol
ORDER BY symbol
""".strip()

INTRADAY_QUERY = """
SELECT symbol, format_datetime(ts, 'yyyy-MM-dd HH:mm') AS bar, close, volume
FROM latest_prices
WHERE "interval" = '5m'
ORDER BY symbol
LIMIT 8
""".strip()

BOOK_QUERY = """
SELECT a.account_type, count(*) AS accounts, round(sum(a.cash), 0) AS cash
FROM accounts a
GROUP BY 1
ORDER BY 2 DESC
""".strip()

TRADES_QUERY = """
SELECT reason, side, count(*) AS trades, round(sum(value), 0) AS value,
       round(sum(est_tax), 0) AS est_tax
FROM recommendations
GROUP BY 1, 2
ORDER BY value DESC
""".strip()


@dataclass(frozen=True)
class DemoOptions:
    """Knobs of the demo (the defaults take a few minutes on 2 idle cores)."""

    start: str = "2019-01-01"
    end: str = "2022-12-28"  # the bundled history's last day
    slots: int = 3
    accounts: int = 2_000
    seed: int = 7
    #: Simulated advisors' decisions (the model's labels): a book of this many accounts
    #: replayed over ``decision_dates`` sessions ``decision_step_days`` apart. The README's
    #: model figures are this simulation's (475,830 decisions, ~1 min; 400 x 16 x 10 trained
    #: a model at 92.5% of the ceiling, too few held-out rows and decisions to learn from).
    decision_accounts: int = 1_000
    decision_dates: int = 40
    decision_step_days: int = 5
    #: Most boosting rounds (early stopping usually ends sooner); one XGBoost thread.
    train_rounds: int = 300
    #: The backtest's target portfolio (a 60/40-like mix) and the rules compared.
    backtest_weights: dict[str, float] = field(
        default_factory=lambda: {"SPY": 0.4, "VEA": 0.2, "AGG": 0.3, "TLT": 0.1}
    )
    backtest_policies: tuple[str, ...] = (
        "never", "monthly", "quarterly", "annual", "absolute:0.05", "absolute:0.10",
        "relative:0.25", "hybrid:0.20", "daryanani:0.20", "vanguard", "5/25",
    )  # fmt: skip


def run_demo(
    lake: Lake,
    *,
    options: DemoOptions,
    settings: Settings,
    console: Console,
    progress: Callable[[], Progress],
) -> None:
    """Run every step, printing what each did."""
    from rebalancer.market import (
        backfill,
        compact_day,
        get_provider,
        ingest_slot,
        load_securities,
        seed_securities,
    )

    console.rule("1. securities universe")
    seeded = seed_securities(lake, settings)
    securities = load_securities(lake, settings)
    console.print(
        f"{len(securities)} securities ({'seeded now' if seeded else 'already seeded'}): "
        + ", ".join(f"{k} {v}" for k, v in securities["asset_class"].value_counts().items())
    )

    console.rule("2. backfill market_prices from the bundled real history (skfolio)")
    with progress() as bar:
        task = bar.add_task("history 1d", total=None)
        result = backfill(
            lake,
            source="history",
            start=options.start,
            end=options.end,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    console.print(f"{result.rows:,} real daily bars, {result.first_day} .. {result.last_day}")

    console.rule("3. synthetic daily bars for the symbols the history lacks (ETFs, bonds, crypto)")
    with progress() as bar:
        task = bar.add_task("synthetic 1d", total=None)
        synthetic = backfill(
            lake,
            source="synthetic",
            start=options.start,
            end=options.end,
            interval="1d",
            exclude_history=True,
            securities=securities,
            settings=settings,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    console.print(
        f"{synthetic.rows:,} synthetic daily bars, {synthetic.first_day} .. {synthetic.last_day}"
    )

    console.rule(f"4. live ingestion: {options.slots} five-minute slots, then compaction")
    provider = get_provider("synthetic", settings=settings, securities=securities)
    first_event = pd.Timestamp(f"{options.end} 15:00", tz="UTC")
    for i in range(options.slots):
        event_time = first_event + pd.Timedelta(minutes=5 * i)
        summary = ingest_slot(lake, provider, event_time, securities=securities, settings=settings)
        console.print(
            f"slot {summary.slot}: {summary.rows_written} rows written, "
            f"{summary.rejected} rejected, {len(summary.failed_symbols)} failed"
        )
    compacted = compact_day(lake, options.end)
    console.print(
        f"compacted {compacted.slot_objects} slot objects of {compacted.day} into one "
        f"({compacted.rows} rows)"
    )

    console.rule("5. analyst views")
    console.print(", ".join(lake.sync_views()))

    console.rule("6. Athena SQL on the lake")
    for sql in (SAMPLE_QUERY, INTRADAY_QUERY):
        console.print(sql, style="dim", highlight=False)
        console.print(lake.query(sql).to_string(index=False))
        console.print()

    console.rule(f"7. synthetic client book: {options.accounts:,} accounts, seed {options.seed}")
    from rebalancer.book import DEFAULT_MODELS, generate_book, write_book
    from rebalancer.market import load_price_panel

    prices = load_price_panel(lake, DEFAULT_MODELS.symbols)
    chunks = generate_book(options.accounts, seed=options.seed, prices=prices)
    book = write_book(lake, chunks, total_accounts=options.accounts)
    console.print(
        f"{book.accounts:,} accounts as of {book.as_of}: "
        + ", ".join(f"{table} {count:,}" for table, count in book.rows.items())
    )
    console.print(lake.query(BOOK_QUERY).to_string(index=False))

    console.rule("8. recommend trades for every account")
    from rebalancer.usecases import run_recommendations

    run = run_recommendations(lake)
    totals = run.summary()
    console.print(
        f"run {totals['run_id']} as of {totals['as_of']}: {totals['accounts']:,} accounts, "
        f"{totals['accounts_traded']:,} traded, {totals['trades']:,} trades, "
        f"{totals['rejected']:,} rejected, turnover {totals['turnover_pct']:.2f}%"
    )
    console.print(TRADES_QUERY, style="dim", highlight=False)
    console.print(lake.query(TRADES_QUERY).to_string(index=False))

    console.rule(
        "9. audit: trades that break a hard rule (sql/queries/recommendation_violations.sql)"
    )
    from rebalancer.resources import sql_dir

    violations = lake.query((sql_dir() / "queries" / "recommendation_violations.sql").read_text())
    violations = violations[violations["run_id"] == run.run_id]  # earlier runs saw other books
    if violations.empty:
        console.print(
            "no violations: every trade respects holdings, restrictions, wash sales, cash and drift"
        )
    else:
        console.print(violations.groupby("violation").size().to_string())

    _model_steps(lake, options=options, console=console, progress=progress)
    _backtest_step(lake, options=options, console=console)

    console.print(f"\nlake: {lake.root}")
    console.print(
        'next: `.venv/bin/rebalancer query "SELECT symbol, count(*) FROM market_prices GROUP BY 1"`'
    )


def _model_steps(
    lake: Lake, *, options: DemoOptions, console: Console, progress: Callable[[], Progress]
) -> None:
    """Steps 10-11: simulated advisors' decisions, then a model trained and registered on them
    (the same use cases as ``rebalancer decisions simulate`` and ``rebalancer train``)."""
    from rebalancer.model import TrainConfig
    from rebalancer.usecases._model import simulate_decisions, train_model

    console.rule(
        f"10. simulated advisors' decisions: {options.decision_accounts:,} accounts x "
        f"{options.decision_dates} dates"
    )
    with progress() as bar:
        task = bar.add_task("simulate decisions", total=options.decision_dates)
        summary = simulate_decisions(
            lake,
            accounts=options.decision_accounts,
            dates=options.decision_dates,
            step_days=options.decision_step_days,
            seed=options.seed,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    counts = ", ".join(f"{a} {n:,}" for a, n in sorted(summary.actions.items()))
    console.print(
        f"{summary.rows:,} decisions ({counts}), {summary.dates[0].date()} .. "
        f"{summary.dates[-1].date()}; ceiling macro-F1 {summary.ceiling['macro_f1']:.3f}"
    )

    console.rule("11. train the advisor-action model (XGBoost, one thread) and register it")
    config = TrainConfig(seed=options.seed, num_boost_round=options.train_rounds, nthread=1)
    with progress() as bar:
        task = bar.add_task("train", total=options.train_rounds)
        meta = train_model(
            lake,
            config,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    metrics = meta["metrics"]
    console.print(
        f"model {meta['version']}: macro-F1 {metrics['macro_f1']:.3f} (majority class "
        f"{metrics['majority_macro_f1']:.3f}, engine rule {metrics.get('rule_macro_f1', 0):.3f}, "
        f"ceiling {metrics.get('ceiling_macro_f1', 0):.3f}) on {int(metrics['test_rows']):,} "
        f"held-out rows, {meta['training']['rounds']} rounds in {metrics['train_seconds']:.1f} s"
    )


def _backtest_step(lake: Lake, *, options: DemoOptions, console: Console) -> None:
    """Step 12: the rebalancing rules compared on the lake's daily closes (``rebalancer
    backtest --policy ...``), written to the ``backtests`` table."""
    from rebalancer.usecases import run_backtests

    weights = options.backtest_weights
    console.rule(
        "12. backtest: "
        + ", ".join(f"{s} {w:.0%}" for s, w in weights.items())
        + f", {options.start} .. {options.end}"
    )
    reports = run_backtests(
        lake,
        symbols=list(weights),
        weights=list(weights.values()),
        policies=list(options.backtest_policies),
        start=date.fromisoformat(options.start),
        end=date.fromisoformat(options.end),
    )
    rows = sorted(reports, key=lambda r: -r.metrics["after_tax_final_value"])
    for report in rows:
        m = report.metrics
        console.print(
            f"{report.policy:<28} after tax {m['after_tax_final_value']:.4f}  "
            f"turnover {m['turnover']:.2f}  rebalances {int(m['rebalances'])}"
        )


# ------------------------------------------------------------------ serving
@dataclass(frozen=True)
class ServeOptions:
    """Where the demo serves the API and the dashboard (loopback only: no login), and for how
    long (``seconds=None``: until Ctrl-C or SIGTERM)."""

    api_port: int = 8000
    dashboard_port: int = 8501
    seconds: float | None = None
    host: str = "127.0.0.1"
    #: Seconds each server may take to answer its health check.
    startup_timeout: float = 120.0


@dataclass
class _Child:
    name: str
    url: str
    health: str
    proc: subprocess.Popen[bytes]
    log: Path


def _set_parent_death_signal() -> None:  # pragma: no cover - runs in the child
    """Linux: the child gets SIGTERM if the demo dies without stopping it (kill -9)."""
    if sys.platform.startswith("linux"):
        import ctypes

        with suppress(OSError):  # PR_SET_PDEATHSIG = 1
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


def _spawn(
    name: str, args: list[str], env: dict[str, str], logs: Path
) -> tuple[Path, subprocess.Popen[bytes]]:
    """Start ``python -m rebalancer.cli ARGS`` in its own process group, output to a log."""
    log = logs / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "rebalancer.cli", *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the demo, which stops each group itself
            preexec_fn=_set_parent_death_signal,
        )
    return log, proc


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 - loopback http
            return bool(answer.status == 200)
    except OSError:
        return False


def _tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text[-lines:])


def _stop(children: list[_Child], timeout: float = 15.0) -> None:
    """SIGTERM each child's process group, wait, SIGKILL what is left; reap every child."""
    for child in children:
        if child.proc.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(child.proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for child in children:
        try:
            child.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(child.proc.pid, signal.SIGKILL)
            child.proc.wait(timeout=timeout)


@contextmanager
def _stop_requested() -> Iterator[threading.Event]:
    """An event set by SIGINT or SIGTERM while the block runs (handlers restored after)."""
    event = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        event.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield event
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@dataclass
class Servers:
    """The running API and dashboard: their URLs, the API key, the processes and logs."""

    api_url: str
    dashboard_url: str
    key: str
    children: list[_Child]
    logs: Path


@contextmanager
def demo_servers(
    lake: Lake,
    *,
    settings: Settings,
    options: ServeOptions | None = None,
    stop: threading.Event | None = None,
) -> Iterator[Servers]:
    """Start the API (uvicorn) and the dashboard (streamlit) on ``lake``, both on loopback,
    the dashboard calling the API with one key (``REBALANCER_API_KEY`` or a generated one);
    yield once both answer their health checks; stop both (process groups) on the way out.
    A server that exits or does not answer in time is a one-line ConfigError."""
    options = options or ServeOptions()
    if options.api_port == options.dashboard_port:
        raise ConfigError("--api-port and --dashboard-port must differ")
    key = settings.api_key.get_secret_value() if settings.api_key else secrets.token_urlsafe(24)
    api_url = f"http://{options.host}:{options.api_port}"
    dash_url = f"http://{options.host}:{options.dashboard_port}"
    env = {
        **os.environ,
        "REBALANCER_LAKE": lake.root,
        "REBALANCER_BACKEND": settings.backend,
        "REBALANCER_API_KEY": key,
        "REBALANCER_API_URL": api_url,
        "PYTHONUNBUFFERED": "1",
    }
    logs = Path(tempfile.mkdtemp(prefix="rebalancer-demo-"))
    children: list[_Child] = []
    try:
        for name, args, url, health in (
            ("api", ["serve", "--host", options.host, "--port", str(options.api_port)],
             api_url, f"{api_url}/health"),
            ("dashboard",
             ["dashboard", "--host", options.host, "--port", str(options.dashboard_port)],
             dash_url, f"{dash_url}/_stcore/health"),
        ):  # fmt: skip
            log, proc = _spawn(name, args, env, logs)
            children.append(_Child(name, url, health, proc, log))
        _wait_healthy(children, stop or threading.Event(), options.startup_timeout)
        yield Servers(api_url, dash_url, key, children, logs)
    finally:
        _stop(children)


def serve_demo(
    lake: Lake,
    *,
    settings: Settings,
    console: Console,
    options: ServeOptions | None = None,
) -> int:
    """Serve the API and the dashboard on ``lake`` (:func:`demo_servers`); print both URLs,
    the key and how to stop; then wait for Ctrl-C / SIGTERM (or ``options.seconds``) and stop
    both. Returns 0, or 1 when a server exited by itself."""
    options = options or ServeOptions()
    console.rule("13. serve the API and the dashboard on this lake")
    with _stop_requested() as stop:
        try:
            with demo_servers(lake, settings=settings, options=options, stop=stop) as servers:
                if stop.is_set():
                    console.print("stopping before both servers answered")
                    return 0
                api, dash = servers.api_url, servers.dashboard_url
                console.print(f"API        {api}   (docs {api}/docs; X-API-Key: {servers.key})")
                console.print(f"Dashboard  {dash}   (calls the API with that key)")
                console.print(
                    f"pids: api {servers.children[0].proc.pid}, dashboard "
                    f"{servers.children[1].proc.pid}; logs in {servers.logs}"
                )
                console.print(
                    "Press Ctrl-C to stop both"
                    + (f" (stopping by itself in {options.seconds:g} s)" if options.seconds else "")
                )
                return _serve_until(servers.children, stop, options.seconds, console)
        finally:
            console.print("stopped the API and the dashboard")


def _wait_healthy(children: list[_Child], stop: threading.Event, timeout: float) -> None:
    """Wait until every child answers its health URL; a child that exits or a timeout is one
    line naming the server and its log's last lines."""
    deadline = time.monotonic() + timeout
    waiting = list(children)
    while waiting and not stop.is_set():
        for child in list(waiting):
            if child.proc.poll() is not None:
                raise ConfigError(
                    f"the {child.name} exited with code {child.proc.returncode} before "
                    f"answering on {child.url}: {_tail(child.log)}"
                )
            if _answers(child.health):
                waiting.remove(child)
        if waiting and time.monotonic() > deadline:
            raise ConfigError(
                f"the {waiting[0].name} did not answer {waiting[0].health} within {timeout:g} s: "
                f"{_tail(waiting[0].log)}"
            )
        stop.wait(0.25)


def _serve_until(
    children: list[_Child], stop: threading.Event, seconds: float | None, console: Console
) -> int:
    """Block until a stop signal, ``seconds``, or a child exiting by itself (then 1)."""
    deadline = None if seconds is None else time.monotonic() + seconds
    while not stop.wait(0.5):
        for child in children:
            if child.proc.poll() is not None:
                console.print(
                    f"the {child.name} exited with code {child.proc.returncode}: "
                    f"{_tail(child.log)}",
                    markup=False,
                )
                return 1
        if deadline is not None and time.monotonic() >= deadline:
            break
    return 0
