"""A photo rebuilt from its pixels (Pillow): what runs inside a worker process of the
`PhotoPipeline` (media/services/photo_pipeline.py), never on the event loop.

`normalise_photo(data, sniffed)` takes bytes whose size and magic number were already
checked (`check_size`, `check_format`) and, in this order:

1. opens them with Pillow's allowlist of the one format the magic number announced
   (`Image.open(..., formats=[...])`), so no other decoder ever sees them;
2. refuses more than `max_pixels` from the header's width and height, **before** decoding
   (our own cap: Pillow's global `Image.MAX_IMAGE_PIXELS` is never touched), with Pillow's
   `DecompressionBombWarning` turned into an error for the span of the call only;
3. decodes everything (`load()`): a truncated file is `Undecodable` (Pillow's
   `LOAD_TRUNCATED_IMAGES` stays off); an animated PNG or WebP keeps its first frame;
4. turns it upright by its EXIF orientation (a broken EXIF block is ignored, not fatal);
5. converts its colours to 8-bit sRGB or grey: through its ICC profile when it has a usable one
   (a Display P3 phone photo or a CMYK print file keeps its colours instead of shifting when the
   profile is dropped), 16-bit grey scaled (not clipped) to 8 bits, and transparency
   composited on **white**: every rendition is a JPEG, which has no alpha, and a white ground
   is what a transparent picture shows on the tablets' light pages;
6. scales to the display size (long side at most `DISPLAY_LONG_SIDE`) and the thumbnail
   (`THUMBNAIL_LONG_SIDE`), never up (`fit`);
7. copies each rendition's raw pixels into a new image (`Image.frombytes`), so that nothing of
   the upload but its pixels reaches the encoder: no EXIF (GPS included), ICC profile, comment,
   XMP or bytes appended after the image's end;
8. encodes each as a progressive baseline-compatible JPEG (quality 85, thumbnail 80) without
   metadata, and names it by the SHA-256 of its bytes.

Each failure is a domain error from media/domain/photo_rules.py; they pickle, so the pipeline
re-raises them in the server process as they are. `MemoryError` is left to the pipeline.
"""

from __future__ import annotations

import hashlib
import io
import struct
import warnings
from dataclasses import dataclass

from PIL import Image, ImageCms, ImageOps

from media.domain.photo_rules import (
    DISPLAY_LONG_SIDE,
    MAX_PIXELS,
    THUMBNAIL_LONG_SIDE,
    PhotoFormat,
    TooManyPixels,
    Undecodable,
    check_decoded_format,
    check_pixels,
    fit,
)

OUTPUT_FORMAT = PhotoFormat.JPEG
DISPLAY_QUALITY = 85
THUMBNAIL_QUALITY = 80

# What Pillow's decoders raise on malformed input (besides its own UnidentifiedImageError, an
# OSError): all of them mean "not a readable image", never a server fault.
_DECODER_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError, KeyError)
_SIXTEEN_BIT_GREY = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N"})
_WITH_ALPHA = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})


@dataclass(frozen=True, slots=True)
class Rendition:
    """One stored size of a photo: its encoded bytes and what a response needs to serve them."""

    data: bytes
    width: int
    height: int
    content_type: str
    sha256: str  # hex digest of `data`: the blob store's content address


@dataclass(frozen=True, slots=True)
class NormalisedPhoto:
    """A photo rebuilt from its pixels, with the format and size it arrived in."""

    display: Rendition
    thumbnail: Rendition
    source_format: PhotoFormat
    source_width: int
    source_height: int


def normalise_photo(
    data: bytes, sniffed: PhotoFormat, max_pixels: int = MAX_PIXELS
) -> NormalisedPhoto:
    """The display and thumbnail renditions of `data`, whose first bytes said it is `sniffed`.
    Raises `Undecodable`, `TooManyPixels` (or lets `MemoryError` through)."""
    with warnings.catch_warnings():
        # Local to this call: the warning is Pillow's own net (at 89 MP), ours is `max_pixels`.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            return _normalise(data, sniffed, max_pixels)
        except (Image.DecompressionBombWarning, Image.DecompressionBombError):
            raise TooManyPixels(
                f"A photo can have at most {max_pixels / 1_000_000:g} megapixels."
            ) from None
        except _DECODER_ERRORS:
            raise Undecodable(
                f"The file is not a readable {sniffed.pillow_name} image (damaged or cut short)."
            ) from None


def _normalise(data: bytes, sniffed: PhotoFormat, max_pixels: int) -> NormalisedPhoto:
    with Image.open(io.BytesIO(data), formats=[sniffed.pillow_name]) as image:
        check_decoded_format(image.format, sniffed=sniffed)
        source_width, source_height = check_pixels(*image.size, max_pixels=max_pixels)
        image.load()
        icc_profile = image.info.get("icc_profile")
        upright = _upright(image)
        pixels = _flattened(_in_srgb(_plain_mode(upright), icc_profile))
    display = _scaled(pixels, fit(*pixels.size, DISPLAY_LONG_SIDE))
    del pixels  # the full-size copy can go before the encoders need their memory
    thumbnail = _scaled(display, fit(*display.size, THUMBNAIL_LONG_SIDE))
    return NormalisedPhoto(
        display=_encoded(display, quality=DISPLAY_QUALITY),
        thumbnail=_encoded(thumbnail, quality=THUMBNAIL_QUALITY),
        source_format=sniffed,
        source_width=source_width,
        source_height=source_height,
    )


def _upright(image: Image.Image) -> Image.Image:
    try:
        turned = ImageOps.exif_transpose(image)
    except _DECODER_ERRORS:
        return image  # an unreadable EXIF block says nothing we can trust about orientation
    return turned


def _plain_mode(image: Image.Image) -> Image.Image:
    """The image in one of L, LA, RGB, RGBA or CMYK (8 bits a channel)."""
    if image.mode in _SIXTEEN_BIT_GREY:
        # Pillow's I;16 -> L conversion clips at 255 (a 16-bit grey photo would come out
        # white): scale 0..65535 down to 0..255 instead.
        return image.convert("I").point(lambda value: value * (1 / 257)).convert("L")
    if image.mode == "1":
        image = image.convert("L")  # keeps a transparent colour, if any, for the next step
    grey = image.mode in ("L", "LA", "La")
    if image.mode in _WITH_ALPHA or "transparency" in image.info:
        return image.convert("LA" if grey else "RGBA")
    if image.mode in ("L", "RGB", "CMYK"):
        return image
    return image.convert("L" if grey else "RGB")  # P, YCbCr and the like


def _in_srgb(image: Image.Image, icc_profile: object) -> Image.Image:
    """RGB(A) or CMYK through the photo's own ICC profile into sRGB; without a usable profile,
    Pillow's plain conversion (CMYK) or the pixels as they are (RGB, grey)."""
    if isinstance(icc_profile, bytes) and icc_profile and image.mode in ("RGB", "RGBA", "CMYK"):
        output_mode = "RGBA" if image.mode == "RGBA" else "RGB"
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
            converted = ImageCms.profileToProfile(
                image, source, ImageCms.createProfile("sRGB"), outputMode=output_mode
            )
        except (ImageCms.PyCMSError, *_DECODER_ERRORS):
            pass  # a broken or mismatched profile: fall back to the plain conversion below
        else:
            if converted is not None:
                return converted
    return image.convert("RGB") if image.mode == "CMYK" else image


def _flattened(image: Image.Image) -> Image.Image:
    """Transparency composited on white: L or RGB out."""
    if image.mode not in ("LA", "RGBA"):
        return image
    ground = Image.new(image.mode[:-1], image.size, "white")
    ground.paste(image.convert(ground.mode), mask=image.getchannel("A"))
    return ground


def _scaled(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    if size == image.size:
        return image
    # reducing_gap: a fast box reduction first, then Lanczos over the last factor of 3.
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def _encoded(image: Image.Image, *, quality: int) -> Rendition:
    # A new image from the raw pixels only: `info` (comments, ICC, EXIF, XMP) stays behind.
    clean = Image.frombytes(image.mode, image.size, image.tobytes())
    out = io.BytesIO()
    clean.save(out, OUTPUT_FORMAT.pillow_name, quality=quality, optimize=True, progressive=True)
    data = out.getvalue()
    return Rendition(
        data=data,
        width=clean.width,
        height=clean.height,
        content_type=OUTPUT_FORMAT.media_type,
        sha256=hashlib.sha256(data).hexdigest(),
    )
