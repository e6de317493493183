"""The typed eSCL model (Mopria eSCL Scan Technical Specification 2.x): ScanSettings,
ScannerCapabilities, ScannerStatus (with JobInfo) and ScanImageInfo, one ``to_xml`` and one
``from_xml`` each.

Elements live in two namespaces: ``scan:`` (:data:`~firmware.wire.namespaces.ESCL`) and
``pwg:`` (:data:`~firmware.wire.namespaces.PWG`), written with exactly those prefixes (clients
such as sane-airscan match ``scan:ScannerCapabilities`` by its prefixed name). Lengths are in
1/300 inch (``escl:ThreeHundredthsOfInches``), resolutions in dpi.

Parsing is lenient where clients differ: an element is found by its local name in either
namespace (sane-backends sends ``scan:InputSource`` next to ``pwg:InputSource``; some clients
put DocumentFormat in ``scan:``). A value that is not what the schema allows raises
:class:`EsclModelError` (the server answers HTTP 400).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Self

from ..wire import namespaces as ns
from ..wire.xml import Element, element, local_name, namespace_of, sub, text_of

ESCL_VERSION = "2.63"
"""The eSCL version this server implements (pwg:Version of ScannerCapabilities and ScannerStatus)."""

THREE_HUNDREDTHS = "escl:ThreeHundredthsOfInches"
"""The one ContentRegionUnits value eSCL clients send."""


class EsclModelError(ValueError):
    """An eSCL document that cannot be read: a missing or badly typed element (HTTP 400)."""


def scan(local: str) -> str:
    """Clark tag of an eSCL ``scan:`` element."""
    return f"{{{ns.ESCL}}}{local}"


def pwg(local: str) -> str:
    """Clark tag of a PWG ``pwg:`` element."""
    return f"{{{ns.PWG}}}{local}"


class State(enum.StrEnum):
    """pwg:State of ScannerStatus (PWG 5108.01 ScannerState)."""

    IDLE = "Idle"
    PROCESSING = "Processing"
    TESTING = "Testing"
    STOPPED = "Stopped"
    DOWN = "Down"


class AdfState(enum.StrEnum):
    """scan:AdfState values the server writes (the spellings sane-airscan and sane-backends read:
    ``ScannerAdfDoorOpen`` is their cover-open value)."""

    LOADED = "ScannerAdfLoaded"
    EMPTY = "ScannerAdfEmpty"
    PROCESSING = "ScannerAdfProcessing"
    JAM = "ScannerAdfJam"
    DOOR_OPEN = "ScannerAdfDoorOpen"


class InputSource(enum.StrEnum):
    """pwg:InputSource of ScanSettings."""

    PLATEN = "Platen"
    FEEDER = "Feeder"
    CAMERA = "Camera"


class ColorMode(enum.StrEnum):
    """scan:ColorMode values this server offers."""

    RGB24 = "RGB24"
    GRAYSCALE8 = "Grayscale8"
    BLACK_AND_WHITE1 = "BlackAndWhite1"


INTENTS: tuple[str, ...] = ("Document", "TextAndGraphic", "Photo", "Preview")
"""scan:Intent values offered; an intent changes nothing in the scan (the device has no presets)."""


def _children(parent: Element, local: str) -> list[Element]:
    return [c for c in parent if local_name(c.tag) == local and namespace_of(c.tag) in (ns.ESCL, ns.PWG)]


def _child(parent: Element, local: str) -> Element | None:
    found = _children(parent, local)
    return found[0] if found else None


def _text(parent: Element, local: str) -> str | None:
    value = text_of(_child(parent, local))
    return value or None


def _int(parent: Element, local: str, low: int = 0, high: int = 1_000_000) -> int | None:
    value = _text(parent, local)
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        raise EsclModelError(f"{local} {value!r:.40} is not an integer") from None
    if not low <= number <= high:
        raise EsclModelError(f"{local} {number} is outside {low}..{high}")
    return number


def _bool(parent: Element, local: str) -> bool | None:
    value = _text(parent, local)
    if value is None:
        return None
    if value.lower() in ("true", "1"):
        return True
    if value.lower() in ("false", "0"):
        return False
    raise EsclModelError(f"{local} {value!r:.40} is not a boolean")


def _require(value: object, local: str) -> None:
    if value is None:
        raise EsclModelError(f"{local} is missing")


def _root(el: Element, local: str) -> None:
    if local_name(el.tag) != local or namespace_of(el.tag) not in (ns.ESCL, ns.PWG):
        raise EsclModelError(f"expected scan:{local}, got {local_name(el.tag)!r:.60}")


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


# --- ScannerStatus ------------------------------------------------------------------


@dataclass(frozen=True)
class JobInfo:
    """scan:JobInfo of ScannerStatus: ``job_uri`` (a path such as ``/eSCL/ScanJobs/<uuid>``),
    ``job_uuid``, ``age`` seconds since creation, ImagesCompleted, ImagesToTransfer (None:
    unknown, an ADF batch), pwg:JobState and its JobStateReasons."""

    job_uri: str
    job_uuid: str
    age: int
    images_completed: int
    job_state: str
    job_state_reasons: tuple[str, ...] = ()
    images_to_transfer: int | None = None

    def to_xml(self) -> Element:
        """The scan:JobInfo element."""
        el = element(scan("JobInfo"))
        sub(el, pwg("JobUri"), self.job_uri)
        sub(el, pwg("JobUuid"), self.job_uuid)
        sub(el, scan("Age"), self.age)
        sub(el, pwg("ImagesCompleted"), self.images_completed)
        if self.images_to_transfer is not None:
            sub(el, pwg("ImagesToTransfer"), self.images_to_transfer)
        sub(el, pwg("JobState"), self.job_state)
        if self.job_state_reasons:
            reasons = sub(el, pwg("JobStateReasons"))
            for reason in self.job_state_reasons:
                sub(reasons, pwg("JobStateReason"), reason)
        return el

    @classmethod
    def from_xml(cls, el: Element) -> Self:
        """Parse scan:JobInfo. Raises :class:`EsclModelError` for a missing JobUri or JobState."""
        uri, state = _text(el, "JobUri"), _text(el, "JobState")
        _require(uri, "JobUri")
        _require(state, "JobState")
        reasons_el = _child(el, "JobStateReasons")
        reasons = tuple(text_of(r) or "" for r in _children(reasons_el, "JobStateReason")) if reasons_el else ()
        return cls(
            job_uri=uri or "",
            job_uuid=_text(el, "JobUuid") or "",
            age=_int(el, "Age", 0, 2**31) or 0,
            images_completed=_int(el, "ImagesCompleted") or 0,
            job_state=state or "",
            job_state_reasons=reasons,
            images_to_transfer=_int(el, "ImagesToTransfer"),
        )


@dataclass(frozen=True)
class ScannerStatus:
    """scan:ScannerStatus (``GET ScannerStatus``): pwg:State, scan:AdfState (None: no feeder) and
    the jobs, newest first."""

    state: str
    adf_state: str | None = None
    jobs: tuple[JobInfo, ...] = field(default=())
    version: str = ESCL_VERSION

    def to_xml(self) -> Element:
        """The scan:ScannerStatus element."""
        el = element(scan("ScannerStatus"))
        sub(el, pwg("Version"), self.version)
        sub(el, pwg("State"), self.state)
        if self.adf_state is not None:
            sub(el, scan("AdfState"), self.adf_state)
        jobs = sub(el, scan("Jobs"))
        for job in self.jobs:
            jobs.append(job.to_xml())
        return el

    @classmethod
    def from_xml(cls, el: Element) -> Self:
        """Parse scan:ScannerStatus. Raises :class:`EsclModelError` when pwg:State is missing."""
        _root(el, "ScannerStatus")
        state = _text(el, "State")
        _require(state, "State")
        jobs_el = _child(el, "Jobs")
        jobs = tuple(JobInfo.from_xml(j) for j in _children(jobs_el, "JobInfo")) if jobs_el is not None else ()
        return cls(
            state=state or "",
            adf_state=_text(el, "AdfState"),
            jobs=jobs,
            version=_text(el, "Version") or ESCL_VERSION,
        )


@dataclass(frozen=True)
class ScanImageInfo:
    """scan:ScanImageInfo (``GET ScanJobs/<id>/ScanImageInfo``): the last delivered image's
    pixels per line, lines and bytes per line (of raw samples), for job ``job_uri``."""

    job_uri: str
    job_uuid: str
    actual_width: int
    actual_height: int
    actual_bytes_per_line: int

    def to_xml(self) -> Element:
        """The scan:ScanImageInfo element."""
        el = element(scan("ScanImageInfo"))
        sub(el, pwg("JobUri"), self.job_uri)
        sub(el, pwg("JobUuid"), self.job_uuid)
        sub(el, scan("ActualWidth"), self.actual_width)
        sub(el, scan("ActualHeight"), self.actual_height)
        sub(el, scan("ActualBytesPerLine"), self.actual_bytes_per_line)
        return el

    @classmethod
    def from_xml(cls, el: Element) -> Self:
        """Parse scan:ScanImageInfo. Raises :class:`EsclModelError`."""
        _root(el, "ScanImageInfo")
        return cls(
            job_uri=_text(el, "JobUri") or "",
            job_uuid=_text(el, "JobUuid") or "",
            actual_width=_int(el, "ActualWidth") or 0,
            actual_height=_int(el, "ActualHeight") or 0,
            actual_bytes_per_line=_int(el, "ActualBytesPerLine", 0, 2**31) or 0,
        )
