"""Backtests: the policy comparison once the backtest issue writes results; until then it says
what is missing."""

from __future__ import annotations

import plotly.express as px
import streamlit as st

from dashboard import _data
from rebalancer.usecases import reports

st.title("Backtests")
lake = _data.connection().lake
results = _data.attempt(lambda: reports.backtest_results(lake), "Reading backtests")
if results is not None:
    if not results.ready:
        st.info(f"No backtests to show: {results.missing}.")
    else:
        frame = results.frame
        st.dataframe(frame, hide_index=True)
        numeric = [c for c in frame.columns if frame[c].dtype.kind in "fi"]
        label = next((c for c in ("policy", "rule", "name") if c in frame.columns), None)
        if label and numeric:
            metric = st.selectbox("Metric", numeric)
            st.plotly_chart(px.bar(frame, x=label, y=metric))
