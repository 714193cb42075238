"""The Account page's what-if panel: change a few policy knobs, re-ask (the API when one is
configured, else the same use case in process) and show the difference from the default."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from dashboard import _data
from dashboard._format import money, pct
from rebalancer.engine import Policy
from rebalancer.lake import Lake
from rebalancer.usecases import reports


def ask(lake: Lake, account_id: str, policy: Policy, as_of: Any) -> reports.WhatIf:
    """One account under ``policy``: through the API when configured, else in process."""
    api = _data.api_settings()
    if api is None:
        return reports.what_if(lake, account_id, policy, as_of=as_of)
    from rebalancer.api.client import RebalancerClient

    url, key = api
    with RebalancerClient(url, api_key=key, retries=1, timeout=20.0) as client:
        return reports.what_if(lake, account_id, policy, as_of=as_of, client=client)


def panel(lake: Lake, account_id: str, account: dict[str, Any]) -> None:
    """Render the panel (collapsed until opened)."""
    with st.expander("What if: re-ask with other policy knobs"):
        base = Policy()
        api = _data.api_settings()
        st.caption(f"Answered by {'the API at ' + api[0] if api else 'the engine in process'}.")
        with st.form("what_if"):
            c1, c2, c3 = st.columns(3)
            relative = c1.number_input("Relative band", 0.0, 1.0, base.relative_band, 0.05)
            absolute = c2.number_input("Absolute band", 0.0, 1.0, base.absolute_band, 0.005,
                                       format="%.3f")  # fmt: skip
            reserve = c3.number_input("Cash reserve", 0.0, 1.0, base.cash_reserve, 0.01)
            c4, c5 = st.columns(2)
            choices = ["target", "band_edge", "halfway"]
            destination = c4.selectbox(
                "Rebalance to", choices, index=choices.index(base.rebalance_to)
            )
            buy_only = c5.toggle("Buy only (no sales)", value=base.buy_only)
            asked = st.form_submit_button("Re-ask")
        if not asked:
            return
        try:
            policy = Policy(relative_band=relative, absolute_band=absolute, cash_reserve=reserve,
                            rebalance_to=destination, buy_only=buy_only)  # fmt: skip
        except ValueError as exc:
            st.error(f"Policy: {' '.join(str(exc).split())[:300]}")
            return
        # The same market time as the latest run, so the default's answer is the run's.
        when = _data.attempt(lambda: reports.latest_run(lake).as_of, "Latest run")
        before = _data.attempt(lambda: ask(lake, account_id, base, when), "Default policy")
        after = _data.attempt(lambda: ask(lake, account_id, policy, when), "What-if")
        if before is None or after is None:
            return
        cols = st.columns(4)
        cols[0].metric("Trades", len(after.trades), delta=len(after.trades) - len(before.trades))
        cols[1].metric("Traded value", money(after.traded_value),
                       delta=money(after.traded_value - before.traded_value))  # fmt: skip
        d0 = before.summary.get("drift_after", float("nan"))
        d1 = after.summary.get("drift_after", float("nan"))
        cols[2].metric("Drift after", pct(d1), delta=f"{100 * (d1 - d0):+.2f} pts",
                       delta_color="inverse")  # fmt: skip
        cols[3].metric("Source", after.source)
        merged = pd.merge(
            before.trades[["symbol", "side", "quantity"]].rename(
                columns={"side": "side (default)", "quantity": "quantity (default)"}
            ),
            after.trades[["symbol", "side", "quantity"]].rename(
                columns={"side": "side (what-if)", "quantity": "quantity (what-if)"}
            ),
            on="symbol",
            how="outer",
        )
        st.dataframe(merged, hide_index=True)
