"""The photo pipeline: uploads read with a cap, checked without decoding, then rebuilt from
their pixels (media/services/photo_imaging.py) in a small pool of worker processes.

Why processes, and what they promise:

- Decoding untrusted images is the riskiest and heaviest thing the server does. It runs in
  `workers` processes (`min(2, CPUs)` by default), started with `spawn` (a clean interpreter:
  nothing of the server's memory, sockets or event loop is inherited), each limited to
  `memory_limit` bytes of address space (`RLIMIT_AS`, 1 GiB by default: a 40 MP photo needs
  about half of it) and replaced after `tasks_per_child` photos, so that fragmentation or a
  leak in a decoder cannot grow without end.
- A photo that makes its worker run out of memory gets `UnprocessablePhoto` (422
  `unprocessable_image`); the worker lives on.
- A worker that dies (a crash in a decoder, the kernel's OOM killer, a stray SIGKILL) breaks the
  whole pool, and with it every photo in flight. The pool is rebuilt at once; each photo that was
  in flight is then tried once more **alone**, in a one-off process of its own: the innocent
  ones come back normally, and a photo that kills that process too is the culprit and gets
  `UnprocessablePhoto`. The server process never dies of a photo.
- At most `max_waiting` photos (queued or being processed) are held at once; one more is
  refused with `PhotoPipelineBusy` (503 `busy`), so a burst of uploads cannot pile up memory.
  The same error comes from a pipeline that is not started or already closed.

The cheap checks run in the server process before any worker sees the bytes: the size
(`check_size`: empty is `EmptyPhoto`, more than the cap `PhotoTooLarge`) and the magic number
(`check_format`: not JPEG, PNG or WebP is `UnsupportedPhotoType`, whatever the name or the
declared type say). Reading an upload is `read_upload` (declared type, then at most cap + 1
bytes), for the route to call before `PhotoPipeline.normalise`.

One `PhotoPipeline` per server process, opened and closed through the app's `cleanup_ctx`.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import resource
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Protocol

from media.domain.photo_rules import (
    MAX_PHOTO_BYTES,
    MAX_PIXELS,
    SNIFF_BYTES,
    PhotoFormat,
    PhotoPipelineBusy,
    UnprocessablePhoto,
    check_declared_type,
    check_format,
    check_size,
    read_limit,
)
from media.services.photo_imaging import NormalisedPhoto, normalise_photo

GIB = 1024 * 1024 * 1024
READ_CHUNK_BYTES = 64 * 1024

# What runs in a worker: `normalise_photo`, or (in tests) a stand-in that misbehaves. It must be
# a module-level function, since it travels to the worker by name.
PhotoJob = Callable[[bytes, PhotoFormat, int], NormalisedPhoto]
ReadChunk = Callable[[int], Awaitable[bytes]]


class UploadPart(Protocol):
    """What `read_upload` needs of a multipart part (aiohttp's `BodyPartReader` is one)."""

    @property
    def headers(self) -> Mapping[str, str]: ...

    async def read_chunk(self, size: int = ...) -> bytes: ...


async def read_upload(part: UploadPart, *, cap: int = MAX_PHOTO_BYTES) -> bytes:
    """The bytes of an uploaded photo part: its declared type checked first (415 before reading
    anything), then at most `cap` + 1 bytes read (`read_capped`). The part's file name is not
    looked at: the content decides."""
    check_declared_type(part.headers.get("Content-Type"))
    return await read_capped(part.read_chunk, cap=cap)


async def read_capped(read_chunk: ReadChunk, *, cap: int = MAX_PHOTO_BYTES) -> bytes:
    """Everything `read_chunk(size)` yields until it returns b"", if that is at most `cap`
    bytes. Reading stops as soon as `cap` + 1 bytes have arrived (`PhotoTooLarge`, 413): the rest
    of a large upload is never read into memory. Zero bytes is `EmptyPhoto`."""
    limit = read_limit(cap)
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = await read_chunk(min(READ_CHUNK_BYTES, limit - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    check_size(size, cap=cap)
    return b"".join(chunks)


def limit_worker_memory(memory_limit: int) -> None:
    """A worker's initializer: cap its address space, so that a photo that needs more memory
    fails with `MemoryError` in the worker instead of swapping or waking the OOM killer."""
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        memory_limit = min(memory_limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (memory_limit, hard))


def worker_pid() -> int:
    """Run in a worker: its process id (the warm-up at `start`, and the benchmark's)."""
    return os.getpid()


class PhotoPipeline:
    """Photos normalised in a pool of worker processes. `await start()` before use and
    `await close()` at the end (the app's `cleanup_ctx`)."""

    def __init__(
        self,
        *,
        workers: int | None = None,
        memory_limit: int = GIB,
        tasks_per_child: int = 50,
        max_waiting: int | None = None,
        cap: int = MAX_PHOTO_BYTES,
        max_pixels: int = MAX_PIXELS,
        job: PhotoJob = normalise_photo,
    ) -> None:
        self.workers = workers if workers is not None else min(2, os.cpu_count() or 1)
        if self.workers < 1:
            raise ValueError("a photo pipeline needs at least one worker")
        self.memory_limit = memory_limit
        self.tasks_per_child = tasks_per_child
        # Each waiting photo holds up to `cap` bytes here and its copy in the queue.
        self.max_waiting = max_waiting if max_waiting is not None else 8 * self.workers
        self.cap = cap
        self.max_pixels = max_pixels
        self._job = job
        self._context = multiprocessing.get_context("spawn")
        self._pool: ProcessPoolExecutor | None = None
        self._waiting = 0
        self._alone = asyncio.Semaphore(self.workers)  # one-off retries, at most one a worker
        self.rebuilds = 0  # how many times a broken pool was replaced (for metrics and tests)

    async def start(self) -> None:
        """Start the workers and wait until each has answered once, so that the first upload
        does not pay for their start and a pool that cannot start fails here."""
        if self._pool is not None:
            return
        self._pool = self._new_pool(self.workers)
        loop = asyncio.get_running_loop()
        await asyncio.gather(
            *(loop.run_in_executor(self._pool, worker_pid) for _ in range(self.workers))
        )

    async def close(self) -> None:
        """Stop the workers: photos still queued are cancelled, those being processed finish."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)

    def worker_pids(self) -> list[int]:
        """The pids of the current pool's live workers (for the benchmark and tests)."""
        processes = getattr(self._pool, "_processes", None) or {}
        return [pid for pid, process in processes.items() if process.is_alive()]

    async def normalise(self, data: bytes) -> NormalisedPhoto:
        """`data` rebuilt from its pixels as a display rendition and a thumbnail. Raises
        `EmptyPhoto`, `PhotoTooLarge`, `UnsupportedPhotoType`, `TooManyPixels`, `Undecodable`,
        `UnprocessablePhoto` or `PhotoPipelineBusy`, each with its own status and code."""
        check_size(len(data), cap=self.cap)
        sniffed = check_format(data[:SNIFF_BYTES])
        pool = self._pool
        if pool is None:
            raise PhotoPipelineBusy("Photos cannot be processed right now; try again shortly.")
        if self._waiting >= self.max_waiting:
            raise PhotoPipelineBusy("Too many photos are being processed; try again shortly.")
        self._waiting += 1
        try:
            return await self._in(pool, data, sniffed)
        except BrokenProcessPool:
            self._replace(pool)
        finally:
            self._waiting -= 1
        return await self._alone_in_a_process(data, sniffed)

    async def _in(
        self, pool: ProcessPoolExecutor, data: bytes, sniffed: PhotoFormat
    ) -> NormalisedPhoto:
        try:
            future: Future[NormalisedPhoto] = pool.submit(self._job, data, sniffed, self.max_pixels)
            return await asyncio.wrap_future(future)
        except MemoryError:
            raise UnprocessablePhoto(
                "This photo needs more memory than a photo may use; try a smaller one."
            ) from None
        except RuntimeError as error:
            if isinstance(error, BrokenProcessPool):
                raise
            # Submitted while `close()` shut the pool down.
            raise PhotoPipelineBusy("Photos cannot be processed right now.") from None

    async def _alone_in_a_process(self, data: bytes, sniffed: PhotoFormat) -> NormalisedPhoto:
        async with self._alone:
            pool = self._new_pool(1)
            try:
                return await self._in(pool, data, sniffed)
            except BrokenProcessPool:
                raise UnprocessablePhoto(
                    "This photo could not be processed: reading it stopped the worker."
                ) from None
            finally:
                pool.shutdown(wait=False, cancel_futures=True)

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        # Several photos learn of the same break: only the first replaces the pool.
        if self._pool is broken:
            self._pool = self._new_pool(self.workers)
            self.rebuilds += 1
        broken.shutdown(wait=False, cancel_futures=True)

    def _new_pool(self, workers: int) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=workers,
            mp_context=self._context,
            initializer=limit_worker_memory,
            initargs=(self.memory_limit,),
            max_tasks_per_child=self.tasks_per_child,
        )
