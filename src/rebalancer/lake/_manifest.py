"""Published table sets: versioned objects and one manifest switched atomically.

A book (advisors, clients, accounts, ...) is written under its own version,
``_book/versions/<version>/<table>/part-NNNNN.parquet``, and becomes visible only when the one
small object ``_book/manifest.json`` is replaced (local: temp file + ``os.replace``; S3: one
PUT). Every reader of a table the manifest names (``Lake.read``, ``Lake.list_objects``, the
DuckDB views; Athena through the per-table ``_book/athena/<table>/symlink.txt``) resolves its
objects through the manifest, so it sees the old book or the new one, never a mix. Without a
manifest a lake keeps its flat layout (``<table>/part-*.parquet``), read as version
``legacy``.

This module holds what both backends share: the manifest format, raw object access at
lake-relative keys (:class:`LocalBlobs`, :class:`S3Blobs`), the reader side (pinning one
manifest for several reads) and the writer lock. Publishing lives in
:mod:`rebalancer.book._publish`.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import shutil
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol, TypeVar

from rebalancer.errors import ConflictError, QueryError

if TYPE_CHECKING:
    import boto3

BOOK_PREFIX = "_book"
MANIFEST_KEY = f"{BOOK_PREFIX}/manifest.json"
LOCK_KEY = f"{BOOK_PREFIX}/publish.lock"
VERSIONS_PREFIX = f"{BOOK_PREFIX}/versions"
SYMLINK_PREFIX = f"{BOOK_PREFIX}/athena"
SYMLINK_NAME = "symlink.txt"
LEGACY_VERSION = "legacy"
MANIFEST_FORMAT = 1
#: An S3 lock whose holder has not refreshed it for this long is abandoned (local locks are
#: released by the kernel when their process dies, so they never go stale).
LOCK_STALE_AFTER = timedelta(minutes=15)

T = TypeVar("T")


# ---------------------------------------------------------------------------- the manifest
@dataclass(frozen=True)
class BookManifest:
    """The published book: its version, the objects of each table (lake-relative keys) and
    what was generated. ``switching_to`` is set while the Athena symlinks are rewritten."""

    version: str
    tables: dict[str, list[str]]
    rows: dict[str, int] = field(default_factory=dict)
    as_of: str | None = None
    accounts: int = 0
    chunks: int = 0
    created_at: str = ""
    previous: str | None = None
    switching_to: str | None = None
    format: int = MANIFEST_FORMAT
    #: Household shards of the book tables (0: unsharded; see :mod:`rebalancer.book._shards`).
    shards: int = 0

    def to_bytes(self) -> bytes:
        """Canonical JSON (sorted keys): equal manifests are equal bytes."""
        return (json.dumps(asdict(self), sort_keys=True, indent=1) + "\n").encode()

    @classmethod
    def from_bytes(cls, data: bytes, where: str) -> BookManifest:
        """Parse a manifest; a corrupt one is a one-line :class:`QueryError` naming it."""
        try:
            raw = json.loads(data)
            if raw.get("format") != MANIFEST_FORMAT:
                raise ValueError(f"unknown format {raw.get('format')!r}")
            known = {f for f in cls.__dataclass_fields__}
            manifest = cls(**{k: v for k, v in raw.items() if k in known})
            if not isinstance(manifest.tables, dict) or not manifest.version:
                raise ValueError("no version or tables")
        except (ValueError, TypeError, AttributeError) as exc:
            raise QueryError(f"corrupt book manifest {where}: {exc}") from None
        return manifest


def version_prefix(version: str) -> str:
    """Lake-relative prefix of one version's objects."""
    return f"{VERSIONS_PREFIX}/{version}/"


def new_version(now: datetime | None = None) -> str:
    """A fresh version id: UTC start time (sorts by age) plus 8 random hex digits."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{moment:%Y%m%dT%H%M%S}Z-{uuid.uuid4().hex[:8]}"


def version_started(version: str) -> datetime | None:
    """When a version's run started (from its id); ``None`` for ids of another shape."""
    try:
        return datetime.strptime(version.split("-", 1)[0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None


# ---------------------------------------------------------------------------- raw objects
class BlobStore(Protocol):
    """Raw objects at lake-relative keys (manifests, symlink lists, versioned Parquet)."""

    @property
    def root(self) -> str:
        """The lake root these keys are relative to."""
        ...

    def uri(self, key: str) -> str:
        """The absolute path / ``s3://`` URI of a lake-relative key."""
        ...

    def get(self, key: str) -> bytes | None:
        """The object's bytes, or ``None`` if it does not exist."""
        ...

    def put(self, key: str, data: bytes) -> None:
        """Create or replace the object atomically (readers see old or new bytes)."""
        ...

    def open_write(self, key: str) -> contextlib.AbstractContextManager[BinaryIO]:
        """A stream whose bytes become the object, atomically as :meth:`put`, when the
        ``with`` block exits cleanly, and nothing if it raises: an object too big to hold
        in memory (a run's trades) is written a part at a time."""
        ...

    def list_keys(self, prefix: str) -> list[str]:
        """Lake-relative keys under ``prefix`` (recursive, sorted, temp files excluded)."""
        ...

    def delete(self, keys: list[str]) -> None:
        """Delete objects by lake-relative key; missing ones are ignored."""
        ...

    def sweep(self, prefix: str, keep: set[str]) -> None:
        """Remove what a killed writer leaves that :meth:`list_keys` does not show (a local
        store's hidden temp files and empty directories) under each child of ``prefix`` not
        named in ``keep``. Object stores have no such leftovers. Call it under the lock."""
        ...

    def lock(self, key: str, holder: dict[str, Any]) -> PublishLock:
        """Take the writer lock at ``key`` or raise :class:`ConflictError` naming its holder."""
        ...


class PublishLock(Protocol):
    """A held writer lock."""

    def refresh(self) -> None:
        """Prove the lock is still ours (and keep it fresh); raise ConflictError if lost."""
        ...

    def release(self) -> None:
        """Give the lock up."""
        ...


def _holder_line(raw: bytes | None, where: str) -> str:
    try:
        info = json.loads(raw or b"{}")
    except ValueError:
        info = {}
    who = f"pid {info.get('pid', '?')} on {info.get('host', '?')}"
    since = info.get("started_at", "?")
    return (
        f"another run is publishing a book into this lake ({who}, version "
        f"{info.get('version', '?')}, since {since}); wait for it to finish ({where})"
    )


class LocalBlobs:
    """Objects as files under a directory; writes are temp file + ``os.replace``."""

    def __init__(self, root: Path) -> None:
        self._root = root

    @property
    def root(self) -> str:
        return str(self._root)

    def _path(self, key: str) -> Path:
        path = self._root / key
        if ".." in Path(key).parts or Path(key).is_absolute():
            raise QueryError(f"refusing key {key!r}: outside the lake {self._root}")
        return path

    def uri(self, key: str) -> str:
        return str(self._path(key))

    def get(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        try:
            tmp.write_bytes(data)
            tmp.replace(path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise

    @contextlib.contextmanager
    def open_write(self, key: str) -> Iterator[BinaryIO]:
        """A hidden temp file beside the object, renamed over it on success."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        try:
            with tmp.open("wb") as stream:
                yield stream
            tmp.replace(path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise

    def list_keys(self, prefix: str) -> list[str]:
        base = self._path(prefix.rstrip("/"))
        if not base.is_dir():
            return []
        out = []
        for dirpath, _, names in os.walk(base):
            for name in names:
                if not name.startswith("."):
                    out.append(str(Path(dirpath, name).relative_to(self._root)))
        return sorted(out)

    def delete(self, keys: list[str]) -> None:
        dirs: set[Path] = set()
        for key in keys:
            path = self._path(key)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            dirs.add(path.parent)
        # Remove directories left empty (a deleted version), deepest first, never the root.
        for directory in sorted(dirs, key=lambda p: len(p.parts), reverse=True):
            while directory != self._root and self._root in directory.parents:
                try:
                    directory.rmdir()
                except OSError:
                    break
                directory = directory.parent

    def sweep(self, prefix: str, keep: set[str]) -> None:
        base = self._path(prefix.rstrip("/"))
        if not base.is_dir():
            return
        for child in base.iterdir():
            if child.is_dir() and child.name not in keep:
                shutil.rmtree(child, ignore_errors=True)

    def lock(self, key: str, holder: dict[str, Any]) -> PublishLock:
        """``flock`` on a lock file: exclusive, and released by the kernel if the process
        dies (SIGKILL included), so a dead run never blocks the next one."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ConflictError(_holder_line(self.get(key), str(path))) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        return _LocalLock(fd)


class _LocalLock:
    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    def refresh(self) -> None:
        """Nothing to do: the kernel holds the lock for as long as the process lives."""

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


class S3Blobs:
    """Objects in a bucket under the lake prefix; one PUT replaces an object atomically."""

    def __init__(
        self, root: str, session: boto3.Session, put_kwargs: dict[str, str] | None = None
    ) -> None:
        bucket, _, prefix = root.removeprefix("s3://").partition("/")
        self._root_uri = root.rstrip("/")
        self._bucket = bucket
        self._prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self._session = session
        self._put_kwargs = dict(put_kwargs or {})
        self._client: Any = None

    @property
    def root(self) -> str:
        return self._root_uri

    def _s3(self) -> Any:
        if self._client is None:
            self._client = self._session.client("s3")
        return self._client

    def uri(self, key: str) -> str:
        return f"{self._root_uri}/{key}"

    def get(self, key: str) -> bytes | None:
        try:
            body = self._s3().get_object(Bucket=self._bucket, Key=self._prefix + key)["Body"]
        except Exception as exc:
            if _s3_code(exc) in _MISSING:
                return None
            raise
        return bytes(body.read())

    def put(self, key: str, data: bytes, **extra: str) -> None:
        self._s3().put_object(
            Bucket=self._bucket, Key=self._prefix + key, Body=data, **self._put_kwargs, **extra
        )

    @contextlib.contextmanager
    def open_write(self, key: str) -> Iterator[BinaryIO]:
        """A multipart upload, :data:`S3_PART_BYTES` a part (one PUT if it stays smaller),
        completed on success and aborted on failure: the object appears whole or not at all,
        and memory holds one part."""
        upload = _S3Upload(self._s3(), self._bucket, self._prefix + key, self._put_kwargs)
        try:
            yield upload  # type: ignore[misc]
            upload.finish()
        except BaseException:
            upload.abort()
            raise

    def list_keys(self, prefix: str) -> list[str]:
        pages = self._s3().get_paginator("list_objects_v2")
        keys: list[str] = []
        for page in pages.paginate(Bucket=self._bucket, Prefix=self._prefix + prefix):
            keys += [o["Key"].removeprefix(self._prefix) for o in page.get("Contents", [])]
        return sorted(keys)

    def delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):
            batch = [{"Key": self._prefix + k} for k in keys[start : start + 1000]]
            self._s3().delete_objects(Bucket=self._bucket, Delete={"Objects": batch})

    def sweep(self, prefix: str, keep: set[str]) -> None:
        """Nothing to do: S3 has no partial objects (an unfinished multipart upload is not an
        object, and the bucket's lifecycle rule aborts it)."""

    def lock(self, key: str, holder: dict[str, Any]) -> PublishLock:
        """A conditional create (``If-None-Match: *``); a lock not refreshed for
        :data:`LOCK_STALE_AFTER` is abandoned and taken over (a conditional delete on its
        ETag, so two runs cannot both take it over)."""
        for _ in range(2):
            body = json.dumps({**holder, "refreshed_at": _now_iso()}).encode()
            try:
                self.put(key, body, IfNoneMatch="*")
                return _S3Lock(self, key, holder)
            except Exception as exc:
                if _s3_code(exc) not in {"PreconditionFailed", "ConditionalRequestConflict"}:
                    raise
            stale = self._stale_etag(key)
            if stale is None:
                break
            with contextlib.suppress(Exception):
                self._s3().delete_object(Bucket=self._bucket, Key=self._prefix + key, IfMatch=stale)
        raise ConflictError(_holder_line(self.get(key), self.uri(key)))

    def _stale_etag(self, key: str) -> str | None:
        try:
            head = self._s3().get_object(Bucket=self._bucket, Key=self._prefix + key)
        except Exception as exc:
            if _s3_code(exc) in _MISSING:
                return None
            raise
        try:
            refreshed = datetime.fromisoformat(json.loads(head["Body"].read())["refreshed_at"])
        except (ValueError, KeyError, TypeError):
            refreshed = head["LastModified"]
        if refreshed.tzinfo is None:
            refreshed = refreshed.replace(tzinfo=UTC)
        return str(head["ETag"]) if datetime.now(UTC) - refreshed > LOCK_STALE_AFTER else None


class _S3Lock:
    def __init__(self, blobs: S3Blobs, key: str, holder: dict[str, Any]) -> None:
        self._blobs, self._key, self._holder = blobs, key, holder
        self._last = time.monotonic()

    def refresh(self) -> None:
        raw = self._blobs.get(self._key)
        token = json.loads(raw or b"{}").get("token") if raw else None
        if token != self._holder["token"]:
            raise ConflictError(
                "the book lock was taken over while this run was writing (it was idle longer "
                f"than {LOCK_STALE_AFTER}); nothing was published"
            )
        if time.monotonic() - self._last > 60:
            body = json.dumps({**self._holder, "refreshed_at": _now_iso()}).encode()
            self._blobs.put(self._key, body)
            self._last = time.monotonic()

    def release(self) -> None:
        with contextlib.suppress(Exception):
            self.refresh()  # only delete a lock that is still ours
            self._blobs.delete([self._key])


_MISSING = {"NoSuchKey", "404", "NotFound"}
#: Bytes per part of a streamed S3 upload (S3 wants at least 5 MiB for every part but the
#: last, and at most 10,000 parts: 64 MiB parts hold a 640 GB object).
S3_PART_BYTES = 64 * 2**20


class _S3Upload(io.RawIOBase):
    """A write-only stream into one S3 object: buffered parts of a multipart upload, started
    only when the first part is full (a small object is one ``put_object``)."""

    def __init__(self, s3: Any, bucket: str, key: str, put_kwargs: dict[str, str]) -> None:
        super().__init__()
        self._s3, self._bucket, self._key, self._kwargs = s3, bucket, key, put_kwargs
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._written = 0

    def writable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._written

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self._buffer += view
        self._written += len(view)
        while len(self._buffer) >= S3_PART_BYTES:
            self._send(bytes(self._buffer[:S3_PART_BYTES]))
            del self._buffer[:S3_PART_BYTES]
        return len(view)

    def _send(self, part: bytes) -> None:
        if self._upload_id is None:
            started = self._s3.create_multipart_upload(
                Bucket=self._bucket, Key=self._key, **self._kwargs
            )
            self._upload_id = str(started["UploadId"])
        number = len(self._parts) + 1
        sent = self._s3.upload_part(
            Bucket=self._bucket,
            Key=self._key,
            UploadId=self._upload_id,
            PartNumber=number,
            Body=part,
        )
        self._parts.append({"ETag": sent["ETag"], "PartNumber": number})

    def finish(self) -> None:
        """Make the object: the last part and the completion (or the one PUT)."""
        if self._upload_id is None:
            self._s3.put_object(
                Bucket=self._bucket, Key=self._key, Body=bytes(self._buffer), **self._kwargs
            )
        else:
            if self._buffer:
                self._send(bytes(self._buffer))
            self._s3.complete_multipart_upload(
                Bucket=self._bucket,
                Key=self._key,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": self._parts},
            )
        self._buffer = bytearray()

    def abort(self) -> None:
        """Drop what was sent: an unfinished upload is not an object."""
        self._buffer = bytearray()
        if self._upload_id is not None:
            with contextlib.suppress(Exception):
                self._s3.abort_multipart_upload(
                    Bucket=self._bucket, Key=self._key, UploadId=self._upload_id
                )


def _s3_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    return str(response.get("Error", {}).get("Code")) if isinstance(response, dict) else ""


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def lock_holder(version: str) -> dict[str, Any]:
    """Who holds the lock: shown to a run that is refused."""
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "version": version,
        "started_at": _now_iso(),
        "token": uuid.uuid4().hex,
    }


# ---------------------------------------------------------------------------- reading
_PINNED: ContextVar[dict[str, BookManifest | None] | None] = ContextVar("book_pin", default=None)


def read_manifest(blobs: BlobStore) -> BookManifest | None:
    """The published manifest (``None``: no book published yet, the flat layout applies)."""
    raw = blobs.get(MANIFEST_KEY)
    return None if raw is None else BookManifest.from_bytes(raw, blobs.uri(MANIFEST_KEY))


def current_manifest(blobs: BlobStore) -> BookManifest | None:
    """The manifest pinned by :func:`book_snapshot` in this context, else the published one."""
    pinned = _PINNED.get()
    if pinned is not None and blobs.root in pinned:
        return pinned[blobs.root]
    return read_manifest(blobs)


def book_objects(blobs: BlobStore, table: str) -> list[str] | None:
    """Absolute keys of ``table``'s objects in the current book, or ``None`` when no manifest
    names the table (then the table's own directory is listed, the legacy flat layout)."""
    manifest = current_manifest(blobs)
    if manifest is None or table not in manifest.tables:
        return None
    return [blobs.uri(key) for key in manifest.tables[table]]


@contextlib.contextmanager
def book_snapshot(blobs: BlobStore) -> Iterator[BookManifest | None]:
    """Pin one manifest for every book read in the block (this thread / task only).

    Several reads (``read`` per table, the DuckDB views of one query) then all see the same
    version even if a publish lands in between; that version's objects are kept until two
    more publishes have happened (see :mod:`rebalancer.book._publish`).
    """
    pinned = dict(_PINNED.get() or {})
    if blobs.root in pinned:  # already pinned by an outer block: keep that one
        yield pinned[blobs.root]
        return
    manifest = read_manifest(blobs)
    pinned[blobs.root] = manifest
    token = _PINNED.set(pinned)
    try:
        yield manifest
    finally:
        _PINNED.reset(token)


def read_lake_consistently(lake: object, read: Callable[[], T]) -> T:
    """:func:`read_consistently` on a lake's objects (a stand-in lake without them: ``read()``)."""
    blobs = getattr(lake, "blobs", None)
    return read() if blobs is None else read_consistently(blobs, read)


def read_consistently(blobs: BlobStore, read: Callable[[], T], *, attempts: int = 4) -> T:
    """Run ``read`` (several reads of book tables) with one manifest pinned, and retry if a
    publish ran meanwhile.

    The pin makes ``Lake.read`` and the DuckDB views consistent by itself; the before/after
    comparison covers Athena, which reads the symlink lists instead of the manifest: the
    publisher marks the manifest ``switching_to`` while it rewrites them, so an unchanged,
    unmarked manifest on both sides proves no symlink changed during ``read``. A version
    deleted under the read (two publishes during it) is retried too.
    """
    for attempt in range(1, attempts + 1):
        before = blobs.get(MANIFEST_KEY)
        try:
            with book_snapshot(blobs):
                result = read()
        except Exception as exc:
            vanished = isinstance(exc, FileNotFoundError) or _s3_code(exc) in _MISSING
            if attempt == attempts or not vanished:
                raise
            continue
        after = blobs.get(MANIFEST_KEY)
        settled = before is None or (
            BookManifest.from_bytes(before, MANIFEST_KEY).switching_to is None
        )
        if before == after and settled:
            return result
        time.sleep(0.05 * attempt)
    raise ConflictError(f"the book changed during {attempts} reads in a row; try again")
