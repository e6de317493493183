"""The value of ``wse:Expires``: an xs:duration or an xs:dateTime ([WSE] section 3.1, ExpirationType).

[WSE] lets a subscriber ask for an expiry either as a duration from now
(``PT1H``, what Windows sends) or as an absolute time; the granted expiry
should be written in the same form (DPWS R3005/R3006 allow a duration in any
case). Durations and times are interpreted on the event source's clock.

xs:duration years and months have no fixed length; here a year counts 365 days
and a month 30 days, which is exact enough because the service clamps every
expiry to a few hours anyway. Absurdly long durations are clamped to
:data:`MAX_SECONDS` instead of overflowing.

Parse errors raise ``wse:InvalidMessage`` (:func:`firmware.eventing.faults.invalid_message`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from firmware.wire import xsdtime

from . import faults

MAX_SECONDS = 10**10
"""Longest duration represented (about 317 years); longer ones are clamped to it."""

_DURATION = re.compile(
    r"(?P<sign>-)?P(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?|\.\d+)S)?)?"
)
_UNIT_SECONDS = {"years": 365 * 86400, "months": 30 * 86400, "days": 86400, "hours": 3600, "minutes": 60, "seconds": 1}


def parse_duration(text: str) -> timedelta:
    """Parse an xs:duration (``PT1H``, ``P1DT2H``, ``PT0.5S``, ``-PT10M``) into a timedelta.

    Negative durations are returned negative; more than :data:`MAX_SECONDS`
    is clamped. Raises ``wse:InvalidMessage`` for anything that is not an
    xs:duration (``P``, ``PT``, ``1H``, ``PT1.S``).
    """
    stripped = text.strip()
    match = _DURATION.fullmatch(stripped)
    if match is None or stripped.endswith(("P", "T")):
        raise faults.invalid_message(f"not an xs:duration: {text.strip()[:40]!r}")
    total = sum(Decimal(match[unit]) * factor for unit, factor in _UNIT_SECONDS.items() if match[unit] is not None)
    seconds = float(min(total, Decimal(MAX_SECONDS)))
    return timedelta(seconds=-seconds if match["sign"] else seconds)


def format_duration(value: timedelta) -> str:
    """Write a timedelta as an xs:duration in hours, minutes and seconds, to the millisecond:
    ``PT1H``, ``PT1H30M``, ``PT0.25S``, ``PT0S``; negative ones with a leading ``-`` (``-PT5M``)."""
    millis = round(value.total_seconds() * 1000)
    sign = "-" if millis < 0 else ""
    hours, rest = divmod(abs(millis), 3600 * 1000)
    minutes, rest = divmod(rest, 60 * 1000)
    seconds, fraction = divmod(rest, 1000)
    text = "PT"
    if hours:
        text += f"{hours}H"
    if minutes:
        text += f"{minutes}M"
    if seconds or fraction or text == "PT":
        text += str(seconds) + (f".{fraction:03d}".rstrip("0") if fraction else "") + "S"
    return sign + text


def parse_datetime(text: str) -> datetime:
    """Parse an xs:dateTime into a timezone-aware UTC datetime (:func:`firmware.wire.xsdtime.parse_datetime`);
    no zone means UTC. Raises ``wse:InvalidMessage`` for anything else, or a date Python cannot represent.
    """
    try:
        return xsdtime.parse_datetime(text)
    except ValueError as exc:
        raise faults.invalid_message(str(exc)) from None


@dataclass(frozen=True)
class Expiration:
    """A ``wse:Expires`` value: exactly one of ``duration`` (from the time the request is
    processed) or ``time`` (an absolute, timezone-aware time)."""

    duration: timedelta | None = None
    time: datetime | None = None

    def __post_init__(self) -> None:
        if (self.duration is None) == (self.time is None):
            raise ValueError("an Expiration is either a duration or a time")

    @property
    def is_duration(self) -> bool:
        """True for the xs:duration form."""
        return self.duration is not None

    @classmethod
    def parse(cls, text: str) -> Expiration:
        """Parse ``wse:Expires`` text: an xs:duration when it starts with ``P`` or ``-P``,
        else an xs:dateTime. Raises ``wse:InvalidMessage``."""
        stripped = text.strip()
        if stripped.lstrip("-").startswith("P"):
            return cls(duration=parse_duration(stripped))
        return cls(time=parse_datetime(stripped))

    def text(self) -> str:
        """The xs:duration or xs:dateTime text (see :func:`format_duration`; times in UTC to the millisecond)."""
        if self.duration is not None:
            return format_duration(self.duration)
        assert self.time is not None
        return xsdtime.format_datetime(self.time, digits=3, trim=False)

    def seconds_from(self, now: datetime) -> float:
        """Seconds from ``now`` (timezone-aware) until this expiry; zero or negative means already expired."""
        if self.duration is not None:
            return self.duration.total_seconds()
        assert self.time is not None
        return (self.time - now).total_seconds()
