"""Photo limits and sizing (pure): what an upload may be, and the sizes it is re-encoded to.

The guards run in this order, cheapest first, each failure with its own code and status:

1. the declared type (`check_declared_type`): anything that says it is not one of our image
   types is refused before its body is read (415 `unsupported_type`);
2. the size: read at most `read_limit(cap)` bytes, and `check_size` on what was read: one byte
   more than the cap means the upload is too large, without ever reading the rest
   (413 `too_large`);
3. the content (`check_format` on the first `SNIFF_BYTES`): the magic number decides, not the
   name or the declared type (415 `unsupported_type`);
4. the pixels (`check_pixels`) from the width and height in the header, before decoding, so a
   small file that would inflate into gigabytes is refused (422 `too_many_pixels`);
5. the decoder (`check_decoded_format` with Pillow's format name; a file that does not decode
   is `Undecodable`, 422 `undecodable`; an empty one `EmptyPhoto`, 422 `empty_file`);
6. the worker (media/services/photo_pipeline.py): a photo whose worker runs out of memory or
   dies on it is `UnprocessablePhoto` (422 `unprocessable_image`); when too many photos wait
   for a worker, `PhotoPipelineBusy` (503 `busy`).

A photo is then rebuilt from its pixels at `fit(..., DISPLAY_LONG_SIDE)` and
`fit(..., THUMBNAIL_LONG_SIDE)`, never larger than it came. HEIC is not accepted yet: DESIGN.md
allows it where Pillow reads it, which needs a plug-in that is not a dependency.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

from server.errors import DomainError, FieldErrors, TooLarge, UnsupportedMedia

MAX_PHOTO_BYTES = 15 * 1024 * 1024  # 15 MiB, as uploaded
MAX_PIXELS = 40_000_000  # 40 megapixels: a 7,300 x 5,470 camera photo; ~160 MB as RGBA
DISPLAY_LONG_SIDE = 2048
THUMBNAIL_LONG_SIDE = 320
MAX_PHOTOS_PER_MESSAGE = 5
UNSENT_PHOTO_LIFETIME = timedelta(hours=24)  # an uploaded photo not sent by then is deleted
SNIFF_BYTES = 12  # the longest magic number below (WebP: RIFF, a size, WEBP)


class PhotoFormat(StrEnum):
    JPEG = "jpeg"
    PNG = "png"
    WEBP = "webp"

    @property
    def media_type(self) -> str:
        return f"image/{self.value}"

    @property
    def pillow_name(self) -> str:
        """The name Pillow gives the format (`Image.format`), and takes in `formats=`."""
        return self.value.upper()


ACCEPTED_MEDIA_TYPES = frozenset(f.media_type for f in PhotoFormat)
# What a client says when it does not know: the content decides.
UNLABELLED_MEDIA_TYPES = frozenset({"application/octet-stream"})
PILLOW_FORMATS = tuple(f.pillow_name for f in PhotoFormat)
_ACCEPTED_TEXT = "JPEG, PNG or WebP"


class PhotoTooLarge(TooLarge):
    code = "too_large"


class UnsupportedPhotoType(UnsupportedMedia):
    code = "unsupported_type"


class TooManyPixels(DomainError):
    status = 422
    code = "too_many_pixels"


class Undecodable(DomainError):
    status = 422
    code = "undecodable"


class EmptyPhoto(Undecodable):
    """Zero bytes: nothing to decode, said in so many words."""

    code = "empty_file"


class UnprocessablePhoto(DomainError):
    """The photo passed every check but its worker ran out of memory or died on it (twice)."""

    status = 422
    code = "unprocessable_image"


class PhotoPipelineBusy(DomainError):
    """Too many photos are waiting for a worker, or the pipeline is not running: try later."""

    status = 503
    code = "busy"


def read_limit(cap: int = MAX_PHOTO_BYTES) -> int:
    """How many bytes to read of an upload capped at `cap`: one more, so that reading
    `cap + 1` bytes proves the upload too large without reading the rest."""
    if cap < 0:
        raise ValueError("a size cap cannot be negative")
    return cap + 1


def check_size(size: int, *, cap: int = MAX_PHOTO_BYTES) -> int:
    """`size` (bytes read, at most `read_limit(cap)`) if it is within the cap; an empty
    upload is `EmptyPhoto` (an `Undecodable`), more than the cap `PhotoTooLarge`."""
    if size > cap:
        raise PhotoTooLarge(f"A photo can be at most {_mib(cap)}.")
    if size <= 0:
        raise EmptyPhoto("The file is empty.")
    return size


def check_declared_type(content_type: str | None) -> None:
    """Refuse an upload whose declared type is not one of ours (parameters such as
    `; charset=` ignored, case ignored). No type, or `application/octet-stream`, passes: the
    content is checked anyway."""
    if content_type is None:
        return
    media_type = content_type.split(";", 1)[0].strip().lower()
    if not media_type or media_type in ACCEPTED_MEDIA_TYPES | UNLABELLED_MEDIA_TYPES:
        return
    raise UnsupportedPhotoType(
        f"Photos must be {_ACCEPTED_TEXT}; this file says it is {media_type[:100]}."
    )


def sniff(head: bytes) -> PhotoFormat | None:
    """The format of a file by its first bytes (its magic number), or None."""
    if head[:3] == b"\xff\xd8\xff":
        return PhotoFormat.JPEG
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return PhotoFormat.PNG
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return PhotoFormat.WEBP
    return None


def check_format(head: bytes) -> PhotoFormat:
    """The format of a file by its first bytes, or `UnsupportedPhotoType`."""
    found = sniff(head)
    if found is None:
        raise UnsupportedPhotoType(f"Photos must be {_ACCEPTED_TEXT} files.")
    return found


def check_decoded_format(pillow_format: str | None, *, sniffed: PhotoFormat) -> PhotoFormat:
    """What the decoder found, which must be the format the first bytes announced."""
    if pillow_format != sniffed.pillow_name:
        raise Undecodable(f"The file is not a readable {sniffed.pillow_name} image.")
    return sniffed


def check_pixels(width: int, height: int, *, max_pixels: int = MAX_PIXELS) -> tuple[int, int]:
    """(width, height) from the image header, if the image may be decoded; a zero side is
    `Undecodable`, more than `max_pixels` in all `TooManyPixels`."""
    if width <= 0 or height <= 0:
        raise Undecodable(f"The image says it is {width} x {height} pixels.")
    if width * height > max_pixels:
        raise TooManyPixels(
            f"A photo can have at most {max_pixels / 1_000_000:g} megapixels; this one is "
            f"{width:,} x {height:,} ({width * height / 1_000_000:.1f} megapixels)."
        )
    return width, height


def fit(width: int, height: int, long_side: int) -> tuple[int, int]:
    """The size of a `width` x `height` image scaled so that its longer side is at most
    `long_side`: never upscaled, aspect kept to the nearest pixel, no side below 1."""
    if width <= 0 or height <= 0 or long_side <= 0:
        raise ValueError("sizes must be positive")
    longer = max(width, height)
    if longer <= long_side:
        return width, height

    def scaled(side: int) -> int:
        # side * long_side / longer, rounded half up, in integers (exact for any size).
        return max(1, (2 * side * long_side + longer) // (2 * longer))

    return scaled(width), scaled(height)


def check_photo_count(count: int) -> int:
    """How many photos one message carries: at most `MAX_PHOTOS_PER_MESSAGE`."""
    if count > MAX_PHOTOS_PER_MESSAGE:
        raise FieldErrors(
            {
                "photo_ids": f"A message can carry at most {MAX_PHOTOS_PER_MESSAGE} photos; "
                f"this one has {count}."
            }
        )
    return count


def _mib(size: int) -> str:
    mib = size / (1024 * 1024)
    return f"{mib:g} MiB" if size >= 1024 * 1024 else f"{size:,} bytes"
