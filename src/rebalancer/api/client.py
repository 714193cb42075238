"""A small typed client of the API (httpx): what the dashboard and the tests call.

Every method returns the API's own response model. A 429 or 503 is retried with backoff
(``Retry-After`` honoured, capped); any other error raises :class:`ApiError` carrying the
problem+json body. The key comes from ``api_key`` or ``Settings.api_key``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from types import TracebackType
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel

from rebalancer.api.guard import API_KEY_HEADER
from rebalancer.api.models import (
    AccountDetail,
    AccountOut,
    AccountPageOut,
    Bars,
    PortfolioRecommendation,
    PortfolioRequest,
    Ready,
    RecommendationResponse,
    RunList,
    RunOut,
)
from rebalancer.api.routes.health import Health
from rebalancer.api.routes.model_registry import ModelOut
from rebalancer.config import Settings, get_settings
from rebalancer.engine import Policy
from rebalancer.errors import RebalancerError

RETRY_STATUSES = frozenset({429, 503})
M = TypeVar("M", bound=BaseModel)


class ApiError(RebalancerError):
    """A 4xx/5xx answer; ``problem`` is its problem+json body."""

    def __init__(self, status: int, problem: Mapping[str, Any]) -> None:
        self.status = status
        self.http_status = status
        self.problem = dict(problem)
        self.title = str(problem.get("title", "Error"))
        super().__init__(f"{status} {self.title}: {problem.get('detail', '')}".strip())


class RebalancerClient:
    """``RebalancerClient("http://127.0.0.1:8000")``; use as a context manager or ``close()``."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        settings: Settings | None = None,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.25,
        max_wait: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if api_key is None:
            secret = (settings or get_settings()).api_key
            api_key = secret.get_secret_value() if secret else None
        headers = {API_KEY_HEADER: api_key} if api_key else {}
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"), headers=headers, timeout=timeout, transport=transport
        )
        self.retries, self.backoff, self.max_wait = retries, backoff, max_wait

    # ------------------------------------------------------------------ plumbing
    def __enter__(self) -> RebalancerClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def _wait(self, response: httpx.Response, attempt: int) -> float:
        after = response.headers.get("retry-after", "")
        wait = float(after) if after.replace(".", "", 1).isdigit() else self.backoff * 2**attempt
        return min(wait, self.max_wait)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One call, retried on 429/503; :class:`ApiError` for any other error status."""
        for attempt in range(self.retries + 1):
            response = self._http.request(method, path, **kwargs)
            if response.status_code not in RETRY_STATUSES or attempt == self.retries:
                break
            time.sleep(self._wait(response, attempt))
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = {"title": response.reason_phrase, "detail": response.text[:200]}
            raise ApiError(response.status_code, body if isinstance(body, dict) else {})
        return response

    def _get(self, model: type[M], path: str, **params: Any) -> M:
        clean = {k: v for k, v in params.items() if v is not None}
        return model.model_validate(self.request("GET", path, params=clean).json())

    # ------------------------------------------------------------------ routes
    def health(self) -> Health:
        """``GET /health``."""
        return self._get(Health, "/health")

    def ready(self) -> Ready:
        """``GET /ready``."""
        return self._get(Ready, "/ready")

    def recommend(self, portfolio: PortfolioRequest | Mapping[str, Any]) -> PortfolioRecommendation:
        """``POST /v1/recommendations`` for a posted portfolio."""
        body = (
            portfolio.model_dump(mode="json", exclude_none=True)
            if isinstance(portfolio, PortfolioRequest)
            else dict(portfolio)
        )
        response = self.request("POST", "/v1/recommendations", json=body)
        return PortfolioRecommendation.model_validate(response.json())

    def accounts(
        self,
        *,
        advisor_id: str | None = None,
        household_id: str | None = None,
        needs_rebalance: bool | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> AccountPageOut:
        """``GET /v1/accounts``: one page."""
        flag = None if needs_rebalance is None else str(needs_rebalance).lower()
        return self._get(
            AccountPageOut, "/v1/accounts", advisor_id=advisor_id, household_id=household_id,
            needs_rebalance=flag, limit=limit, cursor=cursor,
        )  # fmt: skip

    def iter_accounts(self, **filters: Any) -> Iterator[AccountOut]:
        """Every account matching ``filters``, page after page."""
        cursor = None
        while True:
            page = self.accounts(cursor=cursor, **filters)
            yield from page.accounts
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def account(self, account_id: str) -> AccountDetail:
        """``GET /v1/accounts/{account_id}``."""
        return self._get(AccountDetail, f"/v1/accounts/{account_id}")

    def account_recommendation(
        self, account_id: str, *, as_of: datetime | str | None = None
    ) -> RecommendationResponse:
        """``GET /v1/accounts/{account_id}/recommendation``."""
        when = as_of.isoformat() if isinstance(as_of, datetime) else as_of
        return self._get(
            RecommendationResponse, f"/v1/accounts/{account_id}/recommendation", as_of=when
        )

    def what_if(
        self, account_id: str, policy: Policy, *, as_of: datetime | str | None = None
    ) -> RecommendationResponse:
        """``POST /v1/accounts/{account_id}/recommendation`` with another policy."""
        body: dict[str, Any] = {"policy": policy.model_dump(mode="json")}
        if as_of is not None:
            body["as_of"] = as_of.isoformat() if isinstance(as_of, datetime) else as_of
        response = self.request("POST", f"/v1/accounts/{account_id}/recommendation", json=body)
        return RecommendationResponse.model_validate(response.json())

    def runs(self, *, limit: int = 20) -> RunList:
        """``GET /v1/runs``."""
        return self._get(RunList, "/v1/runs", limit=limit)

    def run(self, run_id: str) -> RunOut:
        """``GET /v1/runs/{run_id}``."""
        return self._get(RunOut, f"/v1/runs/{run_id}")

    def current_model(self) -> ModelOut:
        """``GET /v1/models/current`` (an ApiError 404 until a model is registered)."""
        return self._get(ModelOut, "/v1/models/current")

    def model(self, version: str) -> ModelOut:
        """``GET /v1/models/{version}``."""
        return self._get(ModelOut, f"/v1/models/{version}")

    def market_prices(
        self, symbols: list[str], *, start: date, end: date, interval: str = "1d"
    ) -> Bars:
        """``GET /v1/market/prices``."""
        return self._get(
            Bars, "/v1/market/prices", symbols=",".join(symbols), start=start.isoformat(),
            end=end.isoformat(), interval=interval,
        )  # fmt: skip
