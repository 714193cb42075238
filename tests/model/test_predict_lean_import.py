"""A shard worker only scores: it imports XGBoost without scikit-learn (most of the import's
cost: scikit-learn imports SciPy's statistics), and scores and explains exactly as a process
with the full import; scikit-learn stays importable, and a process that already has
scikit-learn or XGBoost is left as it is."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd

from rebalancer.lake import LocalLake

SCORE = """
import sys
import pandas as pd
from rebalancer.lake import LocalLake
from rebalancer.model._predict import get_predictor, import_xgboost_for_scoring
lean = sys.argv[1] == "lean"
if lean:
    import_xgboost_for_scoring()
    assert "xgboost" in sys.modules and "sklearn" not in sys.modules
predictor = get_predictor(LocalLake(sys.argv[2]))
rows = pd.read_parquet(sys.argv[3])
out = predictor.predict(rows, reasons=False)
out["explained"] = [" | ".join(r) for r in predictor.explain(rows, out["model_action"].tolist())]
out.drop(columns=["model_reasons"]).to_parquet(sys.argv[4])
assert ("sklearn" in sys.modules) is not lean  # the full import brings it, the lean one not
import sklearn.base  # still importable afterwards
print("ok")
"""


def _score(mode: str, lake: LocalLake, rows: Path, out: Path) -> pd.DataFrame:
    done = subprocess.run(
        [sys.executable, "-c", SCORE, mode, str(lake.root), str(rows), str(out)],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("ok")
    return pd.read_parquet(out)


def test_a_scoring_only_import_scores_and_explains_as_the_full_one(
    sim_lake: LocalLake, registered: dict, data: pd.DataFrame, tmp_path: Path
) -> None:
    rows = data.head(300)
    rows.to_parquet(tmp_path / "rows.parquet")
    lean = _score("lean", sim_lake, tmp_path / "rows.parquet", tmp_path / "lean.parquet")
    full = _score("full", sim_lake, tmp_path / "rows.parquet", tmp_path / "full.parquet")
    pd.testing.assert_frame_equal(lean, full, check_exact=True)
    assert set(lean["model_action"]) >= {"HOLD"} and lean["explained"].str.len().gt(0).any()


def test_a_process_with_scikit_learn_imports_xgboost_whole() -> None:
    code = """
import sys
import sklearn.base
from rebalancer.model._predict import import_xgboost_for_scoring
import_xgboost_for_scoring()
assert "xgboost" not in sys.modules  # left to an ordinary import
import xgboost
from xgboost.compat import SKLEARN_INSTALLED
assert SKLEARN_INSTALLED
print("ok")
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("ok")
