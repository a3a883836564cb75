"""The blob store's contract on both stores (the `store` fixture: a real folder, and a bucket
on moto's S3 on loopback, see tests/story/blobs.py): put, get, stream, exists, delete, the
same bytes stored once, and keys that try to leave the root. Then the local store's own
promises: sharding, atomic writes, nothing left behind. tests/test_blob_store_s3.py has the
S3 store's own (a missing bucket, a store that is down or hangs, large blobs)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from media.storage.blobs import (
    MAX_KEY_CHARS,
    BlobNotFound,
    BlobStore,
    InvalidBlobKey,
    LocalBlobStore,
    check_key,
    key_for,
)
from tests.story import stored_names

# path_for only computes a path; nothing is written under this root.
NOWHERE = LocalBlobStore(Path(__file__).parent)


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


@pytest.fixture
def local_store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, local_store: LocalBlobStore) -> BlobStore:
    """Each test of the contract runs on local disk and on S3 (moto on loopback)."""
    if request.param == "local":
        return local_store
    s3_store: BlobStore = request.getfixturevalue("s3_store")
    return s3_store


def test_local_store_is_a_blob_store(local_store: LocalBlobStore) -> None:
    blob_store: BlobStore = local_store
    assert blob_store is local_store


async def test_put_get_exists_delete(store: BlobStore) -> None:
    assert not await store.exists("photos/a.jpg")
    await store.put("photos/a.jpg", b"\xff\xd8\xffpixels")
    assert await store.exists("photos/a.jpg")
    assert await store.get("photos/a.jpg") == b"\xff\xd8\xffpixels"
    assert await store.delete("photos/a.jpg") is True
    assert not await store.exists("photos/a.jpg")
    assert await store.delete("photos/a.jpg") is False
    with pytest.raises(BlobNotFound):
        await store.get("photos/a.jpg")


async def test_put_replaces_the_blob_whole(store: BlobStore) -> None:
    await store.put("k", b"old bytes, longer than the new")
    await store.put("k", b"new")
    assert await store.get("k") == b"new"
    assert await stored_names(store) == ["k"]


async def test_an_empty_blob_is_a_blob(store: BlobStore) -> None:
    await store.put("empty", b"")
    assert await store.exists("empty")
    assert await store.get("empty") == b""


async def test_blobs_are_sharded_under_their_namespace(local_store: LocalBlobStore) -> None:
    store = local_store
    data = b"a photo"
    key = key_for(data, prefix="photos", suffix=".jpg")
    digest = hashlib.sha256(data).hexdigest()
    assert key == f"photos/{digest}.jpg"
    await store.put(key, data)
    shard = hashlib.sha256(key.encode()).hexdigest()
    expected = store.root / "photos" / shard[:2] / shard[2:4] / f"{digest}.jpg"
    assert files_under(store.root) == [expected]
    assert store.path_for(key) == expected


async def test_the_same_bytes_get_the_same_key_and_one_file(store: BlobStore) -> None:
    first, second = key_for(b"same"), key_for(b"same")
    assert first == second != key_for(b"other")
    await store.put(first, b"same")
    await store.put(second, b"same")
    assert len(await stored_names(store)) == 1


async def test_stream_reads_a_blob_in_chunks(store: BlobStore) -> None:
    data = os.urandom(1000)
    await store.put("recordings/visit-1.mkv", data)
    chunks = [c async for c in store.stream("recordings/visit-1.mkv", chunk_bytes=300)]
    assert [len(c) for c in chunks] == [300, 300, 300, 100]
    assert b"".join(chunks) == data
    with pytest.raises(BlobNotFound):
        [c async for c in store.stream("recordings/none.mkv")]
    with pytest.raises(ValueError):
        [c async for c in store.stream("recordings/visit-1.mkv", chunk_bytes=0)]


@pytest.mark.parametrize(
    "key",
    [
        "",
        "../escape",
        "photos/../../escape",
        "photos/./a",
        "..",
        ".",
        "/etc/passwd",
        "photos/",
        "photos//a",
        "photos\\..\\a",
        "photos/.hidden",
        ".tmp-0123456789abcdef",
        "photos/a\x00b",
        "photos/a b",
        "photos/café",
        "C:/windows",
        "photos/ab/x.jpg",  # a folder named like a shard folder
        "photos/3F/x.jpg",
        "x" * 129,
        "a/" * (MAX_KEY_CHARS // 2) + "a",
    ],
)
async def test_keys_that_could_leave_the_root_or_hide_are_refused(
    store: BlobStore, key: str, tmp_path: Path
) -> None:
    with pytest.raises(InvalidBlobKey):
        check_key(key)
    with pytest.raises(InvalidBlobKey):
        await store.put(key, b"x")
    with pytest.raises(InvalidBlobKey):
        await store.get(key)
    with pytest.raises(InvalidBlobKey):
        await store.exists(key)
    with pytest.raises(InvalidBlobKey):
        await store.delete(key)
    with pytest.raises(InvalidBlobKey):
        [c async for c in store.stream(key)]
    assert await stored_names(store) == []
    assert files_under(tmp_path) == []


@pytest.mark.parametrize("key", ["ab", "photos/ab", "abc/x", "a-b/x", "ff.jpg", "g1/x"])
def test_two_hex_digits_are_fine_anywhere_but_a_folder(key: str) -> None:
    assert check_key(key) == key


def test_a_key_of_512_chars_is_accepted_and_513_refused() -> None:
    key = "/".join(["a" * 128] * 3) + "/" + "b" * 125
    assert len(key) == MAX_KEY_CHARS
    assert check_key(key) == key
    with pytest.raises(InvalidBlobKey):
        check_key(key + "b")


@given(st.text(max_size=40) | st.from_regex(r"[a-f0-9./]{1,12}", fullmatch=True))
def test_every_accepted_key_stays_under_the_root(key: str) -> None:
    try:
        path = NOWHERE.path_for(key)
    except InvalidBlobKey:
        return
    assert path.is_relative_to(NOWHERE.root)
    assert ".." not in path.parts
    assert path.name == key.split("/")[-1]


def test_no_key_can_need_a_folder_where_another_keys_file_is() -> None:
    file = NOWHERE.path_for("x")  # ROOT/h1/h2/x
    first, second = file.parts[-3], file.parts[-2]
    with pytest.raises(InvalidBlobKey):  # would need ROOT/h1/h2/x as a folder
        NOWHERE.path_for(f"{first}/{second}/x/y")


async def test_a_failed_write_leaves_nothing_behind(local_store: LocalBlobStore) -> None:
    store = local_store
    # A folder where the blob's file should go: the final rename fails on the real file system.
    path = store.path_for("photos/blocked.jpg")
    path.mkdir(parents=True)
    with pytest.raises(OSError):
        await store.put("photos/blocked.jpg", b"x" * 10_000)
    assert files_under(store.root) == []
    assert list(path.parent.iterdir()) == [path]


async def test_a_write_that_fails_before_the_rename_leaves_neither_file(
    local_store: LocalBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = local_store
    await store.put("photos/kept.jpg", b"the old bytes")

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space"):
        await store.put("photos/kept.jpg", b"the new bytes")
    with pytest.raises(OSError, match="No space"):
        await store.put("photos/new.jpg", b"never stored")
    monkeypatch.undo()
    assert await store.get("photos/kept.jpg") == b"the old bytes"
    assert not await store.exists("photos/new.jpg")
    assert [p.name for p in files_under(store.root)] == ["kept.jpg"]


async def test_concurrent_writes_to_one_key_leave_one_whole_blob(store: BlobStore) -> None:
    versions = [bytes([n]) * 100_000 for n in range(8)]
    await asyncio.gather(*(store.put("photos/raced.jpg", v) for v in versions))
    assert await store.get("photos/raced.jpg") in versions
    assert await stored_names(store) == ["raced.jpg"]


async def test_the_root_is_made_if_missing(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "a" / "b")
    await store.put("k", b"v")
    assert (tmp_path / "a" / "b").is_dir()
    assert LocalBlobStore(tmp_path / "a" / "b").root == store.root


async def test_starting_removes_temporary_files_a_killed_write_left_behind(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    await store.put("photos/kept.jpg", b"kept")
    shard = store.path_for("photos/kept.jpg").parent
    stray = shard / ".tmp-0123456789abcdef"
    stray.write_bytes(b"half a photo")
    hour_ago = time.time() - 3601
    os.utime(stray, (hour_ago, hour_ago))
    fresh = shard / ".tmp-fedcba9876543210"  # another process's write in progress
    fresh.write_bytes(b"being written")
    await store.start()
    assert not stray.exists()
    assert fresh.exists()
    assert await store.get("photos/kept.jpg") == b"kept"
