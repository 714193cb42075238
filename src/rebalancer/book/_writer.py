"""Write a generated book to the lake: one ``part-NNNNN`` object per chunk and table."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date

from rebalancer.book._generator import BOOK_TABLES, BookChunk
from rebalancer.lake import Lake

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class BookSummary:
    """What :func:`write_book` wrote: rows per table, objects, accounts."""

    accounts: int
    chunks: int
    as_of: date | None = None
    rows: dict[str, int] = field(default_factory=dict)
    objects: int = 0
    removed: int = 0


def part_name(index: int) -> str:
    """Deterministic object name of chunk ``index``: a re-run replaces, never duplicates."""
    return f"part-{index:05d}"


def clear_book(lake: Lake, tables: Iterable[str] = BOOK_TABLES) -> int:
    """Delete every object of the book tables; returns how many were removed.

    Run before writing so a smaller book does not leave stale parts of a bigger one behind.
    """
    removed = 0
    for table in tables:
        keys = lake.list_objects(table)
        if keys:
            lake.delete_objects(keys)
            removed += len(keys)
    return removed


def write_book(
    lake: Lake,
    chunks: Iterable[BookChunk],
    *,
    total_accounts: int | None = None,
    progress: Progress | None = None,
) -> BookSummary:
    """Clear the book tables, then write each chunk as it is generated (bounded memory).

    ``progress(done_accounts, total_accounts)`` is called after every chunk. Empty tables of
    a chunk (e.g. no restrictions) still get their object, so every table has the same parts.
    """
    iterator = iter(chunks)
    first = next(iterator, None)  # generate the first chunk before deleting anything
    if first is None:
        return BookSummary(accounts=0, chunks=0)
    removed = clear_book(lake)
    as_of = first.as_of
    rows: dict[str, int] = dict.fromkeys(BOOK_TABLES, 0)
    objects = accounts = n_chunks = 0
    chunk: BookChunk | None = first
    del first
    while chunk is not None:
        for table, frame in chunk.tables.items():
            objects += len(lake.write(table, frame, name=part_name(chunk.index)))
            rows[table] += len(frame)
        accounts += chunk.n_accounts
        n_chunks += 1
        if progress:
            progress(accounts, total_accounts or accounts)
        chunk = None  # free this chunk before the next one is generated
        chunk = next(iterator, None)
    return BookSummary(
        accounts=accounts,
        chunks=n_chunks,
        as_of=as_of,
        rows=rows,
        objects=objects,
        removed=removed,
    )
