"""xs:dateTime text <-> timezone-aware UTC ``datetime``: the one implementation.

The WS-Scan model (:mod:`firmware.model.common`, times in JobStatus, ScannerStatus,
DeviceCondition) and WS-Eventing (:mod:`firmware.eventing.expiration`, ``wse:Expires``)
both use it; each turns the ``ValueError`` into its own fault (``wscn:InvalidArgs``,
``wse:InvalidMessage``). REFERENCE.md section 5.3 pitfall 14: times go out in UTC with ``Z``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_DATETIME = re.compile(
    r"(?P<year>[0-9]{4,})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})"
    r"T(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2}):(?P<second>[0-9]{2})(?:\.(?P<fraction>[0-9]+))?"
    r"(?P<tz>Z|[+-][0-9]{2}:[0-9]{2})?"
)


def format_datetime(dt: datetime, digits: int = 6, trim: bool = True) -> str:
    """Format a timezone-aware datetime as xs:dateTime in UTC: ``2024-05-01T12:30:00Z``.

    The seconds fraction keeps ``digits`` places (6: microseconds, 3: milliseconds;
    truncated) and is written only when not zero; ``trim`` drops its trailing
    zeros (``12:30:00.25Z``, else ``12:30:00.250Z`` with 3 digits).
    Raises ``ValueError`` for a naive datetime (a programming error).
    """
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"naive datetime {dt!r}: xs:dateTime values must be timezone-aware")
    utc = dt.astimezone(UTC)
    text = f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}"
    fraction = f"{utc.microsecond:06d}"[:digits]
    if fraction.strip("0"):
        text += "." + (fraction.rstrip("0") if trim else fraction)
    return text + "Z"


def parse_datetime(text: str) -> datetime:
    """Parse an xs:dateTime into a timezone-aware UTC datetime.

    Accepts ``Z``, a ``+hh:mm``/``-hh:mm`` offset (converted to UTC) or no zone
    (taken as UTC), surrounding white space, and any number of fraction digits
    (kept to microseconds). Raises ``ValueError``, with a message for the peer,
    when ``text`` is not a date-time Python can represent (years 1..9999).
    """
    match = _DATETIME.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not an xs:dateTime: {text[:40]!r}")
    fraction = (match["fraction"] or "")[:6].ljust(6, "0")
    try:
        value = datetime(
            int(match["year"]),
            int(match["month"]),
            int(match["day"]),
            int(match["hour"]),
            int(match["minute"]),
            int(match["second"]),
            int(fraction),
            tzinfo=UTC,
        )
    except ValueError:
        raise ValueError(f"not a valid date-time: {text[:40]!r}") from None
    zone = match["tz"]
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        hours, minutes = int(zone[1:3]), int(zone[4:6])
        if hours > 14 or minutes > 59:
            raise ValueError(f"not a valid time zone: {text[:40]!r}")
        try:
            value -= sign * timedelta(hours=hours, minutes=minutes)
        except OverflowError:
            raise ValueError(f"date-time out of range: {text[:40]!r}") from None
    return value
