"""Scan to the browser: the status page's form becomes a job of the scanner's job table.

A person picks a scanner, a source, a colour mode, a resolution and a format (PNG, JPEG or
PDF); :func:`parse_form` checks the choice against what the scanner offers (:class:`FormError`,
HTTP 400 with a sentence saying what is wrong), :func:`ticket_of` makes the WS-Scan ScanTicket
and :func:`start_job` creates the job in the scanner's :class:`~firmware.jobs.manager.JobTable`
and starts its :class:`~firmware.jobs.runs.JobRuns` run, exactly as CreateScanJob and eSCL's
``POST ScanJobs`` do: one job at a time per scanner whatever the protocol (:class:`Busy`), the
same conditions on the same ScannerStatus. :func:`document` then yields the file: one side as
PNG or JPEG (from a feeder: its first sheet), or every side as one PDF (from a feeder: every
sheet until it is empty), each side encoded while it is sent (:func:`firmware.escl.pages.next_side`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from drivers.base import ColorMode, Condition, ScannerError, Source

from ..escl.pages import EncodedSide, next_side
from ..escl.pdf import PdfWriter
from ..jobs.job import CANCELED
from ..jobs.manager import ScannerBusy
from ..jobs.runs import JobRun
from ..model import DocumentParameters, JobDescription, MediaSide, Resolution, ScanTicket
from ..scan import capabilities as capmap
from ..scan import conditions
from ..scan.ticket import ResolvedTicket, resolve_ticket
from ..wire.faults import SoapFault
from .snapshot import offered_formats

if TYPE_CHECKING:
    from ..app import ServedScanner

log = logging.getLogger(__name__)

JOB_NAME = "Scan from the status page"
"""The JobName of a scan started from the page (GetJobHistory and the page show it)."""

MIME_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "pdf": "application/pdf"}
ENCODER_FORMATS = {"png": "png", "jpeg": "jfif", "pdf": "jfif"}  # PDF pages are JPEG images


class FormError(ValueError):
    """The form asks for something this scanner does not offer (HTTP 400); ``str()`` says what."""


class Busy(Exception):
    """The scanner cannot take the job now (HTTP 503): another job is active, or the device
    could not start; ``str()`` says why and what to do."""


@dataclass(frozen=True)
class ScanForm:
    """A checked scan form: ``source``, colour ``mode``, ``resolution`` in dpi and ``format``
    (``png``, ``jpeg`` or ``pdf``)."""

    source: Source
    mode: ColorMode
    resolution: int
    format: str

    @property
    def mime(self) -> str:
        """The Content-Type of the file sent."""
        return MIME_TYPES[self.format]

    @property
    def one_side(self) -> bool:
        """True for PNG and JPEG: one file holds one side, so the job scans one."""
        return self.format != "pdf"


def _choice(args: Mapping[str, str], name: str, default: str, allowed: list[str]) -> str:
    value = (args.get(name) or default).strip()
    if value not in allowed:
        raise FormError(f"{name} {value[:40]!r} is not offered by this scanner; choose one of: {', '.join(allowed)}")
    return value


def parse_form(args: Mapping[str, str], served: ServedScanner) -> ScanForm:
    """Check the form fields ``source`` (``Flatbed``, ``ADF``, ``ADF Duplex``), ``mode``
    (``Color``, ``Gray``, ``Lineart``), ``resolution`` (dpi) and ``format`` (``png``, ``jpeg``,
    ``pdf``) against ``served``; a missing field takes the scanner's default.
    Raises :class:`FormError` naming the field and the values offered."""
    caps = served.service.capabilities
    default_source = capmap.default_source(caps)
    source = Source(_choice(args, "source", default_source.value, [s.value for s in caps.sources]))
    source_caps = caps.sources[source]
    modes = [m.value for m in source_caps.modes]
    mode = ColorMode(_choice(args, "mode", capmap.default_mode(caps, source_caps).value, modes))
    resolutions = [str(r) for r in source_caps.resolutions]
    default_dpi = str(capmap.default_resolution(caps, source_caps))
    resolution = int(_choice(args, "resolution", default_dpi, resolutions))
    formats = offered_formats(served)
    fmt = _choice(args, "format", formats[0], formats)
    return ScanForm(source, mode, resolution, fmt)


def ticket_of(form: ScanForm, client: str) -> ScanTicket:
    """The WS-Scan ScanTicket of ``form``, named :data:`JOB_NAME`, by ``client`` (the browser's address)."""
    document = DocumentParameters(
        format=ENCODER_FORMATS[form.format],
        images_to_transfer=1 if form.one_side or form.source is Source.FLATBED else 0,
        input_source=capmap.INPUT_SOURCE[form.source],
        media_front=MediaSide(
            color_processing=capmap.COLOR_ENTRY[form.mode], resolution=Resolution(form.resolution, form.resolution)
        ),
    )
    return ScanTicket(JobDescription(JOB_NAME, client or "browser"), document)


def resolve(form: ScanForm, served: ServedScanner, client: str) -> ResolvedTicket:
    """Resolve ``form`` as CreateScanJob resolves a ticket (the same clamping and memory budget).
    Raises :class:`FormError` when the ticket rules refuse it (e.g. a page over ``max_page_mib``)."""
    service = served.service
    settings = service.settings
    try:
        return resolve_ticket(
            ticket_of(form, client),
            service.capabilities,
            ("png", "jfif"),
            ENCODER_FORMATS[form.format],
            settings.jpeg_quality,
            settings.max_page_bytes,
        )
    except SoapFault as fault:
        raise FormError(fault.reason) from None


def failure_text(error: ScannerError) -> str:
    """The sentence shown for a device failure: what happened, then what to do."""
    advice = conditions.advice_for(error.condition)
    return f"{error.message}. {advice}".strip() if advice else error.message


async def start_job(served: ServedScanner, form: ScanForm, client: str) -> JobRun[ResolvedTicket]:
    """Create the job and start scanning its first side. Raises :class:`FormError` (the ticket
    rules refuse the form) or :class:`Busy` (another job is active, or the device cannot start:
    the job has then ended with the device's condition on the scanner status)."""
    resolved = resolve(form, served, client)
    service = served.service
    await service.runs.closing.wait()
    try:
        job = service.jobs.create(ticket_of(form, client), resolved.final, resolved.image_information)
    except ScannerBusy:
        raise Busy("The scanner is busy with another job; try again when it has ended.") from None
    run = service.runs.add(job, service.scanner, resolved.params, resolved.max_pages, resolved)
    log.info(
        "job %d created (status page, %s): %s %s %d dpi %s",
        job.job_id,
        client,
        form.source.value,
        form.mode.value,
        form.resolution,
        form.format,
    )
    try:
        await service.runs.start(run)
    except ScannerError as error:
        raise Busy(failure_text(error)) from None
    return run


async def first_side(served: ServedScanner, run: JobRun[ResolvedTicket], form: ScanForm) -> EncodedSide:
    """Wait for the job's first side. Raises :class:`Busy` with what happened and what to do when
    there is none (the device failed, the feeder is empty, the job was canceled)."""
    try:
        side = await _side(served, run, form)
    except ScannerError as error:
        raise Busy(failure_text(error)) from None
    if side is None:
        failure = run.failure or ScannerError(Condition.NO_DOCS, "Document feeder out of documents")
        if run.job.state == CANCELED and run.failure is None:
            raise Busy(f"The job was canceled ({run.job.state}).")
        raise Busy(failure_text(failure))
    return side


async def _side(served: ServedScanner, run: JobRun[ResolvedTicket], form: ScanForm) -> EncodedSide | None:
    job = run.job
    name = f"scan{job.job_id}-{job.scans_completed + 1}"
    service = served.service
    return await next_side(service.runs, run, ENCODER_FORMATS[form.format], service.executor, name)


async def document(
    served: ServedScanner, run: JobRun[ResolvedTicket], form: ScanForm, first: EncodedSide
) -> AsyncGenerator[bytes, None]:
    """The file's bytes, from ``first`` (see :func:`first_side`) on: that side as PNG or JPEG, or
    every side of the job as one PDF. Stopping early (the browser went away) aborts the job;
    a device failure after the first side ends the PDF early (``ScannerError`` is raised)."""
    if form.one_side:
        async for chunk in first.chunks:
            yield chunk
        return
    writer = PdfWriter()
    yield writer.begin()
    side: EncodedSide | None = first
    while side is not None:
        yield writer.page_start(side.raster)
        async for chunk in side.chunks:
            yield writer.image_data(chunk)
        yield writer.page_end(side.raster.height)
        side = await _side(served, run, form)
    yield writer.finish()
