"""Accounts as a reader sees them: the book's accounts with their state in the latest run.

The ``recommendations`` table holds one row per trade, so an account's drift is known only
when the latest run traded it; an account the run did not trade (inside its bands, skipped, or
rejected) has status ``no_trades`` and no drift. Listing pages by ``account_id`` (keyset, not
offsets): a cursor names the last account of a page and the filters it was issued for, so a
page never repeats or skips an account whatever is written meanwhile.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import pandas as pd

from rebalancer.errors import ConfigError, NotFoundError
from rebalancer.lake import Lake
from rebalancer.usecases._runs import list_runs

MAX_PAGE = 500
#: Status of an account in the latest run.
STATUS_REBALANCE = "rebalance"
STATUS_NO_TRADES = "no_trades"
STATUS_NO_RUN = "no_run"

_ACCOUNT_FIELDS = (
    "a.account_id, a.household_id, a.client_id, a.advisor_id, a.account_type, a.model_id, "
    "a.cash, a.pending_cash_flow, a.last_rebalanced"
)
_LATEST = """
SELECT account_id, count(*) AS trades, max(drift_before) AS drift_before,
       max(drift_after) AS drift_after, sum(value) AS traded_value
FROM recommendations WHERE run_id = :run_id GROUP BY account_id
"""


class CursorError(ConfigError):
    """A cursor that this listing did not issue (or issued for other filters)."""

    title = "Invalid cursor"


@dataclass(frozen=True)
class AccountPage:
    """One page of accounts and the cursor of the next (``None``: this was the last)."""

    accounts: pd.DataFrame
    next_cursor: str | None
    run_id: str | None


def latest_run_id(lake: Lake) -> str | None:
    """The newest run (the first row of :func:`list_runs`), or ``None`` before any run."""
    runs = list_runs(lake, limit=1)
    return None if runs.empty else str(runs["run_id"].iloc[0])


def _fingerprint(filters: dict[str, Any]) -> str:
    text = json.dumps(filters, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def encode_cursor(after: str, filters: dict[str, Any]) -> str:
    """An opaque cursor: the last account id of a page and the filters' fingerprint."""
    raw = json.dumps({"a": after, "f": _fingerprint(filters)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, filters: dict[str, Any]) -> str:
    """The account id a cursor continues after; :class:`CursorError` if it is not ours."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        after, fingerprint = data["a"], data["f"]
    except (ValueError, KeyError, TypeError, UnicodeError, binascii.Error):
        raise CursorError("cursor is not one this listing issued") from None
    if not isinstance(after, str) or fingerprint != _fingerprint(filters):
        raise CursorError("cursor was issued for other filters; start again without it")
    return after


def _with_status(frame: pd.DataFrame, run_id: str | None) -> pd.DataFrame:
    out = frame.copy()
    if run_id is None:
        out["status"] = STATUS_NO_RUN
    else:
        out["status"] = out["trades"].notna().map({True: STATUS_REBALANCE, False: STATUS_NO_TRADES})
    out["trades"] = out["trades"].fillna(0).astype(int)
    out["needs_rebalance"] = out["status"] == STATUS_REBALANCE
    return out


def _joined(run_id: str | None) -> str:
    if run_id is None:  # no run: the same columns, all empty
        return (
            f"SELECT {_ACCOUNT_FIELDS}, CAST(NULL AS bigint) AS trades, "
            "CAST(NULL AS double) AS drift_before, CAST(NULL AS double) AS drift_after, "
            "CAST(NULL AS double) AS traded_value FROM accounts a"
        )
    return (
        f"SELECT {_ACCOUNT_FIELDS}, r.trades, r.drift_before, r.drift_after, r.traded_value "
        f"FROM accounts a LEFT JOIN ({_LATEST}) r ON a.account_id = r.account_id"
    )


def list_accounts(
    lake: Lake,
    *,
    advisor_id: str | None = None,
    household_id: str | None = None,
    needs_rebalance: bool | None = None,
    limit: int = 100,
    cursor: str | None = None,
) -> AccountPage:
    """Accounts ordered by id, filtered, with their status in the latest run; one page."""
    if not 1 <= limit <= MAX_PAGE:
        raise ConfigError(f"limit must be between 1 and {MAX_PAGE}, got {limit}")
    filters = {"advisor_id": advisor_id, "household_id": household_id,
               "needs_rebalance": needs_rebalance}  # fmt: skip
    after = decode_cursor(cursor, filters) if cursor else None
    if not lake.list_objects("accounts"):
        return AccountPage(pd.DataFrame(), None, None)
    run_id = latest_run_id(lake)
    where: list[str] = ["TRUE"]
    params: dict[str, object] = {"limit": limit + 1}
    if run_id is not None:
        params["run_id"] = run_id
    if advisor_id is not None:
        where.append("advisor_id = :advisor_id")
        params["advisor_id"] = advisor_id
    if household_id is not None:
        where.append("household_id = :household_id")
        params["household_id"] = household_id
    if needs_rebalance is not None:
        where.append("trades IS NOT NULL" if needs_rebalance else "trades IS NULL")
    if after is not None:
        where.append("account_id > :after")
        params["after"] = after
    sql = (
        f"SELECT * FROM ({_joined(run_id)}) WHERE {' AND '.join(where)} "
        "ORDER BY account_id LIMIT :limit"
    )
    rows = lake.query(sql, params=params)
    more = len(rows) > limit
    rows = rows.iloc[:limit].reset_index(drop=True)
    next_cursor = encode_cursor(str(rows["account_id"].iloc[-1]), filters) if more else None
    return AccountPage(_with_status(rows, run_id), next_cursor, run_id)


def get_account(lake: Lake, account_id: str) -> tuple[pd.Series, pd.DataFrame, str | None]:
    """One account with its status in the latest run, and its holdings; NotFoundError if none."""
    if not lake.list_objects("accounts"):
        raise NotFoundError(f"account {account_id} not found")
    run_id = latest_run_id(lake)
    params: dict[str, object] = {"account_id": account_id}
    if run_id is not None:
        params["run_id"] = run_id
    rows = lake.query(
        f"SELECT * FROM ({_joined(run_id)}) WHERE account_id = :account_id", params=params
    )
    if rows.empty:
        raise NotFoundError(f"account {account_id} not found")
    holdings = (
        lake.query(
            "SELECT symbol, quantity FROM holdings WHERE account_id = :account_id ORDER BY symbol",
            params={"account_id": account_id},
        )
        if lake.list_objects("holdings")
        else pd.DataFrame(columns=["symbol", "quantity"])
    )
    return _with_status(rows, run_id).iloc[0], holdings, run_id
