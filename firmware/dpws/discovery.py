"""The WS-Discovery target service: an asyncio UDP responder on every usable interface (REFERENCE.md section 4).

What it does, and where the rule comes from:

* listens on UDP 3702 for 239.255.255.250 and [ff02::c] on every usable
  interface, one socket per interface and family, bound with SO_REUSEADDR so
  Samba's wsdd on the same host keeps working (WS-Discovery section 2.4,
  REFERENCE.md section 4.1; not SO_REUSEPORT, see :func:`_open_receiver`);
* answers a matching multicast Probe with ProbeMatches after a random delay of
  0..APP_MAX_DELAY (500 ms, within Windows' 4 s firewall window), and a Resolve
  for one of our endpoints with ResolveMatches at once (WS-Discovery sections
  5.3 and 6.2), unicast to the sender's address and port, from the interface
  the request came in on, with XAddrs naming that interface's address;
* sends every UDP message twice, 50-250 ms apart (SOAP-over-UDP Appendix I with
  the DPWS Appendix I constants), with the same MessageID and AppSequence;
* answers one MessageID once (SOAP-over-UDP Appendix II) and drops, without a
  reply, datagrams that are over 32,767 octets, not XML, not SOAP 1.2, lack a
  MessageID, or ask for a non-anonymous reply address (WS-Discovery section 7,
  DPWS R1018);
* sends Hello after a random delay when it starts, when an interface or
  address appears or changes (a NETLINK_ROUTE subscription), and on
  :meth:`DiscoveryService.announce`; sends Bye from :meth:`DiscoveryService.stop`;
  Hello and Bye of one device when it is added or removed at run time (USB hotplug);
* drops, unanswered, datagrams from senders outside the ``peer_allowed`` allow-list.

Interfaces come from the kernel over NETLINK_ROUTE (standard library only).
By default loopback, interfaces without multicast, and container/VM bridges
(:data:`DEFAULT_SKIP_PATTERNS`) are skipped; ``interfaces_allow`` and
``interfaces_deny`` are lists of interface-name globs.

:func:`match_probe` and :func:`directed_probe_response` serve the Probe sent by
HTTP POST to the device endpoint as well (DPWS R1015, R1021, R1022).
"""

from __future__ import annotations

import asyncio
import fnmatch
import ipaddress
import itertools
import logging
import random
import socket
import struct
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from firmware.wire import faults
from firmware.wire import namespaces as ns
from firmware.wire.envelope import Request, parse_request
from firmware.wire.xml import Element, find, text_of

from .envelope import (
    ACTION_BYE,
    ACTION_HELLO,
    ACTION_PROBE,
    ACTION_PROBE_MATCHES,
    ACTION_RESOLVE,
    ACTION_RESOLVE_MATCHES,
    MATCH_BY_RFC2396,
    MATCH_BY_STRCMP0,
    MATCH_BY_UUID,
    MAX_ENVELOPE_SIZE,
    SCANNER_DEVICE_TYPES,
    SCOPE_ADHOC,
    EnvelopeTooLarge,
    QName,
    bye_body,
    discovery_envelope,
    hello_body,
    parse_qname_list,
    probe_matches_body,
    resolve_matches_body,
    serialize_message,
    tag,
)
from .identity import DeviceIdentity, IdentityError

log = logging.getLogger(__name__)

# --- constants (WS-Discovery section 2.4, SOAP-over-UDP, DPWS Appendix I) ----------------------

DISCOVERY_PORT = 3702
DEFAULT_HTTP_PORT = 5358  # the device endpoint's port; not 5357, which Samba's wsdd binds (REFERENCE.md 4.5)
MULTICAST_V4 = "239.255.255.250"
MULTICAST_V6 = "ff02::c"
APP_MAX_DELAY = 0.5  # seconds; WS-Discovery's value, inside Windows' 4 s window (REFERENCE.md 4.1)
MULTICAST_UDP_REPEAT = 2
UNICAST_UDP_REPEAT = 2
UDP_MIN_DELAY = 0.050  # seconds
UDP_MAX_DELAY = 0.250
UDP_UPPER_DELAY = 0.450
DUPLICATE_MEMORY = 60.0  # seconds a MessageID is remembered
DUPLICATE_MAX = 4096  # MessageIDs remembered at most
MAX_PENDING = 256  # scheduled replies and Hellos at most; more Probes are dropped
REFRESH_DEBOUNCE = 0.2  # seconds between a netlink event and re-reading the interfaces

DEFAULT_SKIP_PATTERNS: tuple[str, ...] = (
    "docker*",
    "br-*",
    "veth*",
    "virbr*",
    "lxcbr*",
    "lxdbr*",
    "podman*",
    "cni*",
    "flannel*",
    "cali*",
    "vnet*",
    "kube-*",
    "weave*",
)

# Linux constants the socket module does not always export.
_IP_MULTICAST_ALL = 49
_IPV6_MULTICAST_ALL = 29
_IP_UNICAST_IF = 50
_IPV6_UNICAST_IF = 76  # both *_UNICAST_IF options take the ifindex in network byte order


# --- interfaces over NETLINK_ROUTE -----------------------------------------------------------

_NLMSG_HDR = struct.Struct("=IHHII")
_RTATTR = struct.Struct("=HH")
_IFINFOMSG = struct.Struct("=BxHiII")
_IFADDRMSG = struct.Struct("=BBBBI")
_NLMSG_ERROR = 2
_NLMSG_DONE = 3
_RTM_GETLINK = 18
_RTM_NEWLINK = 16
_RTM_GETADDR = 22
_RTM_NEWADDR = 20
_NLM_F_REQUEST = 0x1
_NLM_F_DUMP = 0x300
_IFLA_IFNAME = 3
_IFA_ADDRESS = 1
_IFA_LOCAL = 2
_IFA_FLAGS = 8
_RTMGRP_LINK = 0x1
_RTMGRP_IPV4_IFADDR = 0x10
_RTMGRP_IPV6_IFADDR = 0x100

IFF_UP = 0x1
IFF_LOOPBACK = 0x8
IFF_RUNNING = 0x40
IFF_MULTICAST = 0x1000
IFA_F_SECONDARY = 0x01
IFA_F_DADFAILED = 0x08
IFA_F_DEPRECATED = 0x20
IFA_F_TENTATIVE = 0x40

_seq = itertools.count(1)


@dataclass(frozen=True)
class InterfaceAddress:
    """One address of an interface.

    ``family`` AF_INET/AF_INET6, ``address`` text (no zone), ``prefixlen`` bits, IFA_F_* ``flags``.
    """

    family: int
    address: str
    prefixlen: int
    flags: int = 0

    @property
    def usable(self) -> bool:
        """False while duplicate address detection runs or after it failed."""
        return not self.flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED)

    @property
    def link_local(self) -> bool:
        """True for fe80::/10 and 169.254.0.0/16."""
        return ipaddress.ip_address(self.address).is_link_local


@dataclass(frozen=True)
class Interface:
    """A network interface: kernel ``index``, ``name``, IFF_* ``flags`` and its addresses."""

    index: int
    name: str
    flags: int
    addresses: tuple[InterfaceAddress, ...] = ()

    def usable_addresses(self, family: int) -> tuple[InterfaceAddress, ...]:
        """Usable addresses of ``family``, preferred first (primary IPv4, then link-local IPv6, not deprecated)."""
        found = [a for a in self.addresses if a.family == family and a.usable]
        if family == socket.AF_INET:
            return tuple(sorted(found, key=lambda a: bool(a.flags & IFA_F_SECONDARY)))
        return tuple(sorted(found, key=lambda a: (not a.link_local, bool(a.flags & IFA_F_DEPRECATED))))


def _rtattrs(data: bytes, offset: int) -> dict[int, bytes]:
    attrs: dict[int, bytes] = {}
    while offset + _RTATTR.size <= len(data):
        length, kind = _RTATTR.unpack_from(data, offset)
        if length < _RTATTR.size:
            break
        attrs.setdefault(kind & 0x3FFF, data[offset + _RTATTR.size : offset + length])
        offset += (length + 3) & ~3
    return attrs


def _netlink_dump(sock: socket.socket, msg_type: int, payload: bytes) -> list[tuple[int, bytes]]:
    seq = next(_seq)
    request = _NLMSG_HDR.pack(_NLMSG_HDR.size + len(payload), msg_type, _NLM_F_REQUEST | _NLM_F_DUMP, seq, 0)
    sock.send(request + payload)
    messages: list[tuple[int, bytes]] = []
    while True:
        data = sock.recv(1 << 16)
        offset = 0
        while offset + _NLMSG_HDR.size <= len(data):
            length, kind, _flags, msg_seq, _pid = _NLMSG_HDR.unpack_from(data, offset)
            if length < _NLMSG_HDR.size:
                break
            body = data[offset + _NLMSG_HDR.size : offset + length]
            offset += (length + 3) & ~3
            if msg_seq != seq:
                continue
            if kind == _NLMSG_DONE:
                return messages
            if kind == _NLMSG_ERROR:
                (error,) = struct.unpack_from("=i", body)
                if error:
                    raise OSError(-error, f"netlink dump {msg_type} failed")
                return messages
            messages.append((kind, body))


def read_interfaces() -> list[Interface]:
    """Return every interface with its addresses, read from the kernel over NETLINK_ROUTE.

    Raises OSError when netlink is not available.
    """
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE) as sock:
        sock.settimeout(2.0)
        sock.bind((0, 0))
        links = _netlink_dump(sock, _RTM_GETLINK, _IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0))
        addrs = _netlink_dump(sock, _RTM_GETADDR, _IFADDRMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0))
    by_index: dict[int, tuple[str, int]] = {}
    for kind, body in links:
        if kind != _RTM_NEWLINK or len(body) < _IFINFOMSG.size:
            continue
        _family, _type, index, flags, _change = _IFINFOMSG.unpack_from(body)
        name = _rtattrs(body, _IFINFOMSG.size).get(_IFLA_IFNAME, b"").split(b"\0", 1)[0]
        by_index[index] = (name.decode("utf-8", "replace"), flags)
    addresses: dict[int, list[InterfaceAddress]] = {}
    for kind, body in addrs:
        if kind != _RTM_NEWADDR or len(body) < _IFADDRMSG.size:
            continue
        family, prefixlen, flags, _scope, index = _IFADDRMSG.unpack_from(body)
        attrs = _rtattrs(body, _IFADDRMSG.size)
        if _IFA_FLAGS in attrs and len(attrs[_IFA_FLAGS]) >= 4:
            (flags,) = struct.unpack_from("=I", attrs[_IFA_FLAGS])
        if family == socket.AF_INET:
            raw = attrs.get(_IFA_LOCAL) or attrs.get(_IFA_ADDRESS)
        elif family == socket.AF_INET6:
            raw = attrs.get(_IFA_ADDRESS) or attrs.get(_IFA_LOCAL)
        else:
            continue
        if raw is None:
            continue
        addresses.setdefault(index, []).append(
            InterfaceAddress(family, socket.inet_ntop(family, raw), prefixlen, flags)
        )
    return [
        Interface(index, name, flags, tuple(addresses.get(index, ())))
        for index, (name, flags) in sorted(by_index.items())
    ]


def interface_selected(
    interface: Interface,
    allow: Sequence[str] | None = None,
    deny: Sequence[str] | None = None,
    skip_patterns: Sequence[str] = DEFAULT_SKIP_PATTERNS,
) -> bool:
    """Decide whether discovery runs on ``interface``.

    ``deny`` globs always exclude. With ``allow`` globs, only matching names
    are used (even loopback or a name in ``skip_patterns``); without, loopback
    and names matching ``skip_patterns`` are skipped. In every case the
    interface must be up, running and multicast-capable.
    """
    name = interface.name
    if deny and any(fnmatch.fnmatchcase(name, pattern) for pattern in deny):
        return False
    if allow is not None:
        if not any(fnmatch.fnmatchcase(name, pattern) for pattern in allow):
            return False
    elif interface.flags & IFF_LOOPBACK or any(fnmatch.fnmatchcase(name, p) for p in skip_patterns):
        return False
    needed = IFF_UP | IFF_RUNNING | IFF_MULTICAST
    return interface.flags & needed == needed


def served_families(http_host: str) -> tuple[int, ...]:
    """The address families whose XAddrs work for an HTTP server listening on wildcard ``http_host``.

    Tornado binds ``"0.0.0.0"`` to IPv4 only and ``"::"`` to IPv6 only (it sets
    IPV6_V6ONLY); ``""`` binds both. Discovery must not announce an XAddr on a
    family the server does not accept: sane-airscan would try it, get
    "connection refused", and wait for that address before listing the device.
    """
    if http_host == "0.0.0.0":
        return (socket.AF_INET,)
    if http_host == "::":
        return (socket.AF_INET6,)
    return (socket.AF_INET, socket.AF_INET6) if socket.has_ipv6 else (socket.AF_INET,)


def choose_address(addresses: Sequence[InterfaceAddress], peer: str | None) -> InterfaceAddress:
    """Pick the address of the receiving interface to put in XAddrs for a message from ``peer``.

    IPv4: the address whose subnet holds ``peer``, else the first (primary).
    IPv6: for a link-local peer our link-local address; otherwise an address
    on the peer's prefix, else a global one, else the first. ``addresses`` is
    non-empty and preference-ordered (:meth:`Interface.usable_addresses`).
    """
    if peer:
        try:
            peer_ip = ipaddress.ip_address(peer.split("%", 1)[0])
        except ValueError:
            peer_ip = None
        if peer_ip is not None and not (peer_ip.version == 6 and peer_ip.is_link_local):
            for candidate in addresses:
                network = ipaddress.ip_network(f"{candidate.address}/{candidate.prefixlen}", strict=False)
                if peer_ip in network:
                    return candidate
            if peer_ip.version == 6:
                for candidate in addresses:
                    if not candidate.link_local:
                        return candidate
    return addresses[0]


# --- matching (WS-Discovery section 5.1) ---------------------------------------------------


def match_scope(probe_scope: str, device_scope: str, rule: str = MATCH_BY_RFC2396) -> bool:
    """Whether Scope ``probe_scope`` matches ``device_scope`` under matching rule URI ``rule``.

    Supports rfc2396 (segment-wise path prefix), strcmp0 (DPWS R1019), and
    uuid; any other rule (ldap included) matches nothing.
    """
    if rule == MATCH_BY_STRCMP0:
        return probe_scope == device_scope
    if rule == MATCH_BY_RFC2396:
        a, b = urlsplit(probe_scope), urlsplit(device_scope)
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
    :class:`~firmware.dpws.identity.IdentityError` if the AppSequence lease
    cannot be stored.
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


# --- sockets -------------------------------------------------------------------------------


def _open_receiver(family: int, ifindex: int, port: int) -> socket.socket:
    """A socket receiving the discovery group on one interface only, sharing the port with other daemons."""
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        # SO_REUSEADDR only: Samba's wsdd sets it too, so both may bind the group port. SO_REUSEPORT
        # would be harmful: Linux then hands each multicast datagram to ONE socket of the reuseport
        # group, ignoring which interface's membership it arrived on (and starving a second daemon).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET:
            sock.setsockopt(socket.IPPROTO_IP, _IP_MULTICAST_ALL, 0)
            mreqn = socket.inet_aton(MULTICAST_V4) + socket.inet_aton("0.0.0.0") + struct.pack("=i", ifindex)
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreqn)
            sock.bind((MULTICAST_V4, port))
        else:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.setsockopt(socket.IPPROTO_IPV6, _IPV6_MULTICAST_ALL, 0)
            mreq = socket.inet_pton(socket.AF_INET6, MULTICAST_V6) + struct.pack("=I", ifindex)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq)
            sock.bind((MULTICAST_V6, port, 0, ifindex))
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def _open_sender(family: int, ifindex: int) -> socket.socket:
    """A socket sending multicast (hop limit 1) and unicast replies out of one interface."""
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        if family == socket.AF_INET:
            mreqn = socket.inet_aton("0.0.0.0") + socket.inet_aton("0.0.0.0") + struct.pack("=i", ifindex)
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, mreqn)
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
            _try_setsockopt(sock, socket.IPPROTO_IP, _IP_UNICAST_IF, struct.pack("!I", ifindex))
            sock.bind(("0.0.0.0", 0))
        else:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, ifindex)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 1)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 1)
            _try_setsockopt(sock, socket.IPPROTO_IPV6, _IPV6_UNICAST_IF, struct.pack("!I", ifindex))
            sock.bind(("::", 0))
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def _try_setsockopt(sock: socket.socket, level: int, option: int, value: bytes) -> None:
    try:
        sock.setsockopt(level, option, value)
    except OSError as exc:  # older kernels: replies then follow the routing table
        log.debug("setsockopt(%d, %d) failed: %s", level, option, exc)


class _Receiver(asyncio.DatagramProtocol):
    def __init__(self, service: DiscoveryService, link: _Link) -> None:
        self.service = service
        self.link = link

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        """Hand the datagram to the service, with the link it arrived on."""
        self.service._datagram_received(self.link, data, addr)

    def error_received(self, exc: Exception) -> None:
        """Log socket errors (ICMP unreachable and the like); they are not fatal."""
        log.debug("receive error on %s: %s", self.link, exc)


class _Sender(asyncio.DatagramProtocol):
    def __init__(self, link: _Link) -> None:
        self.link = link

    def error_received(self, exc: Exception) -> None:
        """Log socket errors (ICMP unreachable and the like); they are not fatal."""
        log.debug("send error on %s: %s", self.link, exc)


class _Link:
    """Discovery on one (interface, family): a receiving and a sending socket, and the interface's addresses."""

    def __init__(self, interface: Interface, family: int, addresses: tuple[InterfaceAddress, ...], port: int) -> None:
        self.index = interface.index
        self.name = interface.name
        self.family = family
        self.addresses = addresses
        self.port = port
        self.closed = False
        self._receiver: asyncio.DatagramTransport | None = None
        self._sender: asyncio.DatagramTransport | None = None

    def __str__(self) -> str:
        return f"{self.name}/{'IPv4' if self.family == socket.AF_INET else 'IPv6'}"

    @property
    def multicast_destination(self) -> tuple:
        """The discovery group's socket address on this link (with the scope id for IPv6)."""
        if self.family == socket.AF_INET:
            return (MULTICAST_V4, self.port)
        return (MULTICAST_V6, self.port, 0, self.index)

    def address_key(self) -> frozenset:
        """The addresses as a comparable set: a change means a new Hello."""
        return frozenset((a.address, a.prefixlen) for a in self.addresses)

    async def open(self, service: DiscoveryService) -> None:
        """Open both sockets; on any failure (or cancellation) nothing stays open."""
        loop = asyncio.get_running_loop()
        sockets = []
        try:
            sockets.append(_open_receiver(self.family, self.index, self.port))
            sockets.append(_open_sender(self.family, self.index))
            self._receiver, _ = await loop.create_datagram_endpoint(lambda: _Receiver(service, self), sock=sockets[0])
            self._sender, _ = await loop.create_datagram_endpoint(lambda: _Sender(self), sock=sockets[1])
        except BaseException:
            self.close()
            for sock in sockets:
                sock.close()
            raise

    def send(self, data: bytes, destination: tuple) -> None:
        """Send one datagram out of this link (nothing once closed)."""
        if not self.closed and self._sender is not None:
            self._sender.sendto(data, destination)

    def close(self) -> None:
        """Close both sockets; idempotent."""
        self.closed = True
        for transport in (self._receiver, self._sender):
            if transport is not None:
                transport.close()


# --- the service -----------------------------------------------------------------------------


class DiscoveryService:
    """The WS-Discovery target service for ``devices`` (see the module docstring for the rules).

    ``devices``: the :class:`DiscoveredDevice` list (their identities'
    MetadataVersion should be current, see
    :meth:`DeviceIdentity.update_metadata`); ``http_port``: the TCP port of
    the HTTP server that answers on each device's ``path`` (XAddrs are
    ``http://<address of the receiving interface>:<http_port><path>``; do not
    use 5357, Samba's wsdd owns it); ``interfaces_allow``/``interfaces_deny``:
    interface-name globs (:func:`interface_selected`); ``families``: address
    families to serve; ``skip_patterns``: name globs skipped unless allowed
    explicitly; ``app_max_delay``: seconds, the bound of the random delay
    before ProbeMatches and Hello; ``port``: UDP port (3702); ``scheme``: of
    the XAddrs (``http``); ``rng``: the random source of the delays;
    ``peer_allowed``: called with a sender's IP address text, False drops its
    datagram unanswered (the configuration's ``allow`` list; None: everyone).

    Use from one asyncio event loop: ``await start()``, later ``await stop()``;
    devices come and go at run time with :meth:`add_device` / :meth:`remove_device`.
    """

    def __init__(
        self,
        devices: Sequence[DiscoveredDevice],
        http_port: int,
        interfaces_allow: Sequence[str] | None = None,
        interfaces_deny: Sequence[str] | None = None,
        *,
        families: Iterable[int] = (socket.AF_INET, socket.AF_INET6),
        skip_patterns: Sequence[str] = DEFAULT_SKIP_PATTERNS,
        app_max_delay: float = APP_MAX_DELAY,
        port: int = DISCOVERY_PORT,
        scheme: str = "http",
        rng: random.Random | None = None,
        peer_allowed: Callable[[str], bool] | None = None,
    ) -> None:
        self.devices = list(devices)
        self.peer_allowed = peer_allowed
        self.http_port = http_port
        self.interfaces_allow = list(interfaces_allow) if interfaces_allow is not None else None
        self.interfaces_deny = list(interfaces_deny or ())
        self.families = tuple(families)
        self.skip_patterns = tuple(skip_patterns)
        self.app_max_delay = app_max_delay
        self.port = port
        self.scheme = scheme
        self._rng = rng or random.SystemRandom()
        self._links: dict[tuple[int, int], _Link] = {}
        self._tasks: set[asyncio.Task] = set()
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._monitor: socket.socket | None = None
        self._refresh_handle: asyncio.TimerHandle | None = None
        self._refresh_lock = asyncio.Lock()
        self._running = False

    # -- life cycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the sockets on every usable interface, subscribe to address changes, schedule Hello.

        Returns once the sockets are open; the Hellos follow after their random
        delay. Raises OSError when netlink is unavailable. An interface whose
        sockets cannot be opened is logged and skipped.
        """
        if self._running:
            return
        self._running = True
        try:
            self._open_monitor()
            await self._refresh()
        except BaseException:
            self._running = False
            self._close_monitor()
            for link in self._links.values():
                link.close()
            self._links.clear()
            raise
        if not self._links:
            log.warning("WS-Discovery: no usable network interface yet")

    async def stop(self) -> None:
        """Send Bye for every device on every interface, then close everything.

        Pending replies and Hellos are cancelled. Takes up to about
        UDP_MAX_DELAY (the Bye retransmission).
        """
        if not self._running:
            return
        self._running = False
        self._close_monitor()
        await self._cancel_tasks()
        byes = [self._send_bye(link, device) for link in self._links.values() for device in self.devices]
        await asyncio.gather(*byes, return_exceptions=True)
        for link in self._links.values():
            link.close()
        self._links.clear()

    async def announce(self) -> None:
        """Send Hello again on every interface, e.g. after a MetadataVersion bump (WS-Discovery 4.1)."""
        for link in self._links.values():
            self._schedule_hellos(link)

    async def add_device(self, device: DiscoveredDevice) -> None:
        """Serve ``device`` from now on and announce it with Hello on every interface (a scanner
        was plugged in; WS-Discovery section 4.1). Nothing happens if it is served already."""
        if device in self.devices:
            return
        self.devices.append(device)
        for link in self._links.values():
            self._spawn(self._send_hello(link, device, self._rng.uniform(0.0, self.app_max_delay)), limited=False)

    async def remove_device(self, device: DiscoveredDevice) -> None:
        """Stop answering for ``device`` and send its Bye on every interface (a scanner was
        unplugged; WS-Discovery section 4.2). Returns after the Bye retransmission (about
        UDP_MAX_DELAY); nothing happens for a device not served."""
        if device not in self.devices:
            return
        self.devices.remove(device)
        if self._running:
            await asyncio.gather(
                *(self._send_bye(link, device) for link in self._links.values()), return_exceptions=True
            )

    @property
    def links(self) -> list[tuple[str, int, tuple[str, ...]]]:
        """The interfaces served now: ``(name, family, addresses)`` tuples, for logs and tests."""
        return [(link.name, link.family, tuple(a.address for a in link.addresses)) for link in self._links.values()]

    # -- interfaces ----------------------------------------------------------------------------

    def _open_monitor(self) -> None:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        try:
            sock.bind((0, _RTMGRP_LINK | _RTMGRP_IPV4_IFADDR | _RTMGRP_IPV6_IFADDR))
            sock.setblocking(False)
            asyncio.get_running_loop().add_reader(sock.fileno(), self._netlink_readable)
        except BaseException:
            sock.close()
            raise
        self._monitor = sock

    def _close_monitor(self) -> None:
        if self._refresh_handle is not None:
            self._refresh_handle.cancel()
            self._refresh_handle = None
        if self._monitor is not None:
            asyncio.get_running_loop().remove_reader(self._monitor.fileno())
            self._monitor.close()
            self._monitor = None

    def _netlink_readable(self) -> None:
        assert self._monitor is not None
        while True:
            try:
                if not self._monitor.recv(1 << 16):
                    break
            except BlockingIOError:
                break
            except OSError as exc:  # ENOBUFS: events were lost; the refresh re-reads everything
                log.debug("netlink monitor: %s", exc)
                break
        if self._refresh_handle is None and self._running:
            loop = asyncio.get_running_loop()
            self._refresh_handle = loop.call_later(REFRESH_DEBOUNCE, self._refresh_later)

    def _refresh_later(self) -> None:
        self._refresh_handle = None
        if self._running:
            self._spawn(self._refresh(), limited=False)

    async def _refresh(self) -> None:
        """Re-read the interfaces; open, update or close links; Hello on new or changed ones."""
        async with self._refresh_lock:
            try:
                interfaces = read_interfaces()
            except OSError as exc:
                log.warning("WS-Discovery: cannot read the interfaces: %s", exc)
                return
            wanted: dict[tuple[int, int], tuple[Interface, tuple[InterfaceAddress, ...]]] = {}
            for interface in interfaces:
                if not interface_selected(interface, self.interfaces_allow, self.interfaces_deny, self.skip_patterns):
                    continue
                for family in self.families:
                    addresses = interface.usable_addresses(family)
                    if addresses:
                        wanted[(interface.index, family)] = (interface, addresses)
            for key, link in list(self._links.items()):
                if key not in wanted or wanted[key][0].name != link.name:
                    log.info("WS-Discovery: leaving %s", link)
                    link.close()
                    del self._links[key]
            for key, (interface, addresses) in wanted.items():
                if not self._running:
                    return
                link = self._links.get(key)
                if link is None:
                    link = _Link(interface, key[1], addresses, self.port)
                    try:
                        await link.open(self)
                    except OSError as exc:
                        log.warning("WS-Discovery: cannot listen on %s: %s", link, exc)
                        link.close()
                        continue
                    self._links[key] = link
                    log.info("WS-Discovery: joined %s (%s)", link, ", ".join(a.address for a in addresses))
                    self._schedule_hellos(link)
                else:
                    old = link.address_key()
                    link.addresses = addresses
                    if link.address_key() != old:
                        log.info("WS-Discovery: addresses of %s changed", link)
                        self._schedule_hellos(link)

    # -- receiving -----------------------------------------------------------------------------

    def _datagram_received(self, link: _Link, data: bytes, peer: tuple) -> None:
        if not self._running or link.closed:
            return
        if len(data) > MAX_ENVELOPE_SIZE:
            log.debug("dropped a %d-octet datagram from %s on %s", len(data), peer[0], link)
            return
        if not peer or not peer[1]:
            return
        if self.peer_allowed is not None and not self.peer_allowed(peer[0]):
            log.debug("dropped a datagram from %s on %s: not in the allow-list", peer[0], link)
            return
        try:
            request = parse_request(data)
        except (faults.SoapFault, ValueError) as exc:
            log.debug("dropped a datagram from %s on %s: %s", peer[0], link, exc)
            return
        if request.action not in (ACTION_PROBE, ACTION_RESOLVE) or not request.message_id:
            return
        log.debug("%s %s from %s on %s", request.action.rsplit("/", 1)[-1], request.message_id, peer[0], link)
        if self._is_duplicate(request.message_id):
            log.debug("duplicate %s from %s", request.message_id, peer[0])
            return
        if request.action == ACTION_PROBE:
            for device in self.devices:
                if match_probe(request.body, request.prefixes, device):
                    delay = self._rng.uniform(0.0, self.app_max_delay)
                    self._spawn(self._reply(link, device, ACTION_PROBE_MATCHES, request.message_id, peer, delay))
        else:
            wanted = _resolve_address(request.body)
            for device in self.devices:
                if wanted is not None and wanted == device.identity.endpoint:
                    self._spawn(self._reply(link, device, ACTION_RESOLVE_MATCHES, request.message_id, peer, 0.0))

    def _is_duplicate(self, message_id: str) -> bool:
        now = time.monotonic()
        while self._seen:
            oldest, seen_at = next(iter(self._seen.items()))
            if now - seen_at <= DUPLICATE_MEMORY and len(self._seen) < DUPLICATE_MAX:
                break
            del self._seen[oldest]
        if message_id in self._seen:
            return True
        self._seen[message_id] = now
        return False

    # -- sending -------------------------------------------------------------------------------

    def _spawn(self, coroutine, limited: bool = True) -> None:
        """Run ``coroutine`` as a tracked task (cancelled by stop); ``limited`` ones are dropped beyond MAX_PENDING."""
        if limited and len(self._tasks) >= MAX_PENDING:
            log.debug("WS-Discovery: too many pending messages, dropping one")
            coroutine.close()
            return
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("WS-Discovery: sending failed", exc_info=task.exception())

    async def _cancel_tasks(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _schedule_hellos(self, link: _Link) -> None:
        for device in self.devices:
            self._spawn(self._send_hello(link, device, self._rng.uniform(0.0, self.app_max_delay)))

    async def _send_hello(self, link: _Link, device: DiscoveredDevice, delay: float) -> None:
        await asyncio.sleep(delay)
        if link.closed or device not in self.devices:
            return
        identity = device.identity
        xaddr = device.xaddr(link.addresses[0].address, self.http_port, self.scheme)
        body = hello_body(identity.endpoint, device.types, device.scopes, (xaddr,), identity.metadata_version)
        await self._send(link, device, ACTION_HELLO, body, None, link.multicast_destination, MULTICAST_UDP_REPEAT)

    async def _send_bye(self, link: _Link, device: DiscoveredDevice) -> None:
        if link.closed:
            return
        body = bye_body(device.identity.endpoint)
        await self._send(link, device, ACTION_BYE, body, None, link.multicast_destination, MULTICAST_UDP_REPEAT)

    async def _reply(
        self, link: _Link, device: DiscoveredDevice, action: str, relates_to: str, peer: tuple, delay: float
    ) -> None:
        await asyncio.sleep(delay)
        if link.closed or not self._running or device not in self.devices:
            return
        identity = device.identity
        host = choose_address(link.addresses, peer[0]).address
        xaddrs = (device.xaddr(host, self.http_port, self.scheme),)
        build = probe_matches_body if action == ACTION_PROBE_MATCHES else resolve_matches_body
        body = build(identity.endpoint, device.types, device.scopes, xaddrs, identity.metadata_version)
        await self._send(link, device, action, body, relates_to, peer, UNICAST_UDP_REPEAT)

    async def _send(
        self,
        link: _Link,
        device: DiscoveredDevice,
        action: str,
        body: Element,
        relates_to: str | None,
        destination: tuple,
        repeat: int,
    ) -> None:
        """Build, number and transmit one message with SOAP-over-UDP Appendix I retransmission."""
        identity = device.identity
        try:
            number = identity.next_message_number()  # first: it may start a new instance
            envelope = discovery_envelope(
                action, body, instance_id=identity.instance_id, message_number=number, relates_to=relates_to
            )
            data = serialize_message(envelope)
        except (EnvelopeTooLarge, IdentityError) as exc:
            log.error("WS-Discovery: cannot send %s on %s: %s", action.rsplit("/", 1)[-1], link, exc)
            return
        link.send(data, destination)
        repeat -= 1
        delay = self._rng.uniform(UDP_MIN_DELAY, UDP_MAX_DELAY)
        while repeat > 0:
            await asyncio.sleep(delay)
            if link.closed:
                return
            link.send(data, destination)
            repeat -= 1
            delay = min(delay * 2, UDP_UPPER_DELAY)


def _resolve_address(body: Element | None) -> str | None:
    """The wsa:Address of a ``wsd:Resolve`` body, or None."""
    if body is None or body.tag != tag("Resolve"):
        return None
    epr = find(body, f"{{{ns.WSA}}}EndpointReference")
    if epr is None:
        return None
    return text_of(find(epr, f"{{{ns.WSA}}}Address"))
