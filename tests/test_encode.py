"""Tests for the pipeline RetrieveImage and NextDocument send sides through
(firmware/scan/imagestream.py: driver bands in, file bytes out, with the band encoders of
firmware/imaging) and for firmware/scan/formats.py: every format decodes (with Pillow) to the
page it was given.

Lossless formats (png, dib, tiff-single-uncompressed) must give back the exact
pixels, JPEG formats must stay close; every file carries the resolution; output
leaves in pieces, band by band, while the page is read. Pages are small, except one tall page
for the streaming checks.
"""

from __future__ import annotations

import asyncio
import io
import random
import struct

import pytest
from PIL import Image, ImageChops, ImageStat

from drivers.base import PageInfo
from firmware.imaging.jpeg import JPEG_MAX_SIDE
from firmware.jobs.runner import PageStream
from firmware.scan import formats
from firmware.scan.imagestream import encode_stream, raster_of

RES = 300
LOSSLESS = ("png", "dib", "tiff-single-uncompressed")
JPEG = ("jfif", "exif")
KINDS = ("rgb", "gray", "bilevel")


def noise_page(width: int, lines: int, kind: str, seed: int = 1) -> tuple[PageInfo, bytes]:
    """Random pixels (every PNG filter gets used); bilevel pages hold only 0 and 255."""
    rng = random.Random(seed)
    channels = 3 if kind == "rgb" else 1
    if kind == "bilevel":
        data = bytes(rng.choice((0, 255)) for _ in range(width * lines))
    else:
        data = rng.randbytes(width * lines * channels)
    return PageInfo(width, lines, width * channels, channels, RES), data


def smooth_page(width: int, lines: int, kind: str) -> tuple[PageInfo, bytes]:
    """Gradients (JPEG-friendly); bilevel is a pattern of black bars on white."""
    ramp = Image.linear_gradient("L").resize((width, lines))
    if kind == "rgb":
        radial = Image.radial_gradient("L").resize((width, lines))
        im = Image.merge("RGB", (ramp, radial, ramp.transpose(Image.Transpose.ROTATE_180)))
    elif kind == "gray":
        im = ramp
    else:
        im = Image.new("L", (width, lines), 255)
        for y in range(4, lines - 8, 16):
            im.paste(0, (4, y, width - 4, y + 8))
    channels = len(im.getbands())
    return PageInfo(width, lines, width * channels, channels, RES), im.tobytes()


def bands_of(info: PageInfo, data, band_rows: int, read: list[int] | None = None):
    """``data`` as a driver delivers it: bands of ``band_rows`` rows (counted into ``read``)."""

    async def bands():
        step = band_rows * info.bytes_per_line
        for start in range(0, len(data), step):
            if read is not None:
                read.append(start)
            await asyncio.sleep(0)
            yield bytes(data[start : start + step])

    return bands()


def encode_to_bytes(
    fmt: str, info: PageInfo, data, *, quality: int = 85, bilevel: bool = False, band_rows: int = 7
) -> tuple[bytes, list[bytes]]:
    """The file ``encode_stream`` makes of ``data`` fed in bands, and the chunks it yielded."""

    async def run() -> list[bytes]:
        raster = raster_of(info, quality=quality, bilevel=bilevel)
        return [chunk async for chunk in encode_stream(PageStream(info, bands_of(info, data, band_rows)), fmt, raster)]

    chunks = asyncio.run(run())
    return b"".join(chunks), chunks


def decode(file: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(file))
    im.load()
    return im


def as_page_mode(im: Image.Image, kind: str) -> Image.Image:
    return im.convert("RGB" if kind == "rgb" else "L")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("fmt", LOSSLESS)
def test_lossless_formats_give_back_the_exact_pixels(fmt, kind):
    info, data = noise_page(37, 150, kind)  # odd width: row padding and bit packing
    im = decode(encode_to_bytes(fmt, info, bytearray(data), bilevel=kind == "bilevel")[0])
    assert im.size == (37, 150)
    assert im.mode == {"rgb": "RGB", "gray": "L", "bilevel": "1"}[kind]
    assert as_page_mode(im, kind).tobytes() == data


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("fmt", JPEG)
def test_jpeg_formats_stay_close_to_the_pixels(fmt, kind):
    info, data = smooth_page(101, 300, kind)
    im = decode(encode_to_bytes(fmt, info, memoryview(data), bilevel=kind == "bilevel")[0])
    assert im.format == "JPEG" and im.size == (101, 300)
    assert im.mode == ("RGB" if kind == "rgb" else "L")
    original = Image.frombytes(im.mode, im.size, data)
    mean_abs_diff = sum(ImageStat.Stat(ImageChops.difference(im, original)).mean) / len(im.getbands())
    assert mean_abs_diff < (2 if kind == "bilevel" else 1.5)


def test_quality_is_used():
    info, data = smooth_page(120, 80, "rgb")
    low = encode_to_bytes("exif", info, data, quality=10)[0]
    high = encode_to_bytes("exif", info, data, quality=95)[0]
    assert len(low) < len(high)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("fmt", formats.SUPPORTED_FORMATS)
def test_every_file_carries_the_resolution(fmt, kind):
    info, data = smooth_page(40, 30, kind)
    file = encode_to_bytes(fmt, info, data, bilevel=kind == "bilevel")[0]
    im = decode(file)
    if fmt == "jfif":
        assert im.info["jfif_unit"] == 1 and im.info["jfif_density"] == (RES, RES)
    elif fmt == "exif":
        exif = im.getexif()
        assert (float(exif[0x011A]), float(exif[0x011B]), exif[0x0128]) == (RES, RES, 2)  # X/YResolution in inch
    elif fmt == "dib":
        assert struct.unpack_from("<ii", file, 38) == (round(RES / 0.0254),) * 2  # biX/YPelsPerMeter
    elif fmt == "png":
        assert b"pHYs" + struct.pack(">IIB", round(RES / 0.0254), round(RES / 0.0254), 1) in file
    assert tuple(round(v) for v in im.info["dpi"]) == (RES, RES)


def jpeg_segments(file: bytes) -> list[tuple[int, bytes]]:
    """(marker, payload) of the segments between SOI and SOS."""
    assert file[:2] == b"\xff\xd8"
    segments, pos = [], 2
    while True:
        marker, length = file[pos + 1], struct.unpack_from(">H", file, pos + 2)[0]
        segments.append((marker, file[pos + 4 : pos + 2 + length]))
        if marker == 0xDA:  # SOS
            return segments
        pos += 2 + length


def test_exif_carries_an_exif_app1_with_the_resolution():
    info, data = smooth_page(40, 30, "rgb")
    file = encode_to_bytes("exif", info, data)[0]
    app1 = [payload for marker, payload in jpeg_segments(file) if marker == 0xE1]
    assert len(app1) == 1 and app1[0].startswith(b"Exif\0\0")
    exif = Image.Exif()
    exif.load(app1[0][6:])
    assert (float(exif[0x011A]), float(exif[0x011B]), exif[0x0128]) == (RES, RES, 2)  # X/YResolution in inch


def test_jfif_starts_with_a_jfif_app0_and_has_no_exif():
    info, data = smooth_page(40, 30, "gray")
    file = encode_to_bytes("jfif", info, data)[0]
    segments = jpeg_segments(file)
    assert segments[0][0] == 0xE0 and segments[0][1].startswith(b"JFIF\0")
    assert not any(marker == 0xE1 for marker, _ in segments)


@pytest.mark.parametrize(("kind", "bits"), [("rgb", 24), ("gray", 8), ("bilevel", 1)])
def test_dib_is_a_complete_top_down_bmp_file(kind, bits):
    info, data = noise_page(37, 20, kind)
    file = encode_to_bytes("dib", info, data, bilevel=kind == "bilevel")[0]
    assert file[:2] == b"BM"
    size, _, _, offset = struct.unpack_from("<IHHI", file, 2)
    header, width, height, _, bit_count, compression, image_size = struct.unpack_from("<IiiHHII", file, 14)
    assert (size, header, width, bit_count, compression) == (len(file), 40, 37, bits, 0)
    assert height == -20  # negative: top-down rows, written as they come
    row = formats.bytes_per_line("dib", 37, info.channels, kind == "bilevel")
    assert image_size == row * 20 == len(file) - offset


@pytest.mark.parametrize("kind", KINDS)
def test_tiff_rows_have_the_announced_bytes_per_line(kind):
    info, data = noise_page(37, 20, kind)
    file = encode_to_bytes("tiff-single-uncompressed", info, data, bilevel=kind == "bilevel")[0]
    im = decode(file)
    row = formats.bytes_per_line("tiff-single-uncompressed", 37, info.channels, kind == "bilevel")
    rows_per_strip = im.tag_v2[278]
    assert im.tag_v2[259] == 1  # Compression: none
    assert sum(im.tag_v2[279]) == row * 20 and im.tag_v2[279][0] == row * min(rows_per_strip, 20)


@pytest.mark.parametrize(
    ("fmt", "channels", "bilevel", "expected"),
    [
        ("dib", 3, False, 112),  # 37 x 3 = 111 bytes, padded to 4
        ("dib", 1, False, 40),
        ("dib", 1, True, 8),  # 37 bits -> two 32-bit words
        ("tiff-single-uncompressed", 3, False, 111),
        ("tiff-single-uncompressed", 1, False, 37),
        ("tiff-single-uncompressed", 1, True, 5),
        ("png", 3, False, 0),
        ("jfif", 3, False, 0),
        ("exif", 1, False, 0),
    ],
)
def test_bytes_per_line(fmt, channels, bilevel, expected):
    assert formats.bytes_per_line(fmt, 37, channels, bilevel) == expected


def test_dib_bytes_per_line_of_a_4_byte_aligned_row_has_no_padding():
    assert formats.bytes_per_line("dib", 4724, 3) == 4724 * 3


TALL_WIDTH, TALL_LINES = 1000, 2400
"""The streaming page: 2400 rows of noise (every row costs the same room in any format)."""

HELD_ROWS = 100
"""Rows that may be read from the driver but not yet out as file bytes, at most (measured: 32 for
TIFF and DIB, 40 for JPEG, 58 for PNG). The bound holds by back-pressure, not by timing: the
pipeline reads a band only when the bands before it are encoded (a few bands of 8 rows wait in its
queues), JPEG holds at most one strip of 16 rows, PNG what zlib keeps before its next 64 KiB IDAT."""


@pytest.fixture(scope="module")
def tall_page() -> tuple[PageInfo, bytearray]:
    info, data = noise_page(TALL_WIDTH, TALL_LINES, "rgb")  # 7.2 MB raw; noise: every row costs alike
    return info, bytearray(data)


def stream_with_rows_read(fmt: str, info: PageInfo, data, band_rows: int) -> list[tuple[int, bytes]]:
    """Each chunk ``encode_stream`` yields for ``data`` fed in bands, with the rows the driver
    had delivered when it came."""
    read: list[int] = []

    async def run() -> list[tuple[int, bytes]]:
        raster = raster_of(info, quality=85, bilevel=False)
        stream = encode_stream(PageStream(info, bands_of(info, data, band_rows, read)), fmt, raster)
        return [(min(info.lines, len(read) * band_rows), chunk) async for chunk in stream]

    return asyncio.run(run())


@pytest.mark.parametrize("fmt", formats.SUPPORTED_FORMATS)
def test_a_large_page_is_streamed_in_pieces_while_it_is_read(fmt, tall_page):
    """The file leaves in many pieces while the bands come, and the pipeline never holds back
    more than :data:`HELD_ROWS` rows: each chunk comes when the rows before it are out."""
    info, data = tall_page
    chunks = stream_with_rows_read(fmt, info, data, band_rows=8)
    file = b"".join(chunk for _, chunk in chunks)
    assert all(type(c) is bytes and c for _, c in chunks)
    assert decode(file).size == (TALL_WIDTH, TALL_LINES)
    bytes_per_row = len(file) / TALL_LINES  # noise: every row takes about the same room in any format
    out, held = 0, 0.0
    for rows_read, chunk in chunks:
        held = max(held, rows_read - out / bytes_per_row)  # rows read whose bytes had not left yet
        out += len(chunk)
    assert held < HELD_ROWS
    assert len(chunks) >= 8 and max(len(c) for _, c in chunks) < len(file) / 4


@pytest.mark.parametrize("fmt", formats.SUPPORTED_FORMATS)
def test_a_consumer_that_stops_stops_the_reading_of_bands(fmt, tall_page):
    """A client gone after two chunks: not one band is read after it left, and it left long
    before the page was read (240 bands of 10 rows)."""
    info, data = tall_page
    read: list[int] = []

    async def run() -> tuple[int, int]:
        raster = raster_of(info, quality=85, bilevel=False)
        chunks = encode_stream(PageStream(info, bands_of(info, data, 10, read)), fmt, raster)
        taken = 0
        async for _chunk in chunks:
            taken += 1
            if taken == 2:
                break
        at_stop = len(read)
        await chunks.aclose()
        return at_stop, len(read)

    at_stop, in_all = asyncio.run(run())
    assert in_all == at_stop
    # the second chunk of a JPEG comes by about 720 rows read (see HELD_ROWS), of the others at once
    assert at_stop < TALL_LINES / 10 / 2


def test_bilevel_is_a_threshold_at_128_without_dithering():
    data = bytes(range(256)) * 16  # 16 rows of every gray level
    info = PageInfo(256, 16, 256, 1, RES)
    for fmt in LOSSLESS:
        im = decode(encode_to_bytes(fmt, info, data, bilevel=True)[0])
        assert im.mode == "1"
        assert im.convert("L").tobytes() == (bytes(128) + b"\xff" * 128) * 16


def test_unknown_lines_are_the_rows_that_came():
    _, data = noise_page(37, 12, "gray")
    for fmt in formats.SUPPORTED_FORMATS:
        im = decode(encode_to_bytes(fmt, PageInfo(37, -1, 37, 1, RES), data, band_rows=5)[0])
        assert im.size == (37, 12)
        if fmt in LOSSLESS:
            assert im.tobytes() == data


def test_a_short_page_is_completed_with_white():
    """The header announced the height; a device that delivers fewer rows gets white rows."""
    _, data = noise_page(37, 12, "gray")
    im = decode(encode_to_bytes("png", PageInfo(37, 20, 37, 1, RES), data)[0])
    assert im.size == (37, 20) and im.tobytes() == data + b"\xff" * 37 * 8


def test_padded_input_rows_are_read_by_their_stride():
    _info, data = noise_page(37, 12, "rgb")
    padded = b"".join(data[y * 111 : (y + 1) * 111] + b"\xaa" * 5 for y in range(12))
    for fmt in LOSSLESS:
        file = encode_to_bytes(fmt, PageInfo(37, 12, 116, 3, RES), padded)[0]
        assert decode(file).convert("RGB").tobytes() == data


def test_unknown_format_is_a_value_error():
    info, data = noise_page(8, 8, "gray")
    with pytest.raises(ValueError):
        encode_to_bytes("tiff-multi-g4", info, data)
    with pytest.raises(ValueError):
        formats.bytes_per_line("xps", 8, 1)


@pytest.mark.parametrize(
    "info",
    [
        PageInfo(8, 8, 8, 1, RES, depth=16),
        PageInfo(8, 4, 16, 2, RES),
        PageInfo(8, 8, 4, 1, RES),  # stride shorter than a row
        PageInfo(8, 8, 8, 1, 0),
        PageInfo(0, 8, 0, 1, RES),
    ],
)
def test_inconsistent_pages_are_value_errors(info):
    raster_of(PageInfo(8, 8, 8, 1, RES), quality=85, bilevel=False)  # 8 x 8 gray is fine
    with pytest.raises(ValueError):
        raster_of(info, quality=85, bilevel=False)


def test_bilevel_colour_is_a_value_error():
    info, _data = noise_page(8, 8, "rgb")
    with pytest.raises(ValueError):
        raster_of(info, quality=85, bilevel=True)


def test_a_page_too_wide_for_jpeg_is_a_value_error_before_any_output():
    width = JPEG_MAX_SIDE + 1
    for fmt in ("jfif", "exif"):
        with pytest.raises(ValueError):
            encode_to_bytes(fmt, PageInfo(width, 1, width, 1, RES), bytes(width))
    file = encode_to_bytes("jfif", PageInfo(width - 1, 1, width - 1, 1, RES), bytes(width - 1))[0]
    assert decode(file).size == (width - 1, 1)


def test_every_format_has_a_mime_type():
    assert set(formats.MIME_TYPES) == set(formats.SUPPORTED_FORMATS)
    assert formats.MIME_TYPES["dib"] == "image/bmp" and formats.MIME_TYPES["exif"] == "image/jpeg"
