"""``BookTables``: the one typed shape of a book as it crosses a seam.

The engine, the use cases, the API, backtests and the dashboard all take a ``BookTables``: the
accounts, their model portfolios, holdings, tax lots, restrictions, recent transactions and the
securities universe, as pandas frames. Construction checks structure (every table has the
columns the engine reads, values parse as their schema type) and names the table and the first
bad row; per-account problems (a negative quantity, an unknown model) stay the engine's to
report, so one bad account never sinks a batch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import pandas as pd

from rebalancer._arrow import member
from rebalancer.errors import NotFoundError, SchemaValidationError
from rebalancer.lake import get_schema
from rebalancer.lake._manifest import read_lake_consistently

if TYPE_CHECKING:
    from rebalancer.lake import Lake

#: The columns the engine reads, per table (the rest of a schema's columns ride along).
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "accounts": (
        "account_id", "household_id", "account_type", "model_id", "cash", "pending_cash_flow",
        "fractional_shares",
    ),
    "model_portfolios": ("model_id", "symbol", "target_weight"),
    "holdings": ("account_id", "symbol", "quantity"),
    "tax_lots": ("account_id", "symbol", "lot_id", "quantity", "cost_basis", "acquired"),
    "restrictions": ("account_id", "symbol", "restriction"),
    "transactions": ("household_id", "symbol", "side", "trade_date", "realized_gain"),
    "securities": ("symbol", "asset_class"),
}  # fmt: skip
_NUMERIC = ("double", "float", "bigint", "int", "smallint")
_TEMPORAL = ("date", "timestamp")


@dataclass(frozen=True)
class BookTables:
    """A book: seven frames, validated on construction (see :meth:`from_frames`)."""

    accounts: pd.DataFrame
    model_portfolios: pd.DataFrame
    holdings: pd.DataFrame
    tax_lots: pd.DataFrame
    restrictions: pd.DataFrame
    transactions: pd.DataFrame
    securities: pd.DataFrame

    TABLES: ClassVar[tuple[str, ...]] = tuple(REQUIRED_COLUMNS)
    #: Tables keyed by account (``select`` filters them by ``account_id``).
    BY_ACCOUNT: ClassVar[tuple[str, ...]] = ("accounts", "holdings", "tax_lots", "restrictions")

    def __post_init__(self) -> None:
        for name in self.TABLES:
            frame = getattr(self, name)
            if not isinstance(frame, pd.DataFrame):
                raise SchemaValidationError(f"{name}: expected a DataFrame, got {type(frame)}")
            _check_table(name, frame)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_frames(
        cls,
        *,
        accounts: pd.DataFrame,
        model_portfolios: pd.DataFrame,
        holdings: pd.DataFrame,
        tax_lots: pd.DataFrame | None = None,
        restrictions: pd.DataFrame | None = None,
        transactions: pd.DataFrame | None = None,
        securities: pd.DataFrame | None = None,
    ) -> BookTables:
        """A book from frames; missing optional tables are empty (a lake column ``dt`` is
        dropped). Raises :class:`SchemaValidationError` naming the table and first bad row."""
        given = {
            "accounts": accounts, "model_portfolios": model_portfolios, "holdings": holdings,
            "tax_lots": tax_lots, "restrictions": restrictions, "transactions": transactions,
            "securities": securities,
        }  # fmt: skip
        return cls(**_normalized(given))

    @classmethod
    def from_typed_frames(
        cls,
        *,
        accounts: pd.DataFrame,
        model_portfolios: pd.DataFrame,
        holdings: pd.DataFrame,
        tax_lots: pd.DataFrame | None = None,
        restrictions: pd.DataFrame | None = None,
        transactions: pd.DataFrame | None = None,
        securities: pd.DataFrame | None = None,
    ) -> BookTables:
        """:meth:`from_frames` for frames read from the lake's Parquet with each table's
        schema (every required column present, every value of its schema type), or rows of
        an already validated book: the per-value parse checks are skipped, they cannot fail
        there and cost more than the read of one household."""
        given = {
            "accounts": accounts, "model_portfolios": model_portfolios, "holdings": holdings,
            "tax_lots": tax_lots, "restrictions": restrictions, "transactions": transactions,
            "securities": securities,
        }  # fmt: skip
        return cls._unchecked(_normalized(given))

    @classmethod
    def _unchecked(cls, frames: Mapping[str, pd.DataFrame]) -> BookTables:
        """A book of frames whose values are known good: only the required columns are
        checked (:func:`_check_table` without the value parse)."""
        for name in cls.TABLES:
            frame = frames[name]
            if not isinstance(frame, pd.DataFrame):
                raise SchemaValidationError(f"{name}: expected a DataFrame, got {type(frame)}")
            _check_columns(name, frame)
        book = object.__new__(cls)
        for name in cls.TABLES:
            object.__setattr__(book, name, frames[name])
        return book

    @classmethod
    def from_mapping(cls, tables: Mapping[str, pd.DataFrame]) -> BookTables:
        """A book from a ``{table: frame}`` mapping (extra keys, e.g. ``prices``, ignored)."""
        return cls.from_frames(**{name: tables.get(name) for name in cls.TABLES})

    @classmethod
    def from_lake(cls, lake: Lake, *, household_of: str | None = None) -> BookTables:
        """The whole book, or the household of one account (``household_of``).

        The single-account path needs the whole household: its trades depend on the siblings'
        through the same-run wash-sale guard, and the household's recent trades set the
        wash-sale window. A sharded book reads the household's shard objects alone
        (:func:`rebalancer.book._shards.read_household`); an unsharded one, seven
        parameterized queries. Raises :class:`NotFoundError` for an unknown account.
        """

        def read() -> BookTables:  # every table from one published book version
            if household_of is None:
                return cls.from_frames(**{name: lake.read(name) for name in cls.TABLES})
            from rebalancer.book._shards import read_household, sharded_manifest

            if sharded_manifest(lake) is not None:  # its shard's objects alone, no SQL
                return read_household(lake, household_of)
            return _household_from_lake(cls, lake, household_of)

        return read_lake_consistently(lake, read)

    # ------------------------------------------------------------------ views
    def frames(self) -> dict[str, pd.DataFrame]:
        """``{table: frame}`` for every table."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def select(self, account_ids: Iterable[str]) -> BookTables:
        """The sub-book of these accounts: their rows, their models, their households'
        transactions, the whole securities table."""
        wanted = pd.Index([str(a) for a in account_ids]).unique()
        acc = _rows(self.accounts, "account_id", wanted)
        households = acc["household_id"].dropna().astype(str).unique()
        models = acc["model_id"].dropna().astype(str).unique()
        frames = {
            "accounts": acc,
            "model_portfolios": _rows(self.model_portfolios, "model_id", models),
            "holdings": _rows(self.holdings, "account_id", wanted),
            "tax_lots": _rows(self.tax_lots, "account_id", wanted),
            "restrictions": _rows(self.restrictions, "account_id", wanted),
            "transactions": _rows(self.transactions, "household_id", households),
            "securities": self.securities,
        }
        if all(frames[name] is getattr(self, name) for name in self.TABLES):
            return self  # already just these accounts (a household read from its shard)
        return BookTables._unchecked(frames)  # rows of a validated book stay valid

    def households(self) -> dict[str, tuple[str, ...]]:
        """``{household_id: account ids}`` in book order (an account without a household is a
        household of its own, keyed by its account id)."""
        acc = self.accounts
        key = acc["household_id"].astype(object).where(acc["household_id"].notna(), None)
        ids = acc["account_id"].astype(str)
        key = key.where(key.notna(), ids)
        out: dict[str, list[str]] = {}
        for household, account in zip(key.astype(str), ids, strict=True):
            out.setdefault(household, []).append(account)
        return {h: tuple(a) for h, a in out.items()}

    def household_of(self, account_id: str) -> BookTables:
        """The sub-book of the household that holds ``account_id`` (NotFoundError if none)."""
        if str(account_id) in self.__dict__.get("_household", ()):
            return self  # read as this account's household (see one_household)
        accounts = self.accounts
        if _all_in(accounts["household_id"], accounts["household_id"].iloc[:1].tolist()) and (
            str(account_id) in set(accounts["account_id"].astype(str).tolist())
        ):  # one household already (a household read from its shard): no row filters
            return self.select(accounts["account_id"].astype(str).tolist())
        acc = accounts[accounts["account_id"].astype(str) == str(account_id)]
        if acc.empty:
            raise NotFoundError(f"account {account_id} not found in the accounts table")
        household = acc["household_id"].iloc[0]
        if pd.isna(household):
            return self.select([str(account_id)])
        members = accounts.loc[accounts["household_id"].astype(str) == str(household), "account_id"]
        return self.select(members.astype(str))

    def one_household(self) -> BookTables:
        """This book, known to be one household and exactly its rows (a household read from
        its shard): :meth:`household_of` any of its accounts is then the book itself, with no
        row checks (the single-account path asks twice per call)."""
        object.__setattr__(self, "_household", frozenset(self.accounts["account_id"].tolist()))
        return self

    def __len__(self) -> int:
        return len(self.accounts)


def empty_table(name: str) -> pd.DataFrame:
    """A zero-row frame with the table's schema columns."""
    frame = get_schema(name).arrow_schema().empty_table().to_pandas()
    return frame.drop(columns=["dt"], errors="ignore")


def _normalized(given: Mapping[str, pd.DataFrame | None]) -> dict[str, pd.DataFrame]:
    """Missing tables empty, a lake ``dt`` column dropped, a default index."""
    out = {}
    for name, frame in given.items():
        if frame is None:
            out[name] = empty_table(name)
            continue
        if "dt" in frame.columns:
            frame = frame.drop(columns=["dt"])
        out[name] = frame if _default_index(frame) else frame.reset_index(drop=True)
    return out


def _default_index(frame: pd.DataFrame) -> bool:
    """Whether ``frame`` has the index ``reset_index(drop=True)`` would give it."""
    index = frame.index
    return (
        isinstance(index, pd.RangeIndex)
        and index.start == 0
        and index.step == 1
        and index.name is None
    )


#: Frames up to this many rows are checked for "every row kept" in Python (sets of strings)
#: before pandas is asked: a household's tables are a handful of rows.
_SMALL = 256


def _rows(frame: pd.DataFrame, column: str, values: Iterable[object]) -> pd.DataFrame:
    """``frame[frame[column].astype(str).isin(values)]`` with a default index; ``frame``
    itself when every row is kept."""
    if _default_index(frame) and _all_in(frame[column], values):
        return frame
    mask = member(frame[column], values)  # Arrow's hashing: pandas' isin loops in Python
    if bool(mask.all()) and _default_index(frame):
        return frame
    return frame[mask].reset_index(drop=True)


def _all_in(column: pd.Series, values: Iterable[object]) -> bool:
    """Whether every value of a small, null-free string column is one of ``values``
    (``False`` means "ask pandas", not "no")."""
    if len(column) > _SMALL or not pd.api.types.is_string_dtype(column.dtype):
        return False
    items = column.tolist()
    if not all(isinstance(v, str) for v in items):
        return False
    return set(items) <= {str(v) for v in values}


def _check_columns(name: str, frame: pd.DataFrame) -> None:
    missing = [c for c in REQUIRED_COLUMNS[name] if c not in frame.columns]
    if missing:
        raise SchemaValidationError(f"{name}: missing column(s) {', '.join(missing)}")


def _check_table(name: str, frame: pd.DataFrame) -> None:
    """Required columns present; schema-typed columns parse (names the first bad row)."""
    _check_columns(name, frame)
    if frame.empty:
        return
    for column in get_schema(name).columns:
        if column.name not in frame.columns or column.name not in REQUIRED_COLUMNS[name]:
            continue
        values = frame[column.name]
        if column.type in _NUMERIC and not pd.api.types.is_numeric_dtype(values.dtype):
            parsed = pd.to_numeric(values, errors="coerce")
            _first_bad(name, column.name, values, parsed, "a number")
        elif column.type in _TEMPORAL and (
            values.dtype == object or pd.api.types.is_string_dtype(values.dtype)
        ):
            parsed = pd.to_datetime(values, errors="coerce", format="mixed")
            _first_bad(name, column.name, values, parsed, "a date")


def _first_bad(table: str, column: str, values: pd.Series, parsed: pd.Series, what: str) -> None:
    bad = np.flatnonzero((values.notna() & parsed.isna()).to_numpy())
    if bad.size:
        row = int(bad[0])
        raise SchemaValidationError(
            f"{table} row {row}: {column} {values.iloc[row]!r} is not {what}"
            + (f" (and {bad.size - 1} more row(s))" if bad.size > 1 else "")
        )


def _household_from_lake(cls: type[BookTables], lake: Lake, account_id: str) -> BookTables:
    """One account's household: seven parameterized queries, no value pasted into SQL."""
    one = lake.query(
        "SELECT * FROM accounts WHERE account_id = :account_id", params={"account_id": account_id}
    )
    if one.empty:
        raise NotFoundError(f"account {account_id} not found in the accounts table")
    household = one.loc[0, "household_id"]
    acc = (
        one
        if pd.isna(household)  # a null household id: the account alone
        else lake.query(
            "SELECT * FROM accounts WHERE household_id = :household",
            params={"household": str(household)},
        )
    )
    ids = [str(a) for a in acc["account_id"].drop_duplicates()]
    models = [str(m) for m in acc["model_id"].dropna().drop_duplicates()]

    def by_account(table: str) -> pd.DataFrame:
        return lake.query(f"SELECT * FROM {table} WHERE account_id IN :ids", params={"ids": ids})

    transactions = (
        lake.query(
            "SELECT * FROM transactions WHERE household_id = :household",
            params={"household": str(household)},
        )
        if not pd.isna(household)
        else None
    )
    return cls.from_frames(
        accounts=acc,
        model_portfolios=lake.query(
            "SELECT * FROM model_portfolios WHERE model_id IN :models", params={"models": models}
        )
        if models
        else empty_table("model_portfolios"),
        holdings=by_account("holdings"),
        tax_lots=by_account("tax_lots"),
        restrictions=by_account("restrictions"),
        transactions=transactions,
        securities=lake.query("SELECT * FROM securities"),
    )
