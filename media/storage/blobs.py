"""The blob store: bytes under a key. Local disk by default (`LocalBlobStore`); an
S3-compatible store for several machines (`media.storage.s3.S3BlobStore`) implements the same
`BlobStore` protocol, and `media.storage.factory.blob_store_from(config)` picks one. A store is
started before its first use and closed at shutdown; a missing blob is `BlobNotFound` in
either, and a store that cannot be reached (or refuses us) is `BlobStoreUnavailable`.

Keys are made by the server, never taken from a request: one or more `/`-separated segments
of letters, digits, `.`, `_` and `-`, none starting with a dot (so no `.`, `..` or hidden
name), at most `MAX_KEY_CHARS` in all, and no folder segment of exactly two hex digits (those
are the shard folders' names: without this rule, one key's file could be another key's
folder); anything else is `InvalidBlobKey`. `key_for` names
bytes by their SHA-256, so storing the same bytes twice stores them once: a content-addressed
blob may be shared, and is deleted only when nothing refers to it any more.

On local disk a blob `photos/3fa9...c2.jpg` lives at `ROOT/photos/<h0h1>/<h2h3>/3fa9...c2.jpg`,
where `h` is the SHA-256 of the whole key: at most 256 folders per level however many blobs
there are. A write goes to a temporary file in the blob's own folder, is flushed to disk, then
renamed over the blob (`os.replace`, atomic on one file system): a reader sees the old bytes or
the new, never a part, and a write that fails leaves nothing behind. Shard folders are never
removed, so a delete can never pull a folder from under a concurrent write.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

MAX_KEY_CHARS = 512
CHUNK_BYTES = 256 * 1024
_SEGMENT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}")
_SHARD = re.compile(r"[0-9A-Fa-f]{2}")
# A write takes well under a second; a temporary file an hour old was left by a killed process.
STRAY_TEMP_SECONDS = 3600.0
_TEMP_PREFIX = ".tmp-"  # no key segment starts with a dot, so no key can name a temporary file


class BlobNotFound(LookupError):
    """No blob under this key."""


class InvalidBlobKey(ValueError):
    """A key that is not of the form the store accepts (see the module's docstring)."""


class BlobStoreUnavailable(Exception):
    """The store could not do it: unreachable, timed out, its bucket missing, our credentials
    refused. Nothing the client did: a 503 for the client, and the message is for the operator."""


class BlobStore(Protocol):
    async def start(self) -> None:
        """Open what the store needs (connections), before its first use."""
        ...

    async def close(self) -> None:
        """Release what `start` opened."""
        ...

    async def put(self, key: str, data: bytes) -> None:
        """Store `data` under `key`, replacing what was there, all at once or not at all."""
        ...

    async def get(self, key: str) -> bytes:
        """The bytes under `key`, or `BlobNotFound`."""
        ...

    def stream(self, key: str, *, chunk_bytes: int = CHUNK_BYTES) -> AsyncIterator[bytes]:
        """The bytes under `key` in chunks, for large blobs (recordings); `BlobNotFound` at
        the first iteration if there is none."""
        ...

    async def exists(self, key: str) -> bool: ...

    async def delete(self, key: str) -> bool:
        """Remove the blob; whether there was one."""
        ...


def check_key(key: str) -> str:
    """`key` if it is a valid blob key, otherwise `InvalidBlobKey`."""
    if not isinstance(key, str) or not 0 < len(key) <= MAX_KEY_CHARS:
        raise InvalidBlobKey(f"a blob key has 1 to {MAX_KEY_CHARS} characters")
    segments = key.split("/")
    if not all(_SEGMENT.fullmatch(segment) for segment in segments) or any(
        _SHARD.fullmatch(folder) for folder in segments[:-1]
    ):
        raise InvalidBlobKey(f"not a valid blob key: {key[:80]!r}")
    return key


def key_for(data: bytes, *, prefix: str = "", suffix: str = "") -> str:
    """The content-addressed key of `data`: `prefix/<sha256 hex><suffix>`
    (e.g. `key_for(jpeg, prefix="photos", suffix=".jpg")`)."""
    name = hashlib.sha256(data).hexdigest() + suffix
    return check_key(f"{prefix}/{name}" if prefix else name)


class LocalBlobStore:
    """Blobs as files under `root` (created if missing). Blocking file work runs in a thread."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    async def start(self) -> None:
        """Nothing to open (the folder is made by the constructor); temporary files that a
        write killed mid-way left behind (older than `STRAY_TEMP_SECONDS`: a younger one may
        be another process's write in progress) are removed."""
        await asyncio.to_thread(self.remove_stray_temporary_files)

    async def close(self) -> None:
        """Nothing to release."""

    def remove_stray_temporary_files(self, *, older_than: float = STRAY_TEMP_SECONDS) -> int:
        """Delete `.tmp-*` files not touched for `older_than` seconds; how many went."""
        cutoff = time.time() - older_than
        removed = 0
        for temp in self.root.rglob(f"{_TEMP_PREFIX}*"):
            with contextlib.suppress(FileNotFoundError):
                if temp.is_file() and temp.stat().st_mtime < cutoff:
                    temp.unlink()
                    removed += 1
        return removed

    def path_for(self, key: str) -> Path:
        """Where the blob of `key` lives (whether or not it exists)."""
        segments = check_key(key).split("/")
        digest = hashlib.sha256(key.encode("ascii")).hexdigest()
        path = self.root.joinpath(*segments[:-1], digest[:2], digest[2:4], segments[-1])
        # Belt and braces: the key's grammar already rules out leaving the root.
        if not path.is_relative_to(self.root):
            raise InvalidBlobKey(f"not a valid blob key: {key[:80]!r}")
        return path

    async def put(self, key: str, data: bytes) -> None:
        path = self.path_for(key)
        await asyncio.to_thread(_write_atomically, path, bytes(data))

    async def get(self, key: str) -> bytes:
        path = self.path_for(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except (FileNotFoundError, NotADirectoryError):
            raise BlobNotFound(key) from None

    async def stream(self, key: str, *, chunk_bytes: int = CHUNK_BYTES) -> AsyncIterator[bytes]:
        if chunk_bytes <= 0:
            raise ValueError("chunk_bytes must be positive")
        path = self.path_for(key)
        try:
            file = await asyncio.to_thread(path.open, "rb")
        except (FileNotFoundError, NotADirectoryError):
            raise BlobNotFound(key) from None
        try:
            while chunk := await asyncio.to_thread(file.read, chunk_bytes):
                yield chunk
        finally:
            await asyncio.to_thread(file.close)

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self.path_for(key).is_file)

    async def delete(self, key: str) -> bool:
        path = self.path_for(key)
        try:
            await asyncio.to_thread(path.unlink)
        except (FileNotFoundError, NotADirectoryError):
            return False
        return True


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f"{_TEMP_PREFIX}{secrets.token_hex(8)}")
    try:
        with temp.open("xb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        raise
    _sync_folder(path.parent)


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
