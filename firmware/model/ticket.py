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

from dataclasses import dataclass
from typing import Self

from firmware.wire import faults
from firmware.wire.xml import Element, element, local_name, scan, sub

from .common import (
    Size,
    bool_value,
    child,
    int_value,
    required_child,
    rotation_value,
    string_value,
    token_value,
)
from .document import Exposure, MediaSide, Scaling
from .marks import FINAL_GROUPS, FINAL_MARK_KEYS, MUST_HONOR_GROUPS, MUST_HONOR_KEYS, Marker, Marks, normalize_keys

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
        object.__setattr__(self, "must_honor", normalize_keys(self.must_honor, MUST_HONOR_GROUPS, MUST_HONOR_KEYS))
        object.__setattr__(self, "override", normalize_keys(self.override, FINAL_GROUPS, FINAL_MARK_KEYS))
        object.__setattr__(self, "used_default", normalize_keys(self.used_default, FINAL_GROUPS, FINAL_MARK_KEYS))

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

    def _input_size_xml(self, parent: Element, mark: Marker, final: bool) -> None:
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

    def _must_honor_marker(self) -> Marker:
        def mark(key: str) -> dict[str, str]:
            return {scan("MustHonor"): "true"} if key in self.must_honor else {}

        return mark

    def _final_marker(self) -> Marker:
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
        marks = Marks(set(), set(), set())
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
    def _input_size_from_xml(el: Element, marks: Marks) -> dict[str, object]:
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
