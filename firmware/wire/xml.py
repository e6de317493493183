"""Building, parsing and serializing XML: the one place that touches an XML library.

Network input is parsed only by :func:`parse_xml`, which goes through defusedxml
(no entity expansion, no external entities, no DTDs). Elements are plain
``xml.etree.ElementTree.Element`` objects with Clark-notation tags
(``{namespace}local``); :func:`serialize` writes them compactly (no
pretty-printing: envelopes must stay under 32,767 bytes).
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from . import namespaces as ns

for _prefix, _uri in ns.PREFIXES.items():
    ET.register_namespace(_prefix, _uri)

Element = ET.Element

MAX_DEPTH = 32
"""Deepest element nesting accepted from the network. A WS-Scan request nests about 10 deep
(Envelope/Body/CreateScanJobRequest/ScanTicket/DocumentParameters/InputSize/...); a deeper
document is refused before any recursive code (copy, serialization) can meet it."""


class XmlError(ValueError):
    """The bytes are not acceptable XML: malformed, or forbidden (DTD, entities)."""


def qname(namespace: str, local: str) -> str:
    """Return the Clark-notation tag ``{namespace}local``."""
    return f"{{{namespace}}}{local}"


def scan(local: str) -> str:
    """Return the Clark tag of a WS-Scan (2006/08) element, e.g. ``scan("JobId")``."""
    return f"{{{ns.SCAN}}}{local}"


def local_name(tag: str) -> str:
    """Return the local part of a Clark tag: ``{ns}JobId`` -> ``JobId``."""
    return tag.rsplit("}", 1)[-1]


def namespace_of(tag: str) -> str:
    """Return the namespace of a Clark tag, or '' when it has none."""
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""


def element(tag: str, text: object = None, attrib: dict[str, str] | None = None) -> Element:
    """Create an element; ``text`` is converted with ``str`` unless None.

    Booleans become ``true``/``false`` (xs:boolean).
    """
    el = ET.Element(tag, attrib or {})
    if text is not None:
        el.text = _text(text)
    return el


def sub(parent: Element, tag: str, text: object = None, attrib: dict[str, str] | None = None) -> Element:
    """Append a new child element to ``parent`` and return it (see :func:`element`)."""
    el = ET.SubElement(parent, tag, attrib or {})
    if text is not None:
        el.text = _text(text)
    return el


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def serialize(el: Element, xml_declaration: bool = True) -> bytes:
    """Serialize ``el`` to UTF-8 bytes, compact, with the registered prefixes."""
    return ET.tostring(el, encoding="utf-8", xml_declaration=xml_declaration, short_empty_elements=True)


def parse_xml(data: bytes) -> Element:
    """Parse untrusted XML bytes into an element tree, safely.

    Raises :class:`XmlError` for malformed XML, an unknown encoding, DTDs, entity
    declarations (billion laughs), external entities and nesting deeper than :data:`MAX_DEPTH`.
    """
    return parse_with_prefixes(data)[0]


def text_of(el: Element | None) -> str | None:
    """Return the element's text stripped of surrounding white space, or None if absent."""
    if el is None:
        return None
    return (el.text or "").strip()


def find(parent: Element, tag: str) -> Element | None:
    """Return the first direct child with Clark tag ``tag``, or None."""
    for child in parent:
        if child.tag == tag:
            return child
    return None


def find_all(parent: Element, tag: str) -> Iterator[Element]:
    """Yield every direct child with Clark tag ``tag``."""
    for child in parent:
        if child.tag == tag:
            yield child


def resolve_qname(value: str, nsmap: dict[str, str]) -> tuple[str, str]:
    """Resolve a QName text (``wscn:ScannerStatus``) to ``(namespace, local)``.

    ``nsmap`` maps the prefixes in scope of the element the text came from
    (see :func:`parse_with_prefixes`); an unprefixed name resolves to the
    default namespace, or '' when there is none. An unknown prefix resolves
    to namespace ''.
    """
    value = value.strip()
    if ":" in value:
        prefix, local = value.split(":", 1)
        return nsmap.get(prefix, ""), local
    return nsmap.get("", ""), value


def parse_with_prefixes(data: bytes) -> tuple[Element, dict[str, str]]:
    """Parse untrusted XML like :func:`parse_xml`, and also return the prefixes it declares.

    QName-valued texts (GetScannerElements' ``Name``, WS-Discovery ``Types``)
    need the prefix declarations, which ElementTree drops. The map is
    document-wide (the last declaration of a prefix wins), which is what real
    clients need: they declare prefixes once on the envelope.
    Raises :class:`XmlError` like :func:`parse_xml`.
    """
    prefixes: dict[str, str] = {}
    depth = 0
    try:
        events = SafeET.iterparse(
            io.BytesIO(data),
            events=("start-ns", "start", "end"),
            forbid_dtd=True,
            forbid_entities=True,
            forbid_external=True,
        )
        for event, item in events:
            if event == "start":
                depth += 1
                if depth > MAX_DEPTH:
                    raise XmlError(f"unacceptable XML: elements nest deeper than {MAX_DEPTH}")
            elif event == "end":
                depth -= 1
            else:
                prefix, uri = item
                prefixes[prefix] = uri
        root = events.root
    except (ET.ParseError, DefusedXmlException, ValueError, LookupError, UnicodeError) as exc:
        if isinstance(exc, XmlError):
            raise
        raise XmlError(f"unacceptable XML: {exc.__class__.__name__}: {str(exc)[:200]}") from None
    if root is None:  # pragma: no cover - iterparse always sets root on success
        raise XmlError("unacceptable XML: empty document")
    return root, prefixes
