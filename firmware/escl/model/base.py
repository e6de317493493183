"""What the eSCL documents share: the version, the two namespaces' tags, the value enums, and
the lenient element readers (package-internal ``_text``, ``_int``, ``_bool``, ...) that raise
:class:`EsclModelError`."""

from __future__ import annotations

import enum

from firmware.wire import namespaces as ns
from firmware.wire.xml import Element, local_name, namespace_of, text_of

ESCL_VERSION = "2.63"
"""The eSCL version this server implements (pwg:Version of ScannerCapabilities and ScannerStatus)."""

THREE_HUNDREDTHS = "escl:ThreeHundredthsOfInches"
"""The one ContentRegionUnits value eSCL clients send."""


class EsclModelError(ValueError):
    """An eSCL document that cannot be read: a missing or badly typed element (HTTP 400)."""


def scan(local: str) -> str:
    """Clark tag of an eSCL ``scan:`` element."""
    return f"{{{ns.ESCL}}}{local}"


def pwg(local: str) -> str:
    """Clark tag of a PWG ``pwg:`` element."""
    return f"{{{ns.PWG}}}{local}"


class State(enum.StrEnum):
    """pwg:State of ScannerStatus (PWG 5108.01 ScannerState)."""

    IDLE = "Idle"
    PROCESSING = "Processing"
    TESTING = "Testing"
    STOPPED = "Stopped"
    DOWN = "Down"


class AdfState(enum.StrEnum):
    """scan:AdfState values the server writes (the spellings sane-airscan and sane-backends read:
    ``ScannerAdfDoorOpen`` is their cover-open value)."""

    LOADED = "ScannerAdfLoaded"
    EMPTY = "ScannerAdfEmpty"
    PROCESSING = "ScannerAdfProcessing"
    JAM = "ScannerAdfJam"
    DOOR_OPEN = "ScannerAdfDoorOpen"


class InputSource(enum.StrEnum):
    """pwg:InputSource of ScanSettings."""

    PLATEN = "Platen"
    FEEDER = "Feeder"
    CAMERA = "Camera"


class ColorMode(enum.StrEnum):
    """scan:ColorMode values this server offers."""

    RGB24 = "RGB24"
    GRAYSCALE8 = "Grayscale8"
    BLACK_AND_WHITE1 = "BlackAndWhite1"


INTENTS: tuple[str, ...] = ("Document", "TextAndGraphic", "Photo", "Preview")
"""scan:Intent values offered; an intent changes nothing in the scan (the device has no presets)."""


def _children(parent: Element, local: str) -> list[Element]:
    return [c for c in parent if local_name(c.tag) == local and namespace_of(c.tag) in (ns.ESCL, ns.PWG)]


def _child(parent: Element, local: str) -> Element | None:
    found = _children(parent, local)
    return found[0] if found else None


def _text(parent: Element, local: str) -> str | None:
    value = text_of(_child(parent, local))
    return value or None


def _int(parent: Element, local: str, low: int = 0, high: int = 1_000_000) -> int | None:
    value = _text(parent, local)
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        raise EsclModelError(f"{local} {value!r:.40} is not an integer") from None
    if not low <= number <= high:
        raise EsclModelError(f"{local} {number} is outside {low}..{high}")
    return number


def _bool(parent: Element, local: str) -> bool | None:
    value = _text(parent, local)
    if value is None:
        return None
    if value.lower() in ("true", "1"):
        return True
    if value.lower() in ("false", "0"):
        return False
    raise EsclModelError(f"{local} {value!r:.40} is not a boolean")


def _require(value: object, local: str) -> None:
    if value is None:
        raise EsclModelError(f"{local} is missing")


def _root(el: Element, local: str) -> None:
    if local_name(el.tag) != local or namespace_of(el.tag) not in (ns.ESCL, ns.PWG):
        raise EsclModelError(f"expected scan:{local}, got {local_name(el.tag)!r:.60}")
