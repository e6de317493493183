"""Scanner buttons read from SANE sensor options, the way scanbd reads them (no libsane here).

SANE has no button API: backends expose front-panel keys as read-only
"sensor" options (SANE standard 4.2.9: ``SANE_CAP_HARD_SELECT`` -- set by a
physical action on the device -- with ``SANE_CAP_SOFT_DETECT`` -- readable --
and without ``SANE_CAP_SOFT_SELECT``), of type BOOL, with names such as
``scan``, ``email``, ``copy``, ``file``, ``pdf``, ``button-1``. Some sensors
report the device's state rather than a key: :data:`FEEDER_SENSORS` tell
whether paper is in the feeder, :data:`STATE_SENSORS` are ignored.

:func:`button_options` picks the buttons from the descriptors,
:func:`read_sensors` reads them (and the feeder) through a ``get_value``
callable, and :class:`PressDetector` turns successive readings into presses
(a sensor that goes from false to true). The worker polls between jobs only
(:mod:`drivers.sane.worker`, commands BUTTONS and POLL_BUTTONS).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from drivers.sane.options import CAP_SOFT_SELECT, TYPE_BOOL, Descriptors, OptionDescriptor

CAP_HARD_SELECT = 2
CAP_SOFT_DETECT = 4

FEEDER_SENSORS = ("page-loaded", "adf-loaded", "paper-loaded", "document-loaded")
"""Sensors that are true while paper is in the document feeder (fujitsu, canon_dr, avision...)."""

STATE_SENSORS = frozenset(
    {
        "cover-open",
        "adf-open",
        "top-edge",
        "a3-paper",
        "b4-paper",
        "a4-paper",
        "b5-paper",
        "omr-df",
        "power-save",
        "double-feed",
        "paper-jam",
        "hopper",
        "lamp",
        "manual-feed",
    }
)
"""Sensors that report a state, not a key press (never a button)."""


def is_sensor(desc: OptionDescriptor) -> bool:
    """A BOOL the device sets and the frontend can read but not set (an active one)."""
    return (
        desc.type == TYPE_BOOL
        and desc.active
        and bool(desc.cap & CAP_HARD_SELECT)
        and bool(desc.cap & CAP_SOFT_DETECT)
        and not desc.cap & CAP_SOFT_SELECT
    )


def button_options(descs: Descriptors) -> list[OptionDescriptor]:
    """The sensors that are buttons (not feeder or state sensors), in option order."""
    chosen = [
        d for d in descs.values() if is_sensor(d) and d.name not in FEEDER_SENSORS and d.name not in STATE_SENSORS
    ]
    return sorted(chosen, key=lambda d: d.index)


def feeder_option(descs: Descriptors) -> OptionDescriptor | None:
    """The sensor telling whether paper is in the feeder, or None."""
    return next((descs[name] for name in FEEDER_SENSORS if name in descs and is_sensor(descs[name])), None)


def read_sensors(descs: Descriptors, get_value: Callable[[int], object]) -> tuple[tuple[str, ...], bool | None]:
    """Read every button and the feeder sensor with ``get_value(option index)``; returns
    (the names of the buttons that read true, whether the feeder holds paper or None).
    A sensor whose read raises counts as released (``get_value``'s exceptions are not raised)."""

    def value(desc: OptionDescriptor) -> bool | None:
        try:
            return bool(get_value(desc.index))
        except Exception:  # noqa: BLE001 - a sensor that cannot be read is not pressed
            return None

    pressed = tuple(d.name for d in button_options(descs) if value(d))
    feeder = feeder_option(descs)
    return pressed, (None if feeder is None else value(feeder))


@dataclass
class PressDetector:
    """Turns successive readings of the pressed buttons into presses (false -> true).

    After :meth:`prime` (at start, and after a job, when the reading may still be
    latched from a press during the scan) the next reading only sets the baseline.
    """

    _down: frozenset[str] = field(default_factory=frozenset)
    _primed: bool = False

    def prime(self) -> None:
        """The next :meth:`update` reports nothing; it records the state."""
        self._primed = False

    def update(self, pressed: Iterable[str]) -> list[str]:
        """The buttons pressed since the last reading, in the order given."""
        now = tuple(dict.fromkeys(pressed))
        new = [name for name in now if name not in self._down] if self._primed else []
        self._down, self._primed = frozenset(now), True
        return new
