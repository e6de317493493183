"""From eSCL ScanSettings to a job the shared pipeline runs (``POST ScanJobs``).

The settings become a WS-Scan :class:`~firmware.model.ScanTicket` and go through the same
:func:`~firmware.scan.ticket.resolve_ticket` as a CreateScanJob, so both protocols scan with
one set of rules (clamping, the bed edge, defaults) and their jobs share the job table.

eSCL has no "override": a source, colour mode, resolution or format the scanner does not offer
is refused with :class:`Conflict` (HTTP 409, what eSCL clients expect for settings the device
cannot honour). The scan region is clamped to the bed; an edge at or beyond the advertised
maximum (1/300 inch) is the bed's exact edge, so a whole-bed eSCL scan equals a local one.
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.base import Capabilities, Source

from ..model import DocumentParameters, JobDescription, MediaSide, Resolution, ScanTicket
from ..model import ScanRegion as WsdScanRegion
from ..scan import capabilities as capmap
from ..scan.ticket import ResolvedTicket, resolve_ticket
from ..wire.faults import SoapFault
from .capabilities import MODE_OF, PDF, to_300, wsd_format_of
from .model import InputSource, ScanSettings


class Conflict(Exception):
    """The settings ask for something this scanner cannot do (HTTP 409); ``str()`` says what."""


@dataclass(frozen=True)
class EsclPlan:
    """A resolved eSCL job: the WS-Scan ``resolved`` ticket the runner uses, the MIME type
    ``mime`` sent to the client, and whether a feeder batch is one PDF (``one_document``)."""

    resolved: ResolvedTicket
    mime: str

    @property
    def one_document(self) -> bool:
        """True for PDF: every side of the job goes into one document (one NextDocument)."""
        return self.mime == PDF


def _source(settings: ScanSettings, caps: Capabilities) -> Source:
    requested = settings.input_source
    if requested is None:
        return capmap.default_source(caps)
    if requested == InputSource.PLATEN:
        source = Source.FLATBED
    elif requested == InputSource.FEEDER:
        source = Source.ADF_DUPLEX if settings.duplex else Source.ADF
    else:
        raise Conflict(f"InputSource {requested!r:.40} is not offered")
    if source not in caps.sources:
        raise Conflict(f"InputSource {requested}{' (duplex)' if settings.duplex else ''} is not offered")
    return source


def _thousandths(value_300: int) -> int:
    return round(value_300 * 10 / 3)


def resolve_settings(
    settings: ScanSettings,
    caps: Capabilities,
    formats: tuple[str, ...],
    jpeg_quality: int,
    client: str = "",
) -> EsclPlan:
    """Resolve ``settings`` against the driver's ``caps`` and the offered MIME ``formats``.

    ``client``: who asked (the job's JobOriginatingUserName). Raises :class:`Conflict` for an
    unoffered source, colour mode, resolution (or different X and Y resolutions) or format.
    """
    source = _source(settings, caps)
    source_caps = caps.sources[source]
    mime = settings.format or formats[0]
    if mime not in formats:
        raise Conflict(f"DocumentFormat {mime!r:.60} is not offered; offered: {', '.join(formats)}")
    mode = capmap.default_mode(caps, source_caps)
    if settings.color_mode is not None:
        chosen = MODE_OF.get(settings.color_mode)
        if chosen is None or chosen not in source_caps.modes:
            raise Conflict(f"ColorMode {settings.color_mode!r:.40} is not offered")
        mode = chosen
    x, y = settings.x_resolution, settings.y_resolution
    dpi = capmap.default_resolution(caps, source_caps) if x is None and y is None else (x or y)
    if (x is not None and y is not None and x != y) or dpi not in source_caps.resolutions:
        raise Conflict(f"resolution {x}x{y} is not offered; offered: {' '.join(map(str, source_caps.resolutions))}")

    bed = capmap.max_size(source_caps)
    region = None
    if settings.regions:
        r = settings.regions[0]
        max_w, max_h = to_300(source_caps.max_width_mm), to_300(source_caps.max_height_mm)
        x_off, y_off = _thousandths(r.x_offset), _thousandths(r.y_offset)
        width = bed.width - x_off if r.x_offset + r.width >= max_w else _thousandths(r.width)
        height = bed.height - y_off if r.y_offset + r.height >= max_h else _thousandths(r.height)
        region = WsdScanRegion(width=max(1, width), height=max(1, height), x_offset=x_off, y_offset=y_off)
    document = DocumentParameters(
        format=wsd_format_of(mime),
        images_to_transfer=1 if source is Source.FLATBED else 0,
        input_source=capmap.INPUT_SOURCE[source],
        media_front=MediaSide(
            scan_region=region, color_processing=capmap.COLOR_ENTRY[mode], resolution=Resolution(dpi, dpi)
        ),
    )
    ticket = ScanTicket(JobDescription("eSCL scan", client or "eSCL client"), document)
    try:
        resolved = resolve_ticket(ticket, caps, ("png", "jfif"), wsd_format_of(mime), jpeg_quality)
    except SoapFault as fault:  # validated above; kept so a new ticket rule can only refuse, never crash
        raise Conflict(fault.reason) from None
    return EsclPlan(resolved, mime)
