"""The clock the benchmarks share with the SANE ``test`` backend, and the log lines they read.

With ``SANE_DEBUG_TEST=2`` the backend writes, through ``sanei_debug``, lines such as
``[07:21:11.117222] [test] sane_start: handle=...`` and
``[07:21:11.137655] [test] sane_read: read 5310 bytes of 32768, total 5310`` to the stderr of
the process that loaded it (the service's SANE worker passes it on to the service's log; a
direct ``scanimage`` and airsaned write it to their own stderr). The stamps are wall-clock time
of day, so :func:`clock` gives the bench the same clock: seconds since local midnight.

:func:`device_events` turns such lines into the device's ``start`` (the last ``sane_start``),
``first_row`` (the first ``sane_read`` after it that returned data: the first rows reached the
frontend) and ``eof`` (``EOF reached``). Lines written by two threads at once can hold two
stamps; each stamp owns the text up to the next one.

:func:`first_byte_line` reads the service's per-job line
``job N: first image byte X s after RetrieveImage[, Y s after the side's first row]``
(the second figure is newer; older services log only the first).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable
from dataclasses import dataclass

_STAMP = re.compile(r"\[(\d\d):(\d\d):(\d\d\.\d+)\] \[test\] ")
_READ = re.compile(r"sane_read: read (\d+) bytes")
_FIRST_BYTE = re.compile(
    r"job (\d+): first image byte (-?[0-9.]+) s after RetrieveImage(?:, (-?[0-9.]+) s after the side's first row)?"
)


def clock() -> float:
    """Seconds since local midnight now (the clock of the backend's debug stamps), to the microsecond."""
    now = datetime.datetime.now()
    return now.hour * 3600 + now.minute * 60 + now.second + now.microsecond / 1e6


def device_events(lines: Iterable[str]) -> dict[str, float]:
    """``start``, ``first_row`` and ``eof`` of the last scan in ``lines`` (SANE_DEBUG_TEST=2 output,
    other lines ignored), in seconds since local midnight; a key is missing when its line is."""
    found: dict[str, float] = {}
    for line in lines:
        stamps = list(_STAMP.finditer(line))
        for index, match in enumerate(stamps):
            end = stamps[index + 1].start() if index + 1 < len(stamps) else len(line)
            message = line[match.end() : end]
            at = int(match.group(1)) * 3600 + int(match.group(2)) * 60 + float(match.group(3))
            if message.startswith("sane_start:"):
                found = {"start": at}
            elif "EOF reached" in message:
                found.setdefault("eof", at)
            else:
                read = _READ.match(message)
                if read and int(read.group(1)) > 0 and "start" in found:
                    found.setdefault("first_row", at)
    return found


@dataclass(frozen=True)
class FirstByteLine:
    """The service's first-image-byte line of one job: seconds after RetrieveImage, and after
    the side's first row (None when the service does not log it)."""

    job_id: int
    after_request: float
    after_first_row: float | None


def first_byte_line(lines: Iterable[str], job_id: int | None = None) -> FirstByteLine | None:
    """The first first-image-byte line in ``lines`` (of job ``job_id`` when given), or None."""
    for line in lines:
        match = _FIRST_BYTE.search(line)
        if match and (job_id is None or int(match.group(1)) == job_id):
            row = match.group(3)
            return FirstByteLine(int(match.group(1)), float(match.group(2)), None if row is None else float(row))
    return None
