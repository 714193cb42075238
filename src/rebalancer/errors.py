"""Domain exceptions, in one place.

The CLI maps each to a one-line message and an exit code; the API maps each to an RFC 7807
problem+json with a 4xx status. Anything not derived from :class:`RebalancerError` is a bug.
"""

from __future__ import annotations


class RebalancerError(Exception):
    """Base of every error the platform reports to a user."""

    exit_code: int = 1
    http_status: int = 400
    title: str = "Bad request"


class ConfigError(RebalancerError):
    """Settings or arguments that cannot work together."""

    exit_code = 2
    title = "Invalid configuration"


class OutOfRangeError(ConfigError):
    """A well-formed value outside what the platform supports (a year-1 as-of, say): a 422."""

    http_status = 422
    title = "Value out of range"


class SchemaValidationError(RebalancerError):
    """A DataFrame does not match its table schema; nothing was written."""

    exit_code = 3
    http_status = 422
    title = "Data does not match the table schema"


class UnknownTableError(RebalancerError):
    """A table name that has no schema."""

    exit_code = 3
    http_status = 404
    title = "Unknown table"


class QueryError(RebalancerError):
    """A query that cannot be parsed, transpiled or run."""

    exit_code = 4
    title = "Query failed"


class MarketDataError(RebalancerError):
    """A market data provider returned nothing usable, or no prices cover the requested time.

    Over HTTP it is a 422: the API only reads the lake, so it means the request asked for a
    time the lake has no prices for.
    """

    exit_code = 5
    http_status = 422
    title = "Market data unavailable"


class InvalidAccountError(RebalancerError):
    """An account whose data cannot be rebalanced (negative quantity, bad targets, ...)."""

    exit_code = 6
    http_status = 422
    title = "Invalid account"


class NotFoundError(RebalancerError):
    """A requested entity does not exist."""

    exit_code = 7
    http_status = 404
    title = "Not found"


class ConflictError(RebalancerError):
    """Another run holds what this one needs (e.g. a book being published); retry later."""

    exit_code = 8
    http_status = 409
    title = "Conflict"


class ModelError(RebalancerError):
    """The advisor-action model cannot serve: no model registered, a corrupt artifact, a
    feature list that differs from the request, an unreachable endpoint."""

    exit_code = 9
    http_status = 503
    title = "Model unavailable"
