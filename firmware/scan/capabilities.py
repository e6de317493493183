"""What the driver reports, as WS-Scan elements: ScannerDescription, ScannerConfiguration,
DefaultScanTicket (REFERENCE.md section 2.1, 2.2, 2.4).

Names: SANE source Flatbed -> Platen, ADF -> ADF (ADF Duplex sets
ADFSupportsDuplex and adds ADFBack); modes Color -> RGB24, Gray -> Grayscale8,
Lineart -> BlackAndWhite1. Sizes: mm -> 1/1000 inch.
"""

from __future__ import annotations

from drivers.base import Capabilities, ColorMode, ScannerInfo, Source, SourceCapabilities

from ..model import (
    DeviceSettings,
    DocumentParameters,
    Exposure,
    JobDescription,
    MediaSide,
    Resolution,
    Scaling,
    ScannerConfiguration,
    ScannerDescription,
    ScanRegion,
    ScanTicket,
    Size,
    SourceSettings,
)
from ..model.enums import ContentType, InputSource
from ..naming import numbered
from .units import mm_to_thousandths

COLOR_ENTRY = {ColorMode.COLOR: "RGB24", ColorMode.GRAY: "Grayscale8", ColorMode.LINEART: "BlackAndWhite1"}
MODE_OF_COLOR_ENTRY = {entry: mode for mode, entry in COLOR_ENTRY.items()}
INPUT_SOURCE = {
    Source.FLATBED: InputSource.PLATEN,
    Source.ADF: InputSource.ADF,
    Source.ADF_DUPLEX: InputSource.ADF_DUPLEX,
}
SOURCE_OF_INPUT: dict[str, Source] = {name: source for source, name in INPUT_SOURCE.items()}
CONTENT_TYPES: tuple[str, ...] = tuple(ContentType)


def max_size(source: SourceCapabilities) -> Size:
    """The source's maximum scan area in 1/1000 inch."""
    return Size(mm_to_thousandths(source.max_width_mm), mm_to_thousandths(source.max_height_mm))


def min_size(source: SourceCapabilities) -> Size:
    """The source's minimum scan area in 1/1000 inch (at least 1, as the XSD requires)."""
    return Size(max(1, mm_to_thousandths(source.min_width_mm)), max(1, mm_to_thousandths(source.min_height_mm)))


def source_settings(source: SourceCapabilities) -> SourceSettings:
    """Platen/ADFFront/ADFBack settings: resolutions (dpi), colour entries, min and max sizes; the
    optical resolution (dpi) with Width and Height, as every real device sends it."""
    optical = source.optical_resolution or max(source.resolutions)
    return SourceSettings(
        optical_resolution=Resolution(optical, optical),
        widths=tuple(source.resolutions),
        heights=tuple(source.resolutions),
        colors=tuple(COLOR_ENTRY[mode] for mode in source.modes),
        minimum_size=min_size(source),
        maximum_size=max_size(source),
    )


def scanner_configuration(caps: Capabilities, formats: tuple[str, ...]) -> ScannerConfiguration:
    """Build ScannerConfiguration from driver capabilities; ``formats`` are the FormatValues we encode."""
    settings = DeviceSettings(
        formats=formats,
        content_types=CONTENT_TYPES,
        brightness=caps.brightness,
        contrast=caps.contrast,
    )
    platen = caps.sources.get(Source.FLATBED)
    adf = caps.sources.get(Source.ADF) or caps.sources.get(Source.ADF_DUPLEX)
    duplex = caps.sources.get(Source.ADF_DUPLEX)
    return ScannerConfiguration(
        device_settings=settings,
        platen=source_settings(platen) if platen else None,
        adf_front=source_settings(adf) if adf else None,
        adf_back=source_settings(duplex) if duplex else None,
        adf_supports_duplex=duplex is not None,
    )


def default_source(caps: Capabilities) -> Source:
    """The source used when a ticket names none: the flatbed if there is one, else the feeder."""
    for source in (Source.FLATBED, Source.ADF, Source.ADF_DUPLEX):
        if source in caps.sources:
            return source
    raise ValueError("the scanner reports no source")


def default_mode(caps: Capabilities, source: SourceCapabilities) -> ColorMode:
    """The driver's default mode if the source offers it, else the source's first mode."""
    return caps.default_mode if caps.default_mode in source.modes else source.modes[0]


def default_resolution(caps: Capabilities, source: SourceCapabilities) -> int:
    """The driver's default resolution if offered, else the offered one closest to 300 dpi."""
    if caps.default_resolution in source.resolutions:
        return caps.default_resolution
    return min(source.resolutions, key=lambda dpi: abs(dpi - 300))


def default_ticket(caps: Capabilities, default_format: str) -> ScanTicket:
    """The DefaultScanTicket: default source, mode and resolution over the whole area."""
    source = default_source(caps)
    source_caps = caps.sources[source]
    size = max_size(source_caps)
    dpi = default_resolution(caps, source_caps)
    return ScanTicket(
        job_description=JobDescription(job_name="Scan", job_originating_user_name="wsd-scan-server"),
        document_parameters=DocumentParameters(
            format=default_format,
            compression_quality_factor=0,
            images_to_transfer=1 if source is Source.FLATBED else 0,
            input_source=INPUT_SOURCE[source],
            content_type=ContentType.AUTO,
            input_size=size,
            exposure=Exposure(contrast=0, brightness=0, sharpness=0),
            scaling=Scaling(100, 100),
            rotation=0,
            media_front=MediaSide(
                scan_region=ScanRegion(width=size.width, height=size.height, x_offset=0, y_offset=0),
                color_processing=COLOR_ENTRY[default_mode(caps, source_caps)],
                resolution=Resolution(dpi, dpi),
            ),
        ),
    )


def scanner_description(
    info: ScannerInfo, friendly_name: str | None = None, name_number: int = 1
) -> ScannerDescription:
    """ScannerDescription: the friendly name (default "<vendor> <model>", numbered with
    ``name_number`` as :func:`firmware.naming.numbered` does) and the SANE device name as ScannerInfo."""
    name = friendly_name[:127] if friendly_name else numbered(f"{info.vendor} {info.model}".strip(), name_number, 127)
    return ScannerDescription(name=name, info=f"SANE device {info.name}"[:127])
