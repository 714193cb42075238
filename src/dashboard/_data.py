"""Data access for the pages: an ``st.connection`` over the lake, cached reports, the API
client when one is configured, auth, and one way to show a failure (a message, never a
traceback)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import pandas as pd
import streamlit as st
from streamlit.connections import BaseConnection

from rebalancer.config import Settings, load_settings
from rebalancer.errors import RebalancerError
from rebalancer.lake import Lake, get_lake
from rebalancer.usecases import reports

T = TypeVar("T")
#: Seconds a report stays cached: the lake changes every 5 minutes at most.
TTL = 60
ACCOUNT_PAGE = "views/account.py"


class LakeConnection(BaseConnection[Lake]):
    """``st.connection("lake", type=LakeConnection, lake=..., backend=...)``: the lake of the
    given root and backend (embedded DuckDB or Athena), with cached parameterized queries."""

    def _connect(self, **kwargs: Any) -> Lake:
        overrides = {k: v for k, v in kwargs.items() if k in ("lake", "backend") and v}
        return get_lake(load_settings(**overrides))

    @property
    def lake(self) -> Lake:
        """The underlying :class:`~rebalancer.lake.Lake`."""
        return self._instance

    def query(
        self, sql: str, params: Mapping[str, object] | None = None, ttl: int = TTL
    ) -> pd.DataFrame:
        """``Lake.query`` cached for ``ttl`` seconds per (lake, sql, params)."""

        @st.cache_data(ttl=ttl, show_spinner=False)
        def _query(root: str, sql: str, items: tuple[tuple[str, str], ...]) -> pd.DataFrame:
            return self.lake.query(sql, params=params)

        key = tuple(sorted((k, repr(v)) for k, v in (params or {}).items()))
        return _query(self.lake.root, sql, key)


def settings() -> Settings:
    """Settings from the environment (``REBALANCER_*``); a bad value stops the page with one
    line."""
    try:
        return load_settings()
    except RebalancerError as exc:
        st.error(str(exc))
        st.stop()
        raise  # pragma: no cover - st.stop raises


def connection() -> LakeConnection:
    """The lake connection for the current settings (one per lake root and backend)."""
    current = settings()
    return st.connection("lake", type=LakeConnection, lake=current.lake, backend=current.backend)


def attempt(load: Callable[[], T], what: str) -> T | None:
    """Run ``load``; on failure show one line saying what failed and why, and return None."""
    try:
        return load()
    except RebalancerError as exc:
        st.error(f"{what}: {' '.join(str(exc).split())}")
    except Exception as exc:  # a bug or an outage: still a message, not a traceback
        st.error(f"{what} failed: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}")
    return None


# ------------------------------------------------------------------ cached reports
@st.cache_data(ttl=TTL, show_spinner="Reading the book...")
def book_report(root: str, _lake: Lake) -> reports.BookReport:
    """:func:`reports.book_report`, cached per lake root."""
    return reports.book_report(_lake)


@st.cache_data(ttl=TTL, show_spinner=False)
def account_report(root: str, account_id: str, _lake: Lake) -> reports.AccountReport:
    """:func:`reports.account_report`, cached per lake root and account."""
    return reports.account_report(_lake, account_id)


@st.cache_data(ttl=TTL, show_spinner=False)
def runs(root: str, limit: int, _lake: Lake) -> pd.DataFrame:
    """The newest runs."""
    from rebalancer.usecases import list_runs

    return list_runs(_lake, limit=limit)


@st.cache_data(ttl=TTL, show_spinner=False)
def run_trades(root: str, run_id: str, _lake: Lake) -> pd.DataFrame:
    """Every trade of a run (the whole-run CSV export)."""
    return reports.run_trades(_lake, run_id)


@st.cache_data(ttl=TTL, show_spinner="Auditing the run...")
def run_violations(root: str, run_id: str, _lake: Lake) -> reports.AuditResult:
    """The audit query's rows for a run."""
    return reports.run_violations(_lake, run_id)


# ------------------------------------------------------------------ auth and the API
def _has_secret(section: str) -> bool:
    """True when ``[section]`` is in ``.streamlit/secrets.toml`` (False: no secrets file)."""
    try:
        return section in st.secrets
    except Exception:  # no secrets file at all, or an unreadable one
        return False


def auth_configured() -> bool:
    """True when ``[auth]`` is configured: st.login then gates every page."""
    return _has_secret("auth")


def logged_in() -> bool:
    """True when an OIDC user is signed in (``st.user`` lacks the key outside a server)."""
    return bool(st.user.get("is_logged_in", False))


def approver() -> str:
    """Who is deciding: the logged-in user's e-mail (or name), else the OS user."""
    if auth_configured() and logged_in():
        for key in ("email", "name", "sub"):
            value = st.user.get(key)
            if value:
                return str(value)
    return reports.decided_by_default()


def api_settings() -> tuple[str, str | None] | None:
    """``(base_url, key)`` of the API when configured (secrets ``[api]`` url/key, else the
    settings' ``api_url`` / ``api_key``: ``REBALANCER_API_URL`` / ``REBALANCER_API_KEY``);
    None: use the in-process use case."""
    url: str | None = None
    key: str | None = None
    if _has_secret("api"):
        url = st.secrets["api"].get("url")
        key = st.secrets["api"].get("key")
    config = settings()
    url = url or config.api_url
    if not url:
        return None
    if key is None:
        key = config.api_key.get_secret_value() if config.api_key else None
    return str(url), key
