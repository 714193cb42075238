"""Model: the current model's version, metrics against the baselines, confusion matrix,
calibration and feature importance (from its metadata) once one is registered; until then it
says what is missing. Also the decisions recorded so far (the model's labels)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.express as px
import streamlit as st

from dashboard import _data
from rebalancer.usecases import reports

st.title("Model")
lake = _data.connection().lake
status = _data.attempt(lambda: reports.model_status(lake), "Reading the model")
if status is not None and not status.ready:
    st.info(f"No model to show: {status.missing}.")
elif status is not None:
    meta: dict[str, Any] = status.info
    metrics: dict[str, Any] = meta.get("metrics") or {}
    cols = st.columns([2, 1, 1, 1])  # the version is a long timestamp-hash
    cols[0].metric("Version", str(meta.get("version", "?")))
    for col, key in zip(cols[1:], ("macro_f1", "accuracy", "ece"), strict=True):
        if key in metrics:
            col.metric(key, f"{float(metrics[key]):.3f}")
    st.caption(
        f"Registered {meta.get('created_at', '?')}; scored on {int(metrics.get('test_rows', 0)):,}"
        " held-out rows (other households, later dates)"
    )
    baselines = reports.model_baselines(meta)
    if len(baselines):
        st.subheader("Against the baselines (held-out rows)")
        st.dataframe(baselines, hide_index=True, key="baselines")
    evaluation: dict[str, Any] = meta.get("evaluation") or {}
    classes = list(meta.get("classes") or ["SELL", "HOLD", "BUY"])
    confusion = (evaluation.get("model") or {}).get("confusion")
    left, right = st.columns(2)
    if confusion:
        left.subheader("Confusion matrix")
        left.plotly_chart(
            px.imshow(confusion, x=classes, y=classes, text_auto=True,
                      labels={"x": "predicted", "y": "decided", "color": "rows"}),
            key="confusion",
        )  # fmt: skip
    curve = (evaluation.get("calibration") or {}).get("reliability")
    if curve:
        right.subheader("Calibration")
        right.plotly_chart(
            px.line(pd.DataFrame(curve), x="confidence", y="accuracy", markers=True,
                    range_x=[0, 1], range_y=[0, 1]),
            key="calibration",
        )  # fmt: skip
    st.subheader("Feature importance (share of the split gain)")
    importance = reports.model_importance(meta)
    if len(importance):
        st.plotly_chart(
            px.bar(importance.iloc[::-1], x="share", y="feature", orientation="h",
                   height=120 + 24 * len(importance)),
            key="importance",
        )  # fmt: skip
    else:
        st.caption("This model's metadata records no feature importance: retrain to see it.")
    with st.expander("Metadata"):
        st.json(meta)

st.subheader("Decisions recorded (labels)")
decided = _data.attempt(lambda: reports.decisions_summary(lake), "Reading decisions")
if decided is not None:
    if decided.empty:
        st.caption("No decisions recorded yet.")
    else:
        st.dataframe(decided, hide_index=True)
