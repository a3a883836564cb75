"""A blob store that keeps the small blobs it has read in memory: photo views read the same
renditions again and again (a resident opens a photo "an unlimited number of times"), and a
read from disk or S3 costs a thread hop or a round trip each time.

Why this is always right for photos: their keys are content-addressed (`photos/<sha256>.jpg`),
so the bytes under a key never change; a view reaches the store only after the database has
said that a photo names the key, and a blob is deleted only once nothing names it (see
media/services/photos.py). Within this process a `put` or `delete` through the cache also drops
its entry, so it stays coherent for any key; across processes (several machines on one S3
bucket) only content-addressed keys are safe to read through it, which is all we store.

Bounded: at most `max_bytes` in all, blobs larger than `max_item_bytes` are never kept, and the
least recently read go first. One event loop uses it, so no lock is needed.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator

from media.storage.blobs import CHUNK_BYTES, BlobStore

DEFAULT_MAX_BYTES = 64 * 1024 * 1024  # ~100 display renditions of a phone photo
DEFAULT_MAX_ITEM_BYTES = 2 * 1024 * 1024  # a display rendition is well below; recordings not


class CachedBlobStore:
    """`inner` with its small blobs kept in memory once read (an LRU of `max_bytes`)."""

    def __init__(
        self,
        inner: BlobStore,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_item_bytes: int = DEFAULT_MAX_ITEM_BYTES,
    ) -> None:
        if max_bytes < 0 or max_item_bytes < 0:
            raise ValueError("cache sizes cannot be negative")
        self.inner = inner
        self.max_bytes = max_bytes
        self.max_item_bytes = min(max_item_bytes, max_bytes)
        self._kept: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._changes = 0  # puts and deletes so far: a read that overlapped one is not kept
        self.hits = 0  # for tests and metrics
        self.misses = 0

    @property
    def cached_bytes(self) -> int:
        return self._size

    async def start(self) -> None:
        await self.inner.start()

    async def close(self) -> None:
        self._forget_all()
        await self.inner.close()

    async def put(self, key: str, data: bytes) -> None:
        self._forget(key)
        await self.inner.put(key, data)

    async def get(self, key: str) -> bytes:
        kept = self._kept.get(key)
        if kept is not None:
            self._kept.move_to_end(key)
            self.hits += 1
            return kept
        self.misses += 1
        changes = self._changes
        data = await self.inner.get(key)
        if changes == self._changes:
            self._keep(key, data)
        return data

    def stream(self, key: str, *, chunk_bytes: int = CHUNK_BYTES) -> AsyncIterator[bytes]:
        return self.inner.stream(key, chunk_bytes=chunk_bytes)

    async def exists(self, key: str) -> bool:
        return key in self._kept or await self.inner.exists(key)

    async def delete(self, key: str) -> bool:
        self._forget(key)
        return await self.inner.delete(key)

    def _keep(self, key: str, data: bytes) -> None:
        if len(data) > self.max_item_bytes or key in self._kept:
            return
        self._kept[key] = data
        self._size += len(data)
        while self._size > self.max_bytes:
            _, dropped = self._kept.popitem(last=False)
            self._size -= len(dropped)

    def _forget(self, key: str) -> None:
        self._changes += 1
        dropped = self._kept.pop(key, None)
        if dropped is not None:
            self._size -= len(dropped)

    def _forget_all(self) -> None:
        self._kept.clear()
        self._size = 0
