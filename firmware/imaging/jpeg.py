"""JPEG (jfif, exif) written band by band with libvips in sequential mode.

REFERENCE.md §4.7: ``jfif`` is a JPEG with a JFIF APP0 segment, ``exif`` one
that also carries an Exif APP1 (XResolution, YResolution, ResolutionUnit
inch, as Pillow writes them); both carry the scan
resolution as JFIF density in dots per inch.

libvips (through pyvips) encodes with libjpeg while the rows come: the page
enters as a binary PPM/PGM stream (header, then the rows as fed) through a
``pyvips.SourceCustom`` read in sequential mode, so libvips holds a few strips
of rows, never the page. libvips pulls its input, so it runs in a helper
thread; :meth:`feed` hands it the rows through a queue of a few bands and
passes on to ``write``, in the caller's thread, whatever JPEG bytes came out
meanwhile.

A JPEG's frame header (SOF) carries the height before the first scan line, so
a page of unknown height is kept in memory (raw) and encoded at :meth:`close`.
Without libvips (pyvips not installed, or libvips missing) :func:`new_jpeg_encoder`
falls back to :class:`PillowJpegEncoder`, which keeps the page and encodes it
with Pillow at :meth:`close`: it works (the same files), but holds the raw page
and Pillow's copy of it, and its first byte leaves only when the page ends. pyvips
is a dependency of the project (pyproject.toml, Debian libvips42, Buildroot
python-pyvips); the fallback is for an installation that lacks it, and is logged.
"""

from __future__ import annotations

import io
import logging
import queue
import struct
import threading
from collections.abc import Callable
from typing import Any

from PIL import Image

from firmware.imaging.base import BandEncoder, Raster

JPEG_MAX_SIDE = 65500
"""The largest width or height libjpeg writes, in pixels."""

INPUT_BANDS = 4
"""Bands waiting for libvips at most; :meth:`BandEncoder.feed` blocks beyond them."""

_EOF = None

_WARNED = False

log = logging.getLogger(__name__)


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


def _load_pyvips() -> Any:
    """The pyvips module, or None when it or libvips cannot be loaded (MemoryError: pyvips in
    cffi ABI mode makes callbacks at import, which need writable+executable memory, refused under
    systemd's MemoryDenyWriteExecute)."""
    try:
        import pyvips
    except (ImportError, OSError, MemoryError):
        return None
    pyvips.cache_set_max(0)  # a streamed page is used once: no operation cache holding its rows
    return pyvips


def new_jpeg_encoder(raster: Raster, write: Callable[[bytes], None], *, exif: bool) -> BandEncoder:
    """A jfif (``exif`` False) or exif JPEG encoder for ``raster``: libvips when it can be
    loaded, else Pillow. Raises ``ValueError`` beyond :data:`JPEG_MAX_SIDE` pixels a side."""
    _check(raster)
    pyvips = _load_pyvips()
    if pyvips is None:
        global _WARNED
        if not _WARNED:
            _WARNED = True
            log.warning("pyvips/libvips not available: JPEG pages are held whole and encoded with Pillow")
        return PillowJpegEncoder(raster, write, exif=exif)
    return VipsJpegEncoder(raster, write, exif=exif, pyvips_module=pyvips)


class VipsJpegEncoder(BandEncoder):
    """JPEG through libvips, streamed (see the module docstring and
    :class:`~firmware.imaging.base.BandEncoder`). ``feed``/``close`` raise ``OSError``
    when libvips fails. ``bilevel`` pages are written 8-bit gray (JPEG has no 1 bit)."""

    def __init__(
        self, raster: Raster, write: Callable[[bytes], None], *, exif: bool, pyvips_module: Any = None
    ) -> None:
        super().__init__(raster, write)
        _check(raster)
        self._pyvips = pyvips_module or _load_pyvips()
        if self._pyvips is None:
            raise OSError("pyvips/libvips are not available")
        self._head = _Head(raster.dpi, exif)
        self._input: queue.Queue[bytes | None] = queue.Queue(INPUT_BANDS)
        self._output: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._unread = memoryview(b"")
        self._aborted = threading.Event()
        self._thread: threading.Thread | None = None
        self._held: bytearray | None = None
        if raster.height is None:
            self._held = bytearray()
        else:
            self._start(raster.height)

    # -- caller's side ---------------------------------------------------------

    def _start(self, height: int) -> None:
        magic = b"P6" if self.raster.channels == 3 else b"P5"
        self._input.put(magic + f"\n{self.raster.width} {height}\n255\n".encode())
        self._thread = threading.Thread(target=self._run, name="jpeg encoder", daemon=True)
        self._thread.start()

    def _feed(self, rows: memoryview, count: int) -> None:
        if self._held is not None:
            self._held += rows
            return
        try:
            self._input.put(bytes(rows))
            self._drain(block=False)
        except BaseException:
            self._abort()
            raise

    def _finish(self) -> None:
        if self._held is not None:
            held, self._held = self._held, None
            self._start(self.rows)
            view = memoryview(held)
            step = max(1, (1 << 20) // self.raster.row_bytes) * self.raster.row_bytes
            try:
                for start in range(0, len(view), step):
                    self._input.put(bytes(view[start : start + step]))
                    self._drain(block=False)
            except BaseException:
                self._abort()
                raise
        try:
            self._input.put(_EOF)
            self._drain(block=True)
        except BaseException:
            self._abort()
            raise

    def _drain(self, block: bool) -> None:
        """Write the JPEG bytes produced so far; with ``block``, until the encoder thread ends."""
        while True:
            try:
                item = self._output.get(block=block)
            except queue.Empty:
                return
            if item is _EOF:
                return
            if isinstance(item, BaseException):
                raise OSError(f"libvips JPEG encoding failed: {item}") from item
            self._head.feed(item, self._emit)

    def _abort(self) -> None:
        """Stop the encoder thread (the caller failed or gave up): it sees the end of its input."""
        self._held = None
        self._aborted.set()
        while True:
            try:
                self._input.get_nowait()
            except queue.Empty:
                break
        try:
            self._input.put_nowait(_EOF)
        except queue.Full:
            pass

    # -- encoder thread -----------------------------------------------------------

    def _read(self, size: int) -> bytes:
        """SourceCustom's read: up to ``size`` bytes of the PPM stream; b"" at its end."""
        if not self._unread:
            if self._aborted.is_set():
                return b""
            item = self._input.get()
            if item is _EOF:
                return b""
            self._unread = memoryview(item)
        piece, self._unread = self._unread[:size], self._unread[size:]
        return bytes(piece)

    def _written(self, data: Any) -> int:
        self._output.put(bytes(data))
        return len(data)

    def _run(self) -> None:
        pyvips = self._pyvips
        try:
            source = pyvips.SourceCustom()
            source.on_read(self._read)
            image = pyvips.Image.new_from_source(source, "", access="sequential")
            per_mm = self.raster.dpi / 25.4
            image = image.copy(xres=per_mm, yres=per_mm)
            target = pyvips.TargetCustom()
            target.on_write(self._written)
            # no metadata from libvips: the JFIF APP0 and Exif APP1 are ours (see _Head)
            image.write_to_target(target, ".jpg", Q=_quality(self.raster), strip=True)
        except Exception as exc:  # noqa: BLE001 - handed to the caller's thread
            self._output.put(exc)
        finally:
            self._output.put(_EOF)


def jfif_app0(dpi: int) -> bytes:
    """A JFIF 1.01 APP0 segment with the density ``dpi`` dots per inch (clamped to 65535), no thumbnail."""
    density = min(dpi, 0xFFFF)
    return b"\xff\xe0" + struct.pack(">H5sBBBHHBB", 16, b"JFIF", 1, 1, 1, density, density, 0, 0)


class _Head:
    """Rewrites the start of libvips' JPEG stream: SOI, then our JFIF APP0 (and the Exif APP1
    for exif) in place of what libvips wrote before its first other segment, as Pillow lays
    them out; the rest passes through unchanged."""

    def __init__(self, dpi: int, exif: bool) -> None:
        self._segments = jfif_app0(dpi)
        if exif:
            block = _exif_block(dpi)
            self._segments += b"\xff\xe1" + struct.pack(">H", len(block) + 2) + block
        self._buffer: bytearray | None = bytearray()

    def feed(self, data: bytes, emit: Callable[[bytes], None]) -> None:
        """Take the next bytes of libvips' stream and pass on what can go out."""
        if self._buffer is None:
            emit(data)
            return
        buffer = self._buffer
        buffer += data
        if len(buffer) < 4:
            return
        if buffer[:2] != b"\xff\xd8":
            raise OSError("libvips did not write a JPEG stream")
        position = 2
        while buffer[position : position + 2] in (b"\xff\xe0", b"\xff\xe1"):  # libvips' APP0/APP1: dropped
            if len(buffer) < position + 4:
                return
            position += 2 + struct.unpack_from(">H", buffer, position + 2)[0]
            if len(buffer) < position + 2:
                return
        self._buffer = None
        emit(b"\xff\xd8" + self._segments + bytes(buffer[position:]))


class PillowJpegEncoder(BandEncoder):
    """JPEG through Pillow, the whole page at :meth:`close` (rows kept until then: memory of
    one raw page; an RGB page is copied once more by Pillow). Same files as
    the former whole-page path. ``close`` raises ``OSError`` when Pillow fails."""

    def __init__(self, raster: Raster, write: Callable[[bytes], None], *, exif: bool) -> None:
        super().__init__(raster, write)
        _check(raster)
        self._exif = exif
        self._rows = bytearray()

    def _feed(self, rows: memoryview, count: int) -> None:
        self._rows += rows

    def _abort(self) -> None:
        self._rows = bytearray()

    def _finish(self) -> None:
        r = self.raster
        mode = "RGB" if r.channels == 3 else "L"
        rows, self._rows = self._rows, bytearray()
        image = Image.frombytes(mode, (r.width, self.rows), bytes(rows))
        del rows
        options: dict[str, Any] = {"quality": _quality(r), "dpi": (r.dpi, r.dpi)}
        if self._exif:
            options["exif"] = _exif_block(r.dpi)
        out = io.BytesIO()
        image.save(out, "JPEG", **options)
        self._emit(out.getbuffer())
