"""A scan job on a :class:`~drivers.sane.scanner.SaneScanner`: :class:`SaneSession` and its pages, :class:`SanePage`.

A session is the scanner's companion, not a separate client of the worker: it
runs its exchanges through the scanner's lock and pipe helpers
(``_lock``, ``_send``, ``_exchange``, ``_resynchronise``, ``_interrupt``) on
the worker it was opened on (``_link``, set by :meth:`SaneScanner.start`), and
clears the scanner's ``_session`` when it closes. Those names are private to
the :mod:`drivers.sane` package.

Memory: the worker scans a page only on ``next_page`` and hands it over in
chunks of whole rows (128 KiB first, then about 512 KiB: ``protocol.chunk_rows``) as the device
delivers them, so the worker holds a few chunks and the service only the chunks being encoded.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from drivers.base import Condition, Page, PageInfo, ScannerError, ScanParameters, ScanSession
from drivers.sane import protocol
from drivers.sane.link import WorkerLink

if TYPE_CHECKING:
    from drivers.sane.scanner import SaneScanner

log = logging.getLogger(__name__)


class SaneSession(ScanSession):
    """A scan job on a :class:`SaneScanner` (see :class:`drivers.base.ScanSession`).

    After a failure every ``next_page`` raises the same :class:`ScannerError`;
    after :meth:`cancel`, or after a pending call was cancelled as an asyncio
    task (which stops the worker too), ``ScannerError(CANCELLED)``. ``progress`` is the last
    ``(line, lines)`` the worker reported (informational).
    """

    def __init__(self, scanner: SaneScanner, params: ScanParameters) -> None:
        self.params = params
        self._scanner = scanner
        self._link: WorkerLink | None = None  # the worker this job was opened on
        self._page: SanePage | None = None
        self._failure: ScannerError | None = None
        self._cancelled = False
        self._closed = False

    @property
    def progress(self) -> tuple[int, int] | None:
        """The last ``(line, lines)`` the worker reported while reading a side, or None."""
        return self._link.progress if self._link is not None else None

    def _check(self) -> WorkerLink:
        if self._closed:
            raise ScannerError(Condition.IO_ERROR, "the scan session is closed")
        if self._cancelled:
            raise ScannerError(Condition.CANCELLED, "the scan was cancelled")
        if self._failure is not None:
            raise self._failure
        link = self._link
        if link is None:
            raise self._fail(ScannerError(Condition.IO_ERROR, "the scanner's worker is gone"))
        if link is not self._scanner._link or not link.alive:
            ended = link.exit_text(wait=0)  # the worker was reaped or replaced: never blocks for long
            raise self._fail(ScannerError(Condition.IO_ERROR, f"the scanner's worker is gone ({ended})"))
        return link

    def _fail(self, exc: ScannerError) -> ScannerError:
        if exc.condition is not Condition.CANCELLED and self._failure is None:
            self._failure = exc
        return exc

    async def next_page(self) -> SanePage | None:
        """Scan the next side (``sane_start`` + reading it in the worker) and return
        it, or None when the feeder is empty or the flatbed page was given.
        Unread chunks of the previous page are dropped. Raises
        :class:`ScannerError`."""
        scanner = self._scanner
        self._check()
        try:
            async with scanner._lock:
                link = self._check()
                self._page = None
                link.progress = None
                if link.pending_chunks:
                    await scanner._exchange(link, link.discard_chunks)
                scanner._send(link, (protocol.NEXT_PAGE,))
                reply = await scanner._exchange(link, link.receive_reply)
        except ScannerError as exc:
            raise self._fail(exc) from None
        except asyncio.CancelledError:
            self._cancelled = True  # the worker was told to stop (see SaneScanner._exchange)
            raise
        if reply[0] == protocol.OK:
            return None
        self._page = SanePage(self, reply[1], reply[2])
        return self._page

    async def _read_chunk(self, page: SanePage) -> bytes | None:
        scanner = self._scanner
        self._check()
        if page is not self._page:
            raise RuntimeError("this page was superseded by a later next_page()")
        try:
            async with scanner._lock:
                link = self._check()
                return await scanner._exchange(link, link.receive_chunk)
        except ScannerError as exc:
            raise self._fail(exc) from None
        except asyncio.CancelledError:
            self._cancelled = True
            raise

    async def cancel(self) -> None:
        """sane_cancel now (in the worker); a pending or later ``next_page`` or chunk
        read raises ``ScannerError(CANCELLED)``. Never raises."""
        if self._closed or self._cancelled:
            return
        self._cancelled = True
        try:
            self._scanner._interrupt(self._link)
        except Exception:
            log.exception("cancelling on %s", self._scanner.info.name)

    async def close(self) -> None:
        """End the job (the worker calls sane_cancel and sane_close) and free the
        scanner. Never raises; idempotent."""
        if self._closed:
            return
        self._closed = True
        scanner = self._scanner
        try:
            async with scanner._lock:
                link = self._link
                if link is not None and link is scanner._link and link.alive:
                    await scanner._resynchronise(link)
                    if link.pending_chunks:
                        await scanner._exchange(link, link.discard_chunks)
                    scanner._send(link, (protocol.CLOSE,))
                    await scanner._exchange(link, link.receive_reply)
        except ScannerError as exc:
            log.warning("%s: closing the session: %s", scanner.info.name, exc.message)
        except Exception:
            log.exception("%s: closing the session", scanner.info.name)
        finally:
            self._page = None
            if scanner._session is self:
                scanner._session = None


class SanePage(Page):
    """One scanned side: its :class:`PageInfo` and ``chunk_count`` chunks still in the worker."""

    def __init__(self, session: SaneSession, info: PageInfo, chunk_count: int) -> None:
        self.info = info
        self._session = session
        self._remaining = chunk_count
        self._iterated = False

    async def chunks(self) -> AsyncIterator[bytes]:
        """Yield the rows as they cross the pipe (whole rows, about ``protocol.CHUNK_BYTES`` each after a smaller first).
        Raises :class:`ScannerError`; ``RuntimeError`` when iterated twice."""
        if self._iterated:
            raise RuntimeError("a page's chunks can be iterated once")
        self._iterated = True
        while self._remaining:  # protocol.STREAMED (-1): until the worker's end of page (None)
            chunk = await self._session._read_chunk(self)
            if chunk is None:
                return
            self._remaining -= self._remaining > 0
            yield chunk
