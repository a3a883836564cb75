"""The photo pipeline with real worker processes: every bad upload of issue 11 that the
pipeline owns, each refused with its own error (or rebuilt correctly), and workers that die or
run out of memory without taking the server with them. Images are made with Pillow here."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import signal
import struct
import warnings
import zipfile
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import BodyPartReader, FormData, web
from aiohttp.test_utils import TestClient
from PIL import Image

from media.domain.photo_rules import (
    MAX_PHOTO_BYTES,
    EmptyPhoto,
    PhotoFormat,
    PhotoPipelineBusy,
    PhotoTooLarge,
    TooManyPixels,
    Undecodable,
    UnprocessablePhoto,
    UnsupportedPhotoType,
)
from media.services.photo_imaging import NormalisedPhoto, Rendition, normalise_photo
from media.services.photo_pipeline import PhotoJob, PhotoPipeline, read_capped, read_upload
from server.errors import DomainError
from tests import photo_faults
from tests.story.photos import (
    BLUE,
    EXIF_GPS_IFD,
    RED,
    SECRETS,
    WHITE,
    encoded,
    near,
    rotated_jpeg,
    tagged_jpeg,
)

# --- images made here --------------------------------------------------------------------------


def photo(size: tuple[int, int] = (64, 48), colour: tuple[int, int, int] = BLUE) -> bytes:
    return encoded(Image.new("RGB", size, colour), "JPEG", quality=95)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims `width` x `height` and has no pixel data at all."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", len(ihdr))
        + chunk
        + struct.pack(">I", zlib.crc32(chunk))
        + struct.pack(">I", 0)
        + b"IEND"
        + struct.pack(">I", zlib.crc32(b"IEND"))
    )


def read_back(rendition: Rendition) -> Image.Image:
    image = Image.open(io.BytesIO(rendition.data), formats=["JPEG"])
    image.load()
    return image


# --- the pipeline, and a route that uses it as the real one will ----------------------------


@pytest.fixture
async def pipeline() -> AsyncIterator[PhotoPipeline]:
    running = PhotoPipeline(workers=1)
    await running.start()
    yield running
    await running.close()


async def started(job: PhotoJob, **settings: Any) -> PhotoPipeline:
    running = PhotoPipeline(workers=1, job=job, **settings)
    await running.start()
    return running


PIPELINE = web.AppKey("pipeline", PhotoPipeline)


async def upload_route(request: web.Request) -> web.Response:
    reader = await request.multipart()
    part = await reader.next()
    assert isinstance(part, BodyPartReader)
    try:
        data = await read_upload(part)
        normalised = await request.app[PIPELINE].normalise(data)
    except DomainError as error:
        return web.json_response({"error": error.payload()}, status=error.status)
    display = normalised.display
    return web.json_response(
        {"width": display.width, "height": display.height, "type": display.content_type}
    )


@pytest.fixture
async def client(
    pipeline: PhotoPipeline,
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
) -> TestClient[Any, Any]:
    app = web.Application(client_max_size=2 * MAX_PHOTO_BYTES)
    app[PIPELINE] = pipeline
    app.router.add_post("/photos", upload_route)
    return await aiohttp_client(app)


async def post_file(
    client: TestClient[Any, Any], data: bytes, *, filename: str, content_type: str
) -> tuple[int, dict[str, Any]]:
    form = FormData()
    form.add_field("file", data, filename=filename, content_type=content_type)
    response = await client.post("/photos", data=form)
    body: dict[str, Any] = await response.json()
    return response.status, body


# --- size --------------------------------------------------------------------------------------


async def test_zero_bytes_is_refused_as_an_empty_file(pipeline: PhotoPipeline) -> None:
    with pytest.raises(EmptyPhoto) as refused:
        await pipeline.normalise(b"")
    assert (refused.value.status, refused.value.code) == (422, "empty_file")


async def test_an_empty_upload_is_refused_by_the_route(client: TestClient[Any, Any]) -> None:
    status, body = await post_file(client, b"", filename="x.jpg", content_type="image/jpeg")
    assert (status, body["error"]["code"]) == (422, "empty_file")


async def test_15_mib_plus_1_byte_is_refused_with_413(client: TestClient[Any, Any]) -> None:
    status, body = await post_file(
        client, b"\xff" * (MAX_PHOTO_BYTES + 1), filename="big.jpg", content_type="image/jpeg"
    )
    assert (status, body["error"]["code"]) == (413, "too_large")


async def test_15_mib_exactly_is_read_and_processed(client: TestClient[Any, Any]) -> None:
    jpeg = photo()
    padded = jpeg + b"\0" * (MAX_PHOTO_BYTES - len(jpeg))
    status, body = await post_file(client, padded, filename="a.jpg", content_type="image/jpeg")
    assert (status, body["width"], body["height"]) == (200, 64, 48)


async def test_the_reader_stops_one_byte_past_the_cap() -> None:
    handed_out = 0

    async def endless(size: int) -> bytes:
        nonlocal handed_out
        handed_out += size
        return b"x" * size

    with pytest.raises(PhotoTooLarge):
        await read_capped(endless, cap=1_000_000)
    assert handed_out == 1_000_001


# --- content decides ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(encoded(Image.new("P", (8, 8)), "GIF"), id="gif"),
        pytest.param(encoded(Image.new("RGB", (8, 8)), "TIFF"), id="tiff"),
        pytest.param(
            b'<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"></svg>', id="svg"
        ),
    ],
)
async def test_a_gif_tiff_or_svg_renamed_jpg_is_refused_with_415(
    client: TestClient[Any, Any], data: bytes
) -> None:
    status, body = await post_file(client, data, filename="holiday.jpg", content_type="image/jpeg")
    assert (status, body["error"]["code"]) == (415, "unsupported_type")


async def test_a_declared_type_that_is_not_an_image_is_refused_with_415(
    client: TestClient[Any, Any],
) -> None:
    status, body = await post_file(client, photo(), filename="a.jpg", content_type="text/html")
    assert (status, body["error"]["code"]) == (415, "unsupported_type")


async def test_a_png_declared_as_image_jpeg_is_accepted(client: TestClient[Any, Any]) -> None:
    png = encoded(Image.new("RGB", (30, 20), RED), "PNG")
    status, body = await post_file(client, png, filename="a.jpg", content_type="image/jpeg")
    assert (status, body) == (200, {"width": 30, "height": 20, "type": "image/jpeg"})


async def test_a_webp_is_accepted(pipeline: PhotoPipeline) -> None:
    out = await pipeline.normalise(encoded(Image.new("RGB", (40, 30), RED), "WEBP"))
    assert out.source_format is PhotoFormat.WEBP
    assert near(read_back(out.display).getpixel((20, 15)), RED)


async def test_a_jpeg_head_on_png_content_is_undecodable(pipeline: PhotoPipeline) -> None:
    png = encoded(Image.new("RGB", (8, 8)), "PNG")
    with pytest.raises(Undecodable):
        await pipeline.normalise(b"\xff\xd8\xff" + png)


# --- pixels and decoding -----------------------------------------------------------------------


async def test_a_decompression_bomb_is_refused_before_decoding(pipeline: PhotoPipeline) -> None:
    bomb = encoded(Image.new("1", (9000, 9000)), "PNG", optimize=True)
    assert len(bomb) < 100_000  # 81 megapixels in a small file
    with pytest.raises(TooManyPixels) as refused:
        await pipeline.normalise(bomb)
    assert (refused.value.status, refused.value.code) == (422, "too_many_pixels")


async def test_a_header_claiming_20000_by_20000_is_refused_without_reading_pixels(
    pipeline: PhotoPipeline,
) -> None:
    # No pixel data at all: decoding would say "undecodable"; the header check comes first.
    for width, height in ((20_000, 20_000), (9_000, 9_000)):
        with pytest.raises(TooManyPixels):
            await pipeline.normalise(png_header_only(width, height))


async def test_40_megapixels_is_the_limit_and_one_pixel_more_is_refused() -> None:
    small_cap = PhotoPipeline(workers=1, max_pixels=100 * 100)
    await small_cap.start()
    try:
        assert (await small_cap.normalise(photo((100, 100)))).display.width == 100
        with pytest.raises(TooManyPixels):
            await small_cap.normalise(photo((100, 101)))
    finally:
        await small_cap.close()


def test_pillows_bomb_warning_is_an_error_and_its_globals_are_untouched() -> None:
    # Our cap set above Pillow's warning threshold (89 MP): the warning itself must refuse.
    limit_before, filters_before = Image.MAX_IMAGE_PIXELS, list(warnings.filters)
    with pytest.raises(TooManyPixels):
        normalise_photo(png_header_only(10_000, 9_000), PhotoFormat.PNG, 200_000_000)
    assert (Image.MAX_IMAGE_PIXELS, warnings.filters) == (limit_before, filters_before)


async def test_a_truncated_jpeg_is_undecodable(pipeline: PhotoPipeline) -> None:
    whole = encoded(Image.effect_noise((256, 256), 64).convert("RGB"), "JPEG")
    with pytest.raises(Undecodable) as refused:
        await pipeline.normalise(whole[: len(whole) // 2])
    assert (refused.value.status, refused.value.code) == (422, "undecodable")


async def test_a_polyglot_jpeg_with_a_zip_appended_comes_out_a_clean_jpeg(
    pipeline: PhotoPipeline,
) -> None:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("payload.html", "<script>alert(1)</script>")
    polyglot = photo() + archive.getvalue()
    assert zipfile.is_zipfile(io.BytesIO(polyglot))
    out = await pipeline.normalise(polyglot)
    for rendition in (out.display, out.thumbnail):
        assert rendition.data.startswith(b"\xff\xd8\xff")
        assert rendition.data.endswith(b"\xff\xd9")
        assert b"PK\x03\x04" not in rendition.data and b"<script>" not in rendition.data
        assert not zipfile.is_zipfile(io.BytesIO(rendition.data))


# --- colours -----------------------------------------------------------------------------------


async def test_a_cmyk_jpeg_is_converted_to_rgb(pipeline: PhotoPipeline) -> None:
    cmyk = encoded(Image.new("CMYK", (64, 64), (0, 255, 255, 0)), "JPEG", quality=95)
    assert Image.open(io.BytesIO(cmyk)).mode == "CMYK"
    shown = read_back((await pipeline.normalise(cmyk)).display)
    assert shown.mode == "RGB"
    assert near(shown.getpixel((32, 32)), RED)


async def test_a_16_bit_png_is_scaled_to_8_bits_not_clipped(pipeline: PhotoPipeline) -> None:
    sixteen = encoded(Image.new("I;16", (64, 64), 40_000), "PNG")
    assert Image.open(io.BytesIO(sixteen)).mode.startswith("I")
    shown = read_back((await pipeline.normalise(sixteen)).display)
    assert shown.mode == "L"
    assert near(shown.getpixel((32, 32)), (40_000 // 257,), tolerance=3)


@pytest.mark.parametrize(
    ("mode", "opaque", "shown_opaque"),
    [("RGBA", (255, 0, 0, 255), RED), ("LA", (0, 255), (0,))],
)
async def test_a_png_with_alpha_is_composited_on_white(
    pipeline: PhotoPipeline, mode: str, opaque: tuple[int, ...], shown_opaque: tuple[int, ...]
) -> None:
    image = Image.new(mode, (64, 64), (0,) * len(opaque))  # transparent black
    image.paste(Image.new(mode, (32, 64), opaque), (0, 0))
    shown = read_back((await pipeline.normalise(encoded(image, "PNG"))).display)
    white = WHITE[: len(shown_opaque)]
    assert near(shown.getpixel((8, 32)), shown_opaque)
    assert near(shown.getpixel((56, 32)), white)  # transparent became white, not black


async def test_a_palette_png_with_a_transparent_colour_is_composited_on_white(
    pipeline: PhotoPipeline,
) -> None:
    image = Image.new("P", (64, 64), 0)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    image.paste(1, (0, 0, 32, 64))
    png = encoded(image, "PNG", transparency=0)
    shown = read_back((await pipeline.normalise(png)).display)
    assert near(shown.getpixel((8, 32)), RED)
    assert near(shown.getpixel((56, 32)), WHITE)


# --- orientation and metadata ------------------------------------------------------------------


async def test_an_exif_rotated_photo_is_stored_upright(pipeline: PhotoPipeline) -> None:
    out = await pipeline.normalise(rotated_jpeg())
    shown = read_back(out.display)
    assert (out.display.width, out.display.height) == shown.size == (100, 200)
    assert near(shown.getpixel((90, 10)), RED)
    assert near(shown.getpixel((10, 10)), BLUE)
    assert near(shown.getpixel((50, 190)), BLUE)


async def test_gps_exif_icc_comment_and_xmp_are_gone_when_read_back(
    pipeline: PhotoPipeline,
) -> None:
    tagged = tagged_jpeg()
    source = Image.open(io.BytesIO(tagged))
    assert source.getexif().get_ifd(EXIF_GPS_IFD)  # the input really carries all of it
    assert {"icc_profile", "comment", "xmp"} <= source.info.keys()

    out = await pipeline.normalise(tagged)
    for rendition in (out.display, out.thumbnail):
        shown = read_back(rendition)
        assert not shown.getexif()
        assert not {"exif", "icc_profile", "comment", "xmp"} & shown.info.keys()
        for secret in SECRETS:
            assert secret not in rendition.data


# --- sizes and the output ----------------------------------------------------------------------


async def test_a_small_photo_is_never_upscaled(pipeline: PhotoPipeline) -> None:
    out = await pipeline.normalise(photo((100, 50)))
    assert (out.display.width, out.display.height) == (100, 50)
    assert (out.thumbnail.width, out.thumbnail.height) == (100, 50)


async def test_display_is_at_most_2048_and_the_thumbnail_320_on_the_long_side(
    pipeline: PhotoPipeline,
) -> None:
    out = await pipeline.normalise(photo((1000, 3000)))
    assert (out.display.width, out.display.height) == (683, 2048)
    assert (out.thumbnail.width, out.thumbnail.height) == (107, 320)
    assert (out.source_width, out.source_height) == (1000, 3000)
    assert read_back(out.display).size == (683, 2048)
    assert read_back(out.thumbnail).size == (107, 320)


async def test_renditions_are_progressive_jpegs_named_by_their_sha256(
    pipeline: PhotoPipeline,
) -> None:
    out = await pipeline.normalise(encoded(Image.new("RGB", (50, 50), RED), "PNG"))
    for rendition in (out.display, out.thumbnail):
        assert rendition.content_type == "image/jpeg"
        assert rendition.sha256 == hashlib.sha256(rendition.data).hexdigest()
        assert read_back(rendition).info.get("progressive")


# --- workers that die, hoard memory or are all busy -------------------------------------------


async def test_a_photo_that_kills_its_worker_is_refused_and_the_next_upload_works() -> None:
    running = await started(photo_faults.dies_on_poison)
    try:
        with pytest.raises(UnprocessablePhoto) as refused:
            await running.normalise(photo() + photo_faults.POISON)
        assert (refused.value.status, refused.value.code) == (422, "unprocessable_image")
        assert running.rebuilds == 1
        assert (await running.normalise(photo())).display.width == 64
    finally:
        await running.close()


async def test_a_photo_in_flight_beside_a_killer_still_comes_back() -> None:
    running = await started(photo_faults.dies_on_poison)
    try:
        killer, innocent = await asyncio.gather(
            running.normalise(photo() + photo_faults.POISON),
            running.normalise(photo((80, 60))),
            return_exceptions=True,
        )
        assert isinstance(killer, UnprocessablePhoto)
        assert isinstance(innocent, NormalisedPhoto) and innocent.display.width == 80
    finally:
        await running.close()


async def test_a_worker_killed_mid_job_is_replaced_and_the_photo_retried_alone() -> None:
    running = await started(photo_faults.slow)
    try:
        job = asyncio.create_task(running.normalise(photo((90, 70))))
        await asyncio.sleep(photo_faults.SLOW_SECONDS / 3)
        (worker,) = running.worker_pids()
        os.kill(worker, signal.SIGKILL)
        assert (await job).display.width == 90  # the photo was innocent: its retry succeeds
        assert running.rebuilds == 1
        assert worker not in running.worker_pids()
        assert (await running.normalise(photo())).display.width == 64
    finally:
        await running.close()


async def test_a_photo_that_needs_more_memory_than_a_worker_may_have_is_refused() -> None:
    running = await started(photo_faults.needs_two_gib)
    try:
        with pytest.raises(UnprocessablePhoto) as refused:
            await running.normalise(photo())
        assert refused.value.code == "unprocessable_image"
        assert running.rebuilds == 0  # MemoryError inside the worker: it lives on
    finally:
        await running.close()


async def test_one_photo_more_than_may_wait_is_refused_as_busy() -> None:
    running = await started(photo_faults.slow, max_waiting=1)
    try:
        first = asyncio.create_task(running.normalise(photo()))
        await asyncio.sleep(0)
        with pytest.raises(PhotoPipelineBusy) as refused:
            await running.normalise(photo())
        assert (refused.value.status, refused.value.code) == (503, "busy")
        assert (await first).display.width == 64
    finally:
        await running.close()


async def test_a_pipeline_not_started_or_closed_is_busy() -> None:
    idle = PhotoPipeline(workers=1)
    with pytest.raises(PhotoPipelineBusy):
        await idle.normalise(photo())
    await idle.start()
    await idle.close()
    with pytest.raises(PhotoPipelineBusy):
        await idle.normalise(photo())


def test_each_pipeline_failure_has_its_own_code_and_status() -> None:
    seen = {
        (error.status, error.code)
        for error in (
            EmptyPhoto("x"),
            PhotoTooLarge("x"),
            UnsupportedPhotoType("x"),
            TooManyPixels("x"),
            Undecodable("x"),
            UnprocessablePhoto("x"),
            PhotoPipelineBusy("x"),
        )
    }
    assert len(seen) == 7
    assert (422, "empty_file") in seen and (503, "busy") in seen
