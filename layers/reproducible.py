"""Byte-for-byte reproducible zip archives for Lambda functions and layers.

The same input files always give the same archive bytes, so the sha256 Terraform sees
(``source_code_hash``) only changes when the code does: entries are sorted, every timestamp is
fixed, permissions are normalised and nothing about the build machine leaks in.
"""

from __future__ import annotations

import hashlib
import stat
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path

FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)
"""The earliest timestamp a zip can hold; used for every entry."""

FILE_MODE = 0o644
"""Every entry's permissions: readable by all, writable by the owner, never executable."""

EXCLUDED_DIR_NAMES = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"})
EXCLUDED_SUFFIXES = (".pyc", ".pyo")


def is_excluded(relative: Path) -> bool:
    """True for caches and compiled bytecode, which must never reach an archive."""
    return any(part in EXCLUDED_DIR_NAMES for part in relative.parts) or relative.name.endswith(
        EXCLUDED_SUFFIXES
    )


def iter_tree(root: Path, prefix: str = "") -> Iterable[tuple[str, Path]]:
    """(archive name, file) for every file under ``root`` that is not a cache, sorted."""
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if path.is_file() and not is_excluded(relative):
            yield f"{prefix}{relative.as_posix()}", path


def write_zip(entries: Mapping[str, Path], destination: Path) -> str:
    """Write ``entries`` (archive name -> file) to ``destination``; return its sha256 hex.

    Entries are written in sorted order with a fixed date, one Unix file mode (0644) whatever
    the checkout's permissions, and maximum deflate compression.
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    tmp = destination.with_suffix(destination.suffix + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name in sorted(entries):
            source = entries[name]
            info = zipfile.ZipInfo(name, date_time=FIXED_DATE_TIME)
            info.create_system = 3  # Unix, so external_attr carries the mode
            info.external_attr = (stat.S_IFREG | FILE_MODE) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, source.read_bytes(), compresslevel=9)
    tmp.replace(destination)
    return sha256_file(destination)


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def unzipped_size(path: Path) -> int:
    """Total uncompressed size of an archive's entries, bytes (what Lambda counts)."""
    with zipfile.ZipFile(path) as archive:
        return sum(info.file_size for info in archive.infolist())


def write_checksum(archive: Path, digest: str) -> Path:
    """Write ``<archive>.sha256`` in ``sha256sum`` format next to the archive."""
    checksum = archive.with_name(archive.name + ".sha256")
    checksum.write_text(f"{digest}  {archive.name}\n")
    return checksum
