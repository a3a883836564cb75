"""Stand-ins for the photo pipeline's worker job that misbehave on purpose (they run in the
worker processes, which import them by name: hence a module of their own, light to import)."""

from __future__ import annotations

import os
import signal
import time

from media.domain.photo_rules import PhotoFormat
from media.services.photo_imaging import NormalisedPhoto, normalise_photo

POISON = b"POISON-PILL"  # appended after a JPEG's end: the photo that kills its worker
SLOW_SECONDS = 1.0
GIB = 1024 * 1024 * 1024


def dies_on_poison(data: bytes, sniffed: PhotoFormat, max_pixels: int) -> NormalisedPhoto:
    """As a decoder that crashes the process (a segfault, the OOM killer) on one photo."""
    if data.endswith(POISON):
        os.kill(os.getpid(), signal.SIGKILL)
    return normalise_photo(data, sniffed, max_pixels)


def slow(data: bytes, sniffed: PhotoFormat, max_pixels: int) -> NormalisedPhoto:
    """A photo that keeps its worker busy long enough to kill it, or to fill the queue."""
    time.sleep(SLOW_SECONDS)
    return normalise_photo(data, sniffed, max_pixels)


def needs_two_gib(data: bytes, sniffed: PhotoFormat, max_pixels: int) -> NormalisedPhoto:
    """A decode that asks for more memory than the worker's RLIMIT_AS allows."""
    hoard = bytearray(2 * GIB)
    return normalise_photo(data + bytes(hoard[:0]), sniffed, max_pixels)
