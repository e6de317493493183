"""SANE option descriptors <-> the driver interface's terms.

Two directions, both pure functions over :class:`OptionDescriptor` (no libsane
here, so the mapping is testable with hand-made descriptors):

* descriptors -> :class:`~drivers.base.SourceCapabilities` /
  :class:`~drivers.base.Capabilities` (what the device offers);
* :class:`~drivers.base.ScanParameters` -> option values to set, in order
  (:data:`SETTING_STEPS`).

Option names are SANE's (``tl-x``, ``br-y``, ``resolution``; SANE standard
section 4.5, "Well-known options"). python-sane spells them with underscores;
:func:`sane_name` converts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from drivers.base import (
    Capabilities,
    ColorMode,
    Condition,
    ScannerError,
    ScanParameters,
    Source,
    SourceCapabilities,
)

# SANE_Value_Type, SANE_Unit and SANE_CAP_* (SANE standard 4.2.9); fixed by the ABI.
TYPE_BOOL, TYPE_INT, TYPE_FIXED, TYPE_STRING, TYPE_BUTTON, TYPE_GROUP = range(6)
UNIT_NONE, UNIT_PIXEL, UNIT_BIT, UNIT_MM, UNIT_DPI, UNIT_PERCENT, UNIT_MICROSECOND = range(7)
CAP_SOFT_SELECT = 1
CAP_INACTIVE = 32

# Resolutions a continuous range is sampled to (dpi).
COMMON_RESOLUTIONS = (75, 100, 150, 200, 300, 400, 600, 1200)

Number = int | float
Constraint = tuple[Number, Number, Number] | list | None


@dataclass(frozen=True)
class OptionDescriptor:
    """One SANE option descriptor, as ``SaneDev.get_options()`` lists it.

    ``constraint``: None, a ``(min, max, quant)`` range, or a list of allowed
    values (numbers or strings).
    """

    index: int
    name: str
    title: str
    type: int
    unit: int
    size: int
    cap: int
    constraint: Constraint

    @classmethod
    def from_sane(cls, raw: Sequence) -> OptionDescriptor:
        """Build from python-sane's 9-tuple ``(index, name, title, desc, type,
        unit, size, cap, constraint)``."""
        index, name, title, _desc, type_, unit, size, cap, constraint = raw
        return cls(index, name or "", title or "", type_, unit, size, cap, constraint)

    @property
    def active(self) -> bool:
        """The option currently has a value (SANE_OPTION_IS_ACTIVE)."""
        return not self.cap & CAP_INACTIVE

    @property
    def settable(self) -> bool:
        """The frontend can set it now (active and SANE_CAP_SOFT_SELECT)."""
        return self.active and bool(self.cap & CAP_SOFT_SELECT)

    @property
    def range(self) -> tuple[float, float, float] | None:
        """``(min, max, quant)`` for a range constraint, else None."""
        c = self.constraint
        if isinstance(c, tuple) and len(c) == 3:
            return float(c[0]), float(c[1]), float(c[2])
        return None

    @property
    def choices(self) -> list | None:
        """The allowed values of a word-list or string-list constraint, else None."""
        return list(self.constraint) if isinstance(self.constraint, list) else None


Descriptors = Mapping[str, OptionDescriptor]


def sane_name(name: str) -> str:
    """SANE's spelling of an option name (python-sane's ``test_picture`` -> ``test-picture``)."""
    return name.replace("_", "-")


def descriptor_map(raw_options: Sequence[Sequence]) -> dict[str, OptionDescriptor]:
    """Index python-sane's option list by SANE option name (groups and unnamed options dropped)."""
    result: dict[str, OptionDescriptor] = {}
    for raw in raw_options:
        desc = OptionDescriptor.from_sane(raw)
        if desc.name and desc.type != TYPE_GROUP:
            result[desc.name] = desc
    return result


# ---------------------------------------------------------------------------
# names of sources and modes


def source_of(value: str) -> Source | None:
    """The :class:`Source` a SANE ``source`` value names, or None (film, back side only...).

    Backends spell them ``Flatbed``/``FlatBed``/``Platen``, ``ADF``/``ADF Front``/
    ``Automatic Document Feeder``, ``ADF Duplex``/``Duplex``.
    """
    v = value.strip().lower()
    if "flatbed" in v or "flat bed" in v or "platen" in v:
        return Source.FLATBED
    if "duplex" in v:
        return Source.ADF_DUPLEX
    if "back" in v:  # "ADF Back": back side only; not a source of the interface
        return None
    if "adf" in v or "feeder" in v:
        return Source.ADF
    return None


def mode_of(value: str) -> ColorMode | None:
    """The :class:`ColorMode` a SANE ``mode`` value names, or None (halftone...).

    Accepts ``Color``/``Colour``, ``Gray``/``Grey``/``Grayscale``, ``Lineart``/
    ``Line art``/``Binary``/``Black & White``; dithered modes (``Halftone``,
    ``Gray[Error Diffusion]``) give None.
    """
    v = value.strip().lower()
    if "diffusion" in v or "halftone" in v or "dither" in v:  # dithered binary: not a mode we offer
        return None
    if v in ("lineart", "line art", "binary", "black & white", "black and white", "bw", "b&w"):
        return ColorMode.LINEART
    if "colo" in v:
        return ColorMode.COLOR
    if "gray" in v or "grey" in v:
        return ColorMode.GRAY
    return None


def source_values(descs: Descriptors) -> dict[Source, str | None]:
    """Map each offered :class:`Source` to the SANE ``source`` value that selects it.

    The first matching value wins (``ADF`` before ``ADF Front``). A device
    without a usable ``source`` option has one source, the flatbed, with
    nothing to set (value None).
    """
    desc = descs.get("source")
    result: dict[Source, str | None] = {}
    if desc is not None and desc.active and desc.choices:
        for value in desc.choices:
            source = source_of(str(value))
            if source is not None and source not in result:
                result[source] = str(value)
    if not result:
        result[Source.FLATBED] = None
    return result


def mode_values(descs: Descriptors) -> dict[ColorMode, str | None]:
    """Map each offered :class:`ColorMode` to its SANE ``mode`` value.

    Without a ``mode`` option the device is taken to scan in colour (value None).
    """
    desc = descs.get("mode")
    result: dict[ColorMode, str | None] = {}
    if desc is not None and desc.active and desc.choices:
        for value in desc.choices:
            mode = mode_of(str(value))
            if mode is not None and mode not in result:
                result[mode] = str(value)
    if not result:
        result[ColorMode.COLOR] = None
    return result


# ---------------------------------------------------------------------------
# descriptors -> capabilities


def resolution_option(descs: Descriptors) -> OptionDescriptor | None:
    """The option that sets the resolution: ``resolution``, else ``x-resolution``."""
    for name in ("resolution", "x-resolution"):
        desc = descs.get(name)
        if desc is not None and desc.active:
            return desc
    return None


def _in_range(value: float, lo: float, hi: float, quant: float) -> bool:
    if not lo - 1e-6 <= value <= hi + 1e-6:
        return False
    if quant > 0:
        steps = (value - lo) / quant
        return abs(steps - round(steps)) < 1e-6
    return True


def resolutions(desc: OptionDescriptor | None) -> tuple[int, ...]:
    """Supported resolutions in dpi, ascending.

    A list is taken as is (rounded to whole dpi); a range is sampled to the
    :data:`COMMON_RESOLUTIONS` that lie in it on its quantization (its maximum
    alone when none does). No option at all gives ``(300,)``.
    """
    if desc is None:
        return (300,)
    choices = desc.choices
    if choices:
        return tuple(sorted({round(float(v)) for v in choices if float(v) > 0}))
    rng = desc.range
    if rng is None:
        return (300,)
    lo, hi, quant = rng
    values = tuple(v for v in COMMON_RESOLUTIONS if _in_range(v, lo, hi, quant))
    return values or (int(hi),)


def _extent(descs: Descriptors, tl_name: str, br_name: str) -> tuple[float, float]:
    """(min, max) extent in mm of one axis from the tl/br option ranges; (0, 0) if unknown."""
    br = descs.get(br_name)
    tl = descs.get(tl_name)
    br_range = br.range if br is not None else None
    if br_range is None:
        return 0.0, 0.0
    origin = tl.range[0] if tl is not None and tl.range is not None else br_range[0]
    return max(0.0, br_range[0] - origin), max(0.0, br_range[1] - origin)


def source_capabilities(descs: Descriptors) -> SourceCapabilities:
    """What the currently selected source offers, read from the descriptors.

    Geometry (mm) comes from the ``tl-x/tl-y/br-x/br-y`` ranges (the width is
    ``br-x`` max minus ``tl-x`` min); a device without them reports 0 x 0.
    Modes are in :class:`ColorMode` order.
    """
    min_w, max_w = _extent(descs, "tl-x", "br-x")
    min_h, max_h = _extent(descs, "tl-y", "br-y")
    offered = mode_values(descs)
    modes = tuple(m for m in ColorMode if m in offered)
    return SourceCapabilities(
        resolutions=resolutions(resolution_option(descs)),
        modes=modes,
        max_width_mm=round(max_w, 3),
        max_height_mm=round(max_h, 3),
        min_width_mm=round(min_w, 3),
        min_height_mm=round(min_h, 3),
    )


def _adjustable(descs: Descriptors, name: str) -> bool:
    desc = descs.get(name)
    return desc is not None and desc.settable and desc.range is not None


def build_capabilities(per_source: Mapping[Source, SourceCapabilities], descs: Descriptors) -> Capabilities:
    """Assemble :class:`Capabilities` from each source's capabilities.

    Defaults: 300 dpi if every source has it, else the resolution nearest to
    300 of the first source; Color if offered, else the first mode.
    ``brightness``/``contrast`` are True when the device has such a settable
    range option.
    """
    sources = {s: per_source[s] for s in Source if s in per_source}
    first = next(iter(sources.values()))
    default_resolution = min(first.resolutions, key=lambda r: (abs(r - 300), r))
    default_mode = ColorMode.COLOR if ColorMode.COLOR in first.modes else first.modes[0]
    return Capabilities(
        sources=sources,
        default_resolution=default_resolution,
        default_mode=default_mode,
        brightness=_adjustable(descs, "brightness"),
        contrast=_adjustable(descs, "contrast"),
    )


# ---------------------------------------------------------------------------
# values: fitting a number into a constraint, converting to the option's type


def typed(desc: OptionDescriptor, value: object) -> object:
    """Convert ``value`` to what python-sane's ``set_option`` wants for this option
    (float for FIXED, int for INT/BOOL, str for STRING).

    Raises ``ValueError`` for a value that does not convert (e.g. "yes" for an INT).
    """
    if desc.type == TYPE_FIXED:
        return float(value)  # type: ignore[arg-type]
    if desc.type == TYPE_BOOL:
        if isinstance(value, str):
            lowered = value.strip().lower()
            if lowered in ("yes", "true", "on", "1"):
                return 1
            if lowered in ("no", "false", "off", "0"):
                return 0
            raise ValueError(f"not a boolean: {value!r}")
        return int(bool(value))
    if desc.type == TYPE_INT:
        return round(float(value))  # type: ignore[arg-type]
    if desc.type == TYPE_STRING:
        return str(value)
    raise ValueError(f"option {desc.name!r} takes no value")


def fit(desc: OptionDescriptor, wanted: float) -> int | float:
    """The allowed value of a numeric option nearest to ``wanted``.

    A range clamps to ``[min, max]`` and rounds to the quantization step from
    ``min``; a list picks the nearest entry. The result has the option's type.
    """
    choices = desc.choices
    if choices:
        value = float(min(choices, key=lambda v: (abs(float(v) - wanted), float(v))))
    elif desc.range is not None:
        lo, hi, quant = desc.range
        value = min(max(wanted, lo), hi)
        if quant > 0:
            value = lo + round((value - lo) / quant) * quant
            value = min(max(value, lo), hi)
    else:
        value = wanted
    return typed(desc, value)  # type: ignore[return-value]


# ---------------------------------------------------------------------------
# ScanParameters -> option values, in steps (descriptors are re-read between steps)

Setting = tuple[str, object]


def _not_offered(what: str) -> ScannerError:
    return ScannerError(Condition.IO_ERROR, f"the device does not offer {what}")


def _source_step(params: ScanParameters, descs: Descriptors) -> list[Setting]:
    values = source_values(descs)
    if params.source not in values:
        raise _not_offered(f"source {params.source.value}")
    value = values[params.source]
    return [] if value is None else [("source", value)]


def _mode_step(params: ScanParameters, descs: Descriptors) -> list[Setting]:
    values = mode_values(descs)
    if params.mode not in values:
        raise _not_offered(f"mode {params.mode.value}")
    value = values[params.mode]
    return [] if value is None else [("mode", value)]


def _depth_step(params: ScanParameters, descs: Descriptors) -> list[Setting]:
    """8 bits per sample for Color and Gray when the device lets us choose
    (16-bit data would only be cut to 8 bits later); Lineart keeps its depth."""
    desc = descs.get("depth")
    if params.mode is ColorMode.LINEART or desc is None or not desc.settable:
        return []
    if desc.choices and 8 in [int(v) for v in desc.choices]:
        return [("depth", 8)]
    return []


def _resolution_step(params: ScanParameters, descs: Descriptors) -> list[Setting]:
    desc = resolution_option(descs)
    if desc is None or not desc.settable:
        return []
    settings: list[Setting] = [(desc.name, fit(desc, params.resolution))]
    y_desc = descs.get("y-resolution")
    if desc.name == "x-resolution" and y_desc is not None and y_desc.settable:
        settings.append(("y-resolution", fit(y_desc, params.resolution)))
    return settings


def _coordinate(descs: Descriptors, name: str, wanted_mm: float) -> list[Setting]:
    desc = descs.get(name)
    if desc is None or not desc.settable:
        return []
    return [(name, fit(desc, wanted_mm))]


def _origin_step(params: ScanParameters, descs: Descriptors) -> list[Setting]:
    """Top-left to its minimum first, so that no br value is refused for lying left of tl."""
    settings: list[Setting] = []
    for name in ("tl-x", "tl-y"):
        desc = descs.get(name)
        if desc is not None and desc.settable and desc.range is not None:
            settings.append((name, fit(desc, desc.range[0])))
    return settings


def _bottom_right_step(params: ScanParameters, descs: Descriptors) -> list[Setting]:
    return _coordinate(descs, "br-x", params.br_x_mm) + _coordinate(descs, "br-y", params.br_y_mm)


def _top_left_step(params: ScanParameters, descs: Descriptors) -> list[Setting]:
    return _coordinate(descs, "tl-x", params.tl_x_mm) + _coordinate(descs, "tl-y", params.tl_y_mm)


def scaled_level(desc: OptionDescriptor, level: int) -> int | float:
    """Map a WS-Scan level -1000..1000 (0 = unchanged) onto a range option.

    0 maps to the range's 0 when it lies strictly inside, else to its middle;
    +-1000 map to the range's ends.
    """
    lo, hi, _quant = desc.range  # type: ignore[misc]
    centre = 0.0 if lo < 0.0 < hi else (lo + hi) / 2
    level = max(-1000, min(1000, level))
    span = (hi - centre) if level > 0 else (centre - lo)
    return fit(desc, centre + span * level / 1000)


def _levels_step(params: ScanParameters, descs: Descriptors) -> list[Setting]:
    settings: list[Setting] = []
    for name, level in (("brightness", params.brightness), ("contrast", params.contrast)):
        if level and _adjustable(descs, name):
            settings.append((name, scaled_level(descs[name], level)))
    return settings


SETTING_STEPS: tuple[Callable[[ScanParameters, Descriptors], list[Setting]], ...] = (
    _source_step,
    _mode_step,
    _depth_step,
    _resolution_step,
    _origin_step,
    _bottom_right_step,
    _top_left_step,
    _levels_step,
)
"""The steps that configure a scan, in order. Each takes the parameters and the
current descriptors and returns ``(option name, value)`` pairs; the caller sets
them and re-reads the descriptors before the next step (setting the source or
mode may change the other options' constraints). A step raises
``ScannerError(IO_ERROR)`` when the device does not offer the source or mode."""


def scan_settings(params: ScanParameters, descs: Descriptors) -> list[Setting]:
    """All settings for ``params`` computed from one set of descriptors.

    Convenient for devices whose constraints do not depend on source or mode,
    and for tests; the worker runs :data:`SETTING_STEPS` one by one instead.
    """
    settings: list[Setting] = []
    for step in SETTING_STEPS:
        settings.extend(step(params, descs))
    return settings
