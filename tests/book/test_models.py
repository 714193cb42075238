"""The model lineup is data: validated, summing to exactly 1, covering every risk profile."""

from __future__ import annotations

import numpy as np
import pytest

from rebalancer.book import CASH, DEFAULT_MODELS, RISK_PROFILES, ModelPortfolio, ModelSet
from rebalancer.errors import ConfigError


def test_default_models_sum_to_exactly_one_in_basis_points() -> None:
    for model in DEFAULT_MODELS.models:
        assert sum(model.weights_bp.values()) == 10_000, model.model_id
    sums = DEFAULT_MODELS.frame().groupby("model_id")["target_weight"].sum()
    np.testing.assert_allclose(sums.to_numpy(), 1.0, rtol=0, atol=1e-12)


def test_default_models_cover_profiles_asset_classes_and_cash() -> None:
    assert {m.risk_profile for m in DEFAULT_MODELS.models} == set(RISK_PROFILES)
    for model in DEFAULT_MODELS.models:
        assert 0 < model.weights_bp[CASH] <= 500
    symbols = set(DEFAULT_MODELS.symbols)
    assert {"AGG", "BND", "TLT", "SPY", "VTI", "BTC-USD", "ETH-USD", "AAPL"} <= symbols
    crypto = [m.model_id for m in DEFAULT_MODELS.models if "BTC-USD" in m.weights_bp]
    assert 0 < len(crypto) < len(DEFAULT_MODELS.models)
    # riskier profiles hold fewer bonds
    bonds = {"AGG", "BND", "TLT", "IEF", "SHY", "TIP", "LQD"}
    share = {
        p: np.mean(
            [
                sum(bp for s, bp in m.weights_bp.items() if s in bonds)
                for m in DEFAULT_MODELS.models
                if m.risk_profile == p
            ]
        )
        for p in RISK_PROFILES
    }
    assert [share[p] for p in RISK_PROFILES] == sorted(share.values(), reverse=True)


def test_weight_matrix_matches_the_frame() -> None:
    symbols = DEFAULT_MODELS.symbols
    weights, cash = DEFAULT_MODELS.weight_matrix(symbols)
    np.testing.assert_allclose(weights.sum(axis=1) + cash, 1.0, atol=1e-12)
    frame = DEFAULT_MODELS.frame()
    row = frame[(frame["model_id"] == "GROWTH-CRYPTO") & (frame["symbol"] == "BTC-USD")]
    i = DEFAULT_MODELS.model_ids.index("GROWTH-CRYPTO")
    assert weights[i, symbols.index("BTC-USD")] == row["target_weight"].iloc[0]


def _lineup(**override: dict[str, int]) -> list[ModelPortfolio]:
    models = [
        ModelPortfolio(f"M-{p.upper()}", p, {"AGG": 5_000, "SPY": 4_800, CASH: 200})
        for p in RISK_PROFILES
    ]
    for model_id, weights in override.items():
        models = [
            ModelPortfolio(m.model_id, m.risk_profile, weights) if m.model_id == model_id else m
            for m in models
        ]
    return models


def test_a_valid_custom_lineup_is_accepted() -> None:
    assert len(ModelSet(tuple(_lineup())).models) == 5


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ({"AGG": 5_000, "SPY": 4_700, CASH: 200}, "sum to 9900"),
        ({"AGG": 5_000, "SPY": 5_000}, "CASH"),
        ({"AGG": 10_100, "SPY": -300, CASH: 200}, "positive integer"),
        ({"AGG": 4_999.5, "SPY": 4_800.5, CASH: 200}, "positive integer"),
        ({"agg; drop": 9_800, CASH: 200}, "malformed symbol"),
        ({CASH: 10_000}, "nothing but cash"),
    ],
)
def test_bad_models_are_rejected(weights: dict[str, int], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ModelSet(tuple(_lineup(**{"M-GROWTH": weights})))


def test_lineup_level_problems_are_rejected() -> None:
    models = _lineup()
    with pytest.raises(ConfigError, match="aggressive"):
        ModelSet(tuple(models[:-1]))
    with pytest.raises(ConfigError, match="duplicate"):
        ModelSet((*models, models[0]))
    with pytest.raises(ConfigError, match="risk profile"):
        ModelSet((*models, ModelPortfolio("M-YOLO", "yolo", models[0].weights_bp)))
    with pytest.raises(ConfigError, match="empty"):
        ModelSet(())
