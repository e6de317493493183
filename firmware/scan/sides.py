"""One side of a WS-Scan job on its way to the client, and its copy in the spool.

:class:`SideTransfer` runs the side's encoding pipeline (:func:`firmware.scan.imagestream.encode_stream`)
in a task of its own and hands each encoded chunk both to the RetrieveImage response, through
a queue of :data:`QUEUE_CHUNKS` chunks (the response takes the next chunk only once the
previous one was flushed to the client: backpressure), and to its :class:`~firmware.scan.spool.SpoolFile`.
When the client goes away mid-page (:meth:`SideTransfer.detach`), the task goes on without it,
reading the rest of the side from the scanner into the spool file, so that a retried
RetrieveImage is answered from the file (:meth:`SideTransfer.replay`). Without a usable spool
file a detached transfer stops at once and the job is aborted as before.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from drivers.base import ScannerError

from ..imaging import Raster
from ..jobs.runner import PageStream
from .imagestream import encode_stream
from .spool import SpoolFile

log = logging.getLogger(__name__)

QUEUE_CHUNKS = 2
"""Encoded chunks waiting for the client, at most (each what one band of rows gave)."""

_END = object()


class SpoolLost(Exception):
    """The client went away and the side could not be kept in the spool (off, full, disk error)."""


class SideTransfer:
    """The side ``page`` (shaped ``raster``) encoded as FormatValue ``fmt`` in ``executor``,
    copied into ``spool_file`` (None: no copy). The task starts at once.

    ``on_detached_end(error)``: called on the event loop when a detached transfer ends: with
    None when the spool file holds the whole side, a :class:`ScannerError` when the device
    failed, :class:`SpoolLost` when the copy was lost. Attributes: ``detached`` (the client
    went away), ``failure`` (what ended the task, if not success).
    """

    def __init__(
        self,
        page: PageStream,
        fmt: str,
        raster: Raster,
        executor: concurrent.futures.Executor | None,
        spool_file: SpoolFile | None,
        on_detached_end: Callable[[BaseException | None], None],
    ) -> None:
        self.page = page
        self.spool_file = spool_file
        self.detached = False
        self.failure: BaseException | None = None
        self._on_detached_end = on_detached_end
        self._executor = executor
        self._queue: asyncio.Queue[object] = asyncio.Queue(QUEUE_CHUNKS)
        self._chunks = encode_stream(page, fmt, raster, executor)
        self.task = asyncio.get_running_loop().create_task(self._produce())

    @property
    def keepable(self) -> bool:
        """True when a break can be survived: the spool file holds every byte so far."""
        return self.spool_file is not None and self.spool_file.usable and self.failure is None

    async def _produce(self) -> None:
        loop = asyncio.get_running_loop()
        spool = self.spool_file
        try:
            async for chunk in self._chunks:
                if spool is not None:
                    await loop.run_in_executor(self._executor, spool.write, chunk)
                if self.detached:
                    if spool is None or not spool.usable:
                        raise SpoolLost("the side could not be kept in the spool")
                    continue
                await self._queue.put(chunk)
            if spool is not None:
                await loop.run_in_executor(self._executor, spool.finish)
                if self.detached and not spool.complete:
                    raise SpoolLost("the side could not be kept in the spool")
            if not self.detached:
                await self._queue.put(_END)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - handed to the response or the job
            self.failure = exc
            if not self.detached:
                await self._queue.put(exc)
        finally:
            await self._chunks.aclose()
        if self.detached:
            self._on_detached_end(self.failure)

    async def client_chunks(self) -> AsyncIterator[bytes]:
        """The encoded side for the response, chunk by chunk as it is made. Raises what the
        pipeline raised (:class:`ScannerError` when the device failed mid-page)."""
        while True:
            item = await self._queue.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            assert isinstance(item, bytes)
            yield item

    def detach(self) -> None:
        """The client went away: go on into the spool file alone (the caller checked :attr:`keepable`)."""
        self.detached = True
        while not self._queue.empty():  # a put waiting for room goes through; the chunks are in the file
            self._queue.get_nowait()
        if self.task.done():  # the side was complete already (the client left during its last bytes)
            self._on_detached_end(self.failure)

    async def cancel(self) -> None:
        """Stop the pipeline (the scanner's read of the side is cancelled) and drop the spool
        file. Never raises."""
        if not self.task.done():
            self.task.cancel()
            with contextlib.suppress(BaseException):
                await self.task
        self.discard()

    def discard(self) -> None:
        """Drop the spool file. Never raises."""
        if self.spool_file is not None:
            self.spool_file.discard()

    async def replay(self) -> AsyncIterator[bytes]:
        """The whole side again, read from the spool file (it must be complete). Raises ``OSError``."""
        assert self.spool_file is not None and self.spool_file.complete
        loop = asyncio.get_running_loop()
        reader = self.spool_file.chunks()
        try:
            while chunk := await loop.run_in_executor(self._executor, next, reader, b""):
                yield chunk
        finally:
            reader.close()


def side_label(job_id: int, side: int) -> str:
    """The spool file label of side ``side`` (1-based) of job ``job_id``."""
    return f"job{job_id}-{side}"


__all__ = ["ScannerError", "SideTransfer", "SpoolLost", "side_label"]
