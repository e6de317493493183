"""What the driver reports, as eSCL ScannerCapabilities; the document formats eSCL offers.

Sizes: SANE millimetres -> 1/300 inch (a maximum rounded down, so it never exceeds the bed;
a minimum rounded up). Sources: Flatbed -> Platen, ADF -> AdfSimplexInputCaps, ADF Duplex ->
AdfDuplexInputCaps. Colour modes: Color -> RGB24, Gray -> Grayscale8, Lineart -> BlackAndWhite1.

Formats follow the configuration's WS-Scan ``formats`` so one setting governs both protocols:
``png`` offers image/png; ``jfif`` or ``exif`` offer image/jpeg and application/pdf (PDF pages
are JPEG images, :mod:`firmware.escl.pdf`). A configuration with neither offers image/png.
"""

from __future__ import annotations

import math

from drivers.base import Capabilities, ColorMode, Source, SourceCapabilities

from .model import ColorMode as EsclColorMode
from .model import InputCaps, ScannerCapabilities

MM_PER_INCH = 25.4
JPEG = "image/jpeg"
PNG = "image/png"
PDF = "application/pdf"

COLOR_MODES: dict[ColorMode, EsclColorMode] = {
    ColorMode.COLOR: EsclColorMode.RGB24,
    ColorMode.GRAY: EsclColorMode.GRAYSCALE8,
    ColorMode.LINEART: EsclColorMode.BLACK_AND_WHITE1,
}
MODE_OF: dict[str, ColorMode] = {value: mode for mode, value in COLOR_MODES.items()}


def to_300(mm: float, up: bool = False) -> int:
    """Millimetres to 1/300 inch: rounded down (``up``: rounded up); 200 mm -> 2362."""
    value = mm / MM_PER_INCH * 300
    return math.ceil(value - 1e-9) if up else math.floor(value + 1e-9)


def escl_formats(wsd_formats: tuple[str, ...]) -> tuple[str, ...]:
    """The MIME types eSCL offers for the configured WS-Scan FormatValues (see the module docstring)."""
    offered: list[str] = []
    for fmt in wsd_formats:
        if fmt == "png" and PNG not in offered:
            offered.append(PNG)
        if fmt in ("jfif", "exif") and JPEG not in offered:
            offered += [JPEG, PDF]
    return tuple(offered) or (PNG,)


def wsd_format_of(mime: str) -> str:
    """The FormatValue the band encoders write for eSCL MIME type ``mime`` (PDF pages are jfif)."""
    return "png" if mime == PNG else "jfif"


def input_caps(source: SourceCapabilities, formats: tuple[str, ...]) -> InputCaps:
    """One source's InputCaps: sizes in 1/300 inch, its resolutions (dpi) and colour modes."""
    max_width, max_height = to_300(source.max_width_mm), to_300(source.max_height_mm)
    return InputCaps(
        min_width=min(max(1, to_300(source.min_width_mm, up=True)), max_width - 1),
        max_width=max_width,
        min_height=min(max(1, to_300(source.min_height_mm, up=True)), max_height - 1),
        max_height=max_height,
        color_modes=tuple(COLOR_MODES[m] for m in source.modes),
        formats=formats,
        resolutions=tuple(source.resolutions),
        max_optical_resolution=source.optical_resolution or max(source.resolutions),
    )


def scanner_capabilities(
    caps: Capabilities,
    formats: tuple[str, ...],
    make_and_model: str,
    serial_number: str,
    uuid: str,
    admin_uri: str | None = None,
    icon_uri: str | None = None,
) -> ScannerCapabilities:
    """ScannerCapabilities for the driver's ``caps`` offering MIME ``formats``; ``uuid`` bare (no ``urn:uuid:``)."""
    sources = caps.sources
    platen = sources.get(Source.FLATBED)
    adf = sources.get(Source.ADF)
    duplex = sources.get(Source.ADF_DUPLEX)
    feeder = adf or duplex
    return ScannerCapabilities(
        make_and_model=make_and_model,
        serial_number=serial_number,
        uuid=uuid,
        platen=input_caps(platen, formats) if platen else None,
        adf_simplex=input_caps(feeder, formats) if feeder else None,
        adf_duplex=input_caps(duplex, formats) if duplex else None,
        admin_uri=admin_uri,
        icon_uri=icon_uri,
        feeder_capacity=50 if feeder else None,
    )
