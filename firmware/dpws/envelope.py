"""WS-Discovery 2005/04 messages on the wire: Hello, Bye, ProbeMatches, ResolveMatches (REFERENCE.md section 4.3).

Built on :func:`firmware.wire.envelope.build_envelope`; this module adds what is
discovery-specific:

* QName lists (``wsd:Types``, ``wsdp:Types``): their text names prefixes, and
  ElementTree declares only the namespaces of element and attribute names, so
  :func:`qname_list_element` declares the prefixes the text uses on the
  element itself (``<wsd:Types xmlns:wsdp=... xmlns:wscn=...>``);
* the ``wsd:AppSequence`` header (WS-Discovery Appendix I);
* the message bodies, and :func:`serialize_message`, which enforces the DPWS
  MAX_ENVELOPE_SIZE of 32,767 octets (R0026).

A QName is a ``(namespace, local)`` tuple throughout.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from firmware.wire import namespaces as ns
from firmware.wire.envelope import build_envelope
from firmware.wire.xml import Element, element, qname, resolve_qname, serialize, sub

QName = tuple[str, str]

DISCOVERY_URN = "urn:schemas-xmlsoap-org:ws:2005:04:discovery"  # wsa:To of multicast messages
ACTION_HELLO = ns.WSD + "/Hello"
ACTION_BYE = ns.WSD + "/Bye"
ACTION_PROBE = ns.WSD + "/Probe"
ACTION_PROBE_MATCHES = ns.WSD + "/ProbeMatches"
ACTION_RESOLVE = ns.WSD + "/Resolve"
ACTION_RESOLVE_MATCHES = ns.WSD + "/ResolveMatches"

# Scope matching rules (WS-Discovery section 5.1) and the implied scope of a service without Scopes.
MATCH_BY_RFC2396 = ns.WSD + "/rfc2396"
MATCH_BY_UUID = ns.WSD + "/uuid"
MATCH_BY_LDAP = ns.WSD + "/ldap"
MATCH_BY_STRCMP0 = ns.WSD + "/strcmp0"
SCOPE_ADHOC = ns.WSD + "/adhoc"

# Types advertised by a scanner device (DPWS R1020, [SPEC] App. B section 3.1).
DEVICE_TYPE: QName = (ns.WSDP, "Device")
SCAN_DEVICE_TYPE: QName = (ns.SCAN, "ScanDeviceType")
SCANNER_SERVICE_TYPE: QName = (ns.SCAN, "ScannerServiceType")
SCANNER_DEVICE_TYPES: tuple[QName, ...] = (DEVICE_TYPE, SCAN_DEVICE_TYPE)

MAX_ENVELOPE_SIZE = 32767  # octets, DPWS Appendix I

_PREFIX_OF = {uri: prefix for prefix, uri in ns.PREFIXES.items()}


class EnvelopeTooLarge(ValueError):
    """A serialized envelope would exceed MAX_ENVELOPE_SIZE (DPWS R0026); it must not be sent."""


def tag(local: str) -> str:
    """Return the Clark tag of a WS-Discovery element, e.g. ``tag("Probe")``."""
    return qname(ns.WSD, local)


# --- QName lists ---------------------------------------------------------------------


def qname_list_element(tag_name: str, qnames: Iterable[QName]) -> Element:
    """Build ``tag_name`` whose text is the space-separated QNames, with their prefixes declared.

    Known namespaces use their usual prefix (``wsdp``, ``wscn``...), others
    ``t0``, ``t1``... The prefix of the element's own namespace is not
    redeclared (ElementTree always declares it on an ancestor or the element).
    """
    own_namespace = tag_name[1:].split("}", 1)[0] if tag_name.startswith("{") else ""
    declarations: dict[str, str] = {}
    words = []
    for namespace, local in qnames:
        prefix = _PREFIX_OF.get(namespace)
        if prefix is None:
            prefix = next((p for p, uri in declarations.items() if uri == namespace), None)
            if prefix is None:
                prefix = f"t{len(declarations)}"
        if namespace != own_namespace or prefix != _PREFIX_OF.get(namespace):
            declarations[prefix] = namespace
        words.append(f"{prefix}:{local}")
    attrib = {f"xmlns:{prefix}": uri for prefix, uri in declarations.items()}
    return element(tag_name, " ".join(words), attrib)


def parse_qname_list(text: str | None, prefixes: dict[str, str]) -> tuple[QName, ...]:
    """Resolve a space-separated QName list (``wsdp:Device wscn:ScanDeviceType``) to QNames.

    ``prefixes`` is the prefix map from
    :func:`firmware.wire.xml.parse_with_prefixes`. An unknown prefix resolves to
    namespace '' (so it matches nothing).
    """
    return tuple(resolve_qname(word, prefixes) for word in (text or "").split())


# --- headers and bodies ------------------------------------------------------------


def app_sequence(instance_id: int, message_number: int) -> Element:
    """Build the ``wsd:AppSequence`` header block (WS-Discovery Appendix I; no SequenceId)."""
    return element(tag("AppSequence"), attrib={"InstanceId": str(instance_id), "MessageNumber": str(message_number)})


def endpoint_reference(address: str) -> Element:
    """Build ``wsa:EndpointReference/wsa:Address``."""
    epr = element(qname(ns.WSA, "EndpointReference"))
    sub(epr, qname(ns.WSA, "Address"), address)
    return epr


def _fill_target(
    parent: Element,
    endpoint: str,
    types: Sequence[QName],
    scopes: Sequence[str],
    xaddrs: Sequence[str],
    metadata_version: int,
) -> Element:
    parent.append(endpoint_reference(endpoint))
    if types:
        parent.append(qname_list_element(tag("Types"), types))
    if scopes:
        sub(parent, tag("Scopes"), " ".join(scopes))
    if xaddrs:
        sub(parent, tag("XAddrs"), " ".join(xaddrs))
    sub(parent, tag("MetadataVersion"), metadata_version)
    return parent


def hello_body(
    endpoint: str, types: Sequence[QName], scopes: Sequence[str], xaddrs: Sequence[str], metadata_version: int
) -> Element:
    """Build ``wsd:Hello`` (WS-Discovery section 4.1): EPR, Types, Scopes?, XAddrs, MetadataVersion."""
    return _fill_target(element(tag("Hello")), endpoint, types, scopes, xaddrs, metadata_version)


def bye_body(endpoint: str) -> Element:
    """Build ``wsd:Bye`` with the EPR only (WS-Discovery section 4.2)."""
    bye = element(tag("Bye"))
    bye.append(endpoint_reference(endpoint))
    return bye


def probe_matches_body(
    endpoint: str, types: Sequence[QName], scopes: Sequence[str], xaddrs: Sequence[str], metadata_version: int
) -> Element:
    """Build ``wsd:ProbeMatches`` with one ``wsd:ProbeMatch`` (WS-Discovery section 5.3)."""
    matches = element(tag("ProbeMatches"))
    _fill_target(sub(matches, tag("ProbeMatch")), endpoint, types, scopes, xaddrs, metadata_version)
    return matches


def resolve_matches_body(
    endpoint: str, types: Sequence[QName], scopes: Sequence[str], xaddrs: Sequence[str], metadata_version: int
) -> Element:
    """Build ``wsd:ResolveMatches`` with one ``wsd:ResolveMatch`` (WS-Discovery section 6.2; XAddrs required)."""
    if not xaddrs:
        raise ValueError("a ResolveMatch needs XAddrs")
    matches = element(tag("ResolveMatches"))
    _fill_target(sub(matches, tag("ResolveMatch")), endpoint, types, scopes, xaddrs, metadata_version)
    return matches


def discovery_envelope(
    action: str,
    body: Element,
    *,
    instance_id: int,
    message_number: int,
    relates_to: str | None = None,
    to: str | None = None,
) -> Element:
    """Wrap a discovery body in a SOAP envelope with ``wsd:AppSequence``.

    ``to`` defaults to :data:`DISCOVERY_URN` for Hello/Bye (no ``relates_to``)
    and to the anonymous address for replies (WS-Discovery sections 5.3, 6.2).
    """
    if to is None:
        to = ns.ANONYMOUS if relates_to else DISCOVERY_URN
    return build_envelope(
        action,
        body,
        to=to,
        relates_to=relates_to,
        extra_headers=(app_sequence(instance_id, message_number),),
    )


def serialize_message(envelope: Element) -> bytes:
    """Serialize ``envelope`` compactly; raise :class:`EnvelopeTooLarge` above 32,767 octets (DPWS R0026)."""
    data = serialize(envelope)
    if len(data) > MAX_ENVELOPE_SIZE:
        raise EnvelopeTooLarge(f"envelope of {len(data)} octets exceeds {MAX_ENVELOPE_SIZE}")
    return data
