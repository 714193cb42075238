"""The dashboard's entry point: ``streamlit run src/dashboard/app.py`` (or ``rebalancer
dashboard``). Sets the page up, gates it with ``st.login`` when OIDC is configured, and hands
over to ``st.navigation``; every page is a thin module under ``views/``."""

from __future__ import annotations

import sys
from pathlib import Path

# Streamlit puts this file's directory on sys.path; the pages import ``dashboard.*``.
_SRC = str(Path(__file__).resolve().parent.parent)
if _SRC not in sys.path:
    sys.path.insert(0, _SRC)

import streamlit as st  # noqa: E402

from dashboard import _data  # noqa: E402

st.set_page_config(page_title="Rebalancer", page_icon=":material/balance:", layout="wide")

if _data.auth_configured():
    if not _data.logged_in():
        st.title("Rebalancer")
        st.write("Sign in to see the book and approve trades.")
        st.button("Log in", on_click=st.login, type="primary")
        st.stop()
    st.sidebar.caption(f"Signed in as {_data.approver()}")
    st.sidebar.button("Log out", on_click=st.logout)
else:
    st.sidebar.caption(f"local, no login (decisions recorded as {_data.approver()})")

current = _data.settings()
st.sidebar.caption(f"Lake: `{current.lake}` ({current.backend})")

pages = [
    st.Page("views/book.py", title="Book", icon=":material/dashboard:", default=True),
    st.Page("views/account.py", title="Account", icon=":material/account_balance_wallet:"),
    st.Page("views/market.py", title="Market", icon=":material/candlestick_chart:"),
    st.Page("views/runs.py", title="Runs", icon=":material/history:"),
    st.Page("views/model.py", title="Model", icon=":material/psychology:"),
    st.Page("views/backtests.py", title="Backtests", icon=":material/query_stats:"),
]
st.navigation(pages).run()
