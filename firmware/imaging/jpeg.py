"""JPEG (jfif, exif) written strip by strip: each 16 rows are encoded as they come.

REFERENCE.md §4.7: ``jfif`` is a JPEG with a JFIF APP0 segment, ``exif`` one
that also carries an Exif APP1 (XResolution, YResolution, ResolutionUnit
inch, as Pillow writes them); both carry the scan resolution as JFIF density
in dots per inch.

How a page streams (ITU-T T.81, baseline sequential, Huffman): the rows are cut
into strips of :data:`STRIP_ROWS` rows, a whole number of MCU rows whatever the
chroma sampling. Pillow (libjpeg) encodes each strip as a small JPEG of its own
at the page's quality; the page's file takes the first strip's tables (DQT, DHT,
every strip has the same), a frame header (SOF0) with the page's height, a
restart interval (DRI) of one strip's MCUs, and then each strip's entropy-coded
data, a restart marker RSTn between two strips. A restart resets the DC
predictors and byte-aligns the data exactly as libjpeg's own ending of a strip
does, so the file is the one libjpeg writes for the whole page with that restart
interval, and decodes to the same pixels as a direct encode of the page (colour
4:2:0 at every quality, libjpeg's default, as ``scanimage --format=jpeg`` and
AirSane write it; gray pages are one-component JPEGs). What it costs: two bytes of marker and at most one byte of
padding per strip. What it gives: the first entropy-coded bytes leave once
the first 16 rows are in, whatever the content (a blank page compresses to a
few bytes a row, which libjpeg's output buffers held back for hundreds of rows),
with no encoder thread, and the memory of one strip.

A JPEG's frame header carries the height before the first scan line, so for a
page of unknown height the encoded strips (not the raw rows) are kept and the
file is written at :meth:`close`.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable

from PIL import Image

from firmware.imaging.base import BandEncoder, Raster

JPEG_MAX_SIDE = 65500
"""The largest width or height libjpeg writes, in pixels."""

STRIP_ROWS = 16
"""Rows of one independently encoded strip: one MCU row at 4:2:0 (colour), two in gray."""

_SOI, _EOI, _SOF0, _DHT, _DQT, _DRI, _SOS, _RST0 = 0xD8, 0xD9, 0xC0, 0xC4, 0xDB, 0xDD, 0xDA, 0xD0


def _exif_block(dpi: int) -> bytes:
    """The Exif APP1 payload ("Exif\\0\\0" + TIFF structure) with the resolution tags."""
    exif = Image.Exif()
    exif[0x011A] = dpi  # XResolution
    exif[0x011B] = dpi  # YResolution
    exif[0x0128] = 2  # ResolutionUnit: inch
    return exif.tobytes()


def _check(raster: Raster) -> None:
    if max(raster.width, raster.height or 0) > JPEG_MAX_SIDE:
        raise ValueError(f"JPEG allows at most {JPEG_MAX_SIDE} pixels a side")


def _quality(raster: Raster) -> int:
    return min(100, max(1, int(raster.quality)))


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes((0xFF, marker)) + struct.pack(">H", len(payload) + 2) + payload


def jfif_app0(dpi: int) -> bytes:
    """A JFIF 1.01 APP0 segment with the density ``dpi`` dots per inch (clamped to 65535), no thumbnail."""
    density = min(dpi, 0xFFFF)
    return _segment(0xE0, struct.pack(">5sBBBHHBB", b"JFIF", 1, 1, 1, density, density, 0, 0))


def split_jpeg(blob: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
    """The marker segments of a baseline JPEG ``blob`` up to its SOS, as ``(marker, payload)``,
    and its entropy-coded data (between the SOS segment and EOI). Raises ``OSError`` for
    anything else (no SOI, no EOI at the end, a truncated segment)."""
    if blob[:2] != b"\xff\xd8" or blob[-2:] != b"\xff\xd9":
        raise OSError("the JPEG encoder wrote no complete JPEG")
    segments: list[tuple[int, bytes]] = []
    position = 2
    while True:
        if len(blob) < position + 4 or blob[position] != 0xFF:
            raise OSError("the JPEG encoder wrote a malformed header")
        marker = blob[position + 1]
        end = position + 2 + struct.unpack_from(">H", blob, position + 2)[0]
        segments.append((marker, blob[position + 4 : end]))
        position = end
        if marker == _SOS:
            return segments, blob[position:-2]


_writable_ok: bool | None = None


def _readable(rows: bytes | bytearray | memoryview) -> bytes | bytearray | memoryview:
    """``rows`` as Pillow's decoder takes them: Pillow 9 (Debian 12) reads only read-only buffers,
    so a writable one is copied there; Pillow 10 on reads any buffer in place."""
    global _writable_ok
    if isinstance(rows, bytes) or (isinstance(rows, memoryview) and rows.readonly):
        return rows
    if _writable_ok is None:
        try:
            Image.new("L", (1, 1), None).frombytes(bytearray(1))
            _writable_ok = True
        except TypeError:
            _writable_ok = False
    return rows if _writable_ok else bytes(rows)


def new_jpeg_encoder(raster: Raster, write: Callable[[bytes], None], *, exif: bool) -> BandEncoder:
    """A jfif (``exif`` False) or exif JPEG encoder for ``raster``.
    Raises ``ValueError`` beyond :data:`JPEG_MAX_SIDE` pixels a side."""
    return JpegEncoder(raster, write, exif=exif)


class JpegEncoder(BandEncoder):
    """JPEG written strip by strip (see the module docstring and
    :class:`~firmware.imaging.base.BandEncoder`). ``bilevel`` pages are written 8-bit gray
    (JPEG has no 1 bit). ``feed``/``close`` raise ``OSError`` when libjpeg (Pillow) fails.
    Raises ``ValueError`` beyond :data:`JPEG_MAX_SIDE` pixels a side."""

    def __init__(self, raster: Raster, write: Callable[[bytes], None], *, exif: bool) -> None:
        super().__init__(raster, write)
        _check(raster)
        self._mode = "RGB" if raster.channels == 3 else "L"
        self._quality = _quality(raster)
        gray = raster.channels == 1
        self._subsampling = 0 if gray else 2  # Pillow: 2 = 4:2:0 (libjpeg's default); gray has no chroma
        mcu = 8 if gray else 16
        self._restart_interval = -(-raster.width // mcu) * (STRIP_ROWS // mcu)
        self._app = jfif_app0(raster.dpi)
        if exif:
            self._app += _segment(0xE1, _exif_block(raster.dpi))
        self._strip_bytes = STRIP_ROWS * raster.row_bytes
        self._carry = bytearray()  # rows not yet in a whole strip
        self._image: Image.Image | None = None  # the strip's pixels, as libjpeg takes them
        self._strips = 0
        self._tables: list[tuple[int, bytes]] | None = None  # the first strip's segments
        self._coding_tables: list[tuple[int, bytes]] = []  # its DQT and DHT, which every strip must share
        self._held: list[bytes] | None = None if raster.height is not None else []

    def _feed(self, rows: memoryview, count: int) -> None:
        size = self._strip_bytes
        if self._carry:
            take = min(len(rows), size - len(self._carry))
            self._carry += rows[:take]
            rows = rows[take:]
            if len(self._carry) < size:
                return
            self._strip(self._carry)
            self._carry = bytearray()
        whole = len(rows) - len(rows) % size
        for start in range(0, whole, size):
            self._strip(rows[start : start + size])
        self._carry += rows[whole:]

    def _finish(self) -> None:
        if self._carry:
            self._strip(bytes(self._carry))
            self._carry = bytearray()
        if self._held is not None:
            held, self._held = self._held, None
            self._emit(self._header(self.rows))
            for data in held:
                self._emit(data)
        self._emit(bytes((0xFF, _EOI)))

    def _abort(self) -> None:
        self._carry = bytearray()
        self._image = None
        self._held = None

    def _strip(self, rows: bytes | bytearray | memoryview) -> None:
        """Encode one strip (up to :data:`STRIP_ROWS` rows) and pass on its entropy-coded data."""
        count = len(rows) // self.raster.row_bytes
        image = self._image if count == STRIP_ROWS else None
        if image is None:
            image = Image.new(self._mode, (self.raster.width, count), None)  # None: not cleared first
            if count == STRIP_ROWS:
                self._image = image  # reused for every whole strip: no allocation per strip
        image.frombytes(_readable(rows))
        out = io.BytesIO()
        try:
            image.save(out, "JPEG", quality=self._quality, subsampling=self._subsampling)
        except (ValueError, MemoryError) as exc:
            raise OSError(f"JPEG encoding failed: {exc}") from exc
        segments, data = split_jpeg(out.getvalue())
        tables = [segment for segment in segments if segment[0] in (_DQT, _DHT)]
        if self._tables is not None and tables != self._coding_tables:
            # the strip's data would not decode with the file's (the first strip's) tables
            raise OSError("the JPEG encoder changed its quantisation or Huffman tables between strips")
        pieces = []
        if self._tables is None:
            self._tables = segments
            self._coding_tables = tables
            if self._held is None:
                assert self.raster.height is not None
                pieces.append(self._header(self.raster.height))
        else:
            pieces.append(bytes((0xFF, _RST0 + (self._strips - 1) % 8)))
        pieces.append(data)
        self._strips += 1
        if self._held is not None:
            self._held.append(b"".join(pieces))
        else:
            for piece in pieces:
                self._emit(piece)

    def _header(self, height: int) -> bytes:
        """SOI, our APP0 (and APP1), the strips' tables, SOF0 of ``height`` rows, DRI and SOS."""
        assert self._tables is not None
        head = [bytes((0xFF, _SOI)), self._app]
        for marker, payload in self._tables:
            if 0xE0 <= marker <= 0xEF or marker == 0xFE:  # Pillow's APPn and comments: ours instead
                continue
            if marker == _SOF0:
                payload = payload[:1] + struct.pack(">H", height) + payload[3:]
            elif marker == _SOS:
                head.append(_segment(_DRI, struct.pack(">H", self._restart_interval)))
            elif marker not in (_DQT, _DHT):
                raise OSError(f"the JPEG encoder wrote an unexpected segment 0xFF{marker:02X}")
            head.append(_segment(marker, payload))
        return b"".join(head)
