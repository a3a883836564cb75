"""The in-memory cache in front of the blob store (media/storage/blob_cache.py), over a real
local store: what it keeps, how much, and that a put or delete through it is never hidden."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from media.storage.blob_cache import CachedBlobStore
from media.storage.blobs import BlobNotFound, LocalBlobStore, key_for


@pytest.fixture
def disk(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


async def test_a_blob_read_once_is_read_again_from_memory(disk: LocalBlobStore) -> None:
    cache = CachedBlobStore(disk)
    data = b"\xff\xd8\xff" + b"x" * 1000
    key = key_for(data, prefix="photos", suffix=".jpg")
    await cache.put(key, data)
    assert await cache.get(key) == data
    disk.path_for(key).unlink()  # gone underneath (only a test does this)
    assert await cache.get(key) == data
    assert (cache.hits, cache.misses, cache.cached_bytes) == (1, 1, len(data))


async def test_a_put_or_delete_through_the_cache_drops_its_copy(disk: LocalBlobStore) -> None:
    cache = CachedBlobStore(disk)
    await cache.put("notes/a", b"first")
    assert await cache.get("notes/a") == b"first"
    await cache.put("notes/a", b"second")
    assert await cache.get("notes/a") == b"second"
    assert await cache.delete("notes/a")
    with pytest.raises(BlobNotFound):
        await cache.get("notes/a")
    assert cache.cached_bytes == 0


async def test_it_holds_at_most_max_bytes_dropping_the_least_recently_read(
    disk: LocalBlobStore,
) -> None:
    cache = CachedBlobStore(disk, max_bytes=250, max_item_bytes=100)
    for name in "abc":
        await cache.put(f"b/{name}", name.encode() * 100)
    await cache.get("b/a")
    await cache.get("b/b")
    await cache.get("b/a")  # a is now the most recently read
    await cache.get("b/c")  # 300 bytes: b goes
    assert cache.cached_bytes == 200
    disk.path_for("b/a").unlink()
    disk.path_for("b/b").unlink()
    assert await cache.get("b/a") == b"a" * 100
    with pytest.raises(BlobNotFound):
        await cache.get("b/b")


async def test_a_blob_larger_than_max_item_bytes_is_never_kept(disk: LocalBlobStore) -> None:
    cache = CachedBlobStore(disk, max_bytes=1000, max_item_bytes=100)
    await cache.put("big/one", b"x" * 101)
    assert await cache.get("big/one") == b"x" * 101
    assert cache.cached_bytes == 0


async def test_a_read_that_overlaps_a_delete_is_not_kept(disk: LocalBlobStore) -> None:
    cache = CachedBlobStore(disk)
    await cache.put("r/a", b"old")
    reading = asyncio.create_task(cache.get("r/a"))
    await asyncio.sleep(0)  # the read is under way in its thread
    await cache.delete("r/a")
    # Read before the file went (the old bytes) or after (not found): nothing of it is kept.
    with contextlib.suppress(BlobNotFound):
        assert await reading == b"old"
    assert cache.cached_bytes == 0
    with pytest.raises(BlobNotFound):
        await cache.get("r/a")
