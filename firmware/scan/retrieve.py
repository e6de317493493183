"""RetrieveImage (REFERENCE.md section 1.4): a job's next side, streamed as MTOM while it is scanned.

:class:`ImageRetrieval` is the RetrieveImage half of the scan service
(:mod:`firmware.scan.service` parses the request and delegates here). It takes the side the
runner started (:class:`~firmware.jobs.runner.PageStream`), runs it through a
:class:`~firmware.scan.sides.SideTransfer` (band encoder, spool copy) and answers with a
:class:`~firmware.wire.handler.StreamedReply`: the MTOM headers and SOAP part leave at once,
image bytes as they are encoded, each flushed before the next is made. A transfer broken
mid-page keeps its side in the spool when it can (:mod:`firmware.scan.spool`) and a retried
RetrieveImage is answered from there; otherwise the job is aborted.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections.abc import AsyncIterator, Callable

from drivers.base import Condition, ScannerError

from ..jobs.job import CANCELED, COMPLETED, Job
from ..jobs.manager import JobTable
from ..jobs.runs import JobRun, JobRuns
from ..model import RetrieveImageRequest, RetrieveImageResponse
from ..wire import faults
from ..wire import namespaces as ns
from ..wire.handler import StreamedReply
from ..wire.mtom import MtomWriter
from . import conditions, formats
from .imagestream import log_first_byte, raster_of
from .sides import SideTransfer, side_label
from .spool import Spool
from .ticket import ResolvedTicket

log = logging.getLogger(__name__)


class ImageRetrieval:
    """RetrieveImage for the jobs in ``jobs`` run by ``runs``; ``stall_timeout()`` gives the
    seconds a response may wait for a client that stopped reading; encoding runs in
    ``executor`` (None: the loop's default); ``spool`` keeps sides for a retry (None: none)."""

    def __init__(
        self,
        jobs: JobTable,
        runs: JobRuns[ResolvedTicket],
        stall_timeout: Callable[[], float],
        executor: concurrent.futures.Executor | None = None,
        spool: Spool | None = None,
    ) -> None:
        self.jobs = jobs
        self._runs = runs
        self._stall_timeout = stall_timeout
        self._executor = executor
        self._spool = spool
        self._kept: dict[int, SideTransfer] = {}  # job id -> a side kept in the spool after a broken transfer
        runs.ended_listeners.append(self._job_ended)

    async def retrieve(self, req: RetrieveImageRequest) -> StreamedReply:
        """RetrieveImage: the next side as MTOM in the job's format, streamed while it is scanned
        (the answer starts as soon as the device runs: :mod:`firmware.scan.sides`). A side whose
        transfer broke and that the spool kept is answered again from the spool.

        Faults: ClientErrorJobIdNotFound, ClientErrorInvalidJobToken,
        ClientErrorNoImagesAvailable (no more sides: the end of an ADF batch),
        ClientErrorJobCancelled (canceled, aborted or timed-out job), and the
        condition's fault when the device fails before the side's first rows.
        """
        job = self.jobs.get(req.job_id)
        if job is None:
            raise faults.client_error_job_id_not_found(req.job_id)
        if req.job_token != job.job_token:
            raise faults.client_error_invalid_job_token()
        run = self._runs.get(job.job_id)
        if job.ended or run is None:
            raise self._ended_fault(job)
        if run.retrieving:
            raise faults.operation_failed("Another RetrieveImage of this job is in progress.")
        run.retrieving = True
        requested = time.monotonic()
        self._runs.disarm_timeout(run)
        name = req.document_name or f"scan{job.job_id}-{job.scans_completed + 1}"
        kept = self._kept.get(job.job_id)
        if kept is not None:
            return await self._replay(run, kept, name)
        try:
            page = await run.runner.next_page()
        except ScannerError as error:
            run.retrieving = False
            if job.ended:  # canceled or timed out while waiting: the session was closed under us
                raise self._ended_fault(job) from None
            self._runs.fail(job, error)
            raise conditions.effect_of(error.condition).fault(error.message) from None
        except BaseException:
            run.retrieving = False
            raise
        if page is None or job.ended:
            run.retrieving = False
            if page is None:
                # the scan ahead found no paper; its done-callback may not have run yet
                self._runs.feeder_empty(job)
            raise self._ended_fault(job)
        job.transferring()
        resolved = run.resolved
        try:
            raster = raster_of(page.info, quality=resolved.quality, bilevel=resolved.bilevel)
        except ValueError as exc:  # a driver page no encoder takes: the device misbehaves
            run.retrieving = False
            unusable = ScannerError(Condition.IO_ERROR, f"unusable page from the scanner: {exc}")
            self._runs.fail(job, unusable)
            raise conditions.effect_of(unusable.condition).fault(unusable.message) from None
        spool_file = self._spool.open(side_label(job.job_id, job.scans_completed + 1)) if self._spool else None
        side = SideTransfer(
            page,
            resolved.format,
            raster,
            self._executor,
            spool_file,
            lambda failure: self._kept_side_ended(run, side, failure),
        )
        writer = MtomWriter(formats.MIME_TYPES[resolved.format])
        return StreamedReply(
            action=ns.scan_action("RetrieveImageResponse"),
            writer=writer,
            body=RetrieveImageResponse(content_id=writer.content_id).to_xml(),
            data=self._stream(run, side, side.client_chunks(), name, requested),
            on_abort=lambda exc: self._transfer_broken(run, side, exc),
            stall_timeout=self._stall_timeout(),
        )

    async def _replay(self, run: JobRun[ResolvedTicket], side: SideTransfer, name: str) -> StreamedReply:
        """Answer a retried RetrieveImage from the spool: wait until the side is all in the file
        (the scanner may still be reading it), then send the file."""
        job = run.job
        try:
            await asyncio.wait({side.task})  # never raises: a failed or cancelled side ends the job
        except BaseException:
            run.retrieving = False
            raise
        if job.ended or not (side.spool_file is not None and side.spool_file.complete):
            run.retrieving = False
            raise self._ended_fault(job)
        log.info("job %d: the side is sent again from the spool (%d bytes)", job.job_id, side.spool_file.size)
        job.transferring()
        writer = MtomWriter(formats.MIME_TYPES[run.resolved.format])
        return StreamedReply(
            action=ns.scan_action("RetrieveImageResponse"),
            writer=writer,
            body=RetrieveImageResponse(content_id=writer.content_id).to_xml(),
            data=self._stream(run, side, side.replay(), name, time.monotonic()),
            on_abort=lambda exc: self._transfer_broken(run, side, exc),
            stall_timeout=self._stall_timeout(),
        )

    async def _stream(
        self,
        run: JobRun[ResolvedTicket],
        side: SideTransfer,
        chunks: AsyncIterator[bytes],
        document_name: str,
        requested: float,
    ) -> AsyncIterator[bytes]:
        """The encoded side, chunk by chunk as ``chunks`` gives it; the side counts as sent once
        the last chunk was taken. A device failure mid-page ends the job with its condition (the
        connection then closes: the answer has begun). The first chunk is logged
        (:func:`~firmware.scan.imagestream.log_first_byte`)."""
        first = True
        sent = False
        try:
            async for chunk in chunks:
                if run.job.ended:
                    raise faults.client_error_job_cancelled("The job ended during the transfer.")
                if first:
                    first = False
                    log_first_byte(run.job.job_id, "RetrieveImage", requested, side.page)
                yield chunk
            sent = True
        except ScannerError as error:
            run.retrieving = False
            self._runs.fail(run.job, error)
            raise
        finally:
            if not sent and not side.detached:
                await side.cancel()
        page = side.page
        if page.info.lines >= 0 and page.rows != page.info.lines:
            log.info("job %d: the side had %d rows, %d announced", run.job.job_id, page.rows, page.info.lines)
        side.discard()
        self._kept.pop(run.job.job_id, None)
        run.retrieving = False
        self._runs.page_sent(run, document_name)

    def _transfer_broken(self, run: JobRun[ResolvedTicket], side: SideTransfer, exc: BaseException) -> None:
        """The response broke off (client gone, stalled, or the job ended): keep the side in the
        spool for a retry when it can be, else abort the job (JobCompletedWithErrors)."""
        job = run.job
        if job.ended or isinstance(exc, ScannerError):
            run.retrieving = False
            return
        if side.keepable:
            run.retrieving = False
            if self._kept.get(job.job_id) is not side:
                self._kept[job.job_id] = side
                side.detach()
            log.warning(
                "job %d: image transfer broke (%s); the side is kept for a retried RetrieveImage", job.job_id, exc
            )
            self._runs.arm_timeout(run)
            return
        self._runs.transfer_broken(run, exc)

    def _kept_side_ended(self, run: JobRun[ResolvedTicket], side: SideTransfer, failure: BaseException | None) -> None:
        """A side kept after a broken transfer was read to its end (``failure`` None) or failed."""
        job = run.job
        if failure is None or job.ended:
            return
        self._kept.pop(job.job_id, None)
        side.discard()
        if isinstance(failure, ScannerError):
            self._runs.fail(job, failure)
        else:
            self._runs.transfer_broken(run, failure)

    def _job_ended(self, run: JobRun[ResolvedTicket]) -> None:
        """A job ended: drop the side it kept, if any."""
        side = self._kept.pop(run.job.job_id, None)
        if side is not None:
            asyncio.get_running_loop().create_task(side.cancel())

    def _ended_fault(self, job: Job) -> faults.SoapFault:
        if job.state == COMPLETED:
            return faults.client_error_no_images_available()
        run = self._runs.get(job.job_id)
        failure = run.failure if run is not None else None
        if job.state == CANCELED or failure is None:
            return faults.client_error_job_cancelled(f"The job is {job.state}.")
        return conditions.effect_of(failure.condition).fault(failure.message)
