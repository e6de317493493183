"""Where a SANE status becomes a :class:`~drivers.base.Condition` (the one place).

python-sane raises ``_sane.error`` whose only content is the ``sane_strstatus``
text of the SANE_Status, so the mapping is by that text. The texts are those of
sane-backends' ``sanei/sane_strstatus.c`` (spelling varies across versions:
"canceled" / "cancelled"); sane-backends releases that predate
SANE_STATUS_WARMING_UP (12) print it as "Unknown SANE status code 12".

SANE has no status for a device that is calibrating: backends calibrate inside
``sane_start`` and return when done, so this driver never reports
:attr:`~drivers.base.Condition.CALIBRATING` (the service maps it for drivers
that can tell; REFERENCE.md section 7).
"""

from __future__ import annotations

from drivers.base import Condition, ScannerError

# sane_strstatus text (lower case) -> Condition, for errors during a scan.
_BY_TEXT: dict[str, Condition] = {
    "document feeder jammed": Condition.JAMMED,  # SANE_STATUS_JAMMED
    "scanner cover is open": Condition.COVER_OPEN,  # SANE_STATUS_COVER_OPEN
    "document feeder out of documents": Condition.NO_DOCS,  # SANE_STATUS_NO_DOCS
    "device busy": Condition.DEVICE_BUSY,  # SANE_STATUS_DEVICE_BUSY
    "lamp not ready, please retry": Condition.WARMING_UP,  # SANE_STATUS_WARMING_UP
    "unknown sane status code 12": Condition.WARMING_UP,  # the same, older libsane
    "operation was canceled": Condition.CANCELLED,  # SANE_STATUS_CANCELLED
    "operation was cancelled": Condition.CANCELLED,
    "error during device i/o": Condition.IO_ERROR,  # SANE_STATUS_IO_ERROR
    "invalid argument": Condition.IO_ERROR,  # SANE_STATUS_INVAL
    "out of memory": Condition.IO_ERROR,  # SANE_STATUS_NO_MEM
    "access to resource has been denied": Condition.IO_ERROR,  # SANE_STATUS_ACCESS_DENIED
    "operation not supported": Condition.IO_ERROR,  # SANE_STATUS_UNSUPPORTED
    "end of file reached": Condition.IO_ERROR,  # SANE_STATUS_EOF where it is not expected
}

# Conditions that keep their meaning when ``sane_open`` fails; any other failure
# of ``sane_open`` means the device is not there (INVAL for an unknown name,
# IO_ERROR / ACCESS_DENIED for a device that went away or cannot be reached).
_KEPT_AT_OPEN = frozenset({Condition.DEVICE_BUSY, Condition.WARMING_UP})


def condition_from_sane(message: str, *, opening: bool = False) -> Condition:
    """Map a ``sane_strstatus`` text to a :class:`Condition`.

    ``opening`` is True when the text comes from ``sane_open``: then everything
    but DEVICE_BUSY / WARMING_UP becomes DEVICE_GONE. Unknown texts map to
    IO_ERROR (or DEVICE_GONE when opening).
    """
    condition = _BY_TEXT.get(message.strip().lower(), Condition.IO_ERROR)
    if opening and condition not in _KEPT_AT_OPEN:
        return Condition.DEVICE_GONE
    return condition


def error_from_sane(message: str, *, opening: bool = False, context: str = "") -> ScannerError:
    """Build the :class:`ScannerError` for a ``sane_strstatus`` text.

    ``context`` (e.g. ``"sane_start"``) is prefixed to the message for logs;
    the condition is chosen by :func:`condition_from_sane`.
    """
    text = f"{context}: {message}" if context else message
    return ScannerError(condition_from_sane(message, opening=opening), text)
