"""The one adapter between eSCL and the shared scan pipeline: a job run -> the next side, encoded.

:func:`next_side` is the only place the eSCL server touches the runner and the encoders. Today
it waits for the side the runner scanned ahead (:meth:`~firmware.jobs.runner.ScanRunner.next_page`,
a whole raw page) and feeds it, band by band, to the band encoder of
:func:`firmware.imaging.new_encoder` in a thread (:func:`firmware.scan.imagestream.threaded_chunks`),
as RetrieveImage's path does. When RetrieveImage moves to a streaming pipeline (sides read
from the device band by band while they are sent), only this function changes.
"""

from __future__ import annotations

import concurrent.futures
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from drivers.base import ScannerError

from ..imaging import Raster, new_encoder
from ..jobs.runs import JobRun, JobRuns
from ..scan.imagestream import threaded_chunks
from ..scan.ticket import ResolvedTicket

log = logging.getLogger(__name__)

BAND_BYTES = 128 * 1024
"""Raw bytes (whole rows) fed to the encoder at a time."""


class TransferEnded(Exception):
    """The job ended (canceled, timed out, failed) while its side was being sent."""


@dataclass
class EncodedSide:
    """One side on its way: its ``raster`` (pixels, rows, channels, dpi) and the encoded file's
    ``chunks``. Iterate ``chunks`` to the end: the side then counts as delivered (ImagesCompleted,
    the next side is scanned or the job completes). Closing it early aborts the job (client gone);
    it raises :class:`TransferEnded` when the job ends meanwhile."""

    raster: Raster
    chunks: AsyncIterator[bytes]


async def next_side(
    runs: JobRuns[ResolvedTicket],
    run: JobRun[ResolvedTicket],
    fmt: str,
    executor: concurrent.futures.Executor | None,
    document_name: str,
) -> EncodedSide | None:
    """Wait for ``run``'s next side and return it encoded as FormatValue ``fmt`` (``png`` or
    ``jfif``), or None when there is none (the feeder is empty, the flatbed page was sent, or
    the job ended: look at ``run.job``).

    Raises :class:`~drivers.base.ScannerError` when the device failed (the job has then ended
    through :meth:`JobRuns.fail`, its condition on the scanner status).
    """
    job = run.job
    if job.ended:
        return None
    run.retrieving = True
    runs.disarm_timeout(run)
    try:
        page = await run.runner.next_page()
    except ScannerError as error:
        run.retrieving = False
        if not job.ended:
            runs.fail(job, error)
        raise
    except BaseException:
        run.retrieving = False
        raise
    if page is None or job.ended:
        run.retrieving = False
        if page is None:
            runs.feeder_empty(job)
        return None
    job.transferring()
    resolved = run.resolved
    info = page.info
    raster = Raster(
        width=info.pixels_per_line,
        height=page.lines,
        channels=info.channels,
        dpi=info.resolution,
        bilevel=resolved.bilevel and fmt == "png",
        quality=resolved.quality,
    )
    band = max(1, BAND_BYTES // info.bytes_per_line) * info.bytes_per_line

    def produce(write) -> None:
        encoder = new_encoder(fmt, raster, write)
        view = memoryview(page.data)
        try:
            for start in range(0, len(view), band):
                encoder.feed(view[start : start + band])
        finally:
            view.release()
        encoder.close()

    async def chunks() -> AsyncIterator[bytes]:
        done = False
        try:
            async for chunk in threaded_chunks(produce, executor):
                if job.ended:
                    raise TransferEnded(f"job {job.job_id} is {job.state}")
                yield chunk
            done = True
        except TransferEnded:
            done = True
            raise
        finally:
            run.retrieving = False
            if done:
                runs.page_sent(run, document_name)
            else:
                runs.transfer_broken(run, ConnectionError("the client stopped reading"))

    return EncodedSide(raster, chunks())
