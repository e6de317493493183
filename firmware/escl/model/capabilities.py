"""ScannerCapabilities (``GET ScannerCapabilities``) and the InputCaps of each input."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from firmware.wire.xml import Element, element, sub, text_of

from .base import (
    ESCL_VERSION,
    INTENTS,
    EsclModelError,
    _child,
    _children,
    _int,
    _require,
    _root,
    _text,
    pwg,
    scan,
)

# --- ScannerCapabilities ----------------------------------------------------------


@dataclass(frozen=True)
class InputCaps:
    """scan:PlatenInputCaps / AdfSimplexInputCaps / AdfDuplexInputCaps: sizes in 1/300 inch,
    discrete ``resolutions`` in dpi (the same both ways), colour modes, MIME ``formats``
    (written as pwg:DocumentFormat and scan:DocumentFormatExt), intents, optical resolution."""

    min_width: int
    max_width: int
    min_height: int
    max_height: int
    color_modes: tuple[str, ...]
    formats: tuple[str, ...]
    resolutions: tuple[int, ...]
    intents: tuple[str, ...] = INTENTS
    max_optical_resolution: int | None = None
    max_scan_regions: int = 1

    def to_xml(self, tag: str) -> Element:
        """The element ``tag`` (e.g. ``scan("PlatenInputCaps")``)."""
        el = element(tag)
        sub(el, scan("MinWidth"), self.min_width)
        sub(el, scan("MaxWidth"), self.max_width)
        sub(el, scan("MinHeight"), self.min_height)
        sub(el, scan("MaxHeight"), self.max_height)
        sub(el, scan("MaxScanRegions"), self.max_scan_regions)
        profile = sub(sub(el, scan("SettingProfiles")), scan("SettingProfile"))
        modes = sub(profile, scan("ColorModes"))
        for mode in self.color_modes:
            sub(modes, scan("ColorMode"), mode)
        formats = sub(profile, scan("DocumentFormats"))
        for fmt in self.formats:
            sub(formats, pwg("DocumentFormat"), fmt)
        for fmt in self.formats:
            sub(formats, scan("DocumentFormatExt"), fmt)
        discrete = sub(sub(profile, scan("SupportedResolutions")), scan("DiscreteResolutions"))
        for dpi in self.resolutions:
            resolution = sub(discrete, scan("DiscreteResolution"))
            sub(resolution, scan("XResolution"), dpi)
            sub(resolution, scan("YResolution"), dpi)
        sub(sub(profile, scan("ColorSpaces")), scan("ColorSpace"), "sRGB")
        intents = sub(el, scan("SupportedIntents"))
        for intent in self.intents:
            sub(intents, scan("Intent"), intent)
        if self.max_optical_resolution is not None:
            sub(el, scan("MaxOpticalXResolution"), self.max_optical_resolution)
            sub(el, scan("MaxOpticalYResolution"), self.max_optical_resolution)
        return el

    @classmethod
    def from_xml(cls, el: Element) -> Self:
        """Parse one input caps element (the first SettingProfile). Raises :class:`EsclModelError`."""
        profile = _child(_child(el, "SettingProfiles") or el, "SettingProfile")
        if profile is None:
            raise EsclModelError("SettingProfile is missing")
        modes_el, formats_el = _child(profile, "ColorModes"), _child(profile, "DocumentFormats")
        supported = _child(profile, "SupportedResolutions")
        discrete = _child(supported, "DiscreteResolutions") if supported is not None else None
        resolutions = []
        for resolution in _children(discrete, "DiscreteResolution") if discrete is not None else ():
            x = _int(resolution, "XResolution", 1, 100_000)
            _require(x, "XResolution")
            resolutions.append(int(x or 0))
        formats = [text_of(f) or "" for f in _children(formats_el, "DocumentFormat")] if formats_el else []
        intents_el = _child(el, "SupportedIntents")
        values = {k: _int(el, k) for k in ("MinWidth", "MaxWidth", "MinHeight", "MaxHeight")}
        for key, value in values.items():
            _require(value, key)
        return cls(
            min_width=values["MinWidth"] or 0,
            max_width=values["MaxWidth"] or 0,
            min_height=values["MinHeight"] or 0,
            max_height=values["MaxHeight"] or 0,
            color_modes=tuple(text_of(m) or "" for m in _children(modes_el, "ColorMode")) if modes_el else (),
            formats=tuple(formats),
            resolutions=tuple(resolutions),
            intents=tuple(text_of(i) or "" for i in _children(intents_el, "Intent")) if intents_el else (),
            max_optical_resolution=_int(el, "MaxOpticalXResolution"),
            max_scan_regions=_int(el, "MaxScanRegions") or 1,
        )


@dataclass(frozen=True)
class ScannerCapabilities:
    """scan:ScannerCapabilities (``GET ScannerCapabilities``): identity, then per source its
    :class:`InputCaps` (None: the source does not exist). ``uuid`` without ``urn:uuid:``;
    ``admin_uri`` / ``icon_uri`` absolute URLs or None; ``feeder_capacity`` sheets."""

    make_and_model: str
    serial_number: str
    uuid: str
    platen: InputCaps | None = None
    adf_simplex: InputCaps | None = None
    adf_duplex: InputCaps | None = None
    admin_uri: str | None = None
    icon_uri: str | None = None
    feeder_capacity: int | None = None
    version: str = ESCL_VERSION

    def to_xml(self) -> Element:
        """The scan:ScannerCapabilities element."""
        el = element(scan("ScannerCapabilities"))
        sub(el, pwg("Version"), self.version)
        sub(el, pwg("MakeAndModel"), self.make_and_model)
        sub(el, pwg("SerialNumber"), self.serial_number)
        sub(el, scan("UUID"), self.uuid)
        if self.admin_uri is not None:
            sub(el, scan("AdminURI"), self.admin_uri)
        if self.icon_uri is not None:
            sub(el, scan("IconURI"), self.icon_uri)
        if self.platen is not None:
            sub(el, scan("Platen")).append(self.platen.to_xml(scan("PlatenInputCaps")))
        if self.adf_simplex is not None:
            adf = sub(el, scan("Adf"))
            adf.append(self.adf_simplex.to_xml(scan("AdfSimplexInputCaps")))
            if self.adf_duplex is not None:
                adf.append(self.adf_duplex.to_xml(scan("AdfDuplexInputCaps")))
            if self.feeder_capacity is not None:
                sub(adf, scan("FeederCapacity"), self.feeder_capacity)
            options = sub(adf, scan("AdfOptions"))
            sub(options, scan("AdfOption"), "DetectPaperLoaded")
            if self.adf_duplex is not None:
                sub(options, scan("AdfOption"), "Duplex")
        return el

    @classmethod
    def from_xml(cls, el: Element) -> Self:
        """Parse scan:ScannerCapabilities. Raises :class:`EsclModelError`."""
        _root(el, "ScannerCapabilities")
        platen_el = _child(el, "Platen")
        adf_el = _child(el, "Adf")

        def caps(parent: Element | None, local: str) -> InputCaps | None:
            found = _child(parent, local) if parent is not None else None
            return InputCaps.from_xml(found) if found is not None else None

        return cls(
            make_and_model=_text(el, "MakeAndModel") or "",
            serial_number=_text(el, "SerialNumber") or "",
            uuid=_text(el, "UUID") or "",
            platen=caps(platen_el, "PlatenInputCaps"),
            adf_simplex=caps(adf_el, "AdfSimplexInputCaps"),
            adf_duplex=caps(adf_el, "AdfDuplexInputCaps"),
            admin_uri=_text(el, "AdminURI"),
            icon_uri=_text(el, "IconURI"),
            feeder_capacity=_int(adf_el, "FeederCapacity") if adf_el is not None else None,
            version=_text(el, "Version") or ESCL_VERSION,
        )
