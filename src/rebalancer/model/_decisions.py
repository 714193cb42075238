"""The ``decisions`` table: the model's labels, and its writers (simulator, import).

A decision is one advisor's SELL, HOLD or BUY on one sleeve of one account at one as-of time.
Rows are written at deterministic object names (the simulator's seed, the imported file's
content hash), so running the same simulation or importing the same file again replaces the
earlier rows instead of adding copies.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from rebalancer.errors import ConfigError, SchemaValidationError

if TYPE_CHECKING:  # the SageMaker training container imports ACTIONS without the lake
    from rebalancer.lake import Lake

ACTIONS = ("SELL", "HOLD", "BUY")
SOURCES = ("simulated", "dashboard", "import")
#: Columns an import file must have; the other ``decisions`` columns are optional.
IMPORT_REQUIRED = ("as_of", "account_id", "symbol", "action")
IMPORT_OPTIONAL = ("household_id", "advisor_id", "decided_by", "decided_at", "note")


def decision_columns() -> list[str]:
    """The ``decisions`` columns, in schema order (the schema is the one source)."""
    from rebalancer.lake import get_schema

    return get_schema("decisions").column_names


@dataclass(frozen=True)
class ImportResult:
    """What an import wrote and what it refused (``rejected``: line, reason)."""

    written: int
    rejected: pd.DataFrame
    keys: list[str]
    #: Written rows described by the features query over the lake's book (trainable).
    with_features: int = 0

    @property
    def ok(self) -> bool:
        """True when every row was accepted."""
        return self.rejected.empty


def _utc(text: str, column: str) -> pd.Timestamp:
    """A timestamp cell as naive UTC; ValueError with a short reason otherwise."""
    try:
        value = pd.Timestamp(text)
    except (ValueError, TypeError):
        raise ValueError(f"{column} {text!r} is not a date/time") from None
    if pd.isna(value):
        raise ValueError(f"{column} is empty")
    if value.tzinfo is not None:
        value = value.tz_convert("UTC").tz_localize(None)
    return value


def parse_decisions_csv(data: bytes, *, decided_by: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Valid ``decisions`` rows and rejected ``(line, reason)`` rows of an import file.

    Line numbers are the file's (the header is line 1). A missing required column or an
    unknown one fails the whole file (:class:`ConfigError`): no row could be trusted.
    A repeated (as_of, account_id, symbol) is rejected, naming the line it repeats.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"the file is not UTF-8 text (byte {exc.start})") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [h.strip().lower() for h in next(reader, [])]
    if not header:
        raise ConfigError("the file is empty: expected a header row")
    missing = [c for c in IMPORT_REQUIRED if c not in header]
    if missing:
        raise ConfigError(f"missing column(s) {', '.join(missing)} in the header")
    unknown = [c for c in header if c not in (*IMPORT_REQUIRED, *IMPORT_OPTIONAL)]
    if unknown:
        raise ConfigError(
            f"unknown column(s) {', '.join(unknown)}; allowed: "
            f"{', '.join((*IMPORT_REQUIRED, *IMPORT_OPTIONAL))}"
        )
    if len(set(header)) != len(header):
        raise ConfigError("a column appears twice in the header")
    good: list[dict[str, object]] = []
    bad: list[tuple[int, str]] = []
    seen: dict[tuple[pd.Timestamp, str, str], int] = {}
    line = reader.line_num
    for cells in reader:
        start, line = line + 1, reader.line_num
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            bad.append((start, f"{len(cells)} fields, the header has {len(header)}"))
            continue
        row = {k: v.strip() for k, v in zip(header, cells, strict=True)}
        try:
            as_of = _utc(row["as_of"], "as_of")
            for key in ("account_id", "symbol"):
                if not row[key]:
                    raise ValueError(f"{key} is empty")
            action = row["action"].upper()
            if action not in ACTIONS:
                raise ValueError(f"action {row['action']!r} is not one of {', '.join(ACTIONS)}")
            decided_at = _utc(row["decided_at"], "decided_at") if row.get("decided_at") else None
        except ValueError as exc:
            bad.append((start, str(exc)))
            continue
        key3 = (as_of, row["account_id"], row["symbol"])
        if key3 in seen:
            bad.append((start, f"repeats line {seen[key3]} (same as_of, account_id, symbol)"))
            continue
        seen[key3] = start
        good.append(
            {
                "as_of": as_of,
                "account_id": row["account_id"],
                "household_id": row.get("household_id") or None,
                "advisor_id": row.get("advisor_id") or None,
                "symbol": row["symbol"],
                "action": action,
                "source": "import",
                "decided_by": row.get("decided_by") or decided_by,
                "decided_at": decided_at,
                "note": row.get("note") or None,
            }
        )
    rows = pd.DataFrame(good, columns=decision_columns())
    rejected = pd.DataFrame(bad, columns=["line", "reason"])
    return rows, rejected


def import_decisions(
    lake: Lake, path: str | Path, *, strict: bool = False, features: bool = True
) -> ImportResult:
    """Validate a CSV of a firm's own decisions and write the valid rows (``source=import``).

    Bad rows are returned with their line numbers; every other row is written. With
    ``features``, the rows the lake's book holds are described by the features query at their
    as_of (``decision_features``), which makes them training rows: the book in the lake is
    taken as the book the decisions were made on. With
    ``strict``, one bad row writes nothing (:class:`SchemaValidationError` naming it).
    The object name is the file content's hash: importing the same file twice is one copy.
    """
    file = Path(path)
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {file}: {exc.strerror or exc}") from None
    rows, rejected = parse_decisions_csv(data, decided_by=f"import:{file.name}")
    if strict and len(rejected):
        first = rejected.iloc[0]
        raise SchemaValidationError(
            f"{file.name} line {first['line']}: {first['reason']} "
            f"({len(rejected)} bad row(s); nothing written)"
        )
    keys: list[str] = []
    described = 0
    if len(rows):
        from rebalancer.model._features import features_for_decisions

        name = f"import-{hashlib.sha256(data).hexdigest()[:16]}"
        if features:
            rows_features = features_for_decisions(lake, rows)
            described = len(rows_features)
            if described:
                keys += lake.write("decision_features", rows_features, name=name)
        keys += lake.write("decisions", rows, name=name)
    return ImportResult(written=len(rows), rejected=rejected, keys=keys, with_features=described)
