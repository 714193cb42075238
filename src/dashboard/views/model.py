"""Model: the registered model (version, metrics) once the model issue lands; until then it
says what is missing, and shows the decisions recorded so far (the model's labels)."""

from __future__ import annotations

import streamlit as st

from dashboard import _data
from rebalancer.usecases import reports

st.title("Model")
lake = _data.connection().lake
status = _data.attempt(lambda: reports.model_status(lake), "Reading the model")
if status is not None:
    if status.ready:
        st.json(status.info)
    else:
        st.info(f"No model to show: {status.missing}.")
st.subheader("Decisions recorded (labels)")
decided = _data.attempt(lambda: reports.decisions_summary(lake), "Reading decisions")
if decided is not None:
    if decided.empty:
        st.caption("No decisions recorded yet.")
    else:
        st.dataframe(decided, hide_index=True)
