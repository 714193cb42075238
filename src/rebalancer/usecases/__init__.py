"""Use cases: the functions every entry point calls.

The CLI verbs, the API routes, the Lambdas, the dashboard pages and the training entry points
parse their input, call one function here, and render what it returns. Logic stays in the core
(:mod:`rebalancer.engine`, :mod:`rebalancer.book`, :mod:`rebalancer.market`,
:mod:`rebalancer.lake`); a use case wires it to the lake.

=========================  ===========================================================
use case                   what it does
=========================  ===========================================================
``run_recommendations``    recommend trades for the stored book or one account; a run
``recommend_portfolio``    recommend trades for a posted portfolio (nothing written)
``load_prices``            the last close per symbol known at a time
``book_as_of``             the default as-of of a book (every symbol has a close)
``latest_close_time``      when the newest bar closed
``list_runs``              one summary row per recommendation run
``list_accounts``          accounts with their status in the latest run (keyset pages)
``get_run``                one run's summary
``recommend_posted``       a posted portfolio's trades and per-holding actions
``price_bars``             bars of a few symbols over a bounded range
``simulate_decisions``     simulated advisors' decisions (labels) over the lake's history
``import_decision_file``   a firm's own decisions from a CSV (bad rows by line number)
``train_model``            train, evaluate and register the advisor-action model
``list_models``            registered model versions; ``get_model`` one's metadata
``promote_model``          make a registered version the current model
``score_household``        the model's action, confidence and reasons per sleeve
``run_backtests``          policies replayed on a target portfolio over lake history
``run_book_backtests``     the same on a seeded sample of the book's accounts
``reports``                the dashboard's typed reports (book drift, account, runs, market,
                           decisions, what-if)
=========================  ===========================================================
"""

from __future__ import annotations

from rebalancer.market import book_as_of, latest_close_time, load_prices
from rebalancer.usecases import _reports as reports
from rebalancer.usecases._accounts import AccountPage, CursorError, get_account, list_accounts
from rebalancer.usecases._backtest import (
    BacktestReport,
    run_backtest,
    run_backtests,
    run_book_backtests,
)
from rebalancer.usecases._digest import run_id_for
from rebalancer.usecases._market import price_bars
from rebalancer.usecases._model import (
    SimulationSummary,
    get_model,
    import_decision_file,
    list_models,
    promote_model,
    score_household,
    simulate_decisions,
    train_model,
)
from rebalancer.usecases._portfolio import (
    book_models,
    book_securities,
    holding_actions,
    recommend_posted,
)
from rebalancer.usecases._recommend import (
    RECOMMENDATION_COLUMNS,
    RunResult,
    book_symbols,
    parse_as_of,
    recommend_portfolio,
    recommendation_rows,
    run_recommendations,
    skip_warnings,
)
from rebalancer.usecases._runs import get_run, list_runs

__all__ = [
    "RECOMMENDATION_COLUMNS",
    "AccountPage",
    "BacktestReport",
    "CursorError",
    "RunResult",
    "SimulationSummary",
    "book_as_of",
    "book_models",
    "book_securities",
    "book_symbols",
    "get_account",
    "get_model",
    "get_run",
    "holding_actions",
    "import_decision_file",
    "latest_close_time",
    "list_accounts",
    "list_models",
    "list_runs",
    "load_prices",
    "parse_as_of",
    "price_bars",
    "promote_model",
    "recommend_portfolio",
    "recommend_posted",
    "recommendation_rows",
    "reports",
    "run_backtest",
    "run_backtests",
    "run_book_backtests",
    "run_id_for",
    "run_recommendations",
    "score_household",
    "simulate_decisions",
    "skip_warnings",
    "train_model",
]
