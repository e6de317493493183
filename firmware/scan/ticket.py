"""From a client's ScanTicket to what the device will do (CreateScanJob, ValidateScanTicket).

Order of checks ([SPEC] section 6.2, REFERENCE.md section 1.4, 2.4, 2.5):

1. an unsupported Format is always refused: ``ClientErrorFormatNotSupported``;
2. an unsupported InputSource, ColorProcessing, Resolution, Scaling or
   Rotation is refused with ``ClientErrorConflictingRequiredParameters`` when it
   carries ``wscn:MustHonor="true"``, else replaced by the nearest supported
   value and marked ``wscn:Override`` in DocumentFinalParameters;
3. geometry beyond the bed is clamped and marked ``wscn:Override``, never
   refused (Windows asks 8500 x 11700 whatever the bed);
4. a side whose raw image (8-bit samples) would exceed the memory budget
   (``max_page_bytes``, configuration key ``max_page_mib``) gets the highest
   supported resolution that fits, marked ``wscn:Override``; it is refused with
   ``ClientErrorConflictingRequiredParameters`` when its Resolution carries
   ``wscn:MustHonor="true"`` or when no resolution fits. Until RetrieveImage
   streams rows end to end, a scanned side is held whole in memory: the budget
   keeps one request from taking the device's memory.

Omitted elements take defaults and are marked ``wscn:UsedDefault``.
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.base import Capabilities, ColorMode, ScanParameters, Source, SourceCapabilities

from ..model import (
    DocumentParameters,
    Exposure,
    ImageInfo,
    ImageInformation,
    MediaSide,
    Resolution,
    Scaling,
    ScanRegion,
    ScanTicket,
    Size,
)
from ..model.enums import ContentType
from ..wire import faults
from . import capabilities as capmap
from .formats import bytes_per_line
from .units import pixels, thousandths_to_mm

LOSSY_FORMATS = frozenset({"jfif", "exif"})


@dataclass(frozen=True)
class ResolvedTicket:
    """A ticket the device can run.

    ``params``: driver settings (mm, dpi); ``final``: DocumentFinalParameters;
    ``image_information``: predicted image sizes; ``format``: the FormatValue to
    encode; ``max_pages``: sides to deliver (None = until the feeder is
    empty); ``quality``: JPEG quality 1..100; ``bilevel``: encode 1-bit.
    ``adjusted``: True when a value was overridden (ValidTicket false).
    """

    params: ScanParameters
    final: DocumentParameters
    image_information: ImageInformation
    format: str
    max_pages: int | None
    quality: int
    bilevel: bool
    adjusted: bool


class _Resolver:
    def __init__(self, dp: DocumentParameters) -> None:
        self.dp = dp
        self.override: set[str] = set()
        self.used_default: set[str] = set()

    def refuse_or_override(self, element: str, requested: object, supported: str) -> None:
        if element in self.dp.must_honor:
            raise faults.client_error_conflicting_required_parameters(
                f"{element} {requested!s:.40} cannot be honored; supported: {supported:.200}"
            )
        self.override.add(element)


def resolve_ticket(
    ticket: ScanTicket,
    caps: Capabilities,
    formats: tuple[str, ...],
    default_format: str,
    jpeg_quality: int,
    max_page_bytes: int | None = None,
) -> ResolvedTicket:
    """Resolve ``ticket`` against ``caps``, the encodable ``formats`` and the memory budget
    ``max_page_bytes`` (bytes of one side's raw image; None: no budget).

    Raises SoapFault ``ClientErrorFormatNotSupported`` or
    ``ClientErrorConflictingRequiredParameters`` (see the module docstring).
    """
    dp = ticket.document_parameters or DocumentParameters()
    r = _Resolver(dp)
    fmt = _format(r, formats, default_format)
    source = _source(r, caps)
    source_caps = caps.sources[source]
    front = dp.media_front or MediaSide()
    mode = _mode(r, caps, source_caps, front.color_processing)
    dpi = _resolution(r, caps, source_caps, front.resolution)
    region, area_mm = _region(r, dp, source_caps)
    dpi = _within_budget(r, source_caps, mode, dpi, area_mm, max_page_bytes)
    _no_transforms(r)
    max_pages = _max_pages(r, source)
    quality = _quality(r, fmt, jpeg_quality)
    content_type = _content_type(r)
    exposure = _exposure(r)
    if dp.input_size is None:
        r.used_default.add("InputSize")
    if dp.media_front is None or front.scan_region is None:
        r.used_default.add("ScanRegion")

    tl_x, tl_y, br_x, br_y = area_mm
    params = ScanParameters(
        source=source,
        mode=mode,
        resolution=dpi,
        tl_x_mm=tl_x,
        tl_y_mm=tl_y,
        br_x_mm=br_x,
        br_y_mm=br_y,
        brightness=exposure.brightness or 0,
        contrast=exposure.contrast or 0,
    )
    info = _image_info(fmt, params)
    duplex = source is Source.ADF_DUPLEX
    side = MediaSide(scan_region=region, color_processing=capmap.COLOR_ENTRY[mode], resolution=Resolution(dpi, dpi))
    final = DocumentParameters(
        format=fmt,
        compression_quality_factor=quality,
        images_to_transfer=(dp.images_to_transfer or 0) if source is not Source.FLATBED else 1,
        input_source=capmap.INPUT_SOURCE[source],
        content_type=content_type,
        input_size=Size(region.width, region.height),
        exposure=exposure,
        scaling=Scaling(100, 100),
        rotation=0,
        media_front=side,
        media_back=side if duplex else None,
        override=frozenset(r.override),
        used_default=frozenset(r.used_default),
    )
    return ResolvedTicket(
        params=params,
        final=final,
        image_information=ImageInformation(front=info, back=info if duplex else None),
        format=fmt,
        max_pages=max_pages,
        quality=quality,
        bilevel=mode is ColorMode.LINEART,
        adjusted=bool(r.override),
    )


def _format(r: _Resolver, formats: tuple[str, ...], default_format: str) -> str:
    """Format: ``default_format`` when omitted; one not in ``formats`` is always refused."""
    fmt = r.dp.format
    if fmt is None:
        r.used_default.add("Format")
        return default_format
    if fmt not in formats:
        raise faults.client_error_format_not_supported(list(formats))
    return fmt


def _no_transforms(r: _Resolver) -> None:
    """Scaling and Rotation: only 100 % and 0 degrees are done; others are refused or overridden."""
    scaling = r.dp.scaling
    if scaling is None:
        r.used_default.add("Scaling")
    elif (scaling.width, scaling.height) != (100, 100):
        r.refuse_or_override("Scaling", f"{scaling.width}x{scaling.height}", "100")
    rotation = r.dp.rotation
    if rotation is None:
        r.used_default.add("Rotation")
    elif rotation != 0:
        r.refuse_or_override("Rotation", rotation, "0")


def _max_pages(r: _Resolver, source: Source) -> int | None:
    """Sides to deliver: 1 from the flatbed; ImagesToTransfer from a feeder (0 or omitted: until empty)."""
    if r.dp.images_to_transfer is None:
        r.used_default.add("ImagesToTransfer")
    if source is Source.FLATBED:
        return 1
    return r.dp.images_to_transfer or None


def _quality(r: _Resolver, fmt: str, jpeg_quality: int) -> int:
    """CompressionQualityFactor 1..100: the requested or ``jpeg_quality`` for a lossy format, 100 otherwise."""
    lossy = fmt in LOSSY_FORMATS
    quality = r.dp.compression_quality_factor
    if quality is None:
        r.used_default.add("CompressionQualityFactor")
        quality = jpeg_quality if lossy else 100
    return max(1, min(100, quality)) if lossy else 100


def _content_type(r: _Resolver) -> str:
    """ContentType: a known one is echoed; an unknown one is refused or becomes Auto."""
    content_type = r.dp.content_type
    if content_type is None:
        r.used_default.add("ContentType")
        return ContentType.AUTO
    if content_type not in capmap.CONTENT_TYPES:
        r.refuse_or_override("ContentType", content_type, ContentType.AUTO)
        return ContentType.AUTO
    return content_type


def _exposure(r: _Resolver) -> Exposure:
    """Exposure clipped to the XSD ranges: brightness and contrast -1000..1000, sharpness -100..100."""
    exposure = r.dp.exposure or Exposure()
    if r.dp.exposure is None:
        r.used_default.add("Exposure")
    return Exposure(
        contrast=_clip(exposure.contrast or 0, -1000, 1000),
        brightness=_clip(exposure.brightness or 0, -1000, 1000),
        sharpness=_clip(exposure.sharpness or 0, -100, 100),
    )


def _image_info(fmt: str, params: ScanParameters) -> ImageInfo:
    """The predicted image of one side: pixels per line, lines and BytesPerLine in ``fmt``."""
    width_px = pixels(params.br_x_mm - params.tl_x_mm, params.resolution)
    channels = 3 if params.mode is ColorMode.COLOR else 1
    return ImageInfo(
        pixels_per_line=width_px,
        number_of_lines=pixels(params.br_y_mm - params.tl_y_mm, params.resolution),
        bytes_per_line=bytes_per_line(fmt, width_px, channels, params.mode is ColorMode.LINEART),
    )


def raw_side_bytes(mode: ColorMode, dpi: int, area_mm: tuple[float, float, float, float]) -> int:
    """Bytes of one side's raw image: pixels x lines x channels (8-bit samples, as the
    driver delivers them, lineart too) for the SANE area ``(tl_x, tl_y, br_x, br_y)`` in mm."""
    tl_x, tl_y, br_x, br_y = area_mm
    channels = 3 if mode is ColorMode.COLOR else 1
    return pixels(br_x - tl_x, dpi) * pixels(br_y - tl_y, dpi) * channels


def _within_budget(
    r: _Resolver,
    source: SourceCapabilities,
    mode: ColorMode,
    dpi: int,
    area_mm: tuple[float, float, float, float],
    budget: int | None,
) -> int:
    """The resolution (dpi) at which the side's raw image fits ``budget`` bytes: ``dpi`` when it
    does, else the highest supported lower one (Override). ClientErrorConflictingRequiredParameters
    when Resolution is MustHonor or no resolution fits."""
    if budget is None or raw_side_bytes(mode, dpi, area_mm) <= budget:
        return dpi
    fitting = [d for d in source.resolutions if raw_side_bytes(mode, d, area_mm) <= budget]
    if "Resolution" in r.dp.must_honor or not fitting:
        mib = 1024 * 1024
        raise faults.client_error_conflicting_required_parameters(
            f"a {dpi} dpi side of this size takes {raw_side_bytes(mode, dpi, area_mm) / mib:.0f} MiB uncompressed, "
            f"above this device's limit of {budget / mib:.0f} MiB; ask for a lower resolution or a smaller area"
        )
    r.override.add("Resolution")
    return max(fitting)


def _clip(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


def _source(r: _Resolver, caps: Capabilities) -> Source:
    requested = r.dp.input_source
    if requested is None:
        r.used_default.add("InputSource")
        return capmap.default_source(caps)
    source = capmap.SOURCE_OF_INPUT.get(requested)
    if source is not None and source in caps.sources:
        return source
    offered = " ".join(capmap.INPUT_SOURCE[s] for s in caps.sources)
    r.refuse_or_override("InputSource", requested, offered)
    if source is Source.ADF_DUPLEX and Source.ADF in caps.sources:
        return Source.ADF
    return capmap.default_source(caps)


def _mode(r: _Resolver, caps: Capabilities, source: SourceCapabilities, requested: str | None) -> ColorMode:
    if requested is None:
        r.used_default.add("ColorProcessing")
        return capmap.default_mode(caps, source)
    mode = capmap.MODE_OF_COLOR_ENTRY.get(requested)
    if mode is not None and mode in source.modes:
        return mode
    r.refuse_or_override("ColorProcessing", requested, " ".join(capmap.COLOR_ENTRY[m] for m in source.modes))
    if requested.startswith(("Grayscale", "BlackAndWhite")) and ColorMode.GRAY in source.modes:
        return ColorMode.GRAY
    return capmap.default_mode(caps, source)


def _resolution(r: _Resolver, caps: Capabilities, source: SourceCapabilities, requested: Resolution | None) -> int:
    if requested is None:
        r.used_default.add("Resolution")
        return capmap.default_resolution(caps, source)
    width = requested.width
    height = requested.height if requested.height is not None else width
    if width in source.resolutions and height == width:
        return width
    r.refuse_or_override("Resolution", f"{width}x{height}", " ".join(map(str, source.resolutions)))
    return min(source.resolutions, key=lambda dpi: (abs(dpi - width), -dpi))


EDGE_SLACK = 40
"""1/1000 inch (about 1 mm) by which a requested width or height may exceed the bed and still count
as "the whole bed": paper sizes rounded between millimetres and inches (A4 is 11.693 in; clients
send 11700, Letter-minded ones 11.7 in) are clamped to the bed without an Override, so a
MustHonor ticket for the full page stays valid. Anything further beyond the bed is clamped and
reported (Override, ValidTicket false)."""


def _region(
    r: _Resolver, dp: DocumentParameters, source: SourceCapabilities
) -> tuple[ScanRegion, tuple[float, float, float, float]]:
    """Clamp the requested area to the bed; return it in 1/1000 inch and as SANE mm (tl_x, tl_y, br_x, br_y).

    A width or height at most :data:`EDGE_SLACK` beyond the bed is clamped silently; any other
    clamped value is marked Override (REFERENCE.md: DocumentFinalParameters)."""
    bed = capmap.max_size(source)
    smallest = capmap.min_size(source)
    requested = dp.media_front.scan_region if dp.media_front else None
    media = dp.input_size or bed
    x = requested.x_offset or 0 if requested else 0
    y = requested.y_offset or 0 if requested else 0
    width = requested.width if requested else media.width
    height = requested.height if requested else media.height

    def clamp(name: str, value: int, low: int, high: int, slack: int = 0) -> int:
        clamped = max(low, min(high, value))
        if clamped != value and not high < value <= high + slack:
            r.override.add(name)
        return clamped

    x = clamp("ScanRegionXOffset", x, 0, bed.width - smallest.width)
    y = clamp("ScanRegionYOffset", y, 0, bed.height - smallest.height)
    width = clamp("ScanRegionWidth", width, smallest.width, bed.width - x, EDGE_SLACK)
    height = clamp("ScanRegionHeight", height, smallest.height, bed.height - y, EDGE_SLACK)
    region = ScanRegion(width=width, height=height, x_offset=x, y_offset=y)

    # An edge on the bed's border uses the driver's exact limit, so the device scans
    # exactly what a local frontend asking for the whole bed gets (no rounding through 1/1000 inch).
    def to_mm(thousandths: int, limit_thousandths: int, limit_mm: float) -> float:
        return limit_mm if thousandths >= limit_thousandths else thousandths_to_mm(thousandths)

    tl_x = to_mm(x, bed.width, source.max_width_mm)
    tl_y = to_mm(y, bed.height, source.max_height_mm)
    br_x = to_mm(x + width, bed.width, source.max_width_mm)
    br_y = to_mm(y + height, bed.height, source.max_height_mm)
    return region, (tl_x, tl_y, br_x, br_y)
