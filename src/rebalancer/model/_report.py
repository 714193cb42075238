"""The evaluation report of one model version: JSON, Markdown and PNG plots.

The Markdown puts the four rows the README shows side by side (majority class, plain engine
rule, the model, the simulator's ceiling), all scored on the same held-out households and
later dates. Plots need matplotlib; without it the report says so and has none.
"""

from __future__ import annotations

import io
import json
from typing import Any

from rebalancer.model._decisions import ACTIONS

ROWS = (
    ("majority", "majority class"),
    ("rule", "plain engine rule (default Policy)"),
    ("model", "model (XGBoost)"),
    ("ceiling", "simulator's ceiling (latent policy vs noisy labels)"),
)


def comparison_table(evaluation: dict[str, Any]) -> str:
    """The side-by-side Markdown table (macro-F1, accuracy, per-class recall)."""
    head = "| predictor | macro-F1 | accuracy | " + " | ".join(f"{c} recall" for c in ACTIONS)
    lines = [head + " |", "|" + " --- |" * (3 + len(ACTIONS))]
    for key, label in ROWS:
        scores = evaluation.get(key)
        if scores is None:
            lines.append(f"| {label} | n/a | n/a |" + " n/a |" * len(ACTIONS))
            continue
        recalls = " | ".join(f"{scores['per_class'][c]['recall']:.3f}" for c in ACTIONS)
        lines.append(
            f"| {label} | {scores['macro_f1']:.3f} | {scores['accuracy']:.3f} | {recalls} |"
        )
    return "\n".join(lines)


def markdown(metadata: dict[str, Any]) -> str:
    """The report as Markdown."""
    ev = metadata["evaluation"]
    split = metadata["split"]
    model = ev["model"]
    confusion = "\n".join(
        f"| {ACTIONS[i]} | " + " | ".join(str(v) for v in row) + " |"
        for i, row in enumerate(model["confusion"])
    )
    ceiling = ev.get("ceiling")
    ratio = (
        f"{model['macro_f1'] / ceiling['macro_f1']:.1%} of the ceiling"
        if ceiling and ceiling["macro_f1"] > 0
        else "no ceiling (labels are not simulated)"
    )
    return f"""# Model {metadata["version"]}

Held out: {split["test"]["households"]} household(s), decisions from {split["test_start"]}
(training ends {split["train_end"]}, embargo {split["embargo_days"]} days);
{split["test"]["rows"]:,} test rows, {split["train"]["rows"]:,} training rows,
{split["valid"]["rows"]:,} validation rows (early stopping).

{comparison_table(ev)}

Model macro-F1 is {ratio}; expected calibration error {ev["calibration"]["ece"]:.4f};
training took {metadata["metrics"]["train_seconds"]:.2f} s
({metadata["training"]["rounds"]} rounds).

Confusion matrix (rows: advisors' decision, columns: model):

| | {" | ".join(ACTIONS)} |
| --- |{" --- |" * len(ACTIONS)}
{confusion}
"""


def _plots(metadata: dict[str, Any]) -> dict[str, bytes]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - matplotlib is optional
        return {}
    ev = metadata["evaluation"]
    out: dict[str, bytes] = {}
    curve = ev["calibration"]["reliability"]
    fig, ax = plt.subplots(figsize=(4, 4), dpi=100)
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
    ax.plot([p["confidence"] for p in curve], [p["accuracy"] for p in curve], marker="o")
    ax.set(xlabel="confidence", ylabel="accuracy", title=f"ECE {ev['calibration']['ece']:.3f}")
    out["reliability.png"] = _png(fig)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(4, 4), dpi=100)
    matrix = ev["model"]["confusion"]
    ax.imshow(matrix, cmap="Blues")
    for i, row in enumerate(matrix):
        for j, value in enumerate(row):
            ax.text(j, i, str(value), ha="center", va="center")
    ax.set_xticks(range(len(ACTIONS)), ACTIONS)
    ax.set_yticks(range(len(ACTIONS)), ACTIONS)
    ax.set(xlabel="model", ylabel="advisors", title="confusion (held out)")
    out["confusion.png"] = _png(fig)
    plt.close(fig)
    return out


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight", metadata={"Software": None})
    return buffer.getvalue()


def report_files(metadata: dict[str, Any]) -> dict[str, bytes]:
    """``report.json``, ``report.md`` and the plots, by file name."""
    files = {
        "report.json": (
            json.dumps(
                {
                    k: metadata[k]
                    for k in ("version", "metrics", "evaluation", "split", "importance")
                    if k in metadata
                },
                indent=2,
                default=str,
            )
            + "\n"
        ).encode(),
        "report.md": markdown(metadata).encode(),
    }
    files.update(_plots(metadata))
    return files
