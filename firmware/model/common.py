"""Shared small types and the parsing helpers every model module uses.

Types: :class:`Size` (DimensionsType, 1/1000 inch) and :class:`Resolution`
(ResolutionPairType, dpi), both from ``Common.xsd``; xs:dateTime conversion
(:func:`format_datetime`, :func:`parse_datetime`: :mod:`firmware.wire.xsdtime` with the model's fault).

Helpers: reading typed values out of network XML. They are lenient about what
the XSD leaves open (unknown children and attributes are ignored, qualified
and unqualified attribute forms are both read, surrounding white space is
ignored for numbers, booleans and keywords) and strict about what it does not:
a missing required child or an ill-typed value raises the SOAP fault
``wscn:InvalidArgs`` (:func:`firmware.wire.faults.invalid_args`), which is what
REFERENCE.md section 1.3 prescribes for a schema-invalid body.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Self

from firmware.wire import faults, xsdtime
from firmware.wire import namespaces as ns
from firmware.wire.xml import Element, element, find, local_name, scan, sub
from firmware.wire.xsdtime import format_datetime as format_datetime  # the model writes times with it

from .enums import ROTATIONS

#: Largest xs:int, and the largest JobId, ConditionId, length or resolution (2^31 - 1).
INT_MAX = 2147483647
#: Smallest xs:int.
INT_MIN = -2147483648

_INT = re.compile(r"[+-]?[0-9]+")


# --- xs:dateTime --------------------------------------------------------------------


def parse_datetime(text: str) -> datetime:
    """Parse an xs:dateTime into a timezone-aware UTC datetime (:func:`firmware.wire.xsdtime.parse_datetime`).

    Raises ``wscn:InvalidArgs`` (:class:`firmware.wire.faults.SoapFault`) when
    ``text`` is not a date-time Python can represent (years 1..9999).
    """
    try:
        return xsdtime.parse_datetime(text)
    except ValueError as exc:
        raise faults.invalid_args(str(exc)) from None


# --- reading network XML --------------------------------------------------------------


def child(parent: Element, local: str) -> Element | None:
    """Return ``parent``'s first direct child ``wscn:<local>``, or None."""
    return find(parent, scan(local))


def required_child(parent: Element, local: str) -> Element:
    """Return ``parent``'s first direct child ``wscn:<local>``.

    Raises ``wscn:InvalidArgs`` when it is missing.
    """
    found = find(parent, scan(local))
    if found is None:
        raise faults.invalid_args(f"{local_name(parent.tag)} lacks the required element {local}")
    return found


def token_value(el: Element) -> str:
    """Return an element's keyword text (xs:NMTOKEN-like), stripped of white space.

    Raises ``wscn:InvalidArgs`` when it is empty.
    """
    text = (el.text or "").strip()
    if not text:
        raise faults.invalid_args(f"{local_name(el.tag)} is empty")
    return text


def string_value(el: Element, max_length: int = 255) -> str:
    """Return an element's text as written (String127/String255 preserve white space).

    Raises ``wscn:InvalidArgs`` when it is longer than ``max_length`` characters.
    """
    text = el.text or ""
    if len(text) > max_length:
        raise faults.invalid_args(f"{local_name(el.tag)} is longer than {max_length} characters")
    return text


def integer_or_none(text: str) -> int | None:
    """Return the integer a decimal xs:integer text denotes (optional sign, digits, surrounding
    white space), or None if ``text`` is not one ("1.5", "1e3", "1_000", "0x10", "").

    Absurdly long numbers are returned as +/-10**20: out of every range WS-Scan uses.
    """
    stripped = text.strip()
    if _INT.fullmatch(stripped) is None:
        return None
    if len(stripped.lstrip("+-").lstrip("0")) > 20:
        return -(10**20) if stripped.startswith("-") else 10**20
    return int(stripped)


def parse_int(text: str, what: str, minimum: int = INT_MIN, maximum: int = INT_MAX) -> int:
    """Parse a decimal xs:int (optional sign, digits only) within ``minimum..maximum``.

    ``what`` names the element for the fault reason.
    Raises ``wscn:InvalidArgs`` for anything else ("1.5", "1e3", "1_000", "", out of range).
    """
    value = integer_or_none(text)
    if value is None:
        raise faults.invalid_args(f"{what} is not an integer: {text.strip()[:40]!r}")
    if not minimum <= value <= maximum:
        raise faults.invalid_args(f"{what} is outside {minimum}..{maximum}: {value}")
    return value


def int_value(el: Element, minimum: int = INT_MIN, maximum: int = INT_MAX) -> int:
    """Parse an element's text as :func:`parse_int` does; raises ``wscn:InvalidArgs``."""
    return parse_int(el.text or "", local_name(el.tag), minimum, maximum)


def rotation_value(el: Element) -> int:
    """Parse a Rotation / RotationValue: one of 0, 90, 180, 270 (degrees clockwise).

    Raises ``wscn:InvalidArgs`` for a non-integer or another angle.
    """
    value = int_value(el)
    if value not in ROTATIONS:
        raise faults.invalid_args(f"{local_name(el.tag)} must be one of {ROTATIONS}, not {value}")
    return value


def parse_bool(text: str, what: str) -> bool:
    """Parse an xs:boolean (``true``/``false``/``1``/``0``); raises ``wscn:InvalidArgs`` otherwise."""
    stripped = text.strip()
    if stripped in ("true", "1"):
        return True
    if stripped in ("false", "0"):
        return False
    raise faults.invalid_args(f"{what} is not a boolean: {stripped[:40]!r}")


def bool_value(el: Element) -> bool:
    """Parse an element's text as xs:boolean; raises ``wscn:InvalidArgs``."""
    return parse_bool(el.text or "", local_name(el.tag))


def datetime_value(el: Element) -> datetime:
    """Parse an element's text as xs:dateTime (:func:`parse_datetime`); raises ``wscn:InvalidArgs``."""
    return parse_datetime(el.text or "")


def attribute(el: Element, local: str) -> str | None:
    """Return attribute ``local`` in either form: unqualified, or qualified ``wscn:<local>``.

    The XSD makes ElementData Name/Valid and DeviceCondition Id unqualified and
    MustHonor/Override/UsedDefault qualified; [MSDOC] shows the opposite for
    some, so both are read (REFERENCE.md section 2.0). The XSD form wins when
    both are present.
    """
    qualified = el.get(scan(local))
    unqualified = el.get(local)
    if local in ("MustHonor", "Override", "UsedDefault"):
        return qualified if qualified is not None else unqualified
    return unqualified if unqualified is not None else qualified


def flag_attribute(el: Element, local: str) -> bool:
    """True if ``el`` carries the boolean attribute ``wscn:<local>`` (or ``<local>``) set to true.

    Raises ``wscn:InvalidArgs`` when the attribute is present but not a boolean.
    """
    value = attribute(el, local)
    return value is not None and parse_bool(value, f"attribute {local}")


def declare_prefix(el: Element, qname_text: str, namespace: str | None) -> None:
    """Declare the prefix of a QName-valued text on ``el`` so the text resolves when serialized.

    ElementTree declares only the namespaces used by tags and attribute names,
    so a QName in text or in an attribute value (``Name="vnd:Thing"``) needs
    its prefix declared explicitly. Registered prefixes
    (:data:`firmware.wire.namespaces.PREFIXES`) are declared by ElementTree
    whenever their namespace is in use and are left alone; so are unprefixed
    names and an unknown ``namespace`` (None or '').
    Raises ``ValueError`` if ``qname_text`` uses a registered prefix for another namespace.
    """
    if ":" not in qname_text or not namespace:
        return
    prefix = qname_text.split(":", 1)[0]
    registered = ns.PREFIXES.get(prefix)
    if registered is None:
        el.set("xmlns:" + prefix, namespace)
    elif registered != namespace:
        raise ValueError(f"prefix {prefix!r} is reserved for {registered}, not {namespace}")


# --- Size and Resolution ------------------------------------------------------------


@dataclass(frozen=True)
class Size:
    """A width and height in 1/1000 inch (DimensionsType: InputMediaSize, *MinimumSize, *MaximumSize).

    Both are 1..2147483647 on the wire.
    """

    width: int
    height: int

    def to_xml(self, tag: str, leaf_attrib: dict[str, str] | None = None) -> Element:
        """Build ``<tag><Width/><Height/></tag>``; ``leaf_attrib`` goes on both children.

        ``tag`` is a Clark tag such as ``scan("PlatenMaximumSize")``; ``leaf_attrib``
        carries ``wscn:Override``/``wscn:UsedDefault`` in DocumentFinalParameters.
        """
        el = element(tag)
        sub(el, scan("Width"), self.width, leaf_attrib)
        sub(el, scan("Height"), self.height, leaf_attrib)
        return el

    @classmethod
    def from_xml(cls, el: Element) -> Self:
        """Parse a DimensionsType element; raises ``wscn:InvalidArgs`` if Width/Height is missing or < 1."""
        return cls(
            int_value(required_child(el, "Width"), 1),
            int_value(required_child(el, "Height"), 1),
        )


@dataclass(frozen=True)
class Resolution:
    """A resolution in dpi (ResolutionPairType): ``height`` None means "same as width" on the wire."""

    width: int
    height: int | None = None

    @property
    def effective_height(self) -> int:
        """The vertical resolution in dpi: ``height``, or ``width`` when height is omitted ([SPEC] 4.5.2)."""
        return self.width if self.height is None else self.height

    def to_xml(
        self, tag: str, attrib: dict[str, str] | None = None, leaf_attrib: dict[str, str] | None = None
    ) -> Element:
        """Build ``<tag><Width/><Height/>?</tag>``.

        ``attrib`` goes on the element (``wscn:MustHonor`` in a ScanTicket),
        ``leaf_attrib`` on Width and Height (``wscn:Override`` in DocumentFinalParameters).
        """
        el = element(tag, attrib=attrib)
        sub(el, scan("Width"), self.width, leaf_attrib)
        if self.height is not None:
            sub(el, scan("Height"), self.height, leaf_attrib)
        return el

    @classmethod
    def from_xml(cls, el: Element) -> Self:
        """Parse a ResolutionPairType element; raises ``wscn:InvalidArgs`` if Width is missing or a value < 1."""
        height = child(el, "Height")
        return cls(
            int_value(required_child(el, "Width"), 1),
            None if height is None else int_value(height, 1),
        )
