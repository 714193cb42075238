"""Query parameters: the one place a Python value becomes SQL text.

``Lake.query(sql, params={"id": "O'Brien"})`` replaces each ``:name`` placeholder with the
Athena (Trino) literal of ``params["name"]``, on both backends: the local lake transpiles the
bound SQL with sqlglot, the AWS lake sends it to Athena as is. Placeholders inside string
literals, quoted identifiers and comments are left alone, so ``'10:30'`` stays a string.

Literals, chosen so that the local and the Athena engine give every value the same type:

============================  ====================================================
Python value                  SQL
============================  ====================================================
``None``, ``pd.NaT``          ``NULL``
``bool``                      ``TRUE`` / ``FALSE``
``int`` (and numpy ints)      ``42``, ``(-42)``
``float`` (finite)            ``2.5E0``, ``(-1E-10)`` (DOUBLE, exact round trip)
``Decimal`` (finite)          ``DECIMAL '1.25'``
``str``                       ``'O''Brien'`` (quote doubled; backslash is literal)
``date``                      ``DATE '2024-03-01'``
``datetime``, ``Timestamp``   ``TIMESTAMP '2024-03-01 14:30:00.000000'`` (UTC if aware)
``list``, ``tuple``, ``set``  ``('a', 'b')`` for ``IN :ids`` (not empty; sets sorted)
============================  ====================================================
"""

from __future__ import annotations

import datetime as _dt
import decimal
import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from rebalancer.errors import QueryError

__all__ = ["bind_params", "sql_literal"]

# SQL text split into pieces a placeholder can never hide in (strings, quoted identifiers,
# comments) and everything else. A lone quote or ``/*`` means the text is unterminated.
_PIECES = re.compile(
    r"""
      (?P<string>'(?:[^']|'')*')
    | (?P<ident>"(?:[^"]|"")*")
    | (?P<line>--[^\n]*)
    | (?P<block>/\*.*?\*/)
    | (?P<param>(?<![:\w]):(?P<name>[A-Za-z_][A-Za-z0-9_]*))
    | (?P<open>['"]|/\*)
    | (?P<other>[^'"\-/:]+|.)
    """,
    re.VERBOSE | re.DOTALL,
)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def sql_literal(value: object, *, name: str = "value") -> str:
    """The Athena SQL literal of ``value``; :class:`QueryError` naming ``name`` if it has none."""
    if value is None or value is pd.NaT:
        return "NULL"
    if isinstance(value, bool | np.bool_):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | np.integer):
        number = int(value)
        return str(number) if number >= 0 else f"({number})"
    if isinstance(value, float | np.floating):
        real = float(value)
        if not math.isfinite(real):
            raise QueryError(f"parameter :{name} is {real}: only finite numbers have a literal")
        text = repr(real).upper()
        text = text if "E" in text else f"{text}E0"  # an exponent makes it a DOUBLE in Trino
        return f"({text})" if text.startswith("-") else text
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            raise QueryError(f"parameter :{name} is {value}: only finite numbers have a literal")
        return f"DECIMAL '{value:f}'"
    if isinstance(value, str):
        if "\x00" in value:
            raise QueryError(f"parameter :{name} holds a NUL character")
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, np.datetime64):
        value = pd.Timestamp(value)
    if isinstance(value, _dt.datetime):
        return _timestamp_literal(value, name)
    if isinstance(value, _dt.date):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, list | tuple | set | frozenset | np.ndarray | pd.Index | pd.Series):
        return _list_literal(value, name)
    raise QueryError(f"parameter :{name} has unsupported type {type(value).__name__}")


def _timestamp_literal(value: _dt.datetime, name: str) -> str:
    stamp = pd.Timestamp(value)
    if stamp is pd.NaT:
        return "NULL"
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    if stamp.nanosecond:
        raise QueryError(f"parameter :{name} has nanoseconds: the lake stores microseconds")
    # Always microseconds: locally the literal then has the lake columns' exact type.
    return f"TIMESTAMP '{stamp.strftime('%Y-%m-%d %H:%M:%S.%f')}'"


def _list_literal(values: Any, name: str) -> str:
    items = list(values)
    if isinstance(values, set | frozenset):
        try:
            items = sorted(items)
        except TypeError:
            raise QueryError(f"parameter :{name} mixes types that cannot be ordered") from None
    if not items:
        raise QueryError(f"parameter :{name} is an empty list: IN () matches nothing in SQL")
    nested = (list, tuple, set, frozenset, np.ndarray, pd.Index, pd.Series)
    if any(isinstance(item, nested) for item in items):
        raise QueryError(f"parameter :{name} is a nested list")
    return "(" + ", ".join(sql_literal(item, name=name) for item in items) + ")"


def bind_params(sql: str, params: Mapping[str, object] | None) -> str:
    """Replace each ``:name`` in ``sql`` with the literal of ``params[name]``.

    ``params=None`` returns ``sql`` untouched. A placeholder with no value, a value with no
    placeholder, or a string or comment left open is a :class:`QueryError`: each points to a
    typo that would otherwise run a different query than the one meant.
    """
    if params is None:
        return sql
    if not isinstance(params, Mapping):
        raise QueryError(
            f"params must be a mapping of names to values, got {type(params).__name__}"
        )
    for key in params:
        if not isinstance(key, str) or not _NAME.match(key):
            raise QueryError(f"parameter name {key!r} is not an identifier")
    literals: dict[str, str] = {}
    out: list[str] = []
    for piece in _PIECES.finditer(sql):
        if piece["open"] is not None:
            what = {"'": "string literal", '"': "quoted identifier"}.get(piece["open"], "comment")
            raise QueryError(f"unterminated {what} at character {piece.start() + 1}")
        name = piece["name"]
        if name is None:
            out.append(piece.group(0))
            continue
        if name not in params:
            raise QueryError(f"no value for parameter :{name}")
        if name not in literals:
            literals[name] = sql_literal(params[name], name=name)
        out.append(literals[name])
    unused = sorted(set(params) - set(literals))
    if unused:
        raise QueryError(f"parameter :{unused[0]} is not used in the query")
    return "".join(out)
