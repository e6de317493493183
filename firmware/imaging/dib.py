"""DIB (a complete BMP file) written band by band, top-down.

REFERENCE.md §4.7: ``dib`` is a whole BMP file, BITMAPFILEHEADER ("BM") then
BITMAPINFOHEADER (40 bytes), uncompressed (BI_RGB). Rows are stored top-down
(a negative biHeight), so each band is written as it comes: 24-bit BGR for RGB,
8-bit with a 256-gray palette for gray, 1-bit with a black/white palette for a
bilevel page; each row padded to a multiple of 4 bytes. The resolution is in
biXPelsPerMeter/biYPelsPerMeter (rounded as Pillow does).

For an unknown height the header (file size, biHeight) cannot come first:
the encoded rows are kept in memory (the raw page, 1 bit a pixel when bilevel)
and the file is written at :meth:`close`.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from firmware.imaging.base import BandEncoder, Raster, pack_bits


def dib_row_bytes(raster: Raster) -> int:
    """Bytes of one stored row: the pixels at 1, 8 or 24 bits, padded to 4 bytes."""
    bits = 1 if raster.bilevel else 8 * raster.channels
    return (raster.width * bits + 31) // 32 * 4


def dib_header(raster: Raster, height: int) -> bytes:
    """BITMAPFILEHEADER, BITMAPINFOHEADER (top-down: biHeight = -``height``) and palette.
    Raises ``ValueError`` for a file over 4 GiB."""
    if raster.bilevel:
        bits, palette = 1, b"\0\0\0\0\xff\xff\xff\0"
    elif raster.channels == 1:
        bits, palette = 8, b"".join(bytes((i, i, i, 0)) for i in range(256))
    else:
        bits, palette = 24, b""
    image_size = dib_row_bytes(raster) * height
    offset = 14 + 40 + len(palette)
    if offset + image_size >= 1 << 32:
        raise ValueError("the page is too large for a BMP file")
    ppm = int(raster.dpi * 39.3701 + 0.5)
    colours = len(palette) // 4
    info = struct.pack("<IiiHHIIiiII", 40, raster.width, -height, 1, bits, 0, image_size, ppm, ppm, colours, colours)
    return b"BM" + struct.pack("<IHHI", offset + image_size, 0, 0, offset) + info + palette


class DibEncoder(BandEncoder):
    """dib (BMP) of ``raster``; see the module docstring and :class:`~firmware.imaging.base.BandEncoder`.
    Raises ``ValueError`` for a file over 4 GiB."""

    def __init__(self, raster: Raster, write: Callable[[bytes], None]) -> None:
        super().__init__(raster, write)
        self._row = dib_row_bytes(raster)
        self._held: bytearray | None = None
        if raster.height is None:
            self._held = bytearray()
        else:
            self._emit(dib_header(raster, raster.height))

    def _feed(self, rows: memoryview, count: int) -> None:
        r = self.raster
        if r.bilevel:
            data: bytes | bytearray | memoryview = pack_bits(rows, r.width)
            packed = (r.width + 7) // 8
        elif r.channels == 3:
            bgr = bytearray(len(rows))
            bgr[0::3], bgr[1::3], bgr[2::3] = rows[2::3], rows[1::3], rows[0::3]
            data, packed = bgr, r.row_bytes
        else:
            data, packed = rows, r.row_bytes
        if packed != self._row:
            pad = bytes(self._row - packed)
            data = b"".join(bytes(data[i : i + packed]) + pad for i in range(0, count * packed, packed))
        if self._held is not None:
            self._held += data
        else:
            self._emit(data)

    def _finish(self) -> None:
        if self._held is not None:
            held, self._held = self._held, None
            self._emit(dib_header(self.raster, self.rows))
            self._emit(held)
