"""Backtests: the policy comparison (metrics table, a metric by policy, equity curves) from the
``backtests`` table; until backtests exist it says what is missing."""

from __future__ import annotations

import plotly.express as px
import streamlit as st

from dashboard import _data
from rebalancer.usecases import reports

METRICS = ["after_tax_final_value", "final_value", "annual_return", "volatility", "sharpe",
           "max_drawdown", "tracking_error", "avg_drift", "turnover", "rebalances", "costs",
           "taxes_paid", "taxes_deferred"]  # fmt: skip

st.title("Backtests")
lake = _data.connection().lake
runs = _data.attempt(lambda: reports.backtest_runs(lake), "Reading backtests")
if runs is None:
    st.stop()
if not runs.ready:
    st.info(f"No backtests to show: {runs.missing}.")
    st.stop()
frame = runs.frame
st.caption(f"{len(frame):,} backtest runs")
st.dataframe(frame, hide_index=True)

comparable = reports.comparison_set(frame)
subset = frame[frame["run_id"].isin(comparable)]
first = subset.iloc[0]
st.subheader(
    f"Policies on {first['symbols']} ({first['account_type']}, {first['period_start']:%Y-%m-%d} "
    f"to {first['period_end']:%Y-%m-%d})"
)
metric = st.selectbox("Metric", [m for m in METRICS if m in subset.columns])
# A dot per policy, largest at the top: the values differ in the third decimal, which bars from
# zero would hide.
ranked = subset.sort_values(metric)
st.plotly_chart(
    px.scatter(ranked, x=metric, y="policy", height=120 + 28 * len(ranked))
    .update_traces(marker_size=12)
    .update_yaxes(title=None)
)
curves = _data.attempt(lambda: reports.backtest_curves(lake, comparable), "Equity curves")
if curves is not None and len(curves):
    st.plotly_chart(px.line(curves, x="day", y="equity", color="policy", height=420))
