"""The WS-Scan scan service of one scanner: the eight operations (REFERENCE.md section 1).

Each operation parses its body with the model, acts on the job table, the
scanner status and the driver, and returns a model element as the reply body.
Driver failures become job end states, scanner status and faults through
:mod:`firmware.scan.conditions` only.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass

from drivers.base import Capabilities, Scanner, ScannerError, ScannerInfo

from ..jobs.manager import JobTable, ScannerBusy
from ..jobs.runs import JobRun, JobRuns
from ..model import (
    CancelJobRequest,
    CancelJobResponse,
    CreateScanJobRequest,
    CreateScanJobResponse,
    GetActiveJobsResponse,
    GetJobElementsRequest,
    GetJobElementsResponse,
    GetJobHistoryResponse,
    GetScannerElementsRequest,
    GetScannerElementsResponse,
    RetrieveImageRequest,
    ScannerConfiguration,
    ScannerDescription,
    ScanTicket,
    ValidateScanTicketRequest,
    ValidateScanTicketResponse,
)
from ..wire import faults
from ..wire import namespaces as ns
from ..wire.envelope import Request, build_envelope
from ..wire.handler import MAX_RESPONSE_BYTES, Operation, Reply, StreamedReply
from ..wire.xml import Element, serialize
from . import capabilities as capmap
from . import conditions, formats
from .retrieve import ImageRetrieval
from .spool import Spool
from .status import ScannerStatusTracker
from .ticket import ResolvedTicket, resolve_ticket

log = logging.getLogger(__name__)

MAX_REQUESTED_NAMES = 16
"""Distinct names one GetScannerElements or GetJobElements may request (a name repeated verbatim
is answered once; the same element under two spellings, ``wscn:JobStatus`` and ``JobStatus``, twice). Real clients ask for at most the four ScannerElements; more is wscn:InvalidArgs, so a
60 KB request cannot ask for megabytes of answer."""

RELATES_TO_ALLOWANCE = 1200
"""Bytes kept free in a truncated answer for the wsa:RelatesTo the HTTP handler adds (a MessageID
is at most :data:`firmware.wire.envelope.MAX_MESSAGE_ID` characters)."""

OPERATIONS = (
    "GetScannerElements",
    "ValidateScanTicket",
    "CreateScanJob",
    "RetrieveImage",
    "CancelJob",
    "GetJobElements",
    "GetActiveJobs",
    "GetJobHistory",
)


@dataclass(frozen=True)
class ServiceSettings:
    """Per-scanner service settings.

    ``formats``: FormatValues offered, in preference order (the first is the
    default); ``jpeg_quality`` 1..100 when a ticket gives none; ``job_timeout``
    seconds allowed before the first and between RetrieveImage calls (the
    spec's 60 s); ``friendly_name`` for ScannerDescription (None: the default
    name, numbered with ``name_number`` to tell identical scanners apart, see
    :mod:`firmware.naming`); ``max_page_bytes`` the memory budget of one side's
    raw image (None: none; see :mod:`firmware.scan.ticket`); ``stall_timeout`` seconds an image
    transfer may wait for a client that stopped reading before it is broken off and the job
    ends (the scanner is freed).
    """

    formats: tuple[str, ...] = formats.SUPPORTED_FORMATS
    jpeg_quality: int = 85
    job_timeout: float = 60.0
    friendly_name: str | None = None
    name_number: int = 1
    max_page_bytes: int | None = None
    stall_timeout: float = 60.0


@dataclass(frozen=True)
class ElementsChange:
    """The ScannerElements a reconfiguration changed, each complete, None when unchanged
    (what one ScannerElementsChangeEvent carries, REFERENCE.md section 3.1)."""

    description: ScannerDescription | None = None
    configuration: ScannerConfiguration | None = None
    default_ticket: ScanTicket | None = None

    def __bool__(self) -> bool:
        """True when any element changed."""
        return any(e is not None for e in (self.description, self.configuration, self.default_ticket))


class ScanService:
    """The scan service for ``scanner``; ``operations()`` gives the action table for the HTTP handler.

    ``executor`` encodes images (None: the loop's default); ``spool`` keeps the side being sent
    so a broken RetrieveImage can be retried (None: a broken transfer aborts the job).
    """

    def __init__(
        self,
        scanner: Scanner,
        capabilities: Capabilities,
        jobs: JobTable,
        settings: ServiceSettings = ServiceSettings(),
        executor: concurrent.futures.Executor | None = None,
        spool: Spool | None = None,
    ) -> None:
        self.scanner = scanner
        self.info: ScannerInfo = scanner.info
        self.capabilities = capabilities
        self.jobs = jobs
        self.settings = settings
        self.status = ScannerStatusTracker()
        self._executor = executor
        self._runs: JobRuns[ResolvedTicket] = JobRuns(
            lambda: self.settings.job_timeout,
            self.status.set_job_active,
            self.status.clear_all,
            self._failure_reasons,
            name=self.info.name,
        )
        self._retrieval = ImageRetrieval(jobs, self._runs, lambda: self.settings.stall_timeout, executor, spool)
        self._description, self._configuration, self._default_ticket = self._elements(capabilities, settings)
        self.elements_listeners: list[Callable[[ElementsChange], None]] = []
        self.push_authorizer: Callable[[CreateScanJobRequest, Request], Callable[[], None]] | None = None
        """Checks a device-initiated CreateScanJob (ScanIdentifier/DestinationToken) and returns
        the call that marks it used; raises its fault. None: no scan to PC, every one is refused
        (see :mod:`firmware.pushscan`)."""

    @property
    def runs(self) -> JobRuns[ResolvedTicket]:
        """The runs of this scanner's jobs, shared with the eSCL service (:mod:`firmware.escl`)."""
        return self._runs

    @property
    def executor(self) -> concurrent.futures.Executor | None:
        """The image encoding executor (None: the event loop's default)."""
        return self._executor

    def _elements(
        self, capabilities: Capabilities, settings: ServiceSettings
    ) -> tuple[ScannerDescription, ScannerConfiguration, ScanTicket]:
        """ScannerDescription, ScannerConfiguration and DefaultScanTicket for these capabilities and settings."""
        return (
            capmap.scanner_description(self.info, settings.friendly_name, settings.name_number),
            capmap.scanner_configuration(capabilities, settings.formats),
            capmap.default_ticket(capabilities, settings.formats[0]),
        )

    def reconfigure(self, capabilities: Capabilities, settings: ServiceSettings) -> ElementsChange:
        """Serve with ``capabilities`` and ``settings`` from the next operation on (a
        configuration reload, or a device that now reports other capabilities); the
        active job keeps the ticket it was resolved with, and its running timeout timer
        its deadline (the next one uses the new ``job_timeout``).

        Returns the :class:`ElementsChange` (ScannerDescription, ScannerConfiguration,
        DefaultScanTicket) and, when anything changed, hands it to every
        :attr:`elements_listeners` callable (ScannerElementsChangeEvent). Never raises.
        """
        description, configuration, default_ticket = self._elements(capabilities, settings)
        change = ElementsChange(
            description if description != self._description else None,
            configuration if configuration != self._configuration else None,
            default_ticket if default_ticket != self._default_ticket else None,
        )
        self.capabilities, self.settings = capabilities, settings
        self._description, self._configuration, self._default_ticket = description, configuration, default_ticket
        if change:
            log.info("%s: scanner elements changed", self.info.name)
            for listener in list(self.elements_listeners):
                try:
                    listener(change)
                except Exception:
                    log.exception("elements change listener failed")
        return change

    def operations(self) -> dict[str, Operation]:
        """Map every WS-Scan request action URI to its handler."""
        return {ns.scan_action(name): getattr(self, _snake(name)) for name in OPERATIONS}

    # --- GetScannerElements ------------------------------------------------------

    async def get_scanner_elements(self, request: Request) -> Reply:
        """GetScannerElements: one ElementData per distinct requested Name text; unknown names get
        Valid="false". Faults: wscn:InvalidArgs (also for more than :data:`MAX_REQUESTED_NAMES` names)."""
        req = GetScannerElementsRequest.from_xml(_body(request), request.prefixes)
        names = _distinct(req.names, key=lambda n: n.text)
        elements = []
        for name in names:
            content = None
            if name.namespace == ns.SCAN:
                content = {
                    "ScannerDescription": lambda: self._description,
                    "ScannerConfiguration": lambda: self._configuration,
                    "ScannerStatus": self.status.snapshot,
                    "DefaultScanTicket": lambda: self._default_ticket,
                }.get(name.local, lambda: None)()
            elements.append(name.element_data(content is not None, content))
        return _reply("GetScannerElements", GetScannerElementsResponse(elements=tuple(elements)).to_xml())

    # --- ValidateScanTicket ------------------------------------------------------

    async def validate_scan_ticket(self, request: Request) -> Reply:
        """ValidateScanTicket: ValidTicket, the ImageInformation that would result, and the
        corrected ticket when something had to change."""
        req = ValidateScanTicketRequest.from_xml(_body(request))
        resolved = self._resolve(req.ticket)
        corrected = None
        if resolved.adjusted:
            corrected = dataclasses.replace(
                req.ticket,
                document_parameters=dataclasses.replace(resolved.final, override=frozenset(), used_default=frozenset()),
            )
        response = ValidateScanTicketResponse(
            valid=not resolved.adjusted, image_information=resolved.image_information, valid_scan_ticket=corrected
        )
        return _reply("ValidateScanTicket", response.to_xml())

    def _resolve(self, ticket) -> ResolvedTicket:
        settings = self.settings
        return resolve_ticket(
            ticket,
            self.capabilities,
            settings.formats,
            settings.formats[0],
            settings.jpeg_quality,
            settings.max_page_bytes,
        )

    # --- CreateScanJob -----------------------------------------------------------

    async def create_scan_job(self, request: Request) -> Reply:
        """CreateScanJob: validate the ticket, create the job and start scanning; answers at once.

        Faults: ClientErrorInvalidScanIdentifier / ClientErrorInvalidDestinationToken
        (from :attr:`push_authorizer`, for a device-initiated scan), the ticket faults of
        :func:`resolve_ticket`, ServerErrorNotAcceptingJobs while a job is active
        or when the device cannot start. While the previous job's session is
        still closing, waits for it (up to :data:`~firmware.jobs.closing.CLOSE_WAIT` s).
        """
        req = CreateScanJobRequest.from_xml(_body(request))
        commit_push = None
        if req.scan_identifier is not None or req.destination_token is not None:
            if self.push_authorizer is None:
                raise faults.client_error_invalid_scan_identifier()
            commit_push = self.push_authorizer(req, request)
        resolved = self._resolve(req.ticket)
        await self._runs.closing.wait()
        try:
            job = self.jobs.create(req.ticket, resolved.final, resolved.image_information)
        except ScannerBusy:
            raise faults.server_error_not_accepting_jobs("The scanner is busy with another job.") from None
        if commit_push is not None:
            commit_push()
        run = self._runs.add(job, self.scanner, resolved.params, resolved.max_pages, resolved)
        log.info(
            "job %d created: %s %s %d dpi %s",
            job.job_id,
            resolved.params.source.value,
            resolved.params.mode.value,
            resolved.params.resolution,
            resolved.format,
        )
        try:
            await self._runs.start(run)
        except ScannerError as error:
            raise conditions.fault_for_create(error.condition, error.message) from None
        response = CreateScanJobResponse(
            job_id=job.job_id,
            job_token=job.job_token,
            image_information=resolved.image_information,
            document_final_parameters=resolved.final,
        )
        return _reply("CreateScanJob", response.to_xml())

    # --- RetrieveImage -----------------------------------------------------------

    async def retrieve_image(self, request: Request) -> Reply | StreamedReply:
        """RetrieveImage: the next side as MTOM in the job's format, streamed while it is scanned;
        see :meth:`firmware.scan.retrieve.ImageRetrieval.retrieve` (faults included)."""
        return await self._retrieval.retrieve(RetrieveImageRequest.from_xml(_body(request)))

    # --- CancelJob ---------------------------------------------------------------

    async def cancel_job(self, request: Request) -> Reply:
        """CancelJob: move a Pending or Processing job to Canceled and stop the hardware.

        Faults: ClientErrorJobIdNotFound for an unknown or already ended job.
        """
        req = CancelJobRequest.from_xml(_body(request))
        job = self.jobs.get(req.job_id)
        run = self._runs.get(req.job_id)
        if job is None or job.ended or run is None:
            raise faults.client_error_job_id_not_found(req.job_id)
        self._runs.cancel(run)
        return _reply("CancelJob", CancelJobResponse().to_xml())

    # --- GetJobElements, GetActiveJobs, GetJobHistory ------------------------------

    async def get_job_elements(self, request: Request) -> Reply:
        """GetJobElements: JobStatus, ScanTicket and/or Documents of an active or remembered job.

        Names are QNames resolved against the request's own prefixes (as in
        GetScannerElements); anything without a schema-valid answer now
        (Documents before the first document, unknown names) gets Valid="false";
        a name repeated verbatim is answered once.
        Faults: ClientErrorJobIdNotFound, InvalidArgs (more than :data:`MAX_REQUESTED_NAMES` names).
        """
        req = GetJobElementsRequest.from_xml(_body(request), request.prefixes)
        job = self.jobs.get(req.job_id)
        if job is None:
            raise faults.client_error_job_id_not_found(req.job_id)
        elements = []
        for name in _distinct(req.names, key=lambda n: n.text):
            content = job.element_content(name.local) if name.namespace == ns.SCAN else None
            elements.append(name.element_data(content is not None, content))
        return _reply("GetJobElements", GetJobElementsResponse(elements=tuple(elements)).to_xml())

    async def get_active_jobs(self, request: Request) -> Reply:
        """GetActiveJobs: a JobSummary for every job not yet ended (as many as fit in an
        envelope, newest kept, see :func:`_fitting`)."""
        summaries = tuple(job.summary() for job in self.jobs.active_jobs())
        summaries = _fitting("GetActiveJobs", summaries, lambda s: GetActiveJobsResponse(summaries=s).to_xml(), -1)
        return _reply("GetActiveJobs", GetActiveJobsResponse(summaries=summaries).to_xml())

    async def get_job_history(self, request: Request) -> Reply:
        """GetJobHistory: JobSummary of remembered ended jobs, newest first (as many as fit in
        an envelope: the oldest are left out, see :func:`_fitting`)."""
        summaries = tuple(job.summary() for job in self.jobs.history())
        summaries = _fitting("GetJobHistory", summaries, lambda s: GetJobHistoryResponse(summaries=s).to_xml(), 1)
        return _reply("GetJobHistory", GetJobHistoryResponse(summaries=summaries).to_xml())

    # --- device failures ----------------------------------------------------------

    def _failure_reasons(self, run: JobRun[ResolvedTicket], error: ScannerError) -> tuple[str, ...]:
        """The device failed during ``run``'s job: raise the condition on the scanner status and
        return the JobStateReasons the job ends with (REFERENCE.md section 7). Logs the failure at
        the condition's level with what to do about it (:func:`conditions.describe`)."""
        effect = conditions.effect_of(error.condition)
        log.log(
            effect.level,
            "job %d on %s: %s",
            run.job.job_id,
            self.info.name,
            conditions.describe(error.condition, error.message),
        )
        if effect.device_condition is not None:
            name, severity = effect.device_condition
            self.status.raise_condition(name, conditions.component_for(name, run.resolved.params.source), severity)
        if effect.attention:
            self.status.set_attention(True)
        if effect.offline:
            self.status.set_offline(True)
        return effect.job_reasons

    async def shutdown(self, error: ScannerError | None = None) -> None:
        """Abort active jobs and stop the driver. Never raises.

        ``error``: why the scanner goes away, e.g. ``ScannerError(DEVICE_GONE)``
        when it was unplugged: active jobs then end as that failure would end
        them (:mod:`firmware.scan.conditions`); without it they end Aborted
        with JobCompletedWithErrors (the service stops).
        """
        await self._runs.shutdown(error)
        await self.scanner.shutdown()


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")


def _distinct(names, key):
    """``names`` without repeats (first kept, in order); raises wscn:InvalidArgs past
    :data:`MAX_REQUESTED_NAMES` distinct ones."""
    seen: dict = {}
    for name in names:
        seen.setdefault(key(name), name)
        if len(seen) > MAX_REQUESTED_NAMES:
            raise faults.invalid_args(f"At most {MAX_REQUESTED_NAMES} distinct elements may be requested.")
    return list(seen.values())


def _fitting(operation: str, summaries: tuple, build: Callable[[tuple], Element], newest_first: int) -> tuple:
    """The longest run of ``summaries`` whose answer envelope stays under the DPWS limit
    (:data:`MAX_RESPONSE_BYTES` less :data:`RELATES_TO_ALLOWANCE`), the oldest left out:
    ``newest_first`` 1 when ``summaries`` are newest first, -1 when oldest first. Logs at
    INFO how many were left out. Cost: one serialization per summary, plus one or two of the answer."""

    def size(items: tuple) -> int:
        envelope = build_envelope(ns.scan_action(operation + "Response"), build(items))
        return len(serialize(envelope)) + RELATES_TO_ALLOWANCE

    if size(summaries) <= MAX_RESPONSE_BYTES:
        return summaries
    ordered = summaries if newest_first == 1 else summaries[::-1]
    budget = MAX_RESPONSE_BYTES - size(())
    kept = 0
    for summary in ordered:  # a summary alone over-counts its size (its own namespace declarations)
        budget -= len(serialize(summary.to_xml(), xml_declaration=False))
        if budget < 0:
            break
        kept += 1
    while kept and size(ordered[:kept] if newest_first == 1 else ordered[:kept][::-1]) > MAX_RESPONSE_BYTES:
        kept -= 1
    log.info(
        "%s: %d of %d job summaries left out (oldest first) to stay under %d bytes",
        operation,
        len(summaries) - kept,
        len(summaries),
        MAX_RESPONSE_BYTES,
    )
    chosen = ordered[:kept]
    return chosen if newest_first == 1 else chosen[::-1]


def _body(request: Request) -> Element:
    if request.body is None:
        raise faults.invalid_args("The request body is empty.")
    return request.body


def _reply(operation: str, body: Element) -> Reply:
    return Reply(action=ns.scan_action(operation + "Response"), body=body)
