"""ScanSettings, the body of ``POST ScanJobs``, and its pwg:ScanRegion (1/300 inch)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from firmware.wire.xml import Element, element, sub

from .base import (
    THREE_HUNDREDTHS,
    EsclModelError,
    _bool,
    _child,
    _children,
    _int,
    _require,
    _root,
    _text,
    pwg,
    scan,
)

# --- ScanSettings (POST ScanJobs) -----------------------------------------------


@dataclass(frozen=True)
class ScanRegion:
    """pwg:ScanRegion: offsets and size in 1/300 inch from the top-left of the source's area."""

    width: int
    height: int
    x_offset: int = 0
    y_offset: int = 0

    def to_xml(self) -> Element:
        """The pwg:ScanRegion element (units escl:ThreeHundredthsOfInches)."""
        el = element(pwg("ScanRegion"))
        sub(el, pwg("ContentRegionUnits"), THREE_HUNDREDTHS)
        sub(el, pwg("XOffset"), self.x_offset)
        sub(el, pwg("YOffset"), self.y_offset)
        sub(el, pwg("Width"), self.width)
        sub(el, pwg("Height"), self.height)
        return el

    @classmethod
    def from_xml(cls, el: Element) -> Self:
        """Parse a pwg:ScanRegion. Raises :class:`EsclModelError` for other units or missing sizes."""
        units = _text(el, "ContentRegionUnits")
        if units is not None and units != THREE_HUNDREDTHS:
            raise EsclModelError(f"ContentRegionUnits {units!r:.60} is not supported (only {THREE_HUNDREDTHS})")
        width, height = _int(el, "Width", 1), _int(el, "Height", 1)
        _require(width, "Width")
        _require(height, "Height")
        assert width is not None and height is not None
        return cls(width, height, _int(el, "XOffset") or 0, _int(el, "YOffset") or 0)


@dataclass(frozen=True)
class ScanSettings:
    """scan:ScanSettings, the body of ``POST ScanJobs`` (every field optional on the wire).

    ``input_source``: Platen / Feeder / Camera; ``duplex`` for a feeder; ``color_mode``
    RGB24 / Grayscale8 / BlackAndWhite1; ``document_format`` (pwg:DocumentFormat) and
    ``document_format_ext`` (scan:DocumentFormatExt, which wins when both are given) MIME
    types; ``x_resolution`` / ``y_resolution`` dpi; ``regions`` in 1/300 inch; ``intent``
    Document, Photo, ...
    """

    version: str = "2.0"
    intent: str | None = None
    regions: tuple[ScanRegion, ...] = ()
    input_source: str | None = None
    duplex: bool | None = None
    color_mode: str | None = None
    document_format: str | None = None
    document_format_ext: str | None = None
    x_resolution: int | None = None
    y_resolution: int | None = None

    @property
    def format(self) -> str | None:
        """The MIME type asked for: DocumentFormatExt first, else DocumentFormat (None: either omitted)."""
        return self.document_format_ext or self.document_format

    def to_xml(self) -> Element:
        """The scan:ScanSettings element (as a client sends it)."""
        el = element(scan("ScanSettings"))
        sub(el, pwg("Version"), self.version)
        if self.intent is not None:
            sub(el, scan("Intent"), self.intent)
        if self.regions:
            regions = sub(el, pwg("ScanRegions"))
            for region in self.regions:
                regions.append(region.to_xml())
        if self.input_source is not None:
            sub(el, pwg("InputSource"), self.input_source)
        if self.duplex is not None:
            sub(el, scan("Duplex"), self.duplex)
        if self.color_mode is not None:
            sub(el, scan("ColorMode"), self.color_mode)
        if self.document_format is not None:
            sub(el, pwg("DocumentFormat"), self.document_format)
        if self.document_format_ext is not None:
            sub(el, scan("DocumentFormatExt"), self.document_format_ext)
        if self.x_resolution is not None:
            sub(el, scan("XResolution"), self.x_resolution)
        if self.y_resolution is not None:
            sub(el, scan("YResolution"), self.y_resolution)
        return el

    @classmethod
    def from_xml(cls, el: Element) -> Self:
        """Parse scan:ScanSettings. Raises :class:`EsclModelError` for another root element or a bad value."""
        _root(el, "ScanSettings")
        regions_el = _child(el, "ScanRegions")
        regions = tuple(ScanRegion.from_xml(r) for r in _children(regions_el, "ScanRegion")) if regions_el else ()
        return cls(
            version=_text(el, "Version") or "2.0",
            intent=_text(el, "Intent"),
            regions=regions,
            input_source=_text(el, "InputSource"),
            duplex=_bool(el, "Duplex"),
            color_mode=_text(el, "ColorMode"),
            document_format=_text(el, "DocumentFormat"),
            document_format_ext=_text(el, "DocumentFormatExt"),
            x_resolution=_int(el, "XResolution", 1, 100_000),
            y_resolution=_int(el, "YResolution", 1, 100_000),
        )
