"""Runs: recent recommendation runs (accounts, trades, turnover, tax, cost) and the audit
query's result (``sql/queries/recommendation_violations.sql``) for a chosen run."""

from __future__ import annotations

import streamlit as st

from dashboard import _data
from rebalancer.usecases import reports

st.title("Runs")
conn = _data.connection()
lake = conn.lake
runs = _data.attempt(lambda: _data.runs(lake.root, 50, lake), "Reading runs")
if runs is None:
    st.stop()
if runs.empty:
    st.info("No recommendation runs yet: run `rebalancer recommend --all`.")
    st.stop()
money = st.column_config.NumberColumn(format="dollar")
st.dataframe(
    runs[["run_id", "as_of", "accounts_traded", "trades", "turnover", "est_tax", "cost",
          "engine_version", "model_version"]],
    hide_index=True,
    column_config={"turnover": money, "est_tax": money, "cost": money},
)  # fmt: skip

run_id = st.selectbox("Run", runs["run_id"].astype(str).tolist())
audit = _data.attempt(lambda: _data.run_violations(lake.root, run_id, lake), "Audit query")
if audit is not None:
    st.subheader("Audit: hard-rule violations")
    if audit.missing:
        st.info(f"The audit needs the tables {', '.join(audit.missing)}.")
    elif audit.violations.empty:
        st.success(f"No violations in run {run_id}: every hard rule holds.")
    else:
        st.error(f"{len(audit.violations):,} violations in run {run_id}")
        st.dataframe(audit.violations, hide_index=True)
    st.caption("The audit checks against the current book: it is exact right after the run.")
trades = _data.attempt(lambda: _data.run_trades(lake.root, run_id, lake), "Run trades")
if trades is not None and len(trades):
    st.download_button(
        f"Download the run's trades (CSV, {len(trades):,} rows)", reports.trades_csv(trades),
        file_name=f"trades-{run_id}.csv", mime="text/csv",
    )  # fmt: skip
