"""An in-process fake scanner for the service's unit tests.

:class:`FakeScanner` behaves like the SANE driver (:mod:`drivers.sane`) seen
through :mod:`drivers.base`: the same geometry and resolution rules, one page
per flatbed job, ``adf_pages`` sheets per feeder job (two sides each in
duplex), rows in several chunks, one session at a time, cancel. Conditions can
be injected (``fail_with`` at page ``fail_at_page``) and the device unplugged
(:meth:`FakeScanner.unplug`).

Pixel content is deterministic (:func:`fake_pixel`, :func:`fake_page_bytes`),
so a test can check every byte that comes out of an encoder.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator

from drivers.base import (
    Button,
    ButtonCallback,
    ButtonPress,
    Capabilities,
    ColorMode,
    Condition,
    Page,
    PageInfo,
    Scanner,
    ScannerError,
    ScannerInfo,
    ScanParameters,
    ScanSession,
    Source,
    SourceCapabilities,
)

_BED_WIDTH_MM = 215.9  # A4/Letter: Letter's width, A4's height
_BED_HEIGHT_MM = 297.0
_RESOLUTIONS = (75, 100, 150, 200, 300, 600)
_MODES = (ColorMode.COLOR, ColorMode.GRAY)

DEFAULT_INFO = ScannerInfo(name="fake:0", vendor="Fake", model="Scanner 1", type="flatbed scanner")

DEFAULT_CAPABILITIES = Capabilities(
    sources={
        source: SourceCapabilities(
            resolutions=_RESOLUTIONS, modes=_MODES, max_width_mm=_BED_WIDTH_MM, max_height_mm=_BED_HEIGHT_MM
        )
        for source in (Source.FLATBED, Source.ADF, Source.ADF_DUPLEX)
    },
    default_resolution=300,
    default_mode=ColorMode.COLOR,
)
"""Flatbed + ADF + ADF Duplex; Color and Gray; 75..600 dpi; 215.9 x 297 mm."""


def pixels(length_mm: float, dpi: int) -> int:
    """Pixels covering ``length_mm`` at ``dpi``: ``round(mm / 25.4 * dpi)``, at least 1
    (halves round up)."""
    return max(1, math.floor(length_mm / 25.4 * dpi + 0.5))


def fake_pixel(mode: ColorMode, page_number: int, row: int, col: int) -> bytes:
    """The value of one pixel of the fake's ``page_number``-th side (1-based) of a job.

    Color: ``R = col``, ``G = row``, ``B = row + col + 40 * page_number``
    (each mod 256). Gray: ``row + col + 40 * page_number`` mod 256. Lineart:
    a checkerboard of 8 x 8 pixel squares, 0 (black) or 255, swapped on even pages.
    """
    if mode is ColorMode.COLOR:
        return bytes((col % 256, row % 256, (row + col + 40 * page_number) % 256))
    if mode is ColorMode.GRAY:
        return bytes(((row + col + 40 * page_number) % 256,))
    black = ((row // 8) + (col // 8) + page_number) % 2 == 0
    return bytes((0 if black else 255,))


def fake_rows(info: PageInfo, mode: ColorMode, page_number: int, first_row: int, count: int) -> bytes:
    """Rows ``first_row .. first_row + count - 1`` of a fake page, packed (see :func:`fake_pixel`)."""
    width = info.pixels_per_line
    ramp = bytes(i % 256 for i in range(width + 256))  # ramp[o + c] == (o + c) % 256
    rows = range(first_row, first_row + count)
    out = bytearray()
    if mode is ColorMode.COLOR:
        line = bytearray(3 * width)
        line[0::3] = ramp[:width]
        for row in rows:
            offset = (row + 40 * page_number) % 256
            line[1::3] = bytes((row % 256,)) * width
            line[2::3] = ramp[offset : offset + width]
            out += line
    elif mode is ColorMode.GRAY:
        for row in rows:
            offset = (row + 40 * page_number) % 256
            out += ramp[offset : offset + width]
    else:
        squares = [bytes(0 if (col // 8 + parity) % 2 == 0 else 255 for col in range(width)) for parity in (0, 1)]
        for row in rows:
            out += squares[(row // 8 + page_number) % 2]
    return bytes(out)


def fake_page_bytes(info: PageInfo, mode: ColorMode, page_number: int) -> bytes:
    """The whole raw page the fake delivers as side ``page_number`` (1-based) of a job."""
    return fake_rows(info, mode, page_number, 0, info.lines)


class FakeScanner(Scanner):
    """A scanner that scans nothing but behaves like the SANE driver.

    ``info``, ``capabilities``: what it reports (defaults :data:`DEFAULT_INFO`,
    :data:`DEFAULT_CAPABILITIES`). ``adf_pages``: sheets in the feeder at the
    start of every job (an ADF job gives that many sides, an ADF Duplex job
    twice as many; 0 = empty feeder: the first ``next_page`` returns None).
    ``fail_with`` / ``fail_at_page``: the :class:`Condition` raised by
    ``next_page`` for side ``fail_at_page`` (1-based) of every job, or by
    ``start`` when ``fail_at_page`` is 0; ``fail_jobs``: how many jobs it
    hits before the condition is gone (None: every job; e.g. a scanner that
    is calibrating for its first two start attempts). ``page_delay``: seconds
    ``next_page`` takes before a side is ready. ``chunk_rows``: rows per chunk
    (default: a page comes in about four chunks). ``close_delay``: seconds a
    session's ``close`` takes before the scanner is free again (a SANE backend
    finishing ``sane_cancel``/``sane_close``; ``start`` raises DEVICE_BUSY
    meanwhile). These attributes may be changed between jobs.

    ``options``: the backend options last given to :meth:`apply_options`.

    ``buttons``: the front-panel buttons it has (default: one ``scan`` button);
    :meth:`press` presses one. ``feeder_loaded``: what a press reports about
    the feeder (None: the device cannot tell).

    For tests: ``started`` lists the :class:`ScanParameters` of every session;
    ``cancelled`` counts sessions cancelled; ``session`` is the open one.
    """

    def __init__(
        self,
        info: ScannerInfo = DEFAULT_INFO,
        capabilities: Capabilities = DEFAULT_CAPABILITIES,
        *,
        adf_pages: int = 10,
        fail_with: Condition | None = None,
        fail_at_page: int = 1,
        page_delay: float = 0.0,
        chunk_rows: int | None = None,
        fail_jobs: int | None = None,
        buttons: tuple[Button, ...] = (Button("scan", "Scan button"),),
        feeder_loaded: bool | None = None,
        close_delay: float = 0.0,
    ) -> None:
        self.info = info
        self._buttons = buttons
        self.feeder_loaded = feeder_loaded
        self._button_callback: ButtonCallback | None = None
        self._capabilities = capabilities
        self.adf_pages = adf_pages
        self.fail_with = fail_with
        self.fail_at_page = fail_at_page
        self.page_delay = page_delay
        self.chunk_rows = chunk_rows
        self.fail_jobs = fail_jobs
        self.close_delay = close_delay
        self.options: dict[str, object] = {}
        self.started: list[ScanParameters] = []
        self.cancelled = 0
        self.session: FakeSession | None = None
        self._unplugged = False
        self._shut_down = False

    def unplug(self) -> None:
        """The device disappears: every call (and the open session) raises
        ``ScannerError(DEVICE_GONE)`` until :meth:`replug`."""
        self._unplugged = True

    def replug(self) -> None:
        """The device is back (for the next session)."""
        self._unplugged = False

    def check_present(self) -> None:
        """Raise ``ScannerError(DEVICE_GONE)`` when unplugged or shut down."""
        if self._unplugged:
            raise ScannerError(Condition.DEVICE_GONE, f"{self.info.name}: the device is gone")
        if self._shut_down:
            raise ScannerError(Condition.DEVICE_GONE, f"{self.info.name}: the scanner was shut down")

    async def capabilities(self) -> Capabilities:
        """The capabilities given to the constructor (or to :meth:`replace_capabilities`).
        Raises DEVICE_GONE when unplugged."""
        self.check_present()
        return self._capabilities

    def replace_capabilities(self, capabilities: Capabilities) -> None:
        """The device reports ``capabilities`` from now on (e.g. a feeder was fitted)."""
        self._capabilities = capabilities

    def apply_options(self, options: dict[str, object]) -> bool:
        """Record ``options`` in :attr:`options` (see :meth:`Scanner.apply_options`);
        True when they differ from the previous ones."""
        options = dict(options)
        changed, self.options = options != self.options, options
        return changed

    async def buttons(self) -> tuple[Button, ...]:
        """The buttons given to the constructor. Raises DEVICE_GONE when unplugged."""
        self.check_present()
        return self._buttons

    def watch_buttons(self, callback: ButtonCallback | None) -> None:
        """Remember ``callback`` for :meth:`press` (None: stop)."""
        self._button_callback = callback

    def press(self, name: str) -> bool:
        """The user presses button ``name``: the watcher gets a :class:`ButtonPress` with
        :attr:`feeder_loaded`, unless a session is open (like the SANE driver, which reads
        buttons only between jobs). Returns whether the press was reported. Call it on the
        event loop. Raises ``ValueError`` for a button the scanner does not have."""
        if name not in {b.name for b in self._buttons}:
            raise ValueError(f"{self.info.name} has no button {name!r}")
        if self._button_callback is None or self.session is not None or self._unplugged or self._shut_down:
            return False
        self._button_callback(ButtonPress(name, self.feeder_loaded))
        return True

    def _failure_due(self) -> bool:
        """Whether ``fail_with`` hits the job starting now (counts down ``fail_jobs``)."""
        if self.fail_with is None:
            return False
        if self.fail_jobs is None:
            return True
        if self.fail_jobs <= 0:
            return False
        self.fail_jobs -= 1
        return True

    async def start(self, params: ScanParameters) -> FakeSession:
        """Validate ``params`` like the SANE driver and open a session.

        Raises DEVICE_BUSY while a session is open, DEVICE_GONE when unplugged,
        IO_ERROR when the source or mode is not offered, ``fail_with`` when
        ``fail_at_page`` is 0.
        """
        self.check_present()
        if self.session is not None:
            raise ScannerError(Condition.DEVICE_BUSY, f"{self.info.name}: a scan session is open")
        source_caps = self._capabilities.sources.get(params.source)
        if source_caps is None:
            raise ScannerError(Condition.IO_ERROR, f"the device does not offer source {params.source.value}")
        if params.mode not in source_caps.modes:
            raise ScannerError(Condition.IO_ERROR, f"the device does not offer mode {params.mode.value}")
        if self.fail_at_page == 0 and self.fail_with is not None and self._failure_due():
            raise ScannerError(self.fail_with, f"injected at start: {self.fail_with.value}")
        self.started.append(params)
        self.session = FakeSession(self, params, page_info(params, source_caps))
        return self.session

    async def shutdown(self) -> None:
        """Close any session; later calls raise DEVICE_GONE. Never raises."""
        self._shut_down = True
        self._button_callback = None
        if self.session is not None:
            await self.session.close()


def page_info(params: ScanParameters, caps: SourceCapabilities) -> PageInfo:
    """The :class:`PageInfo` the fake (and, up to the backend's rounding, the SANE
    driver) gives for ``params``: the resolution snapped to the nearest offered
    value, the area clamped to the bed, ``round(mm / 25.4 * dpi)`` pixels (at least 1)."""
    dpi = min(caps.resolutions, key=lambda r: (abs(r - params.resolution), r))

    def span(lo: float, hi: float, limit: float) -> float:
        lo, hi = (min(max(v, 0.0), limit) for v in (lo, hi))
        return max(0.0, hi - lo)

    width = pixels(span(params.tl_x_mm, params.br_x_mm, caps.max_width_mm), dpi)
    height = pixels(span(params.tl_y_mm, params.br_y_mm, caps.max_height_mm), dpi)
    channels = 3 if params.mode is ColorMode.COLOR else 1
    return PageInfo(width, height, width * channels, channels, dpi)


class FakeSession(ScanSession):
    """A job on a :class:`FakeScanner`; ``pages`` counts the sides handed out."""

    def __init__(self, scanner: FakeScanner, params: ScanParameters, info: PageInfo) -> None:
        self.params = params
        self.pages = 0
        self._scanner = scanner
        self._info = info
        self._sides = (
            1
            if params.source is Source.FLATBED
            else scanner.adf_pages * (2 if params.source is Source.ADF_DUPLEX else 1)
        )
        self._page: FakePage | None = None
        self._cancel_event = asyncio.Event()
        self._closed = False
        self._failure: ScannerError | None = None
        self._fails = scanner.fail_at_page > 0 and scanner._failure_due()  # this job hits fail_with

    @property
    def is_cancelled(self) -> bool:
        """True once :meth:`cancel` was called."""
        return self._cancel_event.is_set()

    def check(self) -> None:
        """Raise what a call on this session raises now (closed, cancelled, gone, failed)."""
        if self._closed:
            raise ScannerError(Condition.IO_ERROR, "the scan session is closed")
        if self.is_cancelled:
            raise ScannerError(Condition.CANCELLED, "the scan was cancelled")
        self._scanner.check_present()
        if self._failure is not None:
            raise self._failure

    async def next_page(self) -> FakePage | None:
        """The next side after ``page_delay`` seconds, or None (flatbed done, feeder
        empty). Raises the injected condition at side ``fail_at_page``,
        CANCELLED (also while waiting), DEVICE_GONE when unplugged.
        ``RuntimeError`` if the previous page's chunks were not all read."""
        self.check()
        if self._page is not None and not self._page.consumed:
            raise RuntimeError("next_page() before the previous page's chunks were read")
        if self.pages >= self._sides:
            return None
        if self._scanner.page_delay > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._cancel_event.wait(), self._scanner.page_delay)
            self.check()
        number = self.pages + 1
        scanner = self._scanner
        condition = scanner.fail_with
        if self._fails and condition is not None and scanner.fail_at_page == number:
            self._failure = ScannerError(condition, f"injected at page {number}: {condition.value}")
            raise self._failure
        self.pages = number
        self._page = FakePage(self, self._info, number)
        return self._page

    async def cancel(self) -> None:
        """Stop: pending and later calls raise CANCELLED. Never raises."""
        if not self._closed and not self.is_cancelled:
            self._cancel_event.set()
            self._scanner.cancelled += 1

    async def close(self) -> None:
        """End the job and free the scanner (after the scanner's ``close_delay`` seconds).
        Never raises; idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._scanner.close_delay > 0:
            await asyncio.sleep(self._scanner.close_delay)
        if self._scanner.session is self:
            self._scanner.session = None


class FakePage(Page):
    """Side ``number`` (1-based) of a fake job: :func:`fake_page_bytes` in chunks of whole rows."""

    def __init__(self, session: FakeSession, info: PageInfo, number: int) -> None:
        self.info = info
        self.number = number
        self.consumed = False
        self._session = session
        self._iterated = False

    async def chunks(self) -> AsyncIterator[bytes]:
        """Yield the rows, ``chunk_rows`` at a time (default: about four chunks).
        Raises CANCELLED / DEVICE_GONE between chunks; ``RuntimeError`` when iterated twice."""
        if self._iterated:
            raise RuntimeError("a page's chunks can be iterated once")
        self._iterated = True
        session = self._session
        mode = session.params.mode
        lines = self.info.lines
        step = session._scanner.chunk_rows or max(1, -(-lines // 4))
        for first in range(0, lines, step):
            session.check()
            await asyncio.sleep(0)
            yield fake_rows(self.info, mode, self.number, first, min(step, lines - first))
        self.consumed = True
