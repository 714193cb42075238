"""Account (``?account_id=``): holdings vs target before and after the latest run's trades,
the household's other accounts, the trade list with lots, tax, cost and reasons (CSV), the
model's view when one is registered, a what-if, and Approve / Reject with a note."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboard import _data, _whatif
from dashboard._format import money, pct
from rebalancer.engine import Policy
from rebalancer.usecases import reports

st.title("Account")
conn = _data.connection()
lake = conn.lake
wanted = st.query_params.get("account_id", "")
typed = st.text_input("Account id", value=wanted, key="account_id_input").strip()
if typed != wanted:
    st.query_params["account_id"] = typed
account_id = typed
if not account_id:
    st.info("Give an account id above, or open one from the Book page.")
    st.stop()

report = _data.attempt(
    lambda: _data.account_report(lake.root, account_id, lake), f"Account {account_id}"
)
if report is None:
    st.stop()
acc = report.account
st.subheader(f"{account_id} · {acc['account_type']} · {acc['model_id']}")
cols = st.columns(6)
cols[0].metric("Value", money(float(acc["value"] or 0.0)))
cols[1].metric("Drift", pct(acc["drift"]))
cols[2].metric("Drift after", pct(acc["drift_after"]) if acc["trades"] else "no trades")
cols[3].metric("Trades", f"{acc['trades']}")
cols[4].metric("Est. tax", money(float(acc["est_tax"] or 0.0)))
cols[5].metric("Cost", money(float(acc["cost"] or 0.0)))
st.caption(
    f"Household {acc['household_id']} · advisor {acc['advisor_id']} · risk profile "
    f"{acc['risk_profile']} · status {acc['status']} · run {report.run.run_id or 'none'} "
    f"(as of {report.run.as_of})"
)

st.subheader("Holdings vs target")
hold = report.holdings
if hold.empty:
    st.info("No holdings and no model targets.")
else:
    fig = go.Figure()
    for column, name in (("weight", "before"), ("target_weight", "target"),
                         ("weight_after", "after")):  # fmt: skip
        fig.add_bar(x=hold["symbol"], y=hold[column].astype(float) * 100, name=name)
    fig.update_layout(barmode="group", yaxis_title="weight, %", height=360)
    st.plotly_chart(fig)
    table = hold.assign(
        action=hold["trade_quantity"].map(lambda q: "BUY" if q > 0 else "SELL" if q < 0 else "HOLD")
    )[["symbol", "asset_class", "action", "quantity", "trade_quantity", "quantity_after",
       "price", "weight", "target_weight", "weight_after"]]  # fmt: skip
    model = reports.model_status(lake)
    advice = None
    if model.ready:
        # The model's view at the latest run's market time (policy.model=advise: the trades
        # are the engine's, unchanged; the API answers when one is configured).
        run_as_of = report.run.as_of  # bound here: a lambda does not keep the narrowing
        advised = _data.attempt(
            lambda: _whatif.ask(lake, account_id, Policy(model="advise"), run_as_of),
            "Model advice",
        )
        advice = None if advised is None else advised.advice
    if advice is not None and len(advice):
        table = table.merge(
            advice[["symbol", "model_action", "model_confidence", "model_reasons"]],
            on="symbol",
            how="left",
        )
    st.dataframe(table, hide_index=True)
    if model.ready:
        st.caption(
            f"Actions are the engine's; model_* columns are model "
            f"{model.info.get('version', '?')}'s advice (confidence calibrated, reasons "
            "strongest first)."
        )
    else:
        st.caption(f"Actions are the engine's; model confidence and reasons: {model.missing}.")

st.subheader("Trades")
trades = report.trades
if trades.empty:
    st.info("The latest run has no trades for this account.")
else:
    st.dataframe(
        trades[["symbol", "side", "quantity", "price", "value", "est_tax", "cost",
                "realized_gain", "lots", "reason"]],
        hide_index=True,
    )  # fmt: skip
    st.download_button(
        "Download trades (CSV)", reports.trades_csv(trades),
        file_name=f"trades-{account_id}-{report.run.run_id}.csv", mime="text/csv",
    )  # fmt: skip
if report.run.run_id:
    run_id = report.run.run_id
    all_trades = _data.attempt(lambda: _data.run_trades(lake.root, run_id, lake), "Run trades")
    if all_trades is not None:
        st.download_button(
            f"Download the whole run's trades (CSV, {len(all_trades):,} rows)",
            reports.trades_csv(all_trades), file_name=f"trades-{run_id}.csv", mime="text/csv",
        )  # fmt: skip

st.subheader("Household's other accounts")
others = report.household
if others.empty:
    st.caption("No other accounts in this household.")
else:
    st.dataframe(
        pd.DataFrame(
            {
                "open": "account?account_id=" + others["account_id"].astype(str),
                "account_id": others["account_id"],
                "account_type": others["account_type"],
                "model_id": others["model_id"],
                "value": others["value"].round(2),
                "drift %": (others["drift"].astype(float) * 100).round(2),
                "status": others["status"],
                "trades": others["trades"],
            }
        ),
        hide_index=True,
        column_config={"open": st.column_config.LinkColumn("open", display_text="open")},
    )

_whatif.panel(lake, account_id, acc)

st.subheader("Decision")
if not reports.decisions_available():
    st.info("Approvals need the decisions table (schemas/decisions.json), not defined yet.")
elif report.run.run_id is None:
    st.info("No recommendation run yet: nothing to approve.")
else:
    with st.form("decision", clear_on_submit=True):
        note = st.text_area("Note", max_chars=2_000, placeholder="Why (optional)")
        approve_col, reject_col = st.columns(2)
        approve = approve_col.form_submit_button("Approve", type="primary")
        reject = reject_col.form_submit_button("Reject")
    if approve or reject:
        rows = _data.attempt(
            lambda: reports.record_decision(
                lake, account_id, approve=bool(approve), note=note, decided_by=_data.approver()
            ),
            "Recording the decision",
        )
        if rows is not None:
            verdict = "Approved" if approve else "Rejected"
            st.success(
                f"{verdict} run {report.run.run_id} for {account_id}: {len(rows)} decision "
                f"rows recorded as {rows['decided_by'].iloc[0]}."
            )
    history = _data.attempt(lambda: reports.account_decisions(lake, account_id), "Decisions")
    if history is not None and len(history):
        st.dataframe(history, hide_index=True)
