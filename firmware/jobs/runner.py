"""Drives one job's scan session: each side is handed on as a stream of row bands, never as a page.

The runner starts the driver session when the job is created and starts the
first side at once, off the event loop (the driver's worker does the work):
``next_page`` on the driver session starts the device (``sane_start``) and
returns the side's :class:`~drivers.base.PageInfo` as soon as its first band
of rows is in, without reading the rows. RetrieveImage (or eSCL NextDocument)
takes the side as a :class:`PageStream` and reads its bands as it sends them,
so the rows cross from the driver to the client band by band: nothing here
holds a page. Until the bands are read the driver waits (the SANE worker
blocks on its pipe, the device pauses), which is the backpressure of a slow
client. When a side has gone out, the next one is started (ADF), again ahead
of the next RetrieveImage.

Failures of a start that runs ahead (no RetrieveImage waiting) are reported
at once through ``on_failure`` so the job ends when the device fails, and again
to the next :meth:`ScanRunner.next_page` caller.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from drivers.base import Condition, Page, PageInfo, Scanner, ScannerError, ScanParameters, ScanSession, Source

log = logging.getLogger(__name__)

START_WAIT = 20.0
"""Seconds :meth:`ScanRunner.start` waits, for a feeder, to learn whether the first side started
(sane_start), so that an empty feeder, a jam or an open cover is CreateScanJob's answer; after
that it answers anyway (sane-airscan gives CreateScanJob 30 s) and the first RetrieveImage tells."""


@dataclass
class PageStream:
    """One scanned side on its way: ``info`` (``pixels_per_line``, ``lines`` -1 when the
    device does not know the height, ``bytes_per_line``, ``channels``, ``resolution`` dpi)
    and ``bands``, the rows top to bottom as they come from the driver, each a whole number
    of rows of ``info.bytes_per_line`` bytes (128 KiB first, then about 512 KiB, on the SANE driver).

    Iterate ``bands`` once; it raises :class:`~drivers.base.ScannerError` when the device
    fails mid-page. ``rows`` counts the rows handed out so far. ``first_rows_at``: the
    ``time.monotonic()`` seconds at which the side's first band of rows reached the service
    (the driver handed the side over: the SANE worker announces a side once its first band
    is read), or when the first band was read from ``bands``, whichever is known first; None
    before either (the per-job first-byte log measures from it).
    """

    info: PageInfo
    bands: AsyncIterator[bytes]
    rows: int = 0
    first_rows_at: float | None = None

    @classmethod
    def of(
        cls, page: Page, progress: Callable[[int], None] | None = None, first_rows_at: float | None = None
    ) -> PageStream:
        """The stream of a driver :class:`~drivers.base.Page` (its chunks, counted);
        ``progress`` is called with the size in bytes of each band as it passes;
        ``first_rows_at``: when the driver handed ``page`` over (monotonic seconds)."""
        stream = cls(page.info, _empty(), first_rows_at=first_rows_at)
        stream.bands = stream._counted(page.chunks(), progress)
        return stream

    async def _counted(
        self, chunks: AsyncIterator[bytes], progress: Callable[[int], None] | None
    ) -> AsyncIterator[bytes]:
        stride = max(1, self.info.bytes_per_line)
        async for chunk in chunks:
            if self.first_rows_at is None:
                self.first_rows_at = time.monotonic()
            self.rows += len(chunk) // stride
            if progress is not None:
                progress(len(chunk))
            yield chunk


async def _empty() -> AsyncIterator[bytes]:
    return
    yield b""  # pragma: no cover - makes this an async generator


class ScanRunner:
    """Runs ``scanner`` for one job.

    ``max_pages``: how many sides to deliver (None = until the feeder is
    empty; a flatbed gives one). ``on_failure`` is called with the
    :class:`ScannerError` when a start running ahead fails; ``on_empty`` when a
    start running ahead finds no more paper (the driver returned no page).
    """

    def __init__(
        self,
        scanner: Scanner,
        params: ScanParameters,
        max_pages: int | None,
        on_failure: Callable[[ScannerError], None],
        on_empty: Callable[[], None],
    ) -> None:
        self._scanner = scanner
        self._params = params
        self._max_pages = max_pages
        self._on_failure = on_failure
        self._on_empty = on_empty
        self._session: ScanSession | None = None
        self._ahead: asyncio.Task[Page | None] | None = None
        self._ahead_at: float | None = None  # when the side being started was handed over
        self._delivered = 0
        self._closed = False
        self.exhausted = False
        self.bytes_scanned = 0
        """Raw image bytes read from the device so far, over every side of the job (progress)."""
        self._first: asyncio.Future[ScannerError | bool] | None = None

    async def start(self) -> None:
        """Open the driver session and start the first side. From a feeder (ADF), wait
        (up to :data:`START_WAIT` s) until the device started the first side or said why not.

        Raises :class:`ScannerError` when the device cannot start (busy, gone, ...), and for a
        feeder also when the first side cannot start: NO_DOCS (empty feeder), JAMMED, COVER_OPEN.
        """
        self._session = await self._scanner.start(self._params)
        self._first = asyncio.get_running_loop().create_future()
        self._scan_ahead()
        if self._params.source not in (Source.ADF, Source.ADF_DUPLEX):
            return
        done, _ = await asyncio.wait({self._first}, timeout=START_WAIT)
        if not done:
            return
        outcome = self._first.result()
        if isinstance(outcome, ScannerError):
            raise outcome
        if outcome is False:
            raise ScannerError(Condition.NO_DOCS, "Document feeder out of documents")

    def _started(self, outcome: ScannerError | bool) -> None:
        """The first side started (True), found no paper (False) or failed (the error)."""
        if self._first is not None and not self._first.done():
            self._first.set_result(outcome)

    def _scan_ahead(self) -> None:
        if self._max_pages is not None and self._delivered >= self._max_pages:
            self.exhausted = True
            return
        assert self._session is not None
        self._ahead_at = None
        self._ahead = asyncio.get_running_loop().create_task(self._start_side(self._session))
        self._ahead.add_done_callback(self._report)

    async def _start_side(self, session: ScanSession) -> Page | None:
        """The driver's next side; notes when it came (its first band of rows is in)."""
        page = await session.next_page()
        self._ahead_at = time.monotonic()
        return page

    def _count(self, size: int) -> None:
        self.bytes_scanned += size

    def _report(self, task: asyncio.Task) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if isinstance(exc, ScannerError):
            self._started(exc)
        elif exc is None:
            self._started(task.result() is not None)
        if exc is None and task.result() is None:
            self.exhausted = True
            self._on_empty()
        elif isinstance(exc, ScannerError):
            self._on_failure(exc)
        elif exc is not None:
            log.error("scan failed unexpectedly", exc_info=exc)
            self._on_failure(ScannerError(Condition.IO_ERROR, str(exc)))

    async def next_page(self) -> PageStream | None:
        """Wait for the side being started and return its stream; None when there are no more.

        Raises :class:`ScannerError` if its start failed. The stream's bands must be read
        (or the job ended) before :meth:`page_sent`.
        """
        if self._ahead is None:
            return None
        task = self._ahead
        self._ahead = None
        page = await asyncio.shield(task)
        return None if page is None else PageStream.of(page, self._count, self._ahead_at)

    def page_sent(self) -> None:
        """The side from :meth:`next_page` reached the client: start the next one, if any."""
        self._delivered += 1
        if not self._closed:
            self._scan_ahead()

    @property
    def scanning(self) -> bool:
        """True while a side is being started."""
        return self._ahead is not None and not self._ahead.done()

    async def cancel(self) -> None:
        """Stop the hardware (sane_cancel) and end the session. Never raises."""
        if self._session is not None:
            await self._session.cancel()
        await self.close()

    async def close(self) -> None:
        """End the session and free the scanner. Never raises; idempotent."""
        if self._closed:
            return
        self._closed = True
        ahead, self._ahead = self._ahead, None
        if ahead is not None and not ahead.done():
            ahead.cancel()
            try:
                await ahead
            except BaseException:  # noqa: BLE001 - the job is over; its failure was reported
                pass
        if self._session is not None:
            await self._session.close()
