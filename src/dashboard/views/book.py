"""Book: the summary strip, the drift distribution, drift by asset class x risk profile, and
the accounts needing attention (filterable; each opens the Account page)."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from dashboard import _data
from dashboard._format import age, money, pct

#: Rows the attention table shows (the browser would choke on a whole large book).
MAX_ROWS = 1_000

st.title("Book")
conn = _data.connection()
report = _data.attempt(lambda: _data.book_report(conn.lake.root, conn.lake), "Reading the book")
if report is None:
    st.stop()
if report.accounts.empty:
    st.info("The lake has no accounts yet: run `rebalancer generate` (or `rebalancer demo`).")
    st.stop()

summary = report.summary()
cols = st.columns(6)
cols[0].metric("Accounts", f"{summary.accounts:,}")
cols[1].metric("Assets", money(summary.assets))
cols[2].metric("Outside bands", f"{summary.outside_bands:,}", help="Accounts the latest run trades")
cols[3].metric("Worst drift", pct(summary.worst_drift), help=summary.worst_account or None)
cols[4].metric("Cash to deploy", money(summary.cash_to_deploy))
cols[5].metric(
    "Last run",
    summary.run_id[:8] if summary.run_id else "none",
    help=f"as of {summary.run_as_of} ({age(summary.run_as_of)})" if summary.run_as_of else None,
)
if summary.run_as_of is not None:
    st.caption(
        f"Drift as of {summary.as_of} (latest run {summary.run_id}, as of {summary.run_as_of}, "
        f"{age(summary.run_as_of)})"
    )
else:
    st.caption("No recommendation run yet: run `rebalancer recommend --all`.")
if report.unpriced:
    st.warning(f"No price for {', '.join(report.unpriced[:10])}: those accounts show no drift.")

left, right = st.columns(2)
drift = report.accounts.assign(drift_pct=report.accounts["drift"].astype(float) * 100)
left.subheader("Drift distribution")
left.plotly_chart(
    px.histogram(drift, x="drift_pct", nbins=40, color="status",
                 labels={"drift_pct": "total drift, %"}),
)  # fmt: skip
right.subheader("Drift by asset class x risk profile")
if report.class_drift.empty:
    right.info("No priced positions.")
else:
    grid = report.class_drift.pivot(index="asset_class", columns="risk_profile", values="drift")
    right.plotly_chart(
        px.imshow(grid * 100, text_auto=".1f", aspect="auto", color_continuous_scale="Reds",
                  labels={"color": "mean |drift|, %"}),
    )  # fmt: skip

st.subheader("Accounts needing attention")
accounts = report.accounts


def _choice(column: str, label: str, where: st.delta_generator.DeltaGenerator) -> str | None:
    options = ["any", *sorted(accounts[column].dropna().astype(str).unique())]
    picked = where.selectbox(label, options, key=f"filter_{column}")
    return None if picked == "any" else picked


f1, f2, f3, f4, f5 = st.columns(5)
advisor = _choice("advisor_id", "Advisor", f1)
# Households are many (one per client or two): typed, not picked from a list.
household = f2.text_input("Household", key="filter_household_id").strip() or None
account_type = _choice("account_type", "Account type", f3)
model = _choice("model_id", "Model", f4)
outside = f5.toggle("Outside bands only", value=True, key="filter_outside")
table = report.attention(
    advisor_id=advisor, household_id=household, account_type=account_type, model_id=model,
    only_outside_bands=outside,
)  # fmt: skip
st.caption(
    f"{len(table):,} accounts"
    + (f" (the {MAX_ROWS:,} with the largest drift shown)" if len(table) > MAX_ROWS else "")
)
table = table.head(MAX_ROWS)
shown = pd.DataFrame(
    {
        "open": "account?account_id=" + table["account_id"].astype(str),
        "account_id": table["account_id"],
        "household_id": table["household_id"],
        "advisor_id": table["advisor_id"],
        "account_type": table["account_type"],
        "model_id": table["model_id"],
        "risk_profile": table["risk_profile"],
        "value": table["value"].round(2),
        "drift %": (table["drift"].astype(float) * 100).round(2),
        "status": table["status"],
        "trades": table["trades"],
        "traded value": table["traded_value"].round(2),
    }
)
st.dataframe(
    shown,
    hide_index=True,
    column_config={"open": st.column_config.LinkColumn("open", display_text="open")},
)
if len(table):
    pick = st.selectbox("Open an account", table["account_id"].astype(str).tolist())
    if st.button("Open account", type="primary"):
        st.switch_page(_data.ACCOUNT_PAGE, query_params={"account_id": pick})
