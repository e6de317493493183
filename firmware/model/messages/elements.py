"""GetScannerElements and the ElementData both element operations answer with (WDPScan.xsd).

:class:`ElementData` and :class:`RequestedName` are shared with GetJobElements
(:mod:`.jobs`), which also uses this module's package-internal helpers for the
RequestedElements list and the ElementData list.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Self

from firmware.wire import faults
from firmware.wire import namespaces as ns
from firmware.wire.xml import Element, element, find_all, local_name, namespace_of, resolve_qname, scan, sub

from ..common import attribute, declare_prefix, parse_bool, required_child
from ..job import Documents, JobStatus
from ..scanner import ScannerConfiguration, ScannerDescription, ScannerStatus
from ..ticket import ScanTicket
from .base import _expect

_PREFIX_OF_NAMESPACE = {uri: prefix for prefix, uri in ns.PREFIXES.items()}
_VENDOR_PREFIX = "vnd"


# --- ElementData ---------------------------------------------------------------------------

# Content classes by the tag they are written under (the ScanTicket's tag depends on the Name).
_CONTENT_PARSERS = {
    "ScannerDescription": ScannerDescription.from_xml,
    "ScannerConfiguration": ScannerConfiguration.from_xml,
    "ScannerStatus": ScannerStatus.from_xml,
    "DefaultScanTicket": ScanTicket.from_xml,
    "ScanTicket": ScanTicket.from_xml,
    "JobStatus": JobStatus.from_xml,
    "Documents": Documents.from_xml,
}


@dataclass(frozen=True)
class ElementData:
    """ElementData (ScannerElementDataType / JobElementDataType): one requested element.

    ``name`` is the QName text written to the unqualified ``Name`` attribute,
    e.g. ``"wscn:ScannerStatus"``; ``valid`` the unqualified ``Valid``
    attribute; ``content`` one of ScannerDescription, ScannerConfiguration,
    ScannerStatus, ScanTicket (written as DefaultScanTicket when the name's
    local part is DefaultScanTicket), JobStatus, Documents, a foreign
    ``Element``, or None (``Valid="false"`` entries carry no content).
    ``namespace`` is only needed when ``name`` uses a prefix that is not one
    of :data:`firmware.wire.namespaces.PREFIXES`: it is then declared on the
    element so the QName resolves (not compared; see
    :meth:`RequestedName.element_data`).
    """

    name: str
    valid: bool
    content: object | None = None
    namespace: str | None = field(default=None, compare=False)

    def to_xml(self) -> Element:
        """Build ``<wscn:ElementData Name=".." Valid="..">content?</wscn:ElementData>``.

        Raises ``ValueError`` for a content type it cannot write, or a prefix clash (:func:`.common.declare_prefix`).
        """
        el = element(scan("ElementData"), attrib={"Name": self.name, "Valid": "true" if self.valid else "false"})
        declare_prefix(el, self.name, self.namespace)
        if self.content is not None:
            el.append(self._content_xml())
        return el

    def _content_xml(self) -> Element:
        content = self.content
        if isinstance(content, ScanTicket):
            local = self.name.rsplit(":", 1)[-1]
            return content.to_xml(scan("DefaultScanTicket" if local == "DefaultScanTicket" else "ScanTicket"))
        if isinstance(content, (ScannerDescription, ScannerConfiguration, ScannerStatus, JobStatus, Documents)):
            return content.to_xml()
        if isinstance(content, Element):
            return content
        raise ValueError(f"cannot write {type(content).__name__} as ElementData content")

    @classmethod
    def from_xml(cls, el: Element) -> Self:
        """Parse an ElementData; ``Name``/``Valid`` are read unqualified or ``wscn:``-qualified.

        The first child becomes ``content``: a model object for the known
        elements, the raw ``Element`` for a foreign one.
        Raises ``wscn:InvalidArgs`` when Name or Valid is missing or ill-typed, or the content is.
        """
        name = attribute(el, "Name")
        valid = attribute(el, "Valid")
        if name is None or not name.strip():
            raise faults.invalid_args("ElementData lacks the Name attribute")
        if valid is None:
            raise faults.invalid_args("ElementData lacks the Valid attribute")
        content: object | None = None
        for item in el:
            if not isinstance(item.tag, str):  # comments, processing instructions
                continue
            parser = _CONTENT_PARSERS.get(local_name(item.tag)) if namespace_of(item.tag) == ns.SCAN else None
            content = item if parser is None else parser(item)
            break
        return cls(name.strip(), parse_bool(valid, "attribute Valid"), content)


def _element_data_list(parent: Element, local: str) -> tuple[ElementData, ...]:
    container = required_child(parent, local)
    items = tuple(ElementData.from_xml(item) for item in find_all(container, scan("ElementData")))
    if not items:
        raise faults.invalid_args(f"{local} needs at least one ElementData")
    return items


# --- GetScannerElements -------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestedName:
    """One GetScannerElementsRequest Name: the resolved QName and the text as written.

    ``namespace`` is '' when the prefix was unknown or absent with no default namespace.
    """

    namespace: str
    local: str
    text: str

    def element_data(self, valid: bool, content: object | None = None) -> ElementData:
        """Build the ElementData answering this name, with a Name that resolves in our reply.

        A namespace we have a prefix for is written with it (``sca:ScannerStatus``
        becomes ``wscn:ScannerStatus``); no namespace gives the bare local name;
        a vendor namespace keeps the client's prefix (or ``vnd``), declared on the element.
        """
        prefix = _PREFIX_OF_NAMESPACE.get(self.namespace)
        if prefix is not None:
            return ElementData(f"{prefix}:{self.local}", valid, content)
        if not self.namespace:
            return ElementData(self.local, valid, content)
        client_prefix = self.text.split(":", 1)[0] if ":" in self.text else ""
        prefix = client_prefix if client_prefix and client_prefix not in ns.PREFIXES else _VENDOR_PREFIX
        return ElementData(f"{prefix}:{self.local}", valid, content, self.namespace)


def _requested_names_xml(parent: Element, names: tuple[RequestedName, ...]) -> None:
    """Append ``RequestedElements{Name+}`` to ``parent``, declaring any non-registered prefix a name uses."""
    requested = sub(parent, scan("RequestedElements"))
    for name in names:
        declare_prefix(sub(requested, scan("Name"), name.text), name.text, name.namespace)


def _requested_names(parent: Element, prefixes: dict[str, str] | None) -> tuple[RequestedName, ...]:
    """Parse ``RequestedElements{Name+}`` of ``parent``, resolving each QName with ``prefixes``
    (prefix -> namespace, from :func:`firmware.wire.xml.parse_with_prefixes`; None means our
    registered prefixes). Raises ``wscn:InvalidArgs`` for no RequestedElements, no Name, or an
    empty Name or one over 255 characters."""
    scope = dict(ns.PREFIXES) if prefixes is None else prefixes
    names = []
    for name_el in find_all(required_child(parent, "RequestedElements"), scan("Name")):
        text = (name_el.text or "").strip()
        if not text:
            raise faults.invalid_args("RequestedElements has an empty Name")
        if len(text) > 255:
            raise faults.invalid_args("a requested Name is longer than 255 characters")
        namespace, local = resolve_qname(text, scope)
        names.append(RequestedName(namespace, local, text))
    if not names:
        raise faults.invalid_args("RequestedElements needs at least one Name")
    return tuple(names)


@dataclass(frozen=True)
class GetScannerElementsRequest:
    """GetScannerElementsRequest: RequestedElements{Name+}, QNames such as ``wscn:ScannerConfiguration``."""

    names: tuple[RequestedName, ...]

    def to_xml(self) -> Element:
        """Build the request, declaring any non-registered prefix a name uses."""
        el = element(scan("GetScannerElementsRequest"))
        _requested_names_xml(el, self.names)
        return el

    @classmethod
    def from_xml(cls, el: Element, prefixes: dict[str, str] | None = None) -> Self:
        """Parse the request, resolving each Name with ``prefixes`` (prefix -> namespace).

        ``prefixes`` comes from :func:`firmware.wire.xml.parse_with_prefixes`;
        None means our registered prefixes. Raises ``wscn:InvalidArgs`` for a
        wrong root, no RequestedElements, no Name or an empty Name.
        """
        _expect(el, "GetScannerElementsRequest")
        return cls(_requested_names(el, prefixes))


@dataclass(frozen=True)
class GetScannerElementsResponse:
    """GetScannerElementsResponse: ScannerElements{ElementData+}, one per requested name."""

    elements: tuple[ElementData, ...]

    def to_xml(self) -> Element:
        """Build the response."""
        el = element(scan("GetScannerElementsResponse"))
        container = sub(el, scan("ScannerElements"))
        for item in self.elements:
            container.append(item.to_xml())
        return el

    @classmethod
    def from_xml(cls, el: Element) -> Self:
        """Parse the response; raises ``wscn:InvalidArgs`` for a wrong root or no ElementData."""
        _expect(el, "GetScannerElementsResponse")
        return cls(_element_data_list(el, "ScannerElements"))
