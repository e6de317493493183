"""The one adapter between eSCL and the shared scan pipeline: a job run -> the next side, encoded.

:func:`next_side` is the only place the eSCL server touches the runner and the encoders. It
waits for the side the runner started ahead (:meth:`~firmware.jobs.runner.ScanRunner.next_page`:
the device runs, the first band of rows is in) and returns it as a stream of encoded bytes
made while the rows come (:func:`firmware.scan.imagestream.encode_stream`), the same pipeline
RetrieveImage sends its sides through: nothing holds a page.
"""

from __future__ import annotations

import concurrent.futures
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from drivers.base import Condition, ScannerError

from ..imaging import Raster
from ..jobs.runs import JobRun, JobRuns
from ..scan.imagestream import encode_stream, log_first_byte, raster_of
from ..scan.ticket import ResolvedTicket

log = logging.getLogger(__name__)


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
    through :meth:`JobRuns.fail`, its condition on the scanner status). The side's first
    chunk is logged as RetrieveImage's is (:func:`~firmware.scan.imagestream.log_first_byte`,
    seconds after NextDocument and after the side's first row).
    """
    requested = time.monotonic()
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
    try:
        raster = raster_of(page.info, quality=resolved.quality, bilevel=resolved.bilevel and fmt == "png")
    except ValueError as exc:  # a driver page no encoder takes: the device misbehaves
        run.retrieving = False
        unusable = ScannerError(Condition.IO_ERROR, f"unusable page from the scanner: {exc}")
        runs.fail(job, unusable)
        raise unusable from None

    async def chunks() -> AsyncIterator[bytes]:
        done = False
        try:
            first = True
            async for chunk in encode_stream(page, fmt, raster, executor):
                if job.ended:
                    raise TransferEnded(f"job {job.job_id} is {job.state}")
                if first:
                    first = False
                    log_first_byte(job.job_id, "NextDocument", requested, page)
                yield chunk
            done = True
        except TransferEnded:
            done = True
            raise
        except ScannerError as error:  # the device failed mid-page: the job ends with its condition
            done = True
            runs.fail(job, error)
            raise
        finally:
            run.retrieving = False
            if done:
                runs.page_sent(run, document_name)
            else:
                runs.transfer_broken(run, ConnectionError("the client stopped reading"))

    return EncodedSide(raster, chunks())
