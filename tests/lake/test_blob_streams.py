"""``BlobStore.open_write``: an object streamed a part at a time appears whole when the block
ends and not at all when it raises (a local temp file renamed; an S3 multipart upload
completed or aborted), so a run's object never needs to fit in memory."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from rebalancer.lake import _manifest
from rebalancer.lake._manifest import LocalBlobs, S3Blobs

BUCKET = "blob-bucket"
MIB = 2**20


def _chunks(total: int, size: int = MIB) -> Iterator[bytes]:
    """Distinct, incompressible-looking chunks (each starts with its offset)."""
    for start in range(0, total, size):
        n = min(size, total - start)
        yield (start.to_bytes(8, "little") + os.urandom(n))[:n]


class Boom(RuntimeError):
    pass


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_a_local_stream_appears_only_when_the_block_ends(tmp_path: Path) -> None:
    blobs = LocalBlobs(tmp_path)
    blobs.put("runs/obj.bin", b"old")
    body = b"".join(_chunks(3 * MIB + 17))
    with blobs.open_write("runs/obj.bin") as stream:
        for start in range(0, len(body), MIB):
            stream.write(body[start : start + MIB])
            assert blobs.get("runs/obj.bin") == b"old"  # readers see the old object meanwhile
    assert blobs.get("runs/obj.bin") == body
    assert _files(tmp_path) == ["runs/obj.bin"]  # no temp file left


def test_a_failed_local_stream_leaves_the_old_object_and_no_temp_file(tmp_path: Path) -> None:
    blobs = LocalBlobs(tmp_path)
    blobs.put("runs/obj.bin", b"old")
    with pytest.raises(Boom), blobs.open_write("runs/obj.bin") as stream:
        stream.write(b"x" * MIB)
        raise Boom
    assert blobs.get("runs/obj.bin") == b"old"
    assert _files(tmp_path) == ["runs/obj.bin"]
    with pytest.raises(Boom), blobs.open_write("new/obj.bin") as stream:
        stream.write(b"partial")
        raise Boom
    assert blobs.get("new/obj.bin") is None and blobs.list_keys("new/") == []


def test_a_local_stream_refuses_a_key_outside_the_lake(tmp_path: Path) -> None:
    blobs = LocalBlobs(tmp_path / "lake")
    with pytest.raises(Exception, match="outside the lake"), blobs.open_write("../escape.bin"):
        pass
    assert not (tmp_path / "escape.bin").exists()


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[S3Blobs, list[str], boto3.Session]]:
    """S3 blobs under moto with KMS put arguments, and every S3 operation they call."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        session = boto3.Session(region_name="us-east-1")
        session.client("s3").create_bucket(Bucket=BUCKET)
        key_arn = session.client("kms").create_key()["KeyMetadata"]["Arn"]
        ops: list[str] = []
        session.events.register(
            "before-parameter-build.s3.*", lambda model, **_: ops.append(model.name)
        )
        put = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": key_arn}
        yield S3Blobs(f"s3://{BUCKET}/lake", session, put_kwargs=put), ops, session


def test_a_small_s3_stream_is_one_put(s3: tuple[S3Blobs, list[str], boto3.Session]) -> None:
    blobs, ops, session = s3
    with blobs.open_write("runs/small.bin") as stream:
        stream.write(b"abc")
        stream.write(bytearray(b"def"))
    assert blobs.get("runs/small.bin") == b"abcdef"
    assert ops[:1] == ["PutObject"] and "CreateMultipartUpload" not in ops
    head = session.client("s3").head_object(Bucket=BUCKET, Key="lake/runs/small.bin")
    assert head["ServerSideEncryption"] == "aws:kms"


def test_a_big_s3_stream_is_a_multipart_upload_of_bounded_parts(
    s3: tuple[S3Blobs, list[str], boto3.Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    blobs, ops, session = s3
    monkeypatch.setattr(_manifest, "S3_PART_BYTES", 5 * MIB)  # S3's smallest part
    sizes: list[int] = []
    session.events.register(
        "before-parameter-build.s3.UploadPart",
        lambda params, **_: sizes.append(len(params["Body"])),
    )
    body = b"".join(_chunks(11 * MIB + 5))
    with blobs.open_write("runs/big.bin") as stream:
        for start in range(0, len(body), MIB // 3):
            stream.write(body[start : start + MIB // 3])
        assert blobs.get("runs/big.bin") is None  # nothing visible before completion
    assert blobs.get("runs/big.bin") == body
    assert sizes == [5 * MIB, 5 * MIB, MIB + 5]
    assert ops.count("CompleteMultipartUpload") == 1 and "PutObject" not in ops
    head = session.client("s3").head_object(Bucket=BUCKET, Key="lake/runs/big.bin")
    assert head["ServerSideEncryption"] == "aws:kms"


def test_a_failed_s3_stream_is_aborted_and_the_old_object_stays(
    s3: tuple[S3Blobs, list[str], boto3.Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    blobs, ops, session = s3
    monkeypatch.setattr(_manifest, "S3_PART_BYTES", 5 * MIB)
    blobs.put("runs/big.bin", b"old")
    with pytest.raises(Boom), blobs.open_write("runs/big.bin") as stream:
        for chunk in _chunks(12 * MIB):
            stream.write(chunk)
        raise Boom
    assert ops.count("UploadPart") == 2 and "AbortMultipartUpload" in ops
    assert blobs.get("runs/big.bin") == b"old"
    pending = session.client("s3").list_multipart_uploads(Bucket=BUCKET)
    assert not pending.get("Uploads")
