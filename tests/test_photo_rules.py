"""Photo rules without a server: the size cap and its +1 byte read, formats by magic number,
the pixel cap before decoding, and the sizes photos are rebuilt at."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from media.domain.photo_rules import (
    DISPLAY_LONG_SIDE,
    MAX_PHOTO_BYTES,
    MAX_PHOTOS_PER_MESSAGE,
    MAX_PIXELS,
    PILLOW_FORMATS,
    SNIFF_BYTES,
    THUMBNAIL_LONG_SIDE,
    PhotoFormat,
    PhotoTooLarge,
    TooManyPixels,
    Undecodable,
    UnsupportedPhotoType,
    check_declared_type,
    check_decoded_format,
    check_format,
    check_photo_count,
    check_pixels,
    check_size,
    fit,
    read_limit,
    sniff,
)
from server.errors import DomainError, FieldErrors
from tests.story import impure_imports

JPEG_HEAD = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01"
PNG_HEAD = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
WEBP_HEAD = b"RIFF\x24\x00\x00\x00WEBPVP8 "


def test_the_limits_are_those_of_the_design() -> None:
    assert MAX_PHOTO_BYTES == 15 * 1024 * 1024
    assert MAX_PIXELS == 40_000_000
    assert (DISPLAY_LONG_SIDE, THUMBNAIL_LONG_SIDE) == (2048, 320)
    assert MAX_PHOTOS_PER_MESSAGE == 5


def test_each_failure_has_its_own_code_and_status() -> None:
    seen = {
        (e.status, e.code)
        for e in (
            PhotoTooLarge("x"),
            UnsupportedPhotoType("x"),
            TooManyPixels("x"),
            Undecodable("x"),
        )
    }
    assert seen == {
        (413, "too_large"),
        (415, "unsupported_type"),
        (422, "too_many_pixels"),
        (422, "undecodable"),
    }


# --- size -----------------------------------------------------------------------------------


def test_the_read_limit_is_one_byte_over_the_cap() -> None:
    assert read_limit() == MAX_PHOTO_BYTES + 1
    assert read_limit(0) == 1
    with pytest.raises(ValueError):
        read_limit(-1)


def test_a_photo_of_15_mib_is_accepted() -> None:
    assert check_size(MAX_PHOTO_BYTES) == 15_728_640


def test_a_photo_of_15_mib_plus_1_byte_is_refused() -> None:
    with pytest.raises(PhotoTooLarge) as err:
        check_size(read_limit())
    assert err.value.message == "A photo can be at most 15 MiB."


def test_a_smaller_cap_is_named_in_bytes() -> None:
    with pytest.raises(PhotoTooLarge, match="1,000 bytes"):
        check_size(1_001, cap=1_000)


def test_an_empty_upload_is_undecodable() -> None:
    with pytest.raises(Undecodable):
        check_size(0)


# --- formats --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "found"),
    [(JPEG_HEAD, PhotoFormat.JPEG), (PNG_HEAD, PhotoFormat.PNG), (WEBP_HEAD, PhotoFormat.WEBP)],
)
def test_jpeg_png_and_webp_are_known_by_their_first_bytes(head: bytes, found: PhotoFormat) -> None:
    assert len(head) >= SNIFF_BYTES
    assert sniff(head[:SNIFF_BYTES]) is found
    assert check_format(head) is found


@pytest.mark.parametrize(
    "head",
    [
        b"",
        b"\xff\xd8",  # a JPEG cut short
        b"\x89PNG\r\n\x1a",
        b"RIFF\x24\x00\x00\x00WAVEfmt ",  # a RIFF that is a sound
        b"RIFF\x24\x00\x00\x00WEB",
        b"GIF89a\x01\x00\x01\x00\x00\x00",
        b"\x00\x00\x00\x18ftypheic",  # HEIC: not accepted yet
        b"%PDF-1.7\n%\xe2\xe3",
        b"<svg xmlns='http://www.w3.org/2000/svg'>",
        b"BM6\x00\x00\x00\x00\x00",
    ],
)
def test_other_content_is_an_unsupported_type(head: bytes) -> None:
    assert sniff(head) is None
    with pytest.raises(UnsupportedPhotoType) as err:
        check_format(head)
    assert err.value.status == 415
    assert "JPEG, PNG or WebP" in err.value.message


@given(st.binary(max_size=64))
def test_sniff_never_fails_on_any_bytes(head: bytes) -> None:
    found = sniff(head)
    assert found is None or isinstance(found, PhotoFormat)


@given(st.sampled_from([JPEG_HEAD, PNG_HEAD, WEBP_HEAD]), st.binary(max_size=64))
def test_what_follows_the_magic_number_does_not_change_the_format(head: bytes, rest: bytes) -> None:
    assert sniff(head + rest) is sniff(head)


@pytest.mark.parametrize(
    "declared",
    [
        None,
        "",
        "image/jpeg",
        "image/png",
        "image/webp",
        "IMAGE/JPEG",
        "image/png; charset=binary",
        "application/octet-stream",
    ],
)
def test_our_types_or_no_type_may_be_declared(declared: str | None) -> None:
    check_declared_type(declared)


@pytest.mark.parametrize(
    "declared", ["image/gif", "image/svg+xml", "application/pdf", "text/html", "image/heic"]
)
def test_other_declared_types_are_refused_before_reading(declared: str) -> None:
    with pytest.raises(UnsupportedPhotoType, match=declared.replace("+", r"\+")):
        check_declared_type(declared)


def test_the_decoded_format_must_be_the_sniffed_one() -> None:
    assert PILLOW_FORMATS == ("JPEG", "PNG", "WEBP")
    for found in PhotoFormat:
        assert check_decoded_format(found.pillow_name, sniffed=found) is found
    for decoded in ("PNG", "MPO", None):
        with pytest.raises(Undecodable):
            check_decoded_format(decoded, sniffed=PhotoFormat.JPEG)


def test_media_types_name_the_re_encoded_output() -> None:
    assert [f.media_type for f in PhotoFormat] == ["image/jpeg", "image/png", "image/webp"]


# --- pixels ---------------------------------------------------------------------------------


def test_a_photo_of_40_megapixels_is_accepted() -> None:
    assert check_pixels(8_000, 5_000) == (8_000, 5_000)
    assert check_pixels(MAX_PIXELS, 1) == (MAX_PIXELS, 1)


def test_a_photo_of_40_megapixels_plus_1_is_refused() -> None:
    with pytest.raises(TooManyPixels) as err:
        check_pixels(40_000_001, 1)
    assert err.value.status == 422
    assert "at most 40 megapixels" in err.value.message


def test_a_small_file_claiming_a_huge_image_is_refused_before_decoding() -> None:
    with pytest.raises(TooManyPixels, match="65,535 x 65,535"):
        check_pixels(65_535, 65_535)


@pytest.mark.parametrize(("width", "height"), [(0, 10), (10, 0), (-1, 10)])
def test_an_image_with_no_pixels_is_undecodable(width: int, height: int) -> None:
    with pytest.raises(Undecodable):
        check_pixels(width, height)


# --- sizes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "long_side", "fitted"),
    [
        ((4032, 3024), DISPLAY_LONG_SIDE, (2048, 1536)),
        ((3024, 4032), DISPLAY_LONG_SIDE, (1536, 2048)),
        ((4032, 3024), THUMBNAIL_LONG_SIDE, (320, 240)),
        ((2048, 10), DISPLAY_LONG_SIDE, (2048, 10)),  # exactly the size: unchanged
        ((2049, 1), DISPLAY_LONG_SIDE, (2048, 1)),
        ((640, 480), DISPLAY_LONG_SIDE, (640, 480)),  # never upscaled
        ((40_000_000, 1), THUMBNAIL_LONG_SIDE, (320, 1)),  # no side below one pixel
        ((1000, 333), THUMBNAIL_LONG_SIDE, (320, 107)),  # 106.56 rounds to 107
    ],
)
def test_fit(size: tuple[int, int], long_side: int, fitted: tuple[int, int]) -> None:
    assert fit(*size, long_side) == fitted


def test_fit_refuses_empty_sizes() -> None:
    with pytest.raises(ValueError):
        fit(0, 10, 320)
    with pytest.raises(ValueError):
        fit(10, 10, 0)


@given(
    width=st.integers(min_value=1, max_value=100_000),
    height=st.integers(min_value=1, max_value=100_000),
    long_side=st.integers(min_value=1, max_value=4096),
)
def test_fit_never_upscales_and_keeps_the_aspect_within_a_pixel(
    width: int, height: int, long_side: int
) -> None:
    w, h = fit(width, height, long_side)
    assert 1 <= w <= width and 1 <= h <= height
    assert max(w, h) == min(max(width, height), long_side)
    if (w, h) != (width, height):
        scale = long_side / max(width, height)
        assert abs(w - width * scale) <= 1 and abs(h - height * scale) <= 1


# --- photos per message ---------------------------------------------------------------------


def test_a_message_with_5_photos_is_accepted_and_6_refused() -> None:
    assert check_photo_count(5) == 5
    with pytest.raises(FieldErrors) as err:
        check_photo_count(6)
    assert "at most 5 photos" in err.value.fields["photo_ids"]


def test_photo_errors_are_domain_errors() -> None:
    for error in (PhotoTooLarge, UnsupportedPhotoType, TooManyPixels, Undecodable):
        assert issubclass(error, DomainError)


def test_photo_rules_import_no_io() -> None:
    assert impure_imports("media") == []
