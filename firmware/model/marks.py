"""The marks of DocumentParameters: which elements carry wscn:MustHonor, wscn:Override, wscn:UsedDefault.

See :mod:`.ticket` for what the key sets mean (REFERENCE.md sections 2.4 and 2.5).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from firmware.wire.xml import Element

from .common import flag_attribute

SCAN_REGION_LEAVES = ("ScanRegionXOffset", "ScanRegionYOffset", "ScanRegionWidth", "ScanRegionHeight")
EXPOSURE_LEAVES = ("Contrast", "Brightness", "Sharpness")
SCALING_LEAVES = ("ScalingWidth", "ScalingHeight")

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
        *SCAN_REGION_LEAVES,
    )
)

#: Keys allowed in ``DocumentParameters.override`` and ``.used_default``: the XSD allows these
#: marks only on leaf values, so Exposure and Scaling are named by their leaves.
FINAL_MARK_KEYS: frozenset[str] = (MUST_HONOR_KEYS - {"Exposure", "Scaling"}) | frozenset(
    EXPOSURE_LEAVES + SCALING_LEAVES
)

MUST_HONOR_GROUPS: dict[str, tuple[str, ...]] = {"ScanRegion": SCAN_REGION_LEAVES}
FINAL_GROUPS: dict[str, tuple[str, ...]] = {
    "ScanRegion": SCAN_REGION_LEAVES,
    "Exposure": EXPOSURE_LEAVES,
    "Scaling": SCALING_LEAVES,
}

# Returns the attributes to put on an element, given its key(s).
Marker = Callable[[str], dict[str, str]]


def no_marks(_key: str) -> dict[str, str]:
    """The :data:`Marker` of an element without marks: no attributes for any key (an element name)."""
    return {}


def normalize_keys(keys: Iterable[str], groups: dict[str, tuple[str, ...]], allowed: frozenset[str]) -> frozenset[str]:
    """The set of mark keys ``keys`` names, each group name (``groups``: e.g. ``ScanRegion``) replaced by
    its leaf element names. Raises ``ValueError`` for a key outside ``allowed`` (REFERENCE.md 2.4-2.5:
    which DocumentParameters elements may carry MustHonor, Override, UsedDefault)."""
    result: set[str] = set()
    for key in keys:
        expanded = groups.get(key, (key,))
        unknown = [k for k in expanded if k not in allowed]
        if unknown:
            raise ValueError(f"unknown DocumentParameters mark {key!r}; allowed: {sorted(allowed)}")
        result.update(expanded)
    return frozenset(result)


@dataclass
class Marks:
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
