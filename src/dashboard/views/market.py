"""Market: price history (plotly; candlesticks for one symbol), the newest ingest slot and its
freshness, and the newest day's rejects by reason."""

from __future__ import annotations

from datetime import date, timedelta

import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from dashboard import _data
from dashboard._format import age
from rebalancer.usecases import price_bars, reports

st.title("Market")
conn = _data.connection()
lake = conn.lake

st.subheader("Freshness")
fresh = _data.attempt(lambda: reports.market_freshness(lake), "Reading market data")
if fresh is None:
    st.stop()
if fresh.day is None:
    st.info("No market data yet: run `rebalancer backfill` or `rebalancer ingest`.")
    st.stop()
cols = st.columns(3)
cols[0].metric("Newest day", fresh.day)
cols[1].metric("Latest slot", fresh.latest_slot or "none (no live slot that day)")
last = fresh.intervals["last_ingested"].max() if len(fresh.intervals) else None
cols[2].metric("Last ingest", age(last), help=str(last))
st.dataframe(fresh.intervals, hide_index=True)

st.subheader("Rejects")
rejects = _data.attempt(lambda: reports.latest_rejects(lake), "Reading rejects")
if rejects is not None:
    if rejects.day is None:
        st.success("No ingest rejects recorded.")
    else:
        st.caption(f"Rejected rows on {rejects.day}")
        st.plotly_chart(
            px.bar(rejects.by_reason, x="reason", y="rejected_rows", color="source"), height=300
        )
        st.dataframe(rejects.by_reason, hide_index=True)

st.subheader("Price history")
symbols = _data.attempt(lambda: reports.market_symbols(lake), "Reading securities") or []
c1, c2, c3 = st.columns([3, 1, 2])
chosen = c1.multiselect("Symbols", symbols, default=symbols[:1], max_selections=10)
interval = c2.radio("Bars", ["1d", "5m"], horizontal=True)
end = date.fromisoformat(fresh.day)
start = end - timedelta(days=180 if interval == "1d" else 3)
picked = c3.date_input("Dates", value=(start, end), max_value=end + timedelta(days=1))
if not chosen:
    st.info("Choose a symbol.")
    st.stop()
if not isinstance(picked, tuple) or len(picked) != 2:
    st.info("Choose a start and an end date.")
    st.stop()
first, last_day = picked
bars = _data.attempt(
    lambda: price_bars(lake, symbols=chosen, start=first, end=last_day, interval=interval),
    "Price history",
)
if bars is None:
    st.stop()
if bars.empty:
    st.info(f"No {interval} bars for {', '.join(chosen)} between {first} and {last_day}.")
    st.stop()
if len(chosen) == 1:
    fig = go.Figure(
        go.Candlestick(
            x=bars["ts"],
            open=bars["open"],
            high=bars["high"],
            low=bars["low"],
            close=bars["close"],
            name=chosen[0],
        )
    )
    fig.update_layout(xaxis_rangeslider_visible=False, height=420, yaxis_title="price")
else:
    fig = px.line(bars, x="ts", y="close", color="symbol", height=420)
st.plotly_chart(fig)
st.caption(f"{len(bars):,} {interval} bars")
