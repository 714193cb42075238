"""Policy: one frozen, validated model; JSON round trip; one-line errors naming the field."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from rebalancer.engine import Policy
from rebalancer.errors import ConfigError


def test_defaults_are_the_documented_ones() -> None:
    policy = Policy()
    assert (policy.band, policy.relative_band, policy.absolute_band) == ("hybrid", 0.2, 0.02)
    assert (policy.trigger, policy.rebalance_to, policy.buy_only) == ("threshold", "halfway", False)


def test_json_round_trip_is_canonical() -> None:
    policy = Policy(band="absolute", absolute_band=0.05, max_total_drift=0.03, buy_only=True)
    text = policy.to_json()
    assert list(json.loads(text)) == sorted(json.loads(text))  # sorted keys: part of run ids
    assert Policy.from_json(text) == policy
    assert Policy.from_json(text).to_json() == text


def test_every_field_is_documented_and_bounded_numbers_have_bounds() -> None:
    for name, field in Policy.model_fields.items():
        assert field.description, name
        if field.annotation in (float, int):
            assert any(type(m).__name__ in ("Ge", "Gt") for m in field.metadata), name


def test_frozen() -> None:
    with pytest.raises(ValidationError):
        Policy().band = "absolute"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"band": "wide"}, "policy.band"),
        ({"relative_band": 1.5}, "policy.relative_band"),
        ({"relative_band": -0.1}, "policy.relative_band"),
        ({"calendar_days": 0}, "policy.calendar_days"),
        ({"calendar_days": "ninety"}, "policy.calendar_days"),
        ({"spread_bps": float("nan")}, "policy.spread_bps"),
        ({"fee_per_trade": float("inf")}, "policy.fee_per_trade"),
        ({"max_passes": 0}, "policy.max_passes"),
    ],
)
def test_bad_values_are_one_line_errors_naming_the_field(
    options: dict[str, object], field: str
) -> None:
    with pytest.raises(ConfigError) as info:
        Policy.from_options(**options)
    with pytest.raises(ValidationError):
        Policy(**options)  # type: ignore[arg-type]
    message = str(info.value)
    assert message.startswith(field + ":")
    assert "\n" not in message


@pytest.mark.parametrize(
    "text",
    ["not json", "[1, 2]", '{"band": "wide"}', '{"surprise": 1}', '{"min_trade_value": "x"}'],
)
def test_from_json_rejects_bad_documents(text: str) -> None:
    with pytest.raises(ConfigError):
        Policy.from_json(text)


def test_from_options_ignores_none_and_layers_on_a_base() -> None:
    base = Policy(band="absolute", absolute_band=0.05)
    merged = Policy.from_options(base, absolute_band=None, spread_bps=1.0)
    assert (merged.band, merged.absolute_band, merged.spread_bps) == ("absolute", 0.05, 1.0)
    with pytest.raises(ConfigError, match="unknown policy option"):
        Policy.from_options(colour="red")
