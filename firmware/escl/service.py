"""The eSCL scan service of one scanner, sharing the WS-Scan service's jobs, runs and status.

One scanner, one job at a time, two protocols: an eSCL job is a job of the scanner's
:class:`~firmware.jobs.manager.JobTable` (so a WSD job and an eSCL job exclude each other, and
both show in GetActiveJobs / GetJobHistory and in ScannerStatus), run by the same
:class:`~firmware.jobs.runs.JobRuns` and failing through the same
:mod:`firmware.scan.conditions` onto the same :class:`~firmware.scan.status.ScannerStatusTracker`.

HTTP answers (what sane-airscan, sane-backends' ``escl`` and Apple's clients act on):

* ``POST ScanJobs``: 201 + Location; 503 while another job (of either protocol) is active or the
  device cannot start; 409 for settings the scanner does not offer (:class:`Conflict`) and for an
  empty feeder; 400 for unreadable XML;
* ``NextDocument``: 200 with the side; 404 when the job has no more (end of an ADF batch, a
  flatbed page already sent, an ended job: the client then reads ScannerStatus, whose
  ``AdfState`` tells jam, open cover or empty feeder); 503 while another NextDocument of the
  job runs;
* ``DELETE`` the job: 200, the job is canceled; 404 for an unknown or ended job.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from drivers.base import Condition, ScannerError, Source

from ..jobs.job import Job
from ..jobs.manager import ScannerBusy
from ..jobs.runs import JobRun
from ..model import JobDescription, ScanTicket
from ..model.enums import ConditionName, ScannerState
from ..scan.service import ScanService
from ..scan.ticket import ResolvedTicket
from . import capabilities as esclcaps
from .model import AdfState, JobInfo, ScanImageInfo, ScannerCapabilities, ScannerStatus, ScanSettings, State
from .pages import next_side
from .pdf import PdfWriter
from .settings import Conflict, EsclPlan, resolve_settings

log = logging.getLogger(__name__)

JOBS_KEPT = 64
"""eSCL jobs remembered (for NextDocument's 404 and ScanImageInfo after they end)."""

_JOB_UUIDS = uuid.UUID("6c0b5e2e-5a59-4d0c-9e0f-3d1f0e6e5c13")
"""Namespace of the JobUuids given to WSD jobs listed in ScannerStatus (uuid5 of the JobId)."""


class EsclError(Exception):
    """An eSCL request fails with HTTP ``status`` (400, 404, 409, 503); ``str()`` says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(eq=False)
class EsclJob:
    """An eSCL job: the shared ``job`` and its ``run``, its ``uuid`` (the last JobUri segment),
    the resolved ``plan``; ``sending``: a NextDocument is under way; ``last``: the raw shape
    (width px, height rows, bytes per line) of the last side sent, for ScanImageInfo."""

    job: Job
    run: JobRun[ResolvedTicket]
    uuid: str
    plan: EsclPlan
    sending: bool = False
    documents: int = 0
    last: tuple[int, int, int] | None = None
    created: float = field(default_factory=time.monotonic)


class EsclService:
    """eSCL for the scanner of ``scan`` (its WS-Scan service), served under ``base`` (a URL path
    ending in ``/eSCL``). ``uuid``: the device UUID (bare); ``make_and_model``,
    ``serial_number``: identity for ScannerCapabilities."""

    def __init__(self, scan: ScanService, base: str, device_uuid: str, make_and_model: str, serial: str) -> None:
        self.scan = scan
        self.base = base.rstrip("/")
        self.uuid = device_uuid
        self.make_and_model = make_and_model
        self.serial = serial
        self._jobs: dict[str, EsclJob] = {}

    # --- documents -------------------------------------------------------------

    @property
    def formats(self) -> tuple[str, ...]:
        """The MIME types offered (from the configured WS-Scan formats)."""
        return esclcaps.escl_formats(self.scan.settings.formats)

    def capabilities(self, root: str | None = None) -> ScannerCapabilities:
        """ScannerCapabilities; ``root`` (``http://host:port``) makes AdminURI and IconURI absolute."""
        admin = f"{root}{self.base}/ScannerStatus" if root else None
        return esclcaps.scanner_capabilities(
            self.scan.capabilities, self.formats, self.make_and_model, self.serial, self.uuid, admin_uri=admin
        )

    def job_uri(self, job_uuid: str) -> str:
        """The JobUri path of job ``job_uuid``."""
        return f"{self.base}/ScanJobs/{job_uuid}"

    def _info(self, job: Job) -> JobInfo:
        escl = next((e for e in self._jobs.values() if e.job is job), None)
        job_uuid = escl.uuid if escl else str(uuid.uuid5(_JOB_UUIDS, f"{self.uuid}/{job.job_id}"))
        age = int(time.time() - job.created_time.timestamp())
        return JobInfo(
            job_uri=self.job_uri(job_uuid),
            job_uuid=job_uuid,
            age=max(0, age),
            images_completed=job.scans_completed,
            job_state=job.state,
            job_state_reasons=tuple(job.reasons),
            images_to_transfer=1 if escl is not None and escl.run.params.source is Source.FLATBED else None,
        )

    def _adf_state(self) -> AdfState | None:
        sources = self.scan.capabilities.sources
        if Source.ADF not in sources and Source.ADF_DUPLEX not in sources:
            return None
        snapshot = self.scan.status.snapshot()
        names = {c.name for c in snapshot.active_conditions}
        if ConditionName.MEDIA_JAM in names or ConditionName.MULTIPLE_FEED_ERROR in names:
            return AdfState.JAM
        if ConditionName.COVER_OPEN in names or ConditionName.INTERLOCK_OPEN in names:
            return AdfState.DOOR_OPEN
        if ConditionName.INPUT_TRAY_EMPTY in names:
            return AdfState.EMPTY
        active = self.scan.jobs.active
        if active is not None and self.scan.runs.get(active.job_id) is not None:
            run = self.scan.runs.get(active.job_id)
            if run is not None and run.params.source is not Source.FLATBED:
                return AdfState.PROCESSING
        return AdfState.LOADED

    def status(self) -> ScannerStatus:
        """ScannerStatus: the state (Idle / Processing / Stopped), the feeder's state and every
        active and remembered job of both protocols, newest first."""
        state = {ScannerState.IDLE: State.IDLE, ScannerState.PROCESSING: State.PROCESSING}.get(
            self.scan.status.state, State.STOPPED
        )
        jobs = [*self.scan.jobs.active_jobs(), *self.scan.jobs.history()]
        return ScannerStatus(state=state, adf_state=self._adf_state(), jobs=tuple(self._info(j) for j in jobs))

    def image_info(self, job_uuid: str) -> ScanImageInfo:
        """ScanImageInfo of the last side sent. Raises :class:`EsclError` 404 (unknown job, nothing sent yet)."""
        escl = self._get(job_uuid)
        if escl.last is None:
            raise EsclError(404, "no image was sent yet")
        width, height, bytes_per_line = escl.last
        return ScanImageInfo(self.job_uri(escl.uuid), escl.uuid, width, height, bytes_per_line)

    # --- jobs -------------------------------------------------------------------

    def _get(self, job_uuid: str) -> EsclJob:
        escl = self._jobs.get(job_uuid)
        if escl is None:
            raise EsclError(404, f"no job {job_uuid:.60}")
        return escl

    async def create(self, settings: ScanSettings, client: str = "") -> EsclJob:
        """``POST ScanJobs``: resolve ``settings``, create the job in the shared table and start
        scanning. Raises :class:`EsclError` 409 (:class:`Conflict`, empty feeder) or 503 (busy)."""
        scan = self.scan
        try:
            plan = resolve_settings(settings, scan.capabilities, self.formats, scan.settings.jpeg_quality, client)
        except Conflict as exc:
            raise EsclError(409, str(exc)) from None
        resolved = plan.resolved
        await scan.runs.closing.wait()
        try:
            job = scan.jobs.create(resolved_ticket(plan, client), resolved.final, resolved.image_information)
        except ScannerBusy:
            raise EsclError(503, "the scanner is busy with another job") from None
        run = scan.runs.add(job, scan.scanner, resolved.params, resolved.max_pages, resolved)
        escl = EsclJob(job, run, str(uuid.uuid4()), plan)
        self._jobs[escl.uuid] = escl
        for old in list(self._jobs)[:-JOBS_KEPT]:
            del self._jobs[old]
        log.info(
            "job %d created (eSCL): %s %s %d dpi %s",
            job.job_id,
            resolved.params.source.value,
            resolved.params.mode.value,
            resolved.params.resolution,
            plan.mime,
        )
        try:
            await scan.runs.start(run)
        except ScannerError as error:  # an empty feeder is 409 (sane-backends: "no documents"), else busy
            raise EsclError(409 if error.condition is Condition.NO_DOCS else 503, error.message) from None
        return escl

    async def next_document(self, job_uuid: str) -> tuple[str, AsyncIterator[bytes]] | None:
        """``NextDocument``: the MIME type and the chunks of the next document, or None when the
        job has none left (HTTP 404). Raises :class:`EsclError` 404 (unknown job) or 503 (a
        NextDocument of this job is under way)."""
        escl = self._get(job_uuid)
        if escl.sending:
            raise EsclError(503, "a NextDocument of this job is under way")
        if escl.job.ended or (escl.plan.one_document and escl.documents):
            return None
        escl.sending = True
        try:
            if escl.plan.one_document:
                first = await self._side(escl)
                if first is None:
                    escl.sending = False
                    return None
                escl.documents += 1
                return escl.plan.mime, self._pdf(escl, first)
            side = await self._side(escl)
        except BaseException:
            escl.sending = False
            raise
        if side is None:
            escl.sending = False
            return None
        escl.documents += 1
        return escl.plan.mime, self._single(escl, side)

    async def _side(self, escl: EsclJob):
        name = f"scan{escl.job.job_id}-{escl.job.scans_completed + 1}"
        fmt = esclcaps.wsd_format_of(escl.plan.mime)
        try:
            side = await next_side(self.scan.runs, escl.run, fmt, self.scan.executor, name)
        except ScannerError as error:
            log.info("job %d: no next document: %s", escl.job.job_id, error.message)
            return None
        if side is not None:
            raster = side.raster
            escl.last = (raster.width, raster.height or 0, raster.row_bytes)
        return side

    async def _single(self, escl: EsclJob, side) -> AsyncIterator[bytes]:
        try:
            async for chunk in side.chunks:
                yield chunk
        finally:
            escl.sending = False

    async def _pdf(self, escl: EsclJob, side) -> AsyncIterator[bytes]:
        """Every side of the job as one PDF, each page sent as it is encoded."""
        writer = PdfWriter()
        try:
            yield writer.begin()
            while side is not None:
                yield writer.page_start(side.raster)
                async for chunk in side.chunks:
                    yield writer.image_data(chunk)
                yield writer.page_end(side.raster.height)
                side = await self._side(escl)
            yield writer.finish()
        finally:
            escl.sending = False

    def cancel(self, job_uuid: str) -> None:
        """``DELETE`` the job: Canceled, the hardware stops. Raises :class:`EsclError` 404 for an
        unknown or ended job."""
        escl = self._get(job_uuid)
        if escl.job.ended:
            raise EsclError(404, f"job {job_uuid:.60} already ended {escl.job.state}")
        self.scan.runs.cancel(escl.run)


def resolved_ticket(plan: EsclPlan, client: str) -> ScanTicket:
    """The WS-Scan ScanTicket the job carries (GetJobElements shows it): the resolved final
    parameters, named "eSCL scan" by ``client``."""
    return ScanTicket(JobDescription("eSCL scan", client or "eSCL client"), plan.resolved.final)
