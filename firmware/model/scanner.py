"""Scanner elements: ScannerDescription, ScannerConfiguration, ScannerStatus, DeviceCondition.

XSD: ``Scanner.xsd`` (ScannerDescriptionType, ScannerConfigurationType,
ScannerStatusType, DeviceConditionType, ConditionHistoryEntryType) and
``Common.xsd`` (DeviceSettingsType, PlatenType, ADFType, ADFEntryType,
FilmType). REFERENCE.md sections 2.1 to 2.3 and 7.

Units: sizes in 1/1000 inch, resolutions in dpi, scaling in percent,
rotations in degrees, times timezone-aware UTC datetimes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Self

from firmware.wire import faults
from firmware.wire import namespaces as ns
from firmware.wire.xml import Element, element, find_all, local_name, qname, scan, sub

from .common import (
    INT_MAX,
    Resolution,
    Size,
    attribute,
    bool_value,
    child,
    datetime_value,
    format_datetime,
    int_value,
    parse_int,
    required_child,
    rotation_value,
    string_value,
    token_value,
)
from .enums import ContentType

_XML_LANG = qname(ns.XML, "lang")


# --- ScannerDescription ----------------------------------------------------------------


@dataclass(frozen=True)
class ScannerDescription:
    """ScannerDescription: the scanner's name, free-text info and location (String127 each).

    One language only: each text is written with ``xml:lang`` = ``lang``.
    """

    name: str
    info: str | None = None
    location: str | None = None
    lang: str = "en"

    def to_xml(self) -> Element:
        """Build ScannerDescription: ScannerName, ScannerInfo?, ScannerLocation?."""
        el = element(scan("ScannerDescription"))
        attrib = {_XML_LANG: self.lang}
        sub(el, scan("ScannerName"), self.name, attrib)
        if self.info is not None:
            sub(el, scan("ScannerInfo"), self.info, attrib)
        if self.location is not None:
            sub(el, scan("ScannerLocation"), self.location, attrib)
        return el

    @classmethod
    def from_xml(cls, el: Element) -> Self:
        """Parse a ScannerDescription, keeping the first text of each kind.

        ``lang`` is the first ScannerName's ``xml:lang`` ("en" when absent).
        Raises ``wscn:InvalidArgs`` if ScannerName is missing or a text exceeds 127 characters.
        """
        name = required_child(el, "ScannerName")
        info = child(el, "ScannerInfo")
        location = child(el, "ScannerLocation")
        return cls(
            string_value(name, 127),
            None if info is None else string_value(info, 127),
            None if location is None else string_value(location, 127),
            name.get(_XML_LANG, "en"),
        )


# --- ScannerConfiguration -------------------------------------------------------------------

# Element-name prefix of the children, per container element.
_CHILD_PREFIX = {"Platen": "Platen", "ADFFront": "ADF", "ADFBack": "ADF", "Film": "Film"}


def _tokens(parent: Element, local: str) -> tuple[str, ...]:
    values = tuple(token_value(el) for el in find_all(parent, scan(local)))
    if not values:
        raise faults.invalid_args(f"{local_name(parent.tag)} needs at least one {local}")
    return values


def _ints(parent: Element, local: str, minimum: int = 1) -> tuple[int, ...]:
    values = tuple(int_value(el, minimum) for el in find_all(parent, scan(local)))
    if not values:
        raise faults.invalid_args(f"{local_name(parent.tag)} needs at least one {local}")
    return values


@dataclass(frozen=True)
class SourceSettings:
    """One input source's capabilities: Platen, ADFFront, ADFBack or Film (REFERENCE.md 2.2).

    ``optical_resolution`` in dpi (None: written as the largest listed
    resolutions, since the XSD requires the element; always written with
    Width and Height, as real devices do); ``widths`` and
    ``heights`` are the two independent resolution lists in dpi; ``colors``
    ColorEntry values; ``minimum_size``/``maximum_size`` in 1/1000 inch;
    ``film_scan_modes`` FilmScanModeValue values, used (and required) for Film only.
    """

    optical_resolution: Resolution | None
    widths: tuple[int, ...]
    heights: tuple[int, ...]
    colors: tuple[str, ...]
    minimum_size: Size
    maximum_size: Size
    film_scan_modes: tuple[str, ...] = ()

    def to_xml(self, prefix: str) -> Element:
        """Build the source element ``prefix`` = ``"Platen"`` | ``"ADFFront"`` | ``"ADFBack"`` | ``"Film"``.

        Children use the XSD names: PlatenOpticalResolution, PlatenResolutions,
        PlatenColor, PlatenMinimumSize, PlatenMaximumSize for Platen; ADF* for
        ADFFront/ADFBack; Film* after FilmScanModesSupported for Film.
        Raises ``ValueError`` for another prefix or an empty list.
        """
        if prefix not in _CHILD_PREFIX:
            raise ValueError(f"unknown source element {prefix!r}")
        if not (self.widths and self.heights and self.colors):
            raise ValueError("a source needs at least one width, height and color")
        name = _CHILD_PREFIX[prefix]
        el = element(scan(prefix))
        if prefix == "Film":
            if not self.film_scan_modes:
                raise ValueError("Film needs at least one film scan mode")
            modes = sub(el, scan("FilmScanModesSupported"))
            for mode in self.film_scan_modes:
                sub(modes, scan("FilmScanModeValue"), mode)
        optical = self.optical_resolution or Resolution(max(self.widths), max(self.heights))
        # Height is optional in ResolutionPairType, but every real device sends it and peers
        # (go-mfp, PyWSD) require it: an omitted height means "same as width".
        optical = Resolution(optical.width, optical.effective_height)
        el.append(optical.to_xml(scan(name + "OpticalResolution")))
        resolutions = sub(el, scan(name + "Resolutions"))
        widths = sub(resolutions, scan("Widths"))
        for width in self.widths:
            sub(widths, scan("Width"), width)
        heights = sub(resolutions, scan("Heights"))
        for height in self.heights:
            sub(heights, scan("Height"), height)
        colors = sub(el, scan(name + "Color"))
        for value in self.colors:
            sub(colors, scan("ColorEntry"), value)
        el.append(self.minimum_size.to_xml(scan(name + "MinimumSize")))
        el.append(self.maximum_size.to_xml(scan(name + "MaximumSize")))
        return el

    @classmethod
    def from_xml(cls, el: Element) -> Self:
        """Parse a Platen, ADFFront, ADFBack or Film element (the prefix comes from its tag).

        Raises ``wscn:InvalidArgs`` for a missing child, an empty list or a value < 1.
        """
        prefix = local_name(el.tag)
        name = _CHILD_PREFIX.get(prefix)
        if name is None:
            raise faults.invalid_args(f"{prefix} is not an input source element")
        optical = child(el, name + "OpticalResolution")
        resolutions = required_child(el, name + "Resolutions")
        modes = child(el, "FilmScanModesSupported") if name == "Film" else None
        return cls(
            optical_resolution=None if optical is None else Resolution.from_xml(optical),
            widths=_ints(required_child(resolutions, "Widths"), "Width"),
            heights=_ints(required_child(resolutions, "Heights"), "Height"),
            colors=_tokens(required_child(el, name + "Color"), "ColorEntry"),
            minimum_size=Size.from_xml(required_child(el, name + "MinimumSize")),
            maximum_size=Size.from_xml(required_child(el, name + "MaximumSize")),
            film_scan_modes=() if modes is None else _tokens(modes, "FilmScanModeValue"),
        )


def _rotations(parent: Element) -> tuple[int, ...]:
    values = tuple(rotation_value(el) for el in find_all(parent, scan("RotationValue")))
    if not values:
        raise faults.invalid_args("RotationsSupported needs at least one RotationValue")
    return values


def _range_xml(parent: Element, local: str, low_high: tuple[int, int]) -> None:
    el = sub(parent, scan(local))
    sub(el, scan("MinValue"), low_high[0])
    sub(el, scan("MaxValue"), low_high[1])


def _range_from_xml(el: Element, minimum: int, maximum: int) -> tuple[int, int]:
    return (
        int_value(required_child(el, "MinValue"), minimum, maximum),
        int_value(required_child(el, "MaxValue"), minimum, maximum),
    )


@dataclass(frozen=True)
class DeviceSettings:
    """DeviceSettings (DeviceSettingsType): the source-independent capabilities.

    ``formats`` FormatValue values; compression quality range 0..100;
    ``content_types`` ContentTypeValue values; the four booleans say whether
    DocumentSizeAutoDetect, AutoExposure, Brightness and Contrast are
    supported; ``scaling_width``/``scaling_height`` (min, max) percent,
    1..1000; ``rotations`` in degrees (0 must be listed).
    """

    formats: tuple[str, ...]
    compression_quality_factor_min: int = 0
    compression_quality_factor_max: int = 100
    content_types: tuple[str, ...] = (ContentType.AUTO,)
    document_size_auto_detect: bool = False
    auto_exposure: bool = False
    brightness: bool = False
    contrast: bool = False
    scaling_width: tuple[int, int] = (100, 100)
    scaling_height: tuple[int, int] = (100, 100)
    rotations: tuple[int, ...] = (0,)

    def to_xml(self) -> Element:
        """Build DeviceSettings with all nine children in XSD order."""
        el = element(scan("DeviceSettings"))
        formats = sub(el, scan("FormatsSupported"))
        for value in self.formats:
            sub(formats, scan("FormatValue"), value)
        quality = (self.compression_quality_factor_min, self.compression_quality_factor_max)
        _range_xml(el, "CompressionQualityFactorSupported", quality)
        content_types = sub(el, scan("ContentTypesSupported"))
        for value in self.content_types:
            sub(content_types, scan("ContentTypeValue"), value)
        sub(el, scan("DocumentSizeAutoDetectSupported"), self.document_size_auto_detect)
        sub(el, scan("AutoExposureSupported"), self.auto_exposure)
        sub(el, scan("BrightnessSupported"), self.brightness)
        sub(el, scan("ContrastSupported"), self.contrast)
        scaling = sub(el, scan("ScalingRangeSupported"))
        _range_xml(scaling, "ScalingWidth", self.scaling_width)
        _range_xml(scaling, "ScalingHeight", self.scaling_height)
        rotations = sub(el, scan("RotationsSupported"))
        for rotation in self.rotations:
            sub(rotations, scan("RotationValue"), rotation)
        return el

    @classmethod
    def from_xml(cls, el: Element) -> Self:
        """Parse DeviceSettings; raises ``wscn:InvalidArgs`` for a missing child or an ill-typed value."""
        scaling = required_child(el, "ScalingRangeSupported")
        quality = _range_from_xml(required_child(el, "CompressionQualityFactorSupported"), 0, 100)
        return cls(
            formats=_tokens(required_child(el, "FormatsSupported"), "FormatValue"),
            compression_quality_factor_min=quality[0],
            compression_quality_factor_max=quality[1],
            content_types=_tokens(required_child(el, "ContentTypesSupported"), "ContentTypeValue"),
            document_size_auto_detect=bool_value(required_child(el, "DocumentSizeAutoDetectSupported")),
            auto_exposure=bool_value(required_child(el, "AutoExposureSupported")),
            brightness=bool_value(required_child(el, "BrightnessSupported")),
            contrast=bool_value(required_child(el, "ContrastSupported")),
            scaling_width=_range_from_xml(required_child(scaling, "ScalingWidth"), 1, 1000),
            scaling_height=_range_from_xml(required_child(scaling, "ScalingHeight"), 1, 1000),
            rotations=_rotations(required_child(el, "RotationsSupported")),
        )


@dataclass(frozen=True)
class ScannerConfiguration:
    """ScannerConfiguration: DeviceSettings plus the input sources present (REFERENCE.md 2.2).

    The ADF element is written when ``adf_front`` is set, with
    ADFSupportsDuplex = ``adf_supports_duplex`` and ADFBack when ``adf_back``
    is set. ``film`` is the optional Film source (its ``film_scan_modes`` required).
    """

    device_settings: DeviceSettings
    platen: SourceSettings | None = None
    adf_front: SourceSettings | None = None
    adf_back: SourceSettings | None = None
    adf_supports_duplex: bool = False
    film: SourceSettings | None = None

    def to_xml(self) -> Element:
        """Build ScannerConfiguration: DeviceSettings, Platen?, ADF?, Film?.

        Raises ``ValueError`` if ``adf_back`` is set without ``adf_front``.
        """
        el = element(scan("ScannerConfiguration"))
        el.append(self.device_settings.to_xml())
        if self.platen is not None:
            el.append(self.platen.to_xml("Platen"))
        if self.adf_front is not None:
            adf = sub(el, scan("ADF"))
            sub(adf, scan("ADFSupportsDuplex"), self.adf_supports_duplex)
            adf.append(self.adf_front.to_xml("ADFFront"))
            if self.adf_back is not None:
                adf.append(self.adf_back.to_xml("ADFBack"))
        elif self.adf_back is not None:
            raise ValueError("ADFBack needs ADFFront")
        if self.film is not None:
            el.append(self.film.to_xml("Film"))
        return el

    @classmethod
    def from_xml(cls, el: Element) -> Self:
        """Parse a ScannerConfiguration; raises ``wscn:InvalidArgs`` for missing or ill-typed parts."""
        platen = child(el, "Platen")
        adf = child(el, "ADF")
        film = child(el, "Film")
        adf_back = None if adf is None else child(adf, "ADFBack")
        return cls(
            device_settings=DeviceSettings.from_xml(required_child(el, "DeviceSettings")),
            platen=None if platen is None else SourceSettings.from_xml(platen),
            adf_front=None if adf is None else SourceSettings.from_xml(required_child(adf, "ADFFront")),
            adf_back=None if adf_back is None else SourceSettings.from_xml(adf_back),
            adf_supports_duplex=False if adf is None else bool_value(required_child(adf, "ADFSupportsDuplex")),
            film=None if film is None else SourceSettings.from_xml(film),
        )


# --- ScannerStatus -------------------------------------------------------------------------


@dataclass(frozen=True)
class DeviceCondition:
    """A device condition (DeviceConditionType), active or, with ``clear_time``, historical.

    ``id`` 1..2^31-1, written as the unqualified ``Id`` attribute; ``name`` a
    condition name (:data:`.enums.CONDITION_NAMES`), ``component`` and
    ``severity`` from :data:`.enums.CONDITION_COMPONENTS` / ``CONDITION_SEVERITIES``.
    """

    id: int
    time: datetime
    name: str
    component: str
    severity: str
    clear_time: datetime | None = None

    def to_xml(self) -> Element:
        """Build DeviceCondition @Id: Time, Name, Component, Severity (ScannerStatus/ActiveConditions, events)."""
        return self._build(scan("DeviceCondition"))

    def to_history_xml(self) -> Element:
        """Build ConditionHistoryEntry @Id: Time, Name, Component, Severity, ClearTime.

        Raises ``ValueError`` when ``clear_time`` is None.
        """
        if self.clear_time is None:
            raise ValueError(f"condition {self.id} has no clear time")
        el = self._build(scan("ConditionHistoryEntry"))
        sub(el, scan("ClearTime"), format_datetime(self.clear_time))
        return el

    def _build(self, tag: str) -> Element:
        el = element(tag, attrib={"Id": str(self.id)})
        sub(el, scan("Time"), format_datetime(self.time))
        sub(el, scan("Name"), self.name)
        sub(el, scan("Component"), self.component)
        sub(el, scan("Severity"), self.severity)
        return el

    @classmethod
    def from_xml(cls, el: Element) -> Self:
        """Parse a DeviceCondition or ConditionHistoryEntry (ClearTime read when present).

        ``Id`` is read unqualified or ``wscn:``-qualified.
        Raises ``wscn:InvalidArgs`` for a missing Id or child, an Id outside 1..2^31-1 or a bad time.
        """
        ident = attribute(el, "Id")
        if ident is None:
            raise faults.invalid_args(f"{local_name(el.tag)} lacks the Id attribute")
        clear = child(el, "ClearTime")
        return cls(
            id=parse_int(ident, "Id", 1, INT_MAX),
            time=datetime_value(required_child(el, "Time")),
            name=token_value(required_child(el, "Name")),
            component=token_value(required_child(el, "Component")),
            severity=token_value(required_child(el, "Severity")),
            clear_time=None if clear is None else datetime_value(clear),
        )


@dataclass(frozen=True)
class ScannerStatus:
    """ScannerStatus (REFERENCE.md 2.3): state, reasons and device conditions at ``current_time``.

    ``state`` a ScannerState value, ``state_reasons`` ScannerStateReason values
    (the element is omitted when empty), ``active_conditions`` DeviceConditions,
    ``condition_history`` DeviceConditions with ``clear_time`` set.
    """

    current_time: datetime
    state: str
    state_reasons: tuple[str, ...] = ()
    active_conditions: tuple[DeviceCondition, ...] = ()
    condition_history: tuple[DeviceCondition, ...] = ()

    def to_xml(self) -> Element:
        """Build ScannerStatus: ScannerCurrentTime, ScannerState, ScannerStateReasons?, ActiveConditions,
        ConditionHistory? (omitted when empty). Raises ``ValueError`` for a history entry without clear time."""
        el = element(scan("ScannerStatus"))
        sub(el, scan("ScannerCurrentTime"), format_datetime(self.current_time))
        sub(el, scan("ScannerState"), self.state)
        if self.state_reasons:
            reasons = sub(el, scan("ScannerStateReasons"))
            for reason in self.state_reasons:
                sub(reasons, scan("ScannerStateReason"), reason)
        active = sub(el, scan("ActiveConditions"))
        for condition in self.active_conditions:
            active.append(condition.to_xml())
        if self.condition_history:
            history = sub(el, scan("ConditionHistory"))
            for condition in self.condition_history:
                history.append(condition.to_history_xml())
        return el

    @classmethod
    def from_xml(cls, el: Element) -> Self:
        """Parse a ScannerStatus; raises ``wscn:InvalidArgs`` for a missing or ill-typed required part."""
        reasons = child(el, "ScannerStateReasons")
        history = child(el, "ConditionHistory")
        return cls(
            current_time=datetime_value(required_child(el, "ScannerCurrentTime")),
            state=token_value(required_child(el, "ScannerState")),
            state_reasons=()
            if reasons is None
            else tuple(token_value(r) for r in find_all(reasons, scan("ScannerStateReason"))),
            active_conditions=tuple(
                DeviceCondition.from_xml(c)
                for c in find_all(required_child(el, "ActiveConditions"), scan("DeviceCondition"))
            ),
            condition_history=()
            if history is None
            else tuple(DeviceCondition.from_xml(c) for c in find_all(history, scan("ConditionHistoryEntry"))),
        )
