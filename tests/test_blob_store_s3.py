"""The S3 blob store's own promises, against a real S3-compatible server on loopback.

The server is moto's `ThreadedMotoServer` (the `s3_server` fixture, tests/story/blobs.py): the
S3 REST API over real HTTP on 127.0.0.1 and a free port. Chosen because it installs from PyPI
with the test extras (`moto[server]`) and starts in a fraction of a second, while neither MinIO
nor Garage is packaged by Debian (`apt-cache policy minio garage` finds nothing), so a real
server would mean a binary downloaded outside `make`. Without moto these tests skip on a
laptop and fail in CI (`REQUIRE_SERVICES=1`). The contract shared with the local store (put,
get, stream, exists, delete, keys) runs on both stores in tests/test_blob_store.py.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import time
from pathlib import Path
from typing import Any

import pytest

from media.storage.blobs import BlobNotFound, BlobStoreUnavailable, LocalBlobStore, key_for
from media.storage.factory import blob_store_from
from media.storage.s3 import S3BlobStore, content_type_of
from server.config import Config
from tests.story import S3_TEST_KEYS, S3Server, closed_port_url, silent_server

MiB = 1024 * 1024
# Timeouts of a store that must give up quickly; "quickly" below allows for the retry's
# back-off (at most 1 s before a second attempt) and a busy CI machine.
IMPATIENT = {"connect_timeout": 0.5, "read_timeout": 0.5, "max_attempts": 2}
ONE_ATTEMPT = {**IMPATIENT, "max_attempts": 1}
QUICKLY_SECONDS = 5.0


async def every_operation_fails(store: S3BlobStore, match: str) -> None:
    for operation in (
        store.put("photos/a.jpg", b"x"),
        store.get("photos/a.jpg"),
        store.exists("photos/a.jpg"),
        store.delete("photos/a.jpg"),
        store.check(),
    ):
        with pytest.raises(BlobStoreUnavailable, match=match):
            await operation
    with pytest.raises(BlobStoreUnavailable, match=match):
        [c async for c in store.stream("photos/a.jpg")]


async def test_a_missing_bucket_is_a_clear_error(s3_server: S3Server) -> None:
    store = s3_server.store("homeline-no-such-bucket")
    await store.start()
    try:
        await every_operation_fails(store, r"bucket 'homeline-no-such-bucket' at .* does not exist")
    finally:
        await store.close()


async def test_a_store_that_is_down_is_unavailable_quickly() -> None:
    url = closed_port_url()
    once = S3BlobStore(bucket="homeline", endpoint_url=url, **S3_TEST_KEYS, **ONE_ATTEMPT)
    retrying = S3BlobStore(bucket="homeline", endpoint_url=url, **S3_TEST_KEYS, **IMPATIENT)
    await once.start()
    await retrying.start()
    try:
        await every_operation_fails(once, "could not be reached")
        started = time.monotonic()
        with pytest.raises(BlobStoreUnavailable, match="could not be reached"):
            await retrying.get("photos/a.jpg")
        assert time.monotonic() - started < QUICKLY_SECONDS
    finally:
        await once.close()
        await retrying.close()


async def test_a_store_that_hangs_is_unavailable_after_the_read_timeout() -> None:
    with silent_server() as url:
        store = S3BlobStore(bucket="homeline", endpoint_url=url, **S3_TEST_KEYS, **IMPATIENT)
        await store.start()
        try:
            started = time.monotonic()
            with pytest.raises(BlobStoreUnavailable, match="could not be reached"):
                await store.put("photos/a.jpg", b"x")
            assert time.monotonic() - started < QUICKLY_SECONDS
        finally:
            await store.close()


async def test_a_large_blob_is_streamed_in_chunks(s3_store: S3BlobStore) -> None:
    data = os.urandom(8 * MiB + 123)
    await s3_store.put("recordings/visit-1.mkv", data)
    sizes, digest = [], hashlib.sha256()
    async for chunk in s3_store.stream("recordings/visit-1.mkv", chunk_bytes=MiB):
        sizes.append(len(chunk))
        digest.update(chunk)
    assert sizes == [MiB] * 8 + [123]
    assert digest.digest() == hashlib.sha256(data).digest()


async def test_a_stream_left_early_gives_its_connection_back(s3_store: S3BlobStore) -> None:
    await s3_store.put("recordings/visit-2.mkv", os.urandom(2 * MiB))
    # More early exits than the client has connections (10): a leak would hang here.
    async with asyncio.timeout(30):
        for _ in range(25):
            async for _chunk in s3_store.stream("recordings/visit-2.mkv", chunk_bytes=1024):
                break
        assert len(await s3_store.get("recordings/visit-2.mkv")) == 2 * MiB


async def test_the_same_bytes_put_twice_are_stored_once(
    s3_server: S3Server, s3_store: S3BlobStore
) -> None:
    data = b"\xff\xd8\xff a photo"
    key = key_for(data, prefix="photos", suffix=".jpg")
    await s3_store.put(key, data)
    await s3_store.put(key_for(data, prefix="photos", suffix=".jpg"), data)
    assert await s3_server.object_keys(s3_store.bucket) == [key]
    head = await s3_server.head(s3_store.bucket, key)
    assert head["ContentType"] == "image/jpeg"
    assert head["ContentLength"] == len(data)
    assert head["ETag"].strip('"') == hashlib.md5(data, usedforsecurity=False).hexdigest()


async def test_a_put_is_one_request_with_its_content_md5(s3_store: S3BlobStore) -> None:
    # The store refuses a body whose MD5 differs (AWS, MinIO, Garage: BadDigest); moto does not
    # check it, so what is checked here is that each PUT carries the right one, whole.
    sent: list[tuple[str, dict[str, str]]] = []

    def record(request: Any, **_: Any) -> None:
        headers = {
            k.lower(): v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()
        }
        sent.append((request.method, headers))

    s3_store.client.meta.events.register("before-send.s3", record)
    data = os.urandom(3 * MiB)
    await s3_store.put("photos/big.webp", data)
    assert [method for method, _ in sent] == ["PUT"]
    headers = sent[0][1]
    md5 = base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()
    assert headers["content-md5"] == md5
    assert headers["content-type"] == "image/webp"
    assert headers["content-length"] == str(len(data))
    assert "expect" not in headers  # see S3BlobStore.start: a 100-continue wait has no timeout


async def test_a_deleted_blob_is_not_found(s3_store: S3BlobStore) -> None:
    await s3_store.put("photos/gone.jpg", b"pixels")
    assert await s3_store.delete("photos/gone.jpg") is True
    with pytest.raises(BlobNotFound):
        await s3_store.get("photos/gone.jpg")
    with pytest.raises(BlobNotFound):
        [c async for c in s3_store.stream("photos/gone.jpg")]
    assert not await s3_store.exists("photos/gone.jpg")
    assert await s3_store.delete("photos/gone.jpg") is False


async def test_the_prefix_keeps_installations_apart_in_one_bucket(s3_server: S3Server) -> None:
    bucket = await s3_server.new_bucket()
    first = s3_server.store(bucket, prefix="/homeline/site-1/")
    second = s3_server.store(bucket, prefix="homeline/site-2")
    await first.start()
    await second.start()
    try:
        await first.put("photos/a.jpg", b"one")
        assert await s3_server.object_keys(bucket) == ["homeline/site-1/photos/a.jpg"]
        assert not await second.exists("photos/a.jpg")
        await second.put("photos/a.jpg", b"two")
        assert await first.get("photos/a.jpg") == b"one"
        assert await second.get("photos/a.jpg") == b"two"
    finally:
        await first.close()
        await second.close()


async def test_the_settings_make_an_s3_store_that_works(s3_server: S3Server) -> None:
    bucket = await s3_server.new_bucket()
    config = Config.from_env(
        {
            "HOMELINE_VAR": "unused",
            "SECRET_KEY": "t",
            "BLOB_STORE": "s3",
            "S3_ENDPOINT_URL": s3_server.endpoint_url,
            "S3_BUCKET": bucket,
            "S3_REGION": "eu-west-3",
            "S3_ACCESS_KEY_ID": S3_TEST_KEYS["access_key_id"],
            "S3_SECRET_ACCESS_KEY": S3_TEST_KEYS["secret_access_key"],
            "S3_PREFIX": "homeline",
            "S3_CONNECT_TIMEOUT": "2",
            "S3_READ_TIMEOUT": "7.5",
            "S3_MAX_ATTEMPTS": "4",
        }
    )
    store = blob_store_from(config)
    assert isinstance(store, S3BlobStore)
    assert (store.bucket, store.region, store.prefix) == (bucket, "eu-west-3", "homeline")
    assert (config.s3_connect_timeout, config.s3_read_timeout, config.s3_max_attempts) == (
        2.0,
        7.5,
        4,
    )
    await store.start()
    try:
        await store.check()
        await store.put("photos/a.png", b"png")
        assert await store.get("photos/a.png") == b"png"
        assert await s3_server.object_keys(bucket) == ["homeline/photos/a.png"]
    finally:
        await store.close()


def test_the_default_store_is_local_disk_under_var(tmp_path: Path) -> None:
    config = Config.from_env({"HOMELINE_VAR": str(tmp_path / "var"), "SECRET_KEY": "t"})
    assert config.blob_store == "local"
    store = blob_store_from(config)
    assert isinstance(store, LocalBlobStore)
    assert store.root == (tmp_path / "var" / "blobs").resolve()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"blob_store": "ftp"}, "BLOB_STORE must be one of local, s3"),
        ({"blob_store": "s3"}, "BLOB_STORE=s3 needs S3_BUCKET"),
        ({"blob_store": "s3", "s3_bucket": "b", "s3_access_key_id": "k"}, "set both"),
        ({"blob_store": "s3", "s3_bucket": "b", "s3_prefix": "../up"}, "S3_PREFIX"),
        ({"blob_store": "s3", "s3_bucket": "b", "s3_max_attempts": 0}, "at least 1"),
        ({"blob_store": "s3", "s3_bucket": "b", "s3_read_timeout": 0.0}, "positive"),
    ],
)
def test_settings_that_make_no_store_are_refused_by_name(
    tmp_path: Path, settings: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        blob_store_from(Config(var_dir=tmp_path, secret_key="t").with_(**settings))


def test_a_store_used_before_start_says_so() -> None:
    store = S3BlobStore(bucket="homeline", endpoint_url=closed_port_url())
    with pytest.raises(RuntimeError, match="start"):
        _ = store.client


@pytest.mark.parametrize(
    ("key", "content_type"),
    [
        ("photos/a.jpg", "image/jpeg"),
        ("photos/a.JPEG", "image/jpeg"),
        ("photos/a.webp", "image/webp"),
        ("thumbs/a.png", "image/png"),
        ("recordings/v.mkv", "video/x-matroska"),
        ("misc/no-suffix", "application/octet-stream"),
    ],
)
def test_the_content_type_comes_from_the_keys_suffix(key: str, content_type: str) -> None:
    assert content_type_of(key) == content_type
