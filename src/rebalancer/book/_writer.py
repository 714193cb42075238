"""Write a generated book to the lake as one published version (whole or not at all).

Each chunk becomes one ``part-NNNNN`` object per table under the run's own version; the book
becomes visible only when the run switches the lake's book manifest
(:mod:`rebalancer.book._publish`). A killed or failing run leaves the published book intact;
a second run while one is publishing is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date

from rebalancer.book._generator import BOOK_TABLES, BookChunk
from rebalancer.book._publish import BookPublication, unpublish
from rebalancer.lake import Lake

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class BookSummary:
    """What :func:`write_book` published: rows per table, objects, accounts, the version (and
    the one kept before it), and the objects the cleanup rule removed."""

    accounts: int
    chunks: int
    as_of: date | None = None
    rows: dict[str, int] = field(default_factory=dict)
    objects: int = 0
    removed: int = 0
    version: str | None = None
    previous: str | None = None


def part_name(index: int) -> str:
    """Deterministic object name of chunk ``index``: a re-run replaces, never duplicates."""
    return f"part-{index:05d}"


def clear_book(lake: Lake, tables: Iterable[str] = BOOK_TABLES) -> int:
    """Delete the whole book (every version, the manifest, flat objects of ``tables``) under
    the book lock; returns how many objects were removed."""
    return unpublish(lake, tuple(tables))


def write_book(
    lake: Lake,
    chunks: Iterable[BookChunk],
    *,
    total_accounts: int | None = None,
    progress: Progress | None = None,
) -> BookSummary:
    """Write each chunk as it is generated (bounded memory) under a new version, then publish.

    ``progress(done_accounts, total_accounts)`` is called after every chunk. Empty tables of
    a chunk (e.g. no restrictions) still get their object, so every table has the same parts.
    Raises :class:`~rebalancer.errors.ConflictError` if another run is publishing a book.
    """
    iterator = iter(chunks)
    first = next(iterator, None)  # generate the first chunk before taking the lock
    if first is None:
        return BookSummary(accounts=0, chunks=0)
    as_of = first.as_of
    rows: dict[str, int] = dict.fromkeys(BOOK_TABLES, 0)
    objects = accounts = n_chunks = 0
    with BookPublication(lake) as publication:
        chunk: BookChunk | None = first
        del first
        while chunk is not None:
            for table, frame in chunk.tables.items():
                publication.write(table, frame, part_name(chunk.index))
                objects += 1
                rows[table] += len(frame)
            accounts += chunk.n_accounts
            n_chunks += 1
            if progress:
                progress(accounts, total_accounts or accounts)
            chunk = None  # free this chunk before the next one is generated
            chunk = next(iterator, None)
        published = publication.publish(as_of=as_of.isoformat(), accounts=accounts, chunks=n_chunks)
    return BookSummary(
        accounts=accounts,
        chunks=n_chunks,
        as_of=as_of,
        rows=rows,
        objects=objects,
        removed=published.removed,
        version=published.version,
        previous=published.previous,
    )
