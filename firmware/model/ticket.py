"""The ScanTicket and its parts; DocumentParameters also serves as DocumentFinalParameters.

XSD: ``Job.xsd`` ScanTicketType / JobDescriptionType, ``Document.xsd``
DocumentParametersType (what a client asks for, every child optional, each may
carry ``wscn:MustHonor``) and ActualDocumentParametersType (what the device
will do, nearly every child required, leaves carry ``wscn:Override`` /
``wscn:UsedDefault``). REFERENCE.md sections 2.4 and 2.5.

Lengths are 1/1000 inch, resolutions dpi, scaling percent, rotation degrees
clockwise. Keyword values (Format, InputSource, ColorProcessing, ...) are kept
as strings, known or not; :mod:`.enums` lists the known ones.

Marks. ``DocumentParameters.must_honor``, ``.override`` and ``.used_default``
are sets of *keys*, the local names of the elements the attribute belongs to:

* ``must_honor`` keys (:data:`MUST_HONOR_KEYS`) are the elements that carry
  ``wscn:MustHonor`` in a ticket: Format, CompressionQualityFactor,
  ImagesToTransfer, InputSource, FilmScanMode, ContentType, InputSize,
  Exposure, Scaling, Rotation, ScanRegionXOffset, ScanRegionYOffset,
  ScanRegionWidth, ScanRegionHeight, ColorProcessing, Resolution.
* ``override`` / ``used_default`` keys (:data:`FINAL_MARK_KEYS`) are the
  leaves that carry the attributes in DocumentFinalParameters, except that
  ``InputSize`` stands for InputMediaSize's Width and Height and
  ``Resolution`` for the Resolution's Width and Height (the bare names would
  be ambiguous).

Group names are expanded on construction: ``ScanRegion`` becomes its four
leaves in every set; ``Exposure`` becomes Contrast/Brightness/Sharpness and
``Scaling`` ScalingWidth/ScalingHeight in the two final sets. A key applies to
MediaFront and MediaBack alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Self

from firmware.wire import faults
from firmware.wire.xml import Element, element, local_name, scan, sub

from .common import (
    Resolution,
    Size,
    bool_value,
    child,
    flag_attribute,
    int_value,
    required_child,
    rotation_value,
    string_value,
    token_value,
)

_SCAN_REGION_LEAVES = ("ScanRegionXOffset", "ScanRegionYOffset", "ScanRegionWidth", "ScanRegionHeight")
_EXPOSURE_LEAVES = ("Contrast", "Brightness", "Sharpness")
_SCALING_LEAVES = ("ScalingWidth", "ScalingHeight")

#: Keys allowed in ``DocumentParameters.must_honor`` (elements that carry wscn:MustHonor).
MUST_HONOR_KEYS: frozenset[str] = frozenset(
    (
        "Format",
        "CompressionQualityFactor",
        "ImagesToTransfer",
        "InputSource",
        "FilmScanMode",
        "ContentType",
        "InputSize",
        "Exposure",
        "Scaling",
        "Rotation",
        "ColorProcessing",
        "Resolution",
        *_SCAN_REGION_LEAVES,
    )
)

#: Keys allowed in ``DocumentParameters.override`` and ``.used_default``: the XSD allows these
#: marks only on leaf values, so Exposure and Scaling are named by their leaves.
FINAL_MARK_KEYS: frozenset[str] = (MUST_HONOR_KEYS - {"Exposure", "Scaling"}) | frozenset(
    _EXPOSURE_LEAVES + _SCALING_LEAVES
)

_MUST_HONOR_GROUPS = {"ScanRegion": _SCAN_REGION_LEAVES}
_FINAL_GROUPS = {"ScanRegion": _SCAN_REGION_LEAVES, "Exposure": _EXPOSURE_LEAVES, "Scaling": _SCALING_LEAVES}

# Returns the attributes to put on an element, given its key(s).
_Marker = Callable[[str], dict[str, str]]


def _no_marks(_key: str) -> dict[str, str]:
    return {}


def _normalize_keys(keys: Iterable[str], groups: dict[str, tuple[str, ...]], allowed: frozenset[str]) -> frozenset[str]:
    result: set[str] = set()
    for key in keys:
        expanded = groups.get(key, (key,))
        unknown = [k for k in expanded if k not in allowed]
        if unknown:
            raise ValueError(f"unknown DocumentParameters mark {key!r}; allowed: {sorted(allowed)}")
        result.update(expanded)
    return frozenset(result)


@dataclass
class _Marks:
    """The three mark sets being collected while parsing (mutable helper)."""

    must_honor: set[str]
    override: set[str]
    used_default: set[str]

    def read(self, el: Element, must_honor_keys: Iterable[str], final_keys: Iterable[str]) -> None:
        """Record ``el``'s wscn:MustHonor under ``must_honor_keys``, Override/UsedDefault under ``final_keys``."""
        if flag_attribute(el, "MustHonor"):
            self.must_honor.update(must_honor_keys)
        if flag_attribute(el, "Override"):
            self.override.update(final_keys)
        if flag_attribute(el, "UsedDefault"):
            self.used_default.update(final_keys)


# --- JobDescription -------------------------------------------------------------------


@dataclass(frozen=True)
class JobDescription:
    """JobDescription (JobDescriptionType): who asked for the job. Strings are String255.

    Emitted children, in XSD order: JobName, JobOriginatingUserName, JobInformation?.
    """

    job_name: str
    job_originating_user_name: str
    job_information: str | None = None

    def to_xml(self, tag: str = scan("JobDescription")) -> Element:
        """Build the JobDescription element."""
        el = element(tag)
        sub(el, scan("JobName"), self.job_name)
        sub(el, scan("JobOriginatingUserName"), self.job_originating_user_name)
        if self.job_information is not None:
            sub(el, scan("JobInformation"), self.job_information)
        return el

    @classmethod
    def from_xml(cls, el: Element) -> Self:
        """Parse a JobDescription; raises ``wscn:InvalidArgs`` if JobName or JobOriginatingUserName is
        missing or a string is longer than 255 characters."""
        information = child(el, "JobInformation")
        return cls(
            string_value(required_child(el, "JobName")),
            string_value(required_child(el, "JobOriginatingUserName")),
            None if information is None else string_value(information),
        )


# --- MediaSide parts ---------------------------------------------------------------------


@dataclass(frozen=True)
class ScanRegion:
    """ScanRegion (ScanRegionType): the area to scan, in 1/1000 inch from the top-left corner.

    ``width``/``height`` are 1..2^31-1; offsets 0..2^31-1 or None (omitted = 0, [SPEC] 4.5.2).
    """

    width: int
    height: int
    x_offset: int | None = None
    y_offset: int | None = None

    def to_xml(self, mark: _Marker = _no_marks, final: bool = False) -> Element:
        """Build ScanRegion: ScanRegionXOffset?, ScanRegionYOffset?, ScanRegionWidth, ScanRegionHeight.

        ``mark(key)`` gives each leaf's attributes. With ``final`` (DocumentFinalParameters)
        omitted offsets are written as 0, since every child is required there.
        """
        el = element(scan("ScanRegion"))
        for key, value in (("ScanRegionXOffset", self.x_offset), ("ScanRegionYOffset", self.y_offset)):
            if value is None and final:
                value = 0
            if value is not None:
                sub(el, scan(key), value, mark(key))
        sub(el, scan("ScanRegionWidth"), self.width, mark("ScanRegionWidth"))
        sub(el, scan("ScanRegionHeight"), self.height, mark("ScanRegionHeight"))
        return el

    @classmethod
    def from_xml(cls, el: Element, marks: _Marks | None = None) -> Self:
        """Parse a ScanRegion; raises ``wscn:InvalidArgs`` for a missing Width/Height or a value out of range."""
        marks = marks or _Marks(set(), set(), set())
        marks.read(el, _SCAN_REGION_LEAVES, _SCAN_REGION_LEAVES)
        values: dict[str, int | None] = {}
        for key in _SCAN_REGION_LEAVES:
            found = child(el, key)
            if found is None:
                if key in ("ScanRegionWidth", "ScanRegionHeight"):
                    required_child(el, key)  # raises
                values[key] = None
                continue
            marks.read(found, (key,), (key,))
            values[key] = int_value(found, 0 if "Offset" in key else 1)
        return cls(
            width=values["ScanRegionWidth"],  # type: ignore[arg-type]
            height=values["ScanRegionHeight"],  # type: ignore[arg-type]
            x_offset=values["ScanRegionXOffset"],
            y_offset=values["ScanRegionYOffset"],
        )


@dataclass(frozen=True)
class MediaSide:
    """MediaFront / MediaBack (MediaSideType): region, colour mode (a ColorEntry value) and resolution."""

    scan_region: ScanRegion | None = None
    color_processing: str | None = None
    resolution: Resolution | None = None

    def to_xml(self, tag: str = scan("MediaFront"), mark: _Marker = _no_marks, final: bool = False) -> Element:
        """Build the side: ScanRegion?, ColorProcessing?, Resolution? (XSD order).

        In ``final`` mode Resolution always has a Height, and marks go on its Width/Height.
        """
        el = element(tag)
        if self.scan_region is not None:
            el.append(self.scan_region.to_xml(mark, final))
        if self.color_processing is not None:
            sub(el, scan("ColorProcessing"), self.color_processing, mark("ColorProcessing"))
        if self.resolution is not None:
            if final:
                full = Resolution(self.resolution.width, self.resolution.effective_height)
                el.append(full.to_xml(scan("Resolution"), leaf_attrib=mark("Resolution")))
            else:
                el.append(self.resolution.to_xml(scan("Resolution"), attrib=mark("Resolution")))
        return el

    @classmethod
    def from_xml(cls, el: Element, marks: _Marks | None = None) -> Self:
        """Parse a MediaFront/MediaBack; raises ``wscn:InvalidArgs`` for ill-typed values."""
        marks = marks or _Marks(set(), set(), set())
        region = child(el, "ScanRegion")
        color = child(el, "ColorProcessing")
        resolution = child(el, "Resolution")
        if color is not None:
            marks.read(color, ("ColorProcessing",), ("ColorProcessing",))
        if resolution is not None:
            marks.read(resolution, ("Resolution",), ("Resolution",))
            for leaf in resolution:
                if local_name(leaf.tag) in ("Width", "Height"):
                    marks.read(leaf, ("Resolution",), ("Resolution",))
        return cls(
            scan_region=None if region is None else ScanRegion.from_xml(region, marks),
            color_processing=None if color is None else token_value(color),
            resolution=None if resolution is None else Resolution.from_xml(resolution),
        )


@dataclass(frozen=True)
class Exposure:
    """Exposure (ScanExposureType): a choice of AutoExposure, or ExposureSettings.

    ``auto`` not None selects the AutoExposure choice (the three values are then
    ignored); otherwise ExposureSettings with Contrast and Brightness in
    -1000..1000 and Sharpness in -100..100, each optional (0 = no change).
    """

    auto: bool | None = None
    contrast: int | None = None
    brightness: int | None = None
    sharpness: int | None = None

    def to_xml(self, mark: _Marker = _no_marks, final: bool = False) -> Element:
        """Build Exposure. In ``final`` mode only ExposureSettings with all three values is allowed.

        Raises ``ValueError`` in ``final`` mode when ``auto`` is set or a value is None.
        """
        el = element(scan("Exposure"), attrib=None if final else mark("Exposure"))
        if final and (self.auto is not None or None in (self.contrast, self.brightness, self.sharpness)):
            raise ValueError("DocumentFinalParameters needs Exposure with contrast, brightness and sharpness")
        if self.auto is not None:
            sub(el, scan("AutoExposure"), self.auto)
            return el
        settings = sub(el, scan("ExposureSettings"))
        for key, value in zip(_EXPOSURE_LEAVES, (self.contrast, self.brightness, self.sharpness), strict=False):
            if value is not None:
                sub(settings, scan(key), value, mark(key) if final else None)
        return el

    @classmethod
    def from_xml(cls, el: Element, marks: _Marks | None = None) -> Self:
        """Parse an Exposure; raises ``wscn:InvalidArgs`` when neither choice is present or a value is out of range."""
        marks = marks or _Marks(set(), set(), set())
        marks.read(el, ("Exposure",), _EXPOSURE_LEAVES)
        auto = child(el, "AutoExposure")
        if auto is not None:
            return cls(auto=bool_value(auto))
        settings = required_child(el, "ExposureSettings")
        values: list[int | None] = []
        for key, limit in zip(_EXPOSURE_LEAVES, (1000, 1000, 100), strict=False):
            found = child(settings, key)
            if found is not None:
                marks.read(found, ("Exposure",), (key,))
            values.append(None if found is None else int_value(found, -limit, limit))
        return cls(contrast=values[0], brightness=values[1], sharpness=values[2])


@dataclass(frozen=True)
class Scaling:
    """Scaling (ScalingType): width and height scale in percent, 1..1000."""

    width: int = 100
    height: int = 100

    def to_xml(self, mark: _Marker = _no_marks, final: bool = False) -> Element:
        """Build Scaling: ScalingWidth, ScalingHeight (marks on the element, or on the leaves in ``final`` mode)."""
        el = element(scan("Scaling"), attrib=None if final else mark("Scaling"))
        sub(el, scan("ScalingWidth"), self.width, mark("ScalingWidth") if final else None)
        sub(el, scan("ScalingHeight"), self.height, mark("ScalingHeight") if final else None)
        return el

    @classmethod
    def from_xml(cls, el: Element, marks: _Marks | None = None) -> Self:
        """Parse a Scaling; raises ``wscn:InvalidArgs`` for a missing child or a value outside 1..1000."""
        marks = marks or _Marks(set(), set(), set())
        marks.read(el, ("Scaling",), _SCALING_LEAVES)
        values = []
        for key in _SCALING_LEAVES:
            found = required_child(el, key)
            marks.read(found, ("Scaling",), (key,))
            values.append(int_value(found, 1, 1000))
        return cls(values[0], values[1])


# --- DocumentParameters --------------------------------------------------------------------

_FINAL_TAG = "DocumentFinalParameters"


@dataclass(frozen=True)
class DocumentParameters:
    """DocumentParameters (a ticket's request) or DocumentFinalParameters (the device's answer).

    Units: ``input_size`` (InputMediaSize) and ScanRegion in 1/1000 inch,
    ``compression_quality_factor`` 0..100, ``images_to_transfer`` 0..2^31-1
    (0 = all available), ``rotation`` 0/90/180/270. ``None`` = element absent.
    ``input_size`` and ``document_size_auto_detect`` are the InputSize choice;
    in a ticket the size wins when both are set. See the module docstring for
    ``must_honor``, ``override`` and ``used_default`` (the constructor
    normalizes them and raises ``ValueError`` for an unknown key).
    """

    format: str | None = None
    compression_quality_factor: int | None = None
    images_to_transfer: int | None = None
    input_source: str | None = None
    film_scan_mode: str | None = None
    content_type: str | None = None
    input_size: Size | None = None
    document_size_auto_detect: bool | None = None
    exposure: Exposure | None = None
    scaling: Scaling | None = None
    rotation: int | None = None
    media_front: MediaSide | None = None
    media_back: MediaSide | None = None
    must_honor: frozenset[str] = frozenset()
    override: frozenset[str] = frozenset()
    used_default: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "must_honor", _normalize_keys(self.must_honor, _MUST_HONOR_GROUPS, MUST_HONOR_KEYS))
        object.__setattr__(self, "override", _normalize_keys(self.override, _FINAL_GROUPS, FINAL_MARK_KEYS))
        object.__setattr__(self, "used_default", _normalize_keys(self.used_default, _FINAL_GROUPS, FINAL_MARK_KEYS))

    def missing_final_fields(self) -> list[str]:
        """Name the fields DocumentFinalParameters requires but this object lacks (REFERENCE.md 2.5)."""
        missing = [
            name
            for name in (
                "format",
                "compression_quality_factor",
                "images_to_transfer",
                "input_source",
                "content_type",
                "input_size",
                "exposure",
                "scaling",
                "rotation",
                "media_front",
            )
            if getattr(self, name) is None
        ]
        exposure = self.exposure
        if exposure is not None and (
            exposure.auto is not None or None in (exposure.contrast, exposure.brightness, exposure.sharpness)
        ):
            missing.append("exposure.contrast/brightness/sharpness")
        for side_name in ("media_front", "media_back"):
            side = getattr(self, side_name)
            if side is not None:
                missing += [
                    f"{side_name}.{part}"
                    for part in ("scan_region", "color_processing", "resolution")
                    if getattr(side, part) is None
                ]
        return missing

    def to_xml(self, tag: str = scan("DocumentParameters")) -> Element:
        """Build the element named ``tag``, children in XSD order.

        With ``tag = scan("DocumentFinalParameters")`` the ActualDocumentParametersType
        form is written: InputSize as InputMediaSize, Exposure as ExposureSettings,
        ScanRegion offsets and Resolution Height filled in, and ``override`` /
        ``used_default`` as ``wscn:Override="true"`` / ``wscn:UsedDefault="true"``;
        otherwise ``must_honor`` becomes ``wscn:MustHonor="true"``.
        Raises ``ValueError`` in the final form when a required field is missing
        (:meth:`missing_final_fields`).
        """
        final = local_name(tag) == _FINAL_TAG
        if final:
            missing = self.missing_final_fields()
            if missing:
                raise ValueError(f"DocumentFinalParameters lacks {', '.join(missing)}")
        mark = self._final_marker() if final else self._must_honor_marker()
        el = element(tag)
        for key, value in (
            ("Format", self.format),
            ("CompressionQualityFactor", self.compression_quality_factor),
            ("ImagesToTransfer", self.images_to_transfer),
            ("InputSource", self.input_source),
            ("FilmScanMode", self.film_scan_mode),
            ("ContentType", self.content_type),
        ):
            if value is not None:
                sub(el, scan(key), value, mark(key))
        self._input_size_xml(el, mark, final)
        if self.exposure is not None:
            el.append(self.exposure.to_xml(mark, final))
        if self.scaling is not None:
            el.append(self.scaling.to_xml(mark, final))
        if self.rotation is not None:
            sub(el, scan("Rotation"), self.rotation, mark("Rotation"))
        if self.media_front is not None or self.media_back is not None:
            sides = sub(el, scan("MediaSides"))
            sides.append((self.media_front or MediaSide()).to_xml(scan("MediaFront"), mark, final))
            if self.media_back is not None:
                sides.append(self.media_back.to_xml(scan("MediaBack"), mark, final))
        return el

    def _input_size_xml(self, parent: Element, mark: _Marker, final: bool) -> None:
        if final:
            assert self.input_size is not None  # checked by missing_final_fields
            size = sub(parent, scan("InputSize"))
            size.append(self.input_size.to_xml(scan("InputMediaSize"), leaf_attrib=mark("InputSize")))
        elif self.input_size is not None:
            size = sub(parent, scan("InputSize"), attrib=mark("InputSize"))
            size.append(self.input_size.to_xml(scan("InputMediaSize")))
        elif self.document_size_auto_detect is not None:
            size = sub(parent, scan("InputSize"), attrib=mark("InputSize"))
            sub(size, scan("DocumentSizeAutoDetect"), self.document_size_auto_detect)

    def _must_honor_marker(self) -> _Marker:
        def mark(key: str) -> dict[str, str]:
            return {scan("MustHonor"): "true"} if key in self.must_honor else {}

        return mark

    def _final_marker(self) -> _Marker:
        def mark(key: str) -> dict[str, str]:
            attrib = {}
            if key in self.override:
                attrib[scan("Override")] = "true"
            if key in self.used_default:
                attrib[scan("UsedDefault")] = "true"
            return attrib

        return mark

    @classmethod
    def from_xml(cls, el: Element) -> Self:
        """Parse DocumentParameters or DocumentFinalParameters, leniently.

        Reads MustHonor, Override and UsedDefault in qualified and unqualified
        form wherever they appear on a known element; ignores unknown children.
        Raises ``wscn:InvalidArgs`` for a missing required child of a present
        element (e.g. ScanRegionWidth, ExposureSettings or AutoExposure,
        InputMediaSize or DocumentSizeAutoDetect) or an ill-typed value
        (non-integer, CompressionQualityFactor outside 0..100, ImagesToTransfer
        < 0, Rotation not 0/90/180/270, a non-boolean).
        """
        marks = _Marks(set(), set(), set())
        values: dict[str, object] = {}
        for key, field_name in (
            ("Format", "format"),
            ("InputSource", "input_source"),
            ("FilmScanMode", "film_scan_mode"),
            ("ContentType", "content_type"),
        ):
            found = child(el, key)
            if found is not None:
                marks.read(found, (key,), (key,))
                values[field_name] = token_value(found)
        for key, field_name, low, high in (
            ("CompressionQualityFactor", "compression_quality_factor", 0, 100),
            ("ImagesToTransfer", "images_to_transfer", 0, None),
        ):
            found = child(el, key)
            if found is not None:
                marks.read(found, (key,), (key,))
                values[field_name] = int_value(found, low) if high is None else int_value(found, low, high)
        rotation = child(el, "Rotation")
        if rotation is not None:
            marks.read(rotation, ("Rotation",), ("Rotation",))
            values["rotation"] = rotation_value(rotation)
        input_size = child(el, "InputSize")
        if input_size is not None:
            values.update(cls._input_size_from_xml(input_size, marks))
        exposure = child(el, "Exposure")
        if exposure is not None:
            values["exposure"] = Exposure.from_xml(exposure, marks)
        scaling = child(el, "Scaling")
        if scaling is not None:
            values["scaling"] = Scaling.from_xml(scaling, marks)
        sides = child(el, "MediaSides")
        if sides is not None:
            front = required_child(sides, "MediaFront")
            back = child(sides, "MediaBack")
            values["media_front"] = MediaSide.from_xml(front, marks)
            if back is not None:
                values["media_back"] = MediaSide.from_xml(back, marks)
        return cls(
            **values,  # type: ignore[arg-type]
            must_honor=frozenset(marks.must_honor),
            override=frozenset(marks.override),
            used_default=frozenset(marks.used_default),
        )

    @staticmethod
    def _input_size_from_xml(el: Element, marks: _Marks) -> dict[str, object]:
        marks.read(el, ("InputSize",), ("InputSize",))
        media = child(el, "InputMediaSize")
        if media is not None:
            for leaf in media:
                if local_name(leaf.tag) in ("Width", "Height"):
                    marks.read(leaf, ("InputSize",), ("InputSize",))
            return {"input_size": Size.from_xml(media)}
        auto = child(el, "DocumentSizeAutoDetect")
        if auto is None:
            raise faults.invalid_args("InputSize needs InputMediaSize or DocumentSizeAutoDetect")
        return {"document_size_auto_detect": bool_value(auto)}


# --- ScanTicket -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ScanTicket:
    """ScanTicket (ScanTicketType): JobDescription and optional DocumentParameters.

    Also the DefaultScanTicket (same type) and the job's ScanTicket (REFERENCE.md 2.4).
    """

    job_description: JobDescription
    document_parameters: DocumentParameters | None = None

    def to_xml(self, tag: str = scan("ScanTicket")) -> Element:
        """Build the ticket under ``tag`` (``scan("DefaultScanTicket")`` for the default ticket)."""
        el = element(tag)
        el.append(self.job_description.to_xml())
        if self.document_parameters is not None:
            el.append(self.document_parameters.to_xml(scan("DocumentParameters")))
        return el

    @classmethod
    def from_xml(cls, el: Element) -> Self:
        """Parse a ScanTicket (or DefaultScanTicket / ValidScanTicket).

        Raises ``wscn:InvalidArgs`` if JobDescription is missing or any part is ill-typed.
        """
        parameters = child(el, "DocumentParameters")
        return cls(
            JobDescription.from_xml(required_child(el, "JobDescription")),
            None if parameters is None else DocumentParameters.from_xml(parameters),
        )
