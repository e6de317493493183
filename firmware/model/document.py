"""The parts of DocumentParameters: ScanRegion, MediaSide (MediaFront / MediaBack), Exposure, Scaling.

XSD: ``Document.xsd``; lengths in 1/1000 inch, scaling in percent. Each part
writes and reads its elements' marks (:mod:`.marks`). REFERENCE.md sections 2.4 and 2.5.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from firmware.wire.xml import Element, element, local_name, scan, sub

from .common import Resolution, bool_value, child, int_value, required_child, token_value
from .marks import EXPOSURE_LEAVES, SCALING_LEAVES, SCAN_REGION_LEAVES, Marker, Marks, no_marks

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

    def to_xml(self, mark: Marker = no_marks, final: bool = False) -> Element:
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
    def from_xml(cls, el: Element, marks: Marks | None = None) -> Self:
        """Parse a ScanRegion; raises ``wscn:InvalidArgs`` for a missing Width/Height or a value out of range."""
        marks = marks or Marks(set(), set(), set())
        marks.read(el, SCAN_REGION_LEAVES, SCAN_REGION_LEAVES)
        values: dict[str, int | None] = {}
        for key in SCAN_REGION_LEAVES:
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

    def to_xml(self, tag: str = scan("MediaFront"), mark: Marker = no_marks, final: bool = False) -> Element:
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
    def from_xml(cls, el: Element, marks: Marks | None = None) -> Self:
        """Parse a MediaFront/MediaBack; raises ``wscn:InvalidArgs`` for ill-typed values."""
        marks = marks or Marks(set(), set(), set())
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

    def to_xml(self, mark: Marker = no_marks, final: bool = False) -> Element:
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
        for key, value in zip(EXPOSURE_LEAVES, (self.contrast, self.brightness, self.sharpness), strict=False):
            if value is not None:
                sub(settings, scan(key), value, mark(key) if final else None)
        return el

    @classmethod
    def from_xml(cls, el: Element, marks: Marks | None = None) -> Self:
        """Parse an Exposure; raises ``wscn:InvalidArgs`` when neither choice is present or a value is out of range."""
        marks = marks or Marks(set(), set(), set())
        marks.read(el, ("Exposure",), EXPOSURE_LEAVES)
        auto = child(el, "AutoExposure")
        if auto is not None:
            return cls(auto=bool_value(auto))
        settings = required_child(el, "ExposureSettings")
        values: list[int | None] = []
        for key, limit in zip(EXPOSURE_LEAVES, (1000, 1000, 100), strict=False):
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

    def to_xml(self, mark: Marker = no_marks, final: bool = False) -> Element:
        """Build Scaling: ScalingWidth, ScalingHeight (marks on the element, or on the leaves in ``final`` mode)."""
        el = element(scan("Scaling"), attrib=None if final else mark("Scaling"))
        sub(el, scan("ScalingWidth"), self.width, mark("ScalingWidth") if final else None)
        sub(el, scan("ScalingHeight"), self.height, mark("ScalingHeight") if final else None)
        return el

    @classmethod
    def from_xml(cls, el: Element, marks: Marks | None = None) -> Self:
        """Parse a Scaling; raises ``wscn:InvalidArgs`` for a missing child or a value outside 1..1000."""
        marks = marks or Marks(set(), set(), set())
        marks.read(el, ("Scaling",), SCALING_LEAVES)
        values = []
        for key in SCALING_LEAVES:
            found = required_child(el, key)
            marks.read(found, ("Scaling",), (key,))
            values.append(int_value(found, 1, 1000))
        return cls(values[0], values[1])
