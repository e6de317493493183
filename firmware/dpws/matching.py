"""Which device a WS-Discovery Probe or Resolve selects (WS-Discovery sections 5.1 and 6.1).

:class:`DiscoveredDevice` is a device as discovery announces it; :func:`match_probe`
applies a Probe's Types and Scopes to it (:func:`match_scope` implements the
rfc2396, strcmp0 and uuid matching rules, also used by WS-Eventing filters);
:func:`resolve_address` reads the endpoint a Resolve asks for.
:func:`directed_probe_response` answers the Probe sent by HTTP POST to the
device endpoint (DPWS R1015, R1021, R1022).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from firmware.wire import namespaces as ns
from firmware.wire.envelope import Request
from firmware.wire.xml import Element, find, text_of

from .envelope import (
    ACTION_PROBE,
    ACTION_PROBE_MATCHES,
    MATCH_BY_RFC2396,
    MATCH_BY_STRCMP0,
    MATCH_BY_UUID,
    SCANNER_DEVICE_TYPES,
    SCOPE_ADHOC,
    QName,
    discovery_envelope,
    parse_qname_list,
    probe_matches_body,
    tag,
)
from .identity import DeviceIdentity


def match_scope(probe_scope: str, device_scope: str, rule: str = MATCH_BY_RFC2396) -> bool:
    """Whether Scope ``probe_scope`` matches ``device_scope`` under matching rule URI ``rule``.

    Supports rfc2396 (segment-wise path prefix), strcmp0 (DPWS R1019), and
    uuid; any other rule (ldap included) matches nothing, and so does a Scope that is
    not a URI (``http://[::1``).
    """
    if rule == MATCH_BY_STRCMP0:
        return probe_scope == device_scope
    if rule == MATCH_BY_RFC2396:
        try:
            a, b = urlsplit(probe_scope), urlsplit(device_scope)
        except ValueError:
            return False
        if a.scheme.lower() != b.scheme.lower() or a.netloc.lower() != b.netloc.lower():
            return False
        segments_a = [unquote(s) for s in a.path.split("/") if s]
        segments_b = [unquote(s) for s in b.path.split("/") if s]
        if any(s in (".", "..") for s in segments_a + segments_b):
            return False
        return segments_b[: len(segments_a)] == segments_a
    if rule == MATCH_BY_UUID:
        try:
            return _scope_uuid(probe_scope) == _scope_uuid(device_scope)
        except ValueError:
            return False
    return False


def _scope_uuid(scope: str) -> uuid.UUID:
    if not scope[:5].lower() == "uuid:":
        raise ValueError("not a uuid scope")
    return uuid.UUID(scope[5:])


@dataclass(frozen=True)
class DiscoveredDevice:
    """A device (one scanner) announced by discovery.

    ``identity``: its persistent :class:`DeviceIdentity`; ``path``: the URL path
    of its device endpoint, where WS-Transfer Get and directed Probe are
    answered (e.g. ``"/" + uuid``); ``types``: QNames advertised (default
    ``wsdp:Device wscn:ScanDeviceType``); ``scopes``: absolute URIs (default
    none, which means the implied ``adhoc`` scope).
    """

    identity: DeviceIdentity
    path: str
    types: tuple[QName, ...] = SCANNER_DEVICE_TYPES
    scopes: tuple[str, ...] = ()

    def xaddr(self, host: str, port: int, scheme: str = "http") -> str:
        """Return ``scheme://host:port/path``; IPv6 hosts are bracketed and lose any zone id."""
        host = host.split("%", 1)[0]
        if ":" in host:
            host = f"[{host}]"
        path = self.path if self.path.startswith("/") else "/" + self.path
        return f"{scheme}://{host}:{port}{path}"


def match_probe(probe_element: Element | None, prefixes: dict[str, str], device: DiscoveredDevice) -> bool:
    """Whether a ``wsd:Probe`` element matches ``device`` (WS-Discovery section 5.1).

    Every Probe Type must be one of the device's types, compared on namespace
    and local name (``prefixes`` resolves the QName text, see
    :func:`firmware.wire.xml.parse_with_prefixes`); every Probe Scope must match
    one device scope under the ``MatchBy`` rule (default rfc2396). Absent or
    empty Types/Scopes match everything. Anything but a ``wsd:Probe`` is False.
    """
    if probe_element is None or probe_element.tag != tag("Probe"):
        return False
    types_el = find(probe_element, tag("Types"))
    if types_el is not None and not set(parse_qname_list(types_el.text, prefixes)) <= set(device.types):
        return False
    scopes_el = find(probe_element, tag("Scopes"))
    if scopes_el is not None:
        wanted = (scopes_el.text or "").split()
        rule = (scopes_el.get("MatchBy") or MATCH_BY_RFC2396).strip()
        offered = device.scopes or (SCOPE_ADHOC,)
        for scope in wanted:
            if not any(match_scope(scope, own, rule) for own in offered):
                return False
    return True


def directed_probe_response(request: Request, device: DiscoveredDevice, xaddr: str) -> Element | None:
    """Answer a Probe received by HTTP POST on the device endpoint (DPWS R1015, R1021, R1022).

    ``request`` is the parsed HTTP request (:func:`firmware.wire.envelope.parse_request`);
    ``xaddr`` the device endpoint URL as the client reached it. Returns the
    ProbeMatches envelope to send as the HTTP response, or None when the Probe
    does not match: answer 202 Accepted with an empty body then. Raises
    :class:`~firmware.dpws.identity.IdentityError` if the AppSequence
    InstanceId is exhausted.
    """
    if request.action != ACTION_PROBE or not match_probe(request.body, request.prefixes, device):
        return None
    identity = device.identity
    body = probe_matches_body(identity.endpoint, device.types, device.scopes, (xaddr,), identity.metadata_version)
    number = identity.next_message_number()  # first: it may start a new instance
    return discovery_envelope(
        ACTION_PROBE_MATCHES,
        body,
        instance_id=identity.instance_id,
        message_number=number,
        relates_to=request.message_id,
        to=ns.ANONYMOUS,
    )


def resolve_address(body: Element | None) -> str | None:
    """The wsa:Address of a ``wsd:Resolve`` body, or None."""
    if body is None or body.tag != tag("Resolve"):
        return None
    epr = find(body, f"{{{ns.WSA}}}EndpointReference")
    if epr is None:
        return None
    return text_of(find(epr, f"{{{ns.WSA}}}Address"))
