"""Settings: environment with the REBALANCER_ prefix; explicit arguments win."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from rebalancer.config import Settings, env_var_names, get_settings


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REBALANCER_LAKE")
    settings = Settings()
    assert settings.backend == "local"
    assert settings.lake == "./lake"
    assert not settings.lake_is_s3


def test_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REBALANCER_BACKEND", "aws")
    monkeypatch.setenv("REBALANCER_LAKE", "s3://bucket/prefix")
    monkeypatch.setenv("REBALANCER_ATHENA_WORKGROUP", "analysts")
    settings = Settings()
    assert (settings.backend, settings.lake, settings.athena_workgroup) == (
        "aws",
        "s3://bucket/prefix",
        "analysts",
    )
    assert settings.lake_is_s3


def test_explicit_argument_beats_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REBALANCER_LAKE", "/from/env")
    assert Settings(lake="/explicit").lake == "/explicit"


def test_bad_values_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REBALANCER_BACKEND", "azure")
    with pytest.raises(ValidationError, match="backend"):
        Settings()
    with pytest.raises(ValidationError, match="lake"):
        Settings(backend="local", lake="   ")
    with pytest.raises(ValidationError):
        Settings(backend="local", yfinance_requests_per_second=0)


def test_api_key_is_secret() -> None:
    settings = Settings(api_key="s3cret")
    assert "s3cret" not in repr(settings)
    assert settings.api_key is not None and settings.api_key.get_secret_value() == "s3cret"


def test_env_var_names_cover_every_field() -> None:
    names = env_var_names()
    assert {"REBALANCER_BACKEND", "REBALANCER_LAKE", "REBALANCER_GLUE_DATABASE"} <= names
    assert len(names) == len(Settings.model_fields)


def test_get_settings_is_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    get_settings.cache_clear()
    first = get_settings()
    monkeypatch.setenv("REBALANCER_LAKE", "/elsewhere")
    assert get_settings() is first


def test_load_settings_is_one_line_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    from rebalancer.config import load_settings
    from rebalancer.errors import ConfigError

    monkeypatch.setenv("REBALANCER_BACKEND", "gcp")
    monkeypatch.setenv("REBALANCER_SYNTHETIC_SEED", "x")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert str(info.value) == (
        "REBALANCER_BACKEND: Input should be 'local' or 'aws' (got 'gcp') (and 1 more)"
    )
    with pytest.raises(ConfigError, match=r"^--backend: Input should be 'local' or 'aws'"):
        load_settings({"backend": "--backend"}, backend="azure")
    get_settings.cache_clear()
    with pytest.raises(ConfigError, match=r"^REBALANCER_BACKEND: "):
        get_settings()
    get_settings.cache_clear()


def test_a_bad_secret_is_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    from rebalancer.config import load_settings
    from rebalancer.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        load_settings(api_key=["s3cret"])
    assert str(info.value).startswith("REBALANCER_API_KEY: ") and "s3cret" not in str(info.value)


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        ("https://api.example.com/", "https://api.example.com"),
        ("  http://127.0.0.1:8000/v0  ", "http://127.0.0.1:8000/v0"),
        ("", None),
    ],
)
def test_the_dashboards_api_url_is_a_setting(
    monkeypatch: pytest.MonkeyPatch, raw: str, want: str | None
) -> None:
    monkeypatch.setenv("REBALANCER_API_URL", raw)
    assert Settings().api_url == want


@pytest.mark.parametrize(
    "raw", ["ftp://api.example.com", "api.example.com", "https://", "http://host/a b"]
)
def test_a_bad_api_url_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, raw: str
) -> None:
    from rebalancer.config import load_settings
    from rebalancer.errors import ConfigError

    monkeypatch.setenv("REBALANCER_API_URL", raw)
    with pytest.raises(ConfigError, match=r"^REBALANCER_API_URL: .*http:// or https://") as info:
        load_settings()
    assert "\n" not in str(info.value)
