"""The HTML report of backtests: plotly charts (equity, drift, turnover, taxes) and metrics.

plotly is the ``dashboard`` extra's; it is imported through :func:`rebalancer._optional.require`
so a core install gets one line naming the extra instead of a traceback.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import pandas as pd

from rebalancer._optional import require
from rebalancer.backtest._metrics import METRICS, metrics
from rebalancer.backtest._simulate import BacktestResult

_PERCENT = {"annual_return", "volatility", "max_drawdown", "tracking_error", "avg_drift",
            "turnover", "costs", "taxes_paid", "taxes_deferred"}  # fmt: skip


def metrics_table(results: Sequence[BacktestResult]) -> pd.DataFrame:
    """One row per run: its policy and every metric."""
    rows = [{"policy": r.policy, **metrics(r)} for r in results]
    return pd.DataFrame(rows, columns=["policy", *METRICS])


def _fmt(name: str, value: Any) -> str:
    if name == "rebalances":
        return f"{int(value):,}"
    if name in _PERCENT:
        return f"{100 * float(value):.2f}%"
    return f"{float(value):.4f}"


def render_html(results: Sequence[BacktestResult], *, title: str = "Backtest") -> str:
    """A self-contained HTML page (plotly from its CDN) for one or more runs."""
    go = require("plotly.graph_objects")
    subplots = require("plotly.subplots")
    fig = subplots.make_subplots(
        rows=4, cols=1, shared_xaxes=True, vertical_spacing=0.05,
        subplot_titles=("Equity (start = 1.0) and the daily-rebalanced target", "Total drift",
                        "Traded value per rebalance (per 1.0)", "Estimated tax per rebalance"),
    )  # fmt: skip
    for i, r in enumerate(results):
        fig.add_trace(go.Scatter(x=r.dates, y=r.equity, name=r.policy, legendgroup=str(i)), 1, 1)
        if i == 0:
            fig.add_trace(go.Scatter(x=r.dates, y=r.benchmark, name="target, daily, free",
                                     line={"dash": "dot"}), 1, 1)  # fmt: skip
        fig.add_trace(go.Scatter(x=r.dates, y=r.drift, name=r.policy, legendgroup=str(i),
                                 showlegend=False), 2, 1)  # fmt: skip
        reb = r.rebalances.iloc[1:]
        fig.add_trace(go.Bar(x=reb["date"], y=reb["turnover"] / r.initial_value, name=r.policy,
                             legendgroup=str(i), showlegend=False), 3, 1)  # fmt: skip
        fig.add_trace(go.Bar(x=reb["date"], y=reb["est_tax"] / r.initial_value, name=r.policy,
                             legendgroup=str(i), showlegend=False), 4, 1)  # fmt: skip
    fig.update_layout(height=1100, title=title, barmode="group")
    table = metrics_table(results)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
    body = "".join(
        "<tr>" + f"<td>{html.escape(str(row['policy']))}</td>"
        + "".join(f"<td>{_fmt(m, row[m])}</td>" for m in METRICS) + "</tr>"
        for _, row in table.iterrows()
    )  # fmt: skip
    chart = fig.to_html(full_html=False, include_plotlyjs="cdn")
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif}td,th{padding:2px 8px;text-align:right}</style>"
        f"</head><body><h1>{html.escape(title)}</h1><table><tr>{head}</tr>{body}</table>"
        f"{chart}</body></html>"
    )
