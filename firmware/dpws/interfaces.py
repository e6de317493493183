"""Network interfaces for discovery: read from the kernel over NETLINK_ROUTE, selected, and an address chosen.

Standard library only. :func:`read_interfaces` lists every interface with its
addresses; :func:`open_change_monitor` subscribes to link and address changes;
:func:`interface_selected` decides where discovery runs (by default loopback,
interfaces without multicast and the container/VM bridges of
:data:`DEFAULT_SKIP_PATTERNS` are skipped; ``allow``/``deny`` are name globs);
:func:`choose_address` picks the address put in XAddrs for a peer, and
:func:`served_families` the families the HTTP server accepts.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import itertools
import socket
import struct
from collections.abc import Sequence
from dataclasses import dataclass

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


def open_change_monitor() -> socket.socket:
    """A non-blocking NETLINK_ROUTE socket subscribed to link and IPv4/IPv6 address changes.

    Readable whenever an interface or address appears, changes or goes; what it
    reads only says "something changed" (re-read with :func:`read_interfaces`).
    Raises OSError when netlink is not available.
    """
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    try:
        sock.bind((0, _RTMGRP_LINK | _RTMGRP_IPV4_IFADDR | _RTMGRP_IPV6_IFADDR))
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


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
