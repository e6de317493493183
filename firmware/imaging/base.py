"""What every band encoder shares: the page shape (:class:`Raster`) and the feed/close contract."""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass

_TO_BIT_CHARS = bytes.maketrans(bytes(range(256)), b"0" * 128 + b"1" * 128)


@dataclass(frozen=True)
class Raster:
    """The shape of one page as it is fed to an encoder.

    ``width`` in pixels; ``height`` in rows, or None when the device does not know
    it in advance (hand scanners; SANE ``lines = -1``). ``channels``: 3 (RGB) or 1
    (gray), 8 bits a sample, rows packed (``width * channels`` bytes). ``dpi``: the
    scan resolution, written into every file. ``bilevel``: a gray page of 0/255
    samples written 1-bit where the format allows (png, dib, tiff; samples >= 128
    are white). ``quality``: JPEG quality 1..100 (jfif, exif).

    Raises ``ValueError`` for a shape no encoder takes.
    """

    width: int
    height: int | None
    channels: int
    dpi: int
    bilevel: bool = False
    quality: int = 85

    def __post_init__(self) -> None:
        if self.channels not in (1, 3):
            raise ValueError(f"unsupported channel count {self.channels}")
        if self.width < 1 or (self.height is not None and self.height < 1):
            raise ValueError(f"bad page size {self.width} x {self.height} pixels")
        if self.dpi <= 0:
            raise ValueError(f"bad resolution {self.dpi} dpi")
        if self.bilevel and self.channels != 1:
            raise ValueError("a bilevel page must be 1-channel gray")

    @property
    def row_bytes(self) -> int:
        """Bytes of one input row: ``width * channels``."""
        return self.width * self.channels


class BandEncoder(abc.ABC):
    """Encodes one page fed as bands of whole rows; the file goes to ``write`` as it is made.

    ``write(chunk)`` receives non-empty ``bytes`` in file order, always on the
    thread that calls :meth:`feed` or :meth:`close`; an exception from it
    propagates out of that call (the encoder is then unusable).

    A page of known height gets exactly ``raster.height`` rows: rows fed beyond
    it are dropped; a page that ends short is completed with white rows at
    :meth:`close` (the header, already sent, announced the height).
    Blocking (CPU); run it off the event loop.
    """

    def __init__(self, raster: Raster, write: Callable[[bytes], None]) -> None:
        self.raster = raster
        self._write = write
        self.rows = 0
        """Rows encoded so far (padding included after :meth:`close`)."""
        self.total = 0
        """Bytes handed to ``write`` so far."""
        self._closed = False

    def feed(self, rows: bytes | bytearray | memoryview) -> None:
        """Encode ``rows``: a whole number of rows of ``raster.row_bytes`` bytes each, top to bottom.

        Raises ``ValueError`` for a partial row, ``RuntimeError`` after :meth:`close`,
        and whatever ``write`` raises.
        """
        if self._closed:
            raise RuntimeError("the encoder is closed")
        view = memoryview(rows).cast("B")
        size, row = view.nbytes, self.raster.row_bytes
        if size % row:
            raise ValueError(f"{size} bytes are not whole rows of {row} bytes")
        count = size // row
        height = self.raster.height
        if height is not None and self.rows + count > height:
            count = height - self.rows  # beyond the announced height: dropped
            view = view[: count * row]
        if count:
            self._feed(view, count)
            self.rows += count

    def close(self) -> int:
        """Finish the file (white rows up to a known height, trailers) and return its size in bytes.

        Raises ``ValueError`` when no row was fed to a page of unknown height, and
        whatever ``write`` raises. Idempotent.
        """
        if self._closed:
            return self.total
        height = self.raster.height
        if height is None and self.rows == 0:
            raise ValueError("the page has no rows")
        if height is not None and self.rows < height:
            band_rows = max(1, (1 << 20) // self.raster.row_bytes)
            white = b"\xff" * (band_rows * self.raster.row_bytes)
            while self.rows < height:
                count = min(band_rows, height - self.rows)
                self.feed(memoryview(white)[: count * self.raster.row_bytes])
        self._closed = True
        self._finish()
        return self.total

    def abort(self) -> None:
        """Give up the page (its consumer went away): free what the encoder holds and stop any
        helper thread; the encoder is then closed and writes nothing more. Never raises; idempotent."""
        self._closed = True
        self._abort()

    def _abort(self) -> None:
        """What :meth:`abort` frees besides closing; by default nothing (no thread, no page held)."""
        return None

    def _emit(self, data: bytes | bytearray | memoryview) -> None:
        """Hand ``data`` to ``write`` (as bytes) if it is not empty."""
        if len(data):
            self._write(bytes(data))
            self.total += len(data)

    @abc.abstractmethod
    def _feed(self, rows: memoryview, count: int) -> None:
        """Encode ``count`` whole input rows (``rows`` holds exactly them)."""

    @abc.abstractmethod
    def _finish(self) -> None:
        """Write what remains of the file after the last row."""


def pack_bits(rows: memoryview, width: int) -> bytes:
    """Pack 8-bit gray rows of ``width`` pixels into 1-bit rows, most significant bit first,
    each padded with 0 bits to a whole byte: a sample >= 128 becomes 1 (white), others 0."""
    count = len(rows) // width
    pad = -width % 8
    if pad == 0:
        chars = bytes(rows).translate(_TO_BIT_CHARS)
    else:
        zeros = b"0" * pad
        chars = b"".join(
            bytes(rows[i : i + width]).translate(_TO_BIT_CHARS) + zeros for i in range(0, len(rows), width)
        )
    size = count * ((width + 7) // 8)
    return int(chars, 2).to_bytes(size, "big") if size else b""
