"""The band encoders of firmware/imaging: files decoded by Pillow give back the rows fed (png, tiff,
dib) or the pixels of a direct Pillow JPEG at the same quality (jfif, exif); bytes leave before the
page ends (JPEG: entropy-coded data once the first strip of rows is in); memory stays flat over a
whole A4 600 dpi page."""

from __future__ import annotations

import io
import math
import os
import random
import struct
import threading
import time
import tracemalloc

import pytest
from PIL import Image, ImageChops, ImageStat

from firmware.imaging import FORMATS, Raster, new_encoder
from firmware.imaging.jpeg import STRIP_ROWS, JpegEncoder, split_jpeg
from firmware.imaging.png import FILTER_NONE, FILTER_SUB, PngEncoder

LOSSLESS = ("png", "tiff-single-uncompressed", "dib")
KINDS = ("rgb", "gray", "bilevel")


def page(width: int, height: int, kind: str, seed: int = 1) -> bytes:
    """Random rows: RGB, gray, or gray 0/255 (bilevel)."""
    rng = random.Random(seed)
    data = rng.randbytes(width * height * (3 if kind == "rgb" else 1))
    if kind == "bilevel":
        data = data.translate(bytes([0] * 128 + [255] * 128))
    return data


def scene(width: int, height: int) -> Image.Image:
    """A smooth RGB picture with edges, as a photo or a document has them (JPEG's kind of input)."""
    gradient = Image.radial_gradient("L").resize((width, height))
    image = Image.merge("RGB", (gradient, gradient.transpose(Image.Transpose.FLIP_LEFT_RIGHT), gradient.rotate(90)))
    for i in range(0, width, max(1, width // 8)):
        image.paste((20, 20, 20), (i, height // 3, i + max(1, width // 40), 2 * height // 3))
    return image


def encode(fmt: str, raster: Raster, data: bytes, band_rows=(1, 7, 3), encoder=None) -> tuple[bytes, list[bytes]]:
    """Feed ``data`` in bands of varying sizes; return the file and the pieces written."""
    pieces: list[bytes] = []
    enc = encoder(raster, pieces.append) if encoder else new_encoder(fmt, raster, pieces.append)
    row, position, i = raster.row_bytes, 0, 0
    while position < len(data):
        size = band_rows[i % len(band_rows)] * row
        enc.feed(memoryview(data)[position : position + size])
        position += size
        i += 1
    total = enc.close()
    blob = b"".join(pieces)
    assert total == len(blob) and all(pieces)
    return blob, pieces


def decoded(blob: bytes, kind: str) -> Image.Image:
    image = Image.open(io.BytesIO(blob))
    image.load()
    return image.convert("RGB" if kind == "rgb" else "L")


@pytest.mark.parametrize("height_known", [True, False], ids=["height", "no-height"])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("fmt", LOSSLESS)
def test_lossless_files_decode_to_the_rows_fed(fmt, kind, height_known):
    width, height = 37, 29  # odd width: row padding and bit packing
    data = page(width, height, kind)
    raster = Raster(width, height if height_known else None, 1 if kind != "rgb" else 3, 300, kind == "bilevel")
    blob, _ = encode(fmt, raster, data)
    image = decoded(blob, kind)
    assert image.size == (width, height)
    assert image.tobytes() == data
    assert Image.open(io.BytesIO(blob)).mode == {"rgb": "RGB", "gray": "L", "bilevel": "1"}[kind]


@pytest.mark.parametrize("filter_type", [FILTER_SUB, FILTER_NONE])
@pytest.mark.parametrize("kind", ("rgb", "gray"))
def test_png_filters_decode_to_the_rows_fed(kind, filter_type):
    data = page(64, 20, kind)
    raster = Raster(64, 20, 3 if kind == "rgb" else 1, 150)
    blob, _ = encode("png", raster, data, encoder=lambda r, w: PngEncoder(r, w, filter_type=filter_type))
    assert decoded(blob, kind).tobytes() == data


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_file_carries_the_resolution(fmt):
    raster = Raster(40, 30, 3, 600)
    blob, _ = encode(fmt, raster, scene(40, 30).tobytes())
    dpi = Image.open(io.BytesIO(blob)).info["dpi"]
    assert dpi == pytest.approx((600, 600), abs=0.01)


def jpeg_segments(blob: bytes) -> list[int]:
    markers, position = [], 2
    while blob[position] == 0xFF and blob[position + 1] != 0xDA:
        markers.append(blob[position + 1])
        position += 2 + struct.unpack_from(">H", blob, position + 2)[0]
    return markers


def psnr(a: Image.Image, b: Image.Image) -> float:
    mse = sum(v * v for v in ImageStat.Stat(ImageChops.difference(a, b)).rms) / 3
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


@pytest.mark.parametrize("quality", [85, 95], ids=["q85", "q95"])
@pytest.mark.parametrize("height_known", [True, False], ids=["height", "no-height"])
@pytest.mark.parametrize("fmt", ["jfif", "exif"])
def test_jpeg_decodes_to_the_pixels_of_a_direct_pillow_encode(fmt, height_known, quality):
    """Strips stitched with restart markers decode exactly as one libjpeg encode of the page
    (odd sizes: partial MCUs at the right and bottom edges)."""
    image = scene(301, 203)
    raster = Raster(301, 203 if height_known else None, 3, 300, quality=quality)
    blob, _ = encode(fmt, raster, image.tobytes())
    direct = io.BytesIO()
    image.save(direct, "JPEG", quality=quality, subsampling=2)
    ours = decoded(blob, "rgb")
    assert ours.size == image.size
    assert ours.tobytes() == decoded(direct.getvalue(), "rgb").tobytes()
    assert psnr(ours, image) >= 30
    # Pillow's layout: SOI, JFIF APP0, then (exif only) the Exif APP1 with the resolution
    markers = jpeg_segments(blob)
    assert markers[0] == 0xE0 and blob[6:11] == b"JFIF\0"
    if fmt == "exif":
        assert markers[1] == 0xE1
        exif = Image.open(io.BytesIO(blob)).getexif()
        assert (exif[0x011A], exif[0x011B], exif[0x0128]) == (300, 300, 2)
    else:
        assert 0xE1 not in markers
    # one strip per restart interval: DRI, then RST0..7 cycling between the strips
    segments, data = split_jpeg(blob)
    mcus_per_strip = math.ceil(301 / 16)  # 4:2:0 at every quality: one MCU row of 16 per strip
    assert (0xDD, struct.pack(">H", mcus_per_strip)) in segments
    restarts = [data[i + 1] for i in range(len(data) - 1) if data[i] == 0xFF and 0xD0 <= data[i + 1] <= 0xD7]
    assert restarts == [0xD0 + k % 8 for k in range(math.ceil(203 / STRIP_ROWS) - 1)]
    # byte for byte libjpeg's own encode of the whole page with that restart interval (Pillow >= 10
    # takes restart_marker_blocks; an older one ignores it and writes no DRI: nothing to compare)
    whole = io.BytesIO()
    image.save(whole, "JPEG", quality=quality, subsampling=2, restart_marker_blocks=mcus_per_strip)
    whole_segments, whole_data = split_jpeg(whole.getvalue())
    if any(marker == 0xDD for marker, _ in whole_segments):
        assert data == whole_data


def test_png_image_data_leaves_with_the_first_band():
    """Not only the header: the first band's compressed rows go out in an IDAT chunk at once,
    though zlib would hold so little input (a blank band) until more came."""
    width = 4724
    pieces: list[bytes] = []
    enc = PngEncoder(Raster(width, 4724, 3, 600), pieces.append)
    header = sum(map(len, pieces))
    enc.feed(b"\xff" * (width * 3 * 9))
    written = b"".join(pieces)
    assert len(written) > header and written[header + 4 : header + 8] == b"IDAT"
    enc.abort()
    whole = Image.new("RGB", (40, 30), "white")
    blob, _ = encode("png", Raster(40, 30, 3, 300), whole.tobytes())
    assert decoded(blob, "rgb").tobytes() == whole.tobytes()


def test_jpeg_gray_pages_decode_to_the_pixels_of_a_direct_pillow_encode():
    gray = scene(75, 41).convert("L")
    blob, _ = encode("jfif", Raster(75, 41, 1, 200), gray.tobytes())
    direct = io.BytesIO()
    gray.save(direct, "JPEG", quality=85)
    assert decoded(blob, "gray").tobytes() == decoded(direct.getvalue(), "gray").tobytes()


@pytest.mark.parametrize("fmt", ["jfif", "exif"])
def test_jpeg_entropy_coded_data_leaves_with_each_strip_even_for_a_blank_page(fmt):
    """Not only a header: the scan data of the first strip is written once its rows are in, and
    so on strip by strip, though a white page compresses to almost nothing."""
    width = 4724  # 200 mm at 600 dpi
    pieces: list[bytes] = []
    enc = JpegEncoder(Raster(width, 4724, 3, 600), pieces.append, exif=fmt == "exif")
    white = b"\xff" * (width * 3 * 9)  # the SANE driver's bands: 128 KiB, 9 rows at this width
    enc.feed(white)
    assert pieces == []  # 9 rows: no whole strip yet
    enc.feed(white)  # 18 rows: the first strip is encoded
    head = b"".join(pieces)
    position = head.index(b"\xff\xda")
    sos_end = position + 2 + struct.unpack_from(">H", head, position + 2)[0]
    assert len(head) > sos_end  # entropy-coded data of the first strip, past the SOS header
    written = len(head)
    enc.feed(white + white)  # 36 rows: a second strip
    assert sum(map(len, pieces)) > written and pieces[-2][:2] == b"\xff\xd0"
    enc.abort()


def test_jpeg_gray_and_bilevel_pages_are_gray_jpegs():
    gray = scene(64, 48).convert("L")
    for bilevel in (False, True):
        data = gray.tobytes() if not bilevel else gray.point(lambda v: 255 if v >= 128 else 0).tobytes()
        blob, _ = encode("jfif", Raster(64, 48, 1, 200, bilevel), data)
        image = Image.open(io.BytesIO(blob))
        assert image.mode == "L" and image.size == (64, 48)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_short_page_is_completed_with_white_and_extra_rows_are_dropped(fmt):
    raster = Raster(16, 10, 1, 100)
    black = bytes(16 * 6)
    blob, _ = encode(fmt, raster, black)
    image = decoded(blob, "gray")
    assert image.size == (16, 10)
    assert max(image.crop((0, 0, 16, 6)).tobytes()) < 40 and min(image.crop((0, 6, 16, 10)).tobytes()) > 215
    longer, _ = encode(fmt, raster, bytes(16 * 14))
    assert decoded(longer, "gray").size == (16, 10)


@pytest.mark.parametrize("fmt", FORMATS)
def test_partial_rows_and_empty_pages_are_value_errors(fmt):
    enc = new_encoder(fmt, Raster(10, None, 3, 100), lambda _: None)
    with pytest.raises(ValueError):
        enc.feed(b"\0" * 31)
    with pytest.raises(ValueError):
        enc.close()
    with pytest.raises(ValueError):
        Raster(10, 5, 3, 100, bilevel=True)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_write_error_propagates_and_stops_the_encoder(fmt):
    class Gone(Exception):
        pass

    def write(_chunk):
        raise Gone()

    image = scene(800, 800).tobytes()
    with pytest.raises(Gone):  # png, tiff and dib write their header at once
        enc = new_encoder(fmt, Raster(800, 800, 3, 300), write)
        for start in range(0, len(image), 800 * 3 * 50):
            enc.feed(image[start : start + 800 * 3 * 50])
        enc.close()


@pytest.mark.parametrize("fmt", FORMATS)
def test_bytes_leave_before_the_page_ends(fmt):
    """30 % of the file has left once half the page is fed, without waiting: JPEG writes each
    strip of 16 rows as it is complete, PNG an IDAT chunk whenever zlib has 64 KiB out (or at a
    flush), TIFF and DIB the rows as they come."""
    width, height = 1200, 3200
    band = scene(width, 32).tobytes()
    pieces = []
    enc = new_encoder(fmt, Raster(width, height, 3, 300), pieces.append)
    for _ in range(height // 32 // 2):
        enc.feed(band)
    written_at_half = sum(map(len, pieces))
    for _ in range(height // 32 // 2):
        enc.feed(band)
    enc.close()
    assert written_at_half > sum(map(len, pieces)) * 0.3


def a4_bands(band_rows: int = 16):
    """An A4 page at 600 dpi, RGB (4960 x 7016, 104 MB raw), as bands made one at a time."""
    width, height = 4960, 7016
    template = scene(width, band_rows).tobytes()
    for first in range(0, height, band_rows):
        rows = min(band_rows, height - first)
        yield bytes(template[: rows * width * 3])


def rss() -> int:
    with open(f"/proc/{os.getpid()}/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.parametrize("fmt", FORMATS)
def test_memory_stays_flat_over_an_a4_600_dpi_colour_page(fmt):
    raster = Raster(4960, 7016, 3, 600)
    size = [0]

    def write(chunk):
        size[0] += len(chunk)

    peak, stop = [0], threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], rss())
            time.sleep(0.002)

    sampler = threading.Thread(target=sample)
    before = rss()
    tracemalloc.start()
    sampler.start()
    try:
        enc = new_encoder(fmt, raster, write)
        for band in a4_bands():
            enc.feed(band)
        enc.close()
        _, traced_peak = tracemalloc.get_traced_memory()
    finally:
        stop.set()
        sampler.join()
        tracemalloc.stop()
    assert size[0] > 0
    assert traced_peak < 16 << 20  # Python objects: a few bands, never the 104 MB page
    assert peak[0] - before < 48 << 20  # the process, libjpeg included


def test_jpeg_strips_with_other_tables_than_the_first_are_refused(monkeypatch):
    """The file carries the first strip's tables only: a strip encoded with others (here a
    quality changed under the encoder) would decode wrongly, so it is an error, not a file."""
    raster = Raster(64, 64, 3, 300, quality=85)
    encoder = new_encoder("jfif", raster, lambda _chunk: None)
    encoder.feed(scene(64, STRIP_ROWS).tobytes())
    monkeypatch.setattr(encoder, "_quality", 40)
    with pytest.raises(OSError, match="tables"):
        encoder.feed(scene(64, STRIP_ROWS).tobytes())
