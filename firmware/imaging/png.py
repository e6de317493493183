"""PNG written band by band: one zlib stream, IDAT chunks as the compressed data comes.

PNG (ISO/IEC 15948) is the lossless default format (REFERENCE.md §4.7). The
file is the signature, IHDR, pHYs (the scan resolution in pixels per metre,
rounded as Pillow does), IDAT chunks and IEND. One ``zlib.compressobj``
compresses the whole page. Rows use the None filter by default; the Sub filter
(each byte minus the one a pixel to its left, computed for a whole band at once
with integer arithmetic on the band as one big number) is available for 8-bit
pages. Measured on a 2-core x86-64 VM (bench/encode_bench.py, A4 at 600 dpi
RGB, 104 MB raw, fed at 20 MB/s): a scan-like document page, None 3.4 s CPU and
36 MB, Sub 4.6 s and 44 MB (Pillow's whole-page adaptive filtering: 5.5 s, 45 MB);
a blurred photo-like picture with noise, None 0.42 s / 7.3 MB, Sub 0.59 s /
6.8 MB per 18 MB. CPU is what a Raspberry Pi lacks, so None it is. The first
band, and any band that comes when no IDAT chunk was written for
:data:`FLUSH_SECONDS`, ends with a sync flush and its compressed data is written
at once, so the client's first image data (not only the header) leaves with the
first rows and never waits for zlib's buffers or a full IDAT chunk.

Height: IHDR comes first and carries it. With a known height the header leaves
at once; with an unknown one the compressed data is kept until :meth:`close`
(memory: the compressed page, not the raw one), then the whole file is written.
"""

from __future__ import annotations

import struct
import time
import zlib
from collections.abc import Callable

from firmware.imaging.base import BandEncoder, Raster, pack_bits

SIGNATURE = b"\x89PNG\r\n\x1a\n"

COMPRESS_LEVEL = 3
"""zlib level. Measured on scan-like 600 dpi RGB pages (Pillow's zlib, the same library): 3
takes a half (noisy page) to a quarter (clean page) of the CPU time of 6 for files 9-13 %
larger; 1 takes about 30 % less time than 3 for files 1-5 % larger; 4-6 are zlib's slow (lazy
matching) levels."""

IDAT_BYTES = 64 << 10
"""Compressed bytes gathered into one IDAT chunk before it is written."""

FLUSH_SECONDS = 0.030
"""Seconds without an IDAT chunk written after which a band ends with a sync flush and its
compressed data is written at once (first-byte latency); the first band is always flushed."""

FILTER_NONE = 0
FILTER_SUB = 1


def _chunk(kind: bytes, data: bytes | bytearray) -> bytes:
    return struct.pack(">I", len(data)) + kind + bytes(data) + struct.pack(">I", zlib.crc32(data, zlib.crc32(kind)))


class PngEncoder(BandEncoder):
    """PNG of ``raster`` (8-bit RGB, 8-bit gray, or 1-bit gray when ``raster.bilevel``).

    ``level``: zlib level 0..9. ``filter_type``: :data:`FILTER_NONE` (default) or
    :data:`FILTER_SUB` for 8-bit pages (1-bit pages always use None).
    See :class:`~firmware.imaging.base.BandEncoder` for ``feed``/``close``.
    Raises ``ValueError`` for a page larger than PNG allows (2^31 - 1 pixels a side).
    """

    def __init__(
        self,
        raster: Raster,
        write: Callable[[bytes], None],
        *,
        level: int = COMPRESS_LEVEL,
        filter_type: int = FILTER_NONE,
    ) -> None:
        super().__init__(raster, write)
        if max(raster.width, raster.height or 0) >= 1 << 31:
            raise ValueError("PNG allows at most 2^31 - 1 pixels a side")
        self._filter = FILTER_NONE if raster.bilevel else filter_type
        self._bpp = raster.channels  # bytes a pixel (the Sub filter's distance)
        self._out_row = (raster.width + 7) // 8 if raster.bilevel else raster.row_bytes
        self._z = zlib.compressobj(level)
        self._pending = bytearray()  # compressed bytes not yet in an IDAT chunk
        self._held: list[bytes] | None = None if raster.height is not None else []
        self._last_output = -FLUSH_SECONDS  # the first band is flushed: its data leaves with it
        self._masks: dict[int, tuple[int, int, int]] = {}
        if raster.height is not None:
            self._emit(self._header(raster.height))

    def _header(self, height: int) -> bytes:
        r = self.raster
        depth, colour = (1, 0) if r.bilevel else (8, 2 if r.channels == 3 else 0)
        ppm = int(r.dpi / 0.0254 + 0.5)
        return (
            SIGNATURE
            + _chunk(b"IHDR", struct.pack(">IIBBBBB", r.width, height, depth, colour, 0, 0, 0))
            + _chunk(b"pHYs", struct.pack(">IIB", ppm, ppm, 1))
        )

    def _feed(self, rows: memoryview, count: int) -> None:
        data = pack_bits(rows, self.raster.width) if self.raster.bilevel else rows
        self._pending += self._z.compress(self._filtered(data, count))
        now = time.monotonic()
        if self._held is None and now - self._last_output >= FLUSH_SECONDS:  # held: nothing leaves before close
            self._pending += self._z.flush(zlib.Z_SYNC_FLUSH)
            self._idat(force=True)
        else:
            self._idat(force=False)

    def _filtered(self, data: bytes | memoryview, count: int) -> bytes | bytearray:
        """The rows with their filter-type bytes, filtered."""
        row = self._out_row
        line = row + 1
        out = bytearray(count * line)
        out[0::line] = bytes([self._filter]) * count
        for i in range(count):
            out[i * line + 1 : (i + 1) * line] = data[i * row : (i + 1) * row]
        if self._filter == FILTER_NONE:
            return out
        high, low, mask = self._sub_masks(count)
        a = int.from_bytes(out, "big")
        b = (a >> (8 * self._bpp)) & mask  # each byte's left neighbour a pixel away (0 at row starts)
        # byte-wise a - b mod 256 without borrows across bytes (SWAR subtraction)
        diff = ((a | high) - (b & low)) ^ ((a ^ b ^ high) & high)
        return diff.to_bytes(len(out), "big")

    def _sub_masks(self, count: int) -> tuple[int, int, int]:
        masks = self._masks.get(count)
        if masks is None:
            line = self._out_row + 1
            size = count * line
            keep = bytearray(b"\xff") * size
            for start in range(0, size, line):
                keep[start : start + 1 + self._bpp] = bytes(1 + self._bpp)  # filter byte and first pixel
            masks = (
                int.from_bytes(b"\x80" * size, "big"),
                int.from_bytes(b"\x7f" * size, "big"),
                int.from_bytes(keep, "big"),
            )
            if len(self._masks) < 4:
                self._masks[count] = masks
        return masks

    def _idat(self, force: bool) -> None:
        """Write (or hold, height unknown) the pending compressed bytes as IDAT chunks."""
        while len(self._pending) >= IDAT_BYTES or (force and self._pending):
            size = IDAT_BYTES if len(self._pending) >= IDAT_BYTES else len(self._pending)
            chunk = _chunk(b"IDAT", self._pending[:size])
            del self._pending[:size]
            if self._held is not None:
                self._held.append(chunk)
            else:
                self._emit(chunk)
                self._last_output = time.monotonic()

    def _finish(self) -> None:
        self._pending += self._z.flush(zlib.Z_FINISH)
        if self._held is not None:
            self._emit(self._header(self.rows))
            held, self._held = self._held, None
            for chunk in held:
                self._emit(chunk)
        self._idat(force=True)
        self._emit(_chunk(b"IEND", b""))
