"""Athena SQL on DuckDB: transpile with sqlglot, plus the mappings sqlglot misses.

Every gap between the two engines that analysts hit is fixed here, in one place, and each has
a test in ``tests/lake/test_athena_sql.py``:

- ``date_diff(unit, a, b)`` counts *complete* units in Athena (Trino); DuckDB's ``date_diff``
  counts boundaries crossed, its ``date_sub`` counts complete units, so we map to ``date_sub``.
- ``format_datetime(ts, 'yyyy-MM-dd')`` takes a Joda pattern; DuckDB has ``strftime``.
- Integer division truncates in Trino (``7/2`` is 3, ``-7/2`` is -3): the local connection
  runs with DuckDB's ``integer_division`` setting, which does the same (see ``_local.py``).
- ``from_base(hex, 16)`` (the household shard expression) has no DuckDB twin: a cast of
  ``'0x' || hex`` to BIGINT.
- Known gap: ``date_add('day', n, <date>)`` returns a timestamp on DuckDB (a date on Athena).

The same parse is the read-only guard on both backends: one SELECT, no ``SELECT ... INTO``,
and no table functions (``read_text``, ``read_csv``, ``read_parquet``, ``glob``, ``range``,
...): Athena has none of DuckDB's, and a query must read the lake's tables and views only.
"""

from __future__ import annotations

import re

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, SqlglotError

from rebalancer.errors import QueryError

_READ_ONLY = (exp.Select, exp.Union, exp.Intersect, exp.Except)

# DuckDB functions that reach outside the lake (files, settings, the catalog): refused even
# where DuckDB would read them as a scalar call. The DuckDB sandbox (``_local.py``) is the
# second line of defence; this check gives the one-line reason.
_OUTSIDE_PREFIXES = ("read_", "parquet_", "duckdb_", "pragma_", "sniff_", "iceberg_", "delta_")
_FILE_READERS = tuple(
    getattr(exp, name) for name in ("ReadCSV", "ReadParquet", "ReadJSON") if hasattr(exp, name)
)
_OUTSIDE_NAMES = frozenset(
    {"glob", "query", "query_table", "current_setting", "getenv", "getvariable", "which_secret"}
)

# Joda-time pattern letters (Athena's format_datetime) -> strftime directives (DuckDB).
_JODA: dict[str, str] = {
    "yyyy": "%Y",
    "yy": "%y",
    "MMMM": "%B",
    "MMM": "%b",
    "MM": "%m",
    "M": "%-m",
    "dd": "%d",
    "d": "%-d",
    "HH": "%H",
    "H": "%-H",
    "hh": "%I",
    "h": "%-I",
    "mm": "%M",
    "m": "%-M",
    "ss": "%S",
    "s": "%-S",
    "SSS": "%g",
    "SSSSSS": "%f",
    "a": "%p",
    "EEEE": "%A",
    "EEE": "%a",
    "E": "%a",
    "Z": "%z",
    "ZZ": "%z",
    "z": "%Z",
    "DDD": "%j",
}
_JODA_TOKEN = re.compile(r"'[^']*'|([A-Za-z])\1*|[^A-Za-z']+")


def joda_to_strftime(pattern: str) -> str:
    """Translate a Joda-time pattern (``yyyy-MM-dd HH:mm``) to strftime (``%Y-%m-%d %H:%M``)."""
    out: list[str] = []
    for match in _JODA_TOKEN.finditer(pattern):
        token = match.group(0)
        if token.startswith("'"):
            out.append(token[1:-1].replace("%", "%%") or "'")
        elif token[0].isalpha():
            if token not in _JODA:
                raise QueryError(f"format_datetime: unsupported pattern letters {token!r}")
            out.append(_JODA[token])
        else:
            out.append(token.replace("%", "%%"))
    return "".join(out)


def _rewrite(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.FromBase) and node.expression.sql() == "16":
        # from_base(hex, 16): DuckDB has no from_base; it casts a '0x...' string instead.
        text = exp.DPipe(this=exp.Literal.string("0x"), expression=node.this)
        return exp.Cast(this=text, to=exp.DataType.build("BIGINT"))
    if isinstance(node, exp.DateDiff):
        unit = node.args.get("unit")
        unit_name = unit.name.lower() if unit is not None else "day"
        return exp.Anonymous(
            this="date_sub",
            expressions=[exp.Literal.string(unit_name), node.expression, node.this],
        )
    if isinstance(node, exp.Anonymous) and node.name.lower() == "format_datetime":
        args = node.expressions
        if len(args) != 2 or not isinstance(args[1], exp.Literal) or not args[1].is_string:
            raise QueryError("format_datetime needs a timestamp and a literal Joda pattern")
        return exp.Anonymous(
            this="strftime",
            expressions=[args[0], exp.Literal.string(joda_to_strftime(args[1].this))],
        )
    return node


def _position(error: ParseError) -> str:
    if error.errors:
        first = error.errors[0]
        line, col = first.get("line"), first.get("col")
        desc = str(first.get("description", "syntax error")).strip()
        if line is not None and col is not None:
            return f"{desc} at line {line}, column {col}"
        return desc
    return str(error).splitlines()[0]


def parse_athena(sql: str) -> exp.Expression:
    """Parse one read-only Athena statement; :class:`QueryError` with a position otherwise."""
    if not sql or not sql.strip():
        raise QueryError("empty query")
    try:
        statements = [s for s in sqlglot.parse(sql, read="athena") if s is not None]
    except ParseError as exc:
        raise QueryError(f"syntax error: {_position(exc)}") from None
    except SqlglotError as exc:
        raise QueryError(f"cannot parse query: {str(exc).splitlines()[0]}") from None
    if len(statements) != 1:
        raise QueryError(f"expected exactly one statement, got {len(statements)}")
    statement = statements[0]
    if not isinstance(statement, _READ_ONLY):
        kind = statement.key.upper()
        raise QueryError(f"only SELECT queries are allowed here, got {kind}")
    _check_reads_lake_only(statement)
    return statement


def _function_name(node: exp.Expr) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    return node.sql(dialect="athena").split("(", 1)[0].strip().lower() or node.key


def _check_reads_lake_only(statement: exp.Expression) -> None:
    """Refuse what makes a SELECT write or read beyond the lake's tables and views."""
    for node in statement.walk():
        if isinstance(node, exp.Into):
            raise QueryError("SELECT ... INTO creates a table: only plain SELECT queries run here")
        if isinstance(node, exp.Placeholder):
            raise QueryError(f"placeholder {node.sql(dialect='athena')} needs params=")
        if isinstance(node, exp.Table | exp.Lateral) and isinstance(node.this, exp.Func):
            name = _function_name(node.this)
            raise QueryError(
                f"table function {name} is not available: queries read the lake's tables and views"
            )
        if isinstance(node, exp.Table) and any(ch in node.name for ch in "/\\."):
            raise QueryError(f"unknown table {node.name}")
        if isinstance(node, (exp.Anonymous, *_FILE_READERS)):
            name = _function_name(node)
            if name in _OUTSIDE_NAMES or name.startswith(_OUTSIDE_PREFIXES):
                raise QueryError(f"function {name} is not available: it reads outside the lake")


def athena_to_duckdb(sql: str) -> str:
    """Transpile an Athena (Trino) query to DuckDB SQL."""
    statement = parse_athena(sql)
    rewritten = statement.transform(_rewrite)
    try:
        return rewritten.sql(dialect="duckdb")
    except SqlglotError as exc:
        raise QueryError(f"cannot translate query: {str(exc).splitlines()[0]}") from None


def view_to_duckdb(sql: str) -> str:
    """Transpile the body of a named view (``sql/views/*.sql``) to DuckDB."""
    return athena_to_duckdb(sql.strip().rstrip(";"))
