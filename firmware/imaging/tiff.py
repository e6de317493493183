"""Uncompressed baseline TIFF (tiff-single-uncompressed) written band by band.

REFERENCE.md §4.7's ``tiff-single-uncompressed``: one image, little-endian
("II"), no compression, chunky RGB, 8-bit gray (BlackIsZero) or 1-bit gray
(BlackIsZero: 1 = white) for a bilevel page, the resolution in
XResolution/YResolution with ResolutionUnit inch, as Pillow writes it.

Layout for a known height: the 8-byte header, the IFD and its values, then the
pixel data in strips of :data:`STRIP_BYTES` worth of rows (their offsets and
sizes follow from the height, so the IFD goes first and each band is written
as it comes). For an unknown height the IFD cannot be written before the data
ends (the header points at it and the strips' sizes are unknown): the rows are
kept in memory (the raw page, 1 bit a pixel when bilevel) and the file is
written at :meth:`close`.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from firmware.imaging.base import BandEncoder, Raster, pack_bits

STRIP_BYTES = 64 << 10
"""Target bytes of one strip (whole rows, at least one row)."""

_SHORT, _LONG, _RATIONAL = 3, 4, 5
_SIZES = {_SHORT: 2, _LONG: 4, _RATIONAL: 8}


def tiff_header(raster: Raster, height: int) -> bytes:
    """Header and IFD (with its out-of-line values) of an uncompressed TIFF of ``raster`` with
    ``height`` rows; the pixel data follows it directly. Raises ``ValueError`` beyond 4 GiB."""
    row = (raster.width + 7) // 8 if raster.bilevel else raster.row_bytes
    rows_per_strip = max(1, STRIP_BYTES // row)
    strips = -(-height // rows_per_strip)
    counts = [min(rows_per_strip, height - i * rows_per_strip) * row for i in range(strips)]
    bits = [1] if raster.bilevel else [8] * raster.channels
    entries: list[tuple[int, int, list[int]]] = [
        (256, _LONG, [raster.width]),
        (257, _LONG, [height]),
        (258, _SHORT, bits),
        (259, _SHORT, [1]),  # Compression: none
        (262, _SHORT, [2 if raster.channels == 3 else 1]),  # PhotometricInterpretation: RGB / BlackIsZero
        (273, _LONG, [0] * strips),  # StripOffsets: filled in below
        (277, _SHORT, [raster.channels]),
        (278, _LONG, [rows_per_strip]),
        (279, _LONG, counts),
        (282, _RATIONAL, [raster.dpi, 1]),
        (283, _RATIONAL, [raster.dpi, 1]),
        (284, _SHORT, [1]),  # PlanarConfiguration: chunky
        (296, _SHORT, [2]),  # ResolutionUnit: inch
    ]
    ifd_size = 2 + 12 * len(entries) + 4
    extra_offset = 8 + ifd_size

    def value_bytes(kind: int, values: list[int]) -> bytes:
        return struct.pack(f"<{len(values)}{'H' if kind == _SHORT else 'I'}", *values)

    extra_size = 0
    for kind, values in ((k, v) for _, k, v in entries):
        size = len(values) * (_SIZES[kind] // (2 if kind == _RATIONAL else 1))
        if size > 4:
            extra_size += size + size % 2
    data_offset = extra_offset + extra_size
    if data_offset + sum(counts) >= 1 << 32:
        raise ValueError("the page is too large for a TIFF file")
    offsets, position = [], data_offset
    for count in counts:
        offsets.append(position)
        position += count
    entries[5] = (273, _LONG, offsets)

    ifd = bytearray(struct.pack("<H", len(entries)))
    extra = bytearray()
    for tag, kind, values in entries:
        raw = value_bytes(kind, values)
        number = len(values) // 2 if kind == _RATIONAL else len(values)
        if len(raw) <= 4:
            ifd += struct.pack("<HHI", tag, kind, number) + raw.ljust(4, b"\0")
        else:
            ifd += struct.pack("<HHII", tag, kind, number, extra_offset + len(extra))
            extra += raw + b"\0" * (len(raw) % 2)
    ifd += struct.pack("<I", 0)  # no next IFD
    return b"II*\0" + struct.pack("<I", 8) + bytes(ifd) + bytes(extra)


class TiffEncoder(BandEncoder):
    """tiff-single-uncompressed of ``raster``; see the module docstring and
    :class:`~firmware.imaging.base.BandEncoder`. Raises ``ValueError`` for a page over 4 GiB."""

    def __init__(self, raster: Raster, write: Callable[[bytes], None]) -> None:
        super().__init__(raster, write)
        self._held: bytearray | None = None
        if raster.height is None:
            self._held = bytearray()
        else:
            self._emit(tiff_header(raster, raster.height))

    def _feed(self, rows: memoryview, count: int) -> None:
        data = pack_bits(rows, self.raster.width) if self.raster.bilevel else rows
        if self._held is not None:
            self._held += data
        else:
            self._emit(data)

    def _finish(self) -> None:
        if self._held is not None:
            held, self._held = self._held, None
            self._emit(tiff_header(self.raster, self.rows))
            self._emit(held)
