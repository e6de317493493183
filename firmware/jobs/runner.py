"""Drives one job's scan session: pages are scanned ahead of RetrieveImage, one at a time.

The runner starts the driver session when the job is created and begins
scanning the first side at once, off the event loop (the driver's worker does
the work). Each page is assembled from its row chunks into one buffer
(:class:`PageBuffer`); when RetrieveImage has sent a page, the next one is
scanned (ADF), so the service holds at most one raw page while the driver
scans the next.

Failures of a scan that runs ahead (no RetrieveImage waiting) are reported
at once through ``on_failure`` so the job ends when the device fails, and again
to the next :meth:`ScanRunner.next_page` caller.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from drivers.base import Condition, Page, PageInfo, Scanner, ScannerError, ScanParameters, ScanSession, Source

log = logging.getLogger(__name__)

START_WAIT = 20.0
"""Seconds :meth:`ScanRunner.start` waits, for a feeder, to learn whether the first side started
(sane_start), so that an empty feeder, a jam or an open cover is CreateScanJob's answer; after
that it answers anyway (sane-airscan gives CreateScanJob 30 s) and the first RetrieveImage tells."""


@dataclass
class PageBuffer:
    """One scanned side in memory: ``info`` and the raw rows, ``info.bytes_per_line`` bytes
    each, top to bottom (``data`` length = rows received x bytes_per_line)."""

    info: PageInfo
    data: bytearray

    @property
    def lines(self) -> int:
        """Rows actually received (the real height when the device did not know it)."""
        return len(self.data) // self.info.bytes_per_line if self.info.bytes_per_line else 0


async def assemble(page: Page, progress: Callable[[int], None] | None = None) -> PageBuffer:
    """Read all row chunks of ``page`` into one buffer (preallocated when the height is known);
    ``progress`` is called with the size in bytes of each chunk as it arrives.

    Raises :class:`ScannerError` when the device fails mid-page.
    """
    info = page.info
    if info.raw_size >= 0:
        data = bytearray(info.raw_size)
        view = memoryview(data)
        offset = 0
        async for chunk in page.chunks():
            if progress is not None:
                progress(len(chunk))
            end = offset + len(chunk)
            if end > len(data):  # more rows than announced: keep them
                view.release()
                data[offset:] = chunk
                view = memoryview(data)
            else:
                view[offset:end] = chunk
            offset = end
        view.release()
        if offset < len(data):  # fewer rows than announced
            del data[offset:]
    else:
        data = bytearray()
        async for chunk in page.chunks():
            if progress is not None:
                progress(len(chunk))
            data += chunk
    return PageBuffer(info, data)


class ScanRunner:
    """Runs ``scanner`` for one job.

    ``max_pages``: how many sides to deliver (None = until the feeder is
    empty; a flatbed gives one). ``on_failure`` is called with the
    :class:`ScannerError` when a scan running ahead fails; ``on_empty`` when a
    scan running ahead finds no more paper (the driver returned no page).
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
        self._ahead: asyncio.Task[PageBuffer | None] | None = None
        self._delivered = 0
        self._closed = False
        self.exhausted = False
        self.bytes_scanned = 0
        """Raw image bytes read from the device so far, over every side of the job (progress)."""
        self._first: asyncio.Future[ScannerError | bool] | None = None

    async def start(self) -> None:
        """Open the driver session and start scanning the first side. From a feeder (ADF), wait
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
        self._ahead = asyncio.get_running_loop().create_task(self._scan_one())
        self._ahead.add_done_callback(self._report)

    async def _scan_one(self) -> PageBuffer | None:
        assert self._session is not None
        try:
            page = await self._session.next_page()
        except ScannerError as error:
            self._started(error)
            raise
        self._started(page is not None)
        if page is None:
            return None
        return await assemble(page, self._count)

    def _count(self, size: int) -> None:
        self.bytes_scanned += size

    def _report(self, task: asyncio.Task) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None and task.result() is None:
            self.exhausted = True
            self._on_empty()
        elif isinstance(exc, ScannerError):
            self._on_failure(exc)
        elif exc is not None:
            log.error("scan failed unexpectedly", exc_info=exc)
            self._on_failure(ScannerError(Condition.IO_ERROR, str(exc)))

    async def next_page(self) -> PageBuffer | None:
        """Wait for the side being scanned and return it; None when there are no more.

        Raises :class:`ScannerError` if its scan failed.
        """
        if self._ahead is None:
            return None
        task = self._ahead
        self._ahead = None
        return await asyncio.shield(task)

    def page_sent(self) -> None:
        """The page from :meth:`next_page` reached the client: scan the next one, if any."""
        self._delivered += 1
        if not self._closed:
            self._scan_ahead()

    @property
    def scanning(self) -> bool:
        """True while a side is being scanned."""
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
