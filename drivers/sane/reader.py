"""Read a page's rows with ``sane_read`` as they come, on python-sane's own handle (worker only).

python-sane 2.9 reads a page only whole (``SaneDev.snap``). This module keeps
python-sane for everything else (listing, options, ``sane_start``,
``sane_cancel``) and calls ``sane_read`` and ``sane_get_parameters`` itself,
through ``ctypes``, on the ``SANE_Handle`` python-sane opened, in the libsane
that python-sane's ``_sane`` extension loaded (symbols are looked up through
that extension's own ``dlopen`` handle, so it is the same library instance).

Layout assumption (python-sane 2.9.x, ``_sane.c``)::

    typedef struct {
      PyObject_HEAD
      SANE_Handle h;      /* NULL once closed */
    } SaneDevObject;

so the handle is the pointer at offset ``object.__basicsize__`` (the size of
``PyObject_HEAD``, 16 bytes on 64-bit CPython) of the ``_sane.SaneDev``
object. :func:`sane_handle` checks the type's ``__basicsize__`` is exactly
that plus one pointer before reading it, and :meth:`PageReader.start_page`
compares the parameters read through the handle with python-sane's
``get_parameters()`` on every page: a changed layout fails with
:class:`~drivers.base.ScannerError` instead of reading through a wrong
pointer. ``tests/drivers/test_sane_reader.py`` checks both against the
`test` backend.

Rows are delivered as python-sane's ``snap`` delivers them (so the rest of the
driver is unchanged): 8 bits a sample, packed rows of
``pixels_per_line * channels`` bytes; 1-bit data becomes 0 (black) / 255
(white), 16-bit data keeps the high byte of each native-order sample. Only
single-pass frames (SANE_FRAME_GRAY, SANE_FRAME_RGB) are read; a three-pass
scanner (SANE_FRAME_RED/GREEN/BLUE) fails with ScannerError(IO_ERROR).
Pages of unknown height (SANE ``lines = -1``, hand scanners) are read until
SANE_STATUS_EOF and their rows counted as they come.
"""

from __future__ import annotations

import ctypes
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from drivers.base import Condition, PageInfo, ScannerError
from drivers.sane.errors import error_from_sane

PROGRESS_SECONDS = 0.5
"""Seconds a band may take to fill before :meth:`PageReader.bands` reports progress."""

# SANE_Status values (sane.h)
STATUS_GOOD = 0
STATUS_EOF = 5

# SANE_Frame values (sane.h)
FRAME_GRAY = 0
FRAME_RGB = 1
_FRAME_NAMES = {0: "gray", 1: "color", 2: "red", 3: "green", 4: "blue"}


class _Parameters(ctypes.Structure):
    """SANE_Parameters (sane.h): six SANE_Word (32-bit int) fields."""

    _fields_ = (
        ("format", ctypes.c_int),
        ("last_frame", ctypes.c_int),
        ("bytes_per_line", ctypes.c_int),
        ("pixels_per_line", ctypes.c_int),
        ("lines", ctypes.c_int),
        ("depth", ctypes.c_int),
    )


@dataclass(frozen=True)
class FrameParameters:
    """One frame's SANE_Parameters: ``format`` (SANE_Frame), ``last_frame``,
    ``bytes_per_line`` (bytes of one scan line as the device sends it),
    ``pixels_per_line``, ``lines`` (-1: unknown) and ``depth`` (bits per sample)."""

    format: int
    last_frame: bool
    bytes_per_line: int
    pixels_per_line: int
    lines: int
    depth: int

    def as_python_sane(self) -> tuple:
        """The same values in the shape of python-sane's ``SaneDev.get_parameters()``:
        ``(format name, last_frame, (pixels_per_line, lines), depth, bytes_per_line)``."""
        name = _FRAME_NAMES.get(self.format, "unknown format")
        return (name, int(self.last_frame), (self.pixels_per_line, self.lines), self.depth, self.bytes_per_line)


class LibSane:
    """``sane_read``, ``sane_get_parameters`` and ``sane_strstatus`` of the libsane that
    python-sane's ``_sane`` extension (module ``sane_ext``) loaded."""

    def __init__(self, sane_ext: Any) -> None:
        lib = ctypes.CDLL(sane_ext.__file__)  # dlsym through it finds the libsane it links
        self.read = lib.sane_read
        self.read.argtypes = (ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_int))
        self.read.restype = ctypes.c_int
        self.get_parameters_c = lib.sane_get_parameters
        self.get_parameters_c.argtypes = (ctypes.c_void_p, ctypes.POINTER(_Parameters))
        self.get_parameters_c.restype = ctypes.c_int
        self.strstatus_c = lib.sane_strstatus
        self.strstatus_c.argtypes = (ctypes.c_int,)
        self.strstatus_c.restype = ctypes.c_char_p

    def strstatus(self, status: int) -> str:
        """The ``sane_strstatus`` text of a SANE_Status (what python-sane's errors carry)."""
        text = self.strstatus_c(status)
        return text.decode("utf-8", "replace") if text else f"Unknown SANE status code {status}"

    def get_parameters(self, handle: int) -> FrameParameters:
        """``sane_get_parameters`` on ``handle``. Raises ScannerError for a SANE error status."""
        p = _Parameters()
        status = self.get_parameters_c(handle, ctypes.byref(p))
        if status != STATUS_GOOD:
            raise error_from_sane(self.strstatus(status), context="sane_get_parameters")
        return FrameParameters(p.format, bool(p.last_frame), p.bytes_per_line, p.pixels_per_line, p.lines, p.depth)


def sane_handle(dev: Any) -> int:
    """The ``SANE_Handle`` (an address) inside python-sane's ``_sane.SaneDev`` object ``dev``.

    Raises ScannerError(IO_ERROR) when the object's size is not ``PyObject_HEAD``
    plus one pointer (python-sane's layout changed: see the module docstring) or
    when the device is closed (NULL handle).
    """
    expected = object.__basicsize__ + ctypes.sizeof(ctypes.c_void_p)
    if type(dev).__basicsize__ != expected:
        raise ScannerError(
            Condition.IO_ERROR,
            f"python-sane's SaneDev is {type(dev).__basicsize__} bytes, not {expected}: its layout changed, "
            "the SANE handle cannot be found",
        )
    handle = ctypes.c_void_p.from_address(id(dev) + object.__basicsize__).value
    if not handle:
        raise ScannerError(Condition.IO_ERROR, "the SANE device is closed")
    return handle


class PageReader:
    """Reads the pages of one open device ``dev`` (python-sane's ``_sane.SaneDev``) with ``sane_read``.

    ``lib``: the :class:`LibSane` of python-sane's libsane. ``cancel_requested``:
    when set, the reader calls ``dev.cancel()`` (sane_cancel) once, from the
    reading thread, and the next ``sane_read`` ends the page with
    SANE_STATUS_CANCELLED (ScannerError(CANCELLED)).
    """

    def __init__(self, lib: LibSane, dev: Any, cancel_requested: threading.Event) -> None:
        self._lib = lib
        self._dev = dev
        self._cancel_requested = cancel_requested
        self.frame: FrameParameters | None = None
        self.rows = 0
        """Rows delivered so far for the current page."""

    def start_page(self, resolution: int) -> PageInfo:
        """After ``sane_start``: read the frame's parameters and return the page's shape as
        the driver delivers it (8-bit samples; ``lines`` -1 when unknown; ``resolution`` dpi).

        Raises ScannerError(IO_ERROR) for a frame this reader cannot deliver
        (three-pass colour, a depth other than 1, 8 or 16, inconsistent sizes)
        or when the parameters read through the handle differ from python-sane's
        (its layout changed); ScannerError of the SANE status otherwise.
        """
        frame = self._lib.get_parameters(sane_handle(self._dev))
        ours, theirs = frame.as_python_sane(), tuple(self._dev.get_parameters())
        if ours != theirs:
            raise ScannerError(
                Condition.IO_ERROR,
                f"sane_get_parameters through python-sane's handle gave {ours}, python-sane {theirs}: "
                "python-sane's SaneDev layout changed",
            )
        if frame.format not in (FRAME_GRAY, FRAME_RGB) or not frame.last_frame:
            raise ScannerError(
                Condition.IO_ERROR,
                f"unsupported SANE frame {_FRAME_NAMES.get(frame.format, frame.format)!r} "
                f"(last_frame={frame.last_frame}): three-pass scanners are not supported",
            )
        if frame.depth not in (1, 8, 16):
            raise ScannerError(Condition.IO_ERROR, f"unsupported SANE depth {frame.depth}")
        channels = 1 if frame.format == FRAME_GRAY else 3
        width = frame.pixels_per_line
        needed = channels * ((width + 7) // 8 if frame.depth == 1 else width * frame.depth // 8)
        if width < 1 or frame.bytes_per_line < needed:
            raise ScannerError(
                Condition.IO_ERROR, f"inconsistent SANE parameters: {width} pixels, {frame.bytes_per_line} bytes a line"
            )
        self.frame = frame
        self.rows = 0
        return PageInfo(width, frame.lines if frame.lines >= 0 else -1, width * channels, channels, resolution)

    def bands(
        self,
        rows_per_band: int,
        progress: Callable[[int], None] | None = None,
        *,
        first_rows: int | None = None,
    ) -> Iterator[bytes | bytearray]:
        """Yield the page's rows (after :meth:`start_page`) in bands of ``rows_per_band`` rows
        (the first of ``first_rows`` when given: a small first band leaves sooner), the last one
        shorter, each as soon as its rows are in; ends at SANE_STATUS_EOF.

        ``progress(rows)`` is called with the rows read so far when a band takes
        longer than :data:`PROGRESS_SECONDS` to fill, at most that often (a slow
        device still shows life between two bands).

        A band is a fresh object the caller may keep; its rows are converted to the
        driver's 8-bit packed layout (see the module docstring). An incomplete
        last row at EOF is dropped (as ``snap`` does). Raises ScannerError for a
        SANE error status (CANCELLED after a cancel, JAMMED, ...).
        """
        frame = self.frame
        if frame is None:
            raise RuntimeError("start_page() first")
        handle = sane_handle(self._dev)
        stride = frame.bytes_per_line
        convert = _converter(frame)
        band_size = stride * max(1, rows_per_band if first_rows is None else first_rows)
        length = ctypes.c_int(0)
        cancelled = False
        last_sign = time.monotonic()
        while True:
            band = bytearray(band_size)
            buffer = (ctypes.c_ubyte * band_size).from_buffer(band)
            filled = 0
            status = STATUS_GOOD
            while filled < band_size:
                if self._cancel_requested.is_set() and not cancelled:
                    cancelled = True
                    self._dev.cancel()  # the next sane_read returns SANE_STATUS_CANCELLED
                status = self._lib.read(handle, ctypes.addressof(buffer) + filled, band_size - filled, length)
                if status != STATUS_GOOD:
                    break
                filled += length.value
                if progress is not None and time.monotonic() - last_sign >= PROGRESS_SECONDS:
                    last_sign = time.monotonic()
                    progress(self.rows + filled // stride)
            del buffer  # releases the export of ``band``
            band_size = stride * max(1, rows_per_band)
            whole = filled - filled % stride
            if whole:
                self.rows += whole // stride
                if whole < band_size:
                    del band[whole:]
                yield convert(band)
                last_sign = time.monotonic()
            if status == STATUS_EOF:
                return
            if status != STATUS_GOOD:
                raise error_from_sane(self._lib.strstatus(status), context="sane_read")


def _converter(frame: FrameParameters) -> Callable[[bytearray], bytes | bytearray]:
    """A function turning whole scan lines of ``frame`` into the driver's packed 8-bit rows."""
    channels = 1 if frame.format == FRAME_GRAY else 3
    width, stride = frame.pixels_per_line, frame.bytes_per_line
    if frame.depth == 8:
        row = width * channels
        if row == stride:
            return lambda band: band
        return lambda band: b"".join(band[i : i + row] for i in range(0, len(band), stride))
    if frame.depth == 16:
        row = width * channels * 2
        high = 1 if sys.byteorder == "little" else 0  # SANE's 16-bit samples are in host order

        def high_bytes(band: bytearray) -> bytes | bytearray:
            if row != stride:
                band = bytearray(b"".join(band[i : i + row] for i in range(0, len(band), stride)))
            return band[high::2]

        return high_bytes
    # depth 1: bit 7 of byte 0 is the first pixel; a set bit is black (SANE standard 4.3.8)
    bits_per_line = 8 * ((width + 7) // 8)
    to_samples = str.maketrans("01", "\xff\x00")
    if channels == 1:

        def lineart(band: bytearray) -> bytes:
            out = []
            for i in range(0, len(band), stride):
                bits = format(int.from_bytes(band[i : i + bits_per_line // 8], "big"), f"0{bits_per_line}b")
                out.append(bits[:width].translate(to_samples).encode("latin-1"))
            return b"".join(out)

        return lineart

    def colour_bits(band: bytearray) -> bytes:
        # 1-bit colour: the line is three bit-planes interleaved byte by byte (R0 G0 B0 R1 ...)
        out = []
        plane_bytes = (width + 7) // 8
        for i in range(0, len(band), stride):
            line = band[i : i + channels * plane_bytes]
            planes = [
                format(int.from_bytes(line[c::channels], "big"), f"0{bits_per_line}b")[:width].translate(to_samples)
                for c in range(channels)
            ]
            out.append("".join("".join(px) for px in zip(*planes, strict=True)).encode("latin-1"))
        return b"".join(out)

    return colour_bits
