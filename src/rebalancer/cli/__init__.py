"""The ``rebalancer`` command: thin verbs over the core library.

One module per verb group, each registering its commands on the one typer ``app``
(:mod:`rebalancer.cli._app`, which also maps errors to exit codes once):

========================  ================================================
``lake``                  query, views sync / list
``market``                backfill, ingest, compact, securities seed / list
``book``                  generate
``recommend``             recommend
``serve``                 serve
``demo``                  demo
``model``                 decisions import / simulate, train, models list / show / promote
``dashboard``             dashboard (Streamlit)
``backtest``              backtest
========================  ================================================

A new group (model, backtest, dashboard) is a new module imported below.
"""

from __future__ import annotations

# isort: off
# Registration order is the order of ``rebalancer --help``.
from rebalancer.cli._app import app, run, settings, state
from rebalancer.cli import lake, market, demo, serve, book, recommend, model, dashboard, backtest

# isort: on

__all__ = [
    "app", "backtest", "book", "dashboard", "demo", "lake", "market", "model", "recommend", "run",
    "serve", "settings", "state",
]  # fmt: skip
