"""The UDP side of WS-Discovery: one :class:`Link` per (interface, family), with its two sockets.

The receiving socket joins 239.255.255.250 or [ff02::c] on one interface only
and binds UDP 3702 with SO_REUSEADDR, so Samba's wsdd on the same host keeps
working (WS-Discovery section 2.4, REFERENCE.md section 4.1; not SO_REUSEPORT,
see :func:`_open_receiver`); the sending socket sends multicast with hop limit 1
and unicast replies out of the same interface.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from collections.abc import Callable

from .interfaces import Interface, InterfaceAddress

log = logging.getLogger(__name__)

DISCOVERY_PORT = 3702
RECEIVE_BUFFER = 1 << 20  # bytes asked for the receiving socket's buffer
READ_BATCH = 256  # datagrams read per wake-up of the event loop
READ_SIZE = 32768  # bytes read per datagram: one more than the largest envelope (longer ones are dropped)
MULTICAST_V4 = "239.255.255.250"
MULTICAST_V6 = "ff02::c"

# Linux constants the socket module does not always export.
_IP_MULTICAST_ALL = 49
_IPV6_MULTICAST_ALL = 29
_IP_UNICAST_IF = 50
_IPV6_UNICAST_IF = 76  # both *_UNICAST_IF options take the ifindex in network byte order

DatagramHandler = Callable[["Link", bytes, tuple], None]
"""Called with the link a datagram arrived on, its bytes and the sender's socket address."""


def _open_receiver(family: int, ifindex: int, port: int) -> socket.socket:
    """A socket receiving the discovery group on one interface only, sharing the port with other daemons."""
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        # SO_REUSEADDR only: Samba's wsdd sets it too, so both may bind the group port. SO_REUSEPORT
        # would be harmful: Linux then hands each multicast datagram to ONE socket of the reuseport
        # group, ignoring which interface's membership it arrived on (and starving a second daemon).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # room for a burst (a storm from one host is dropped after reading, not by the kernel
        # before a legitimate Probe behind it is read); the kernel caps it at net.core.rmem_max
        _try_setsockopt(sock, socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
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


def _try_setsockopt(sock: socket.socket, level: int, option: int, value: bytes | int) -> None:
    try:
        sock.setsockopt(level, option, value)
    except OSError as exc:  # older kernels: replies then follow the routing table
        log.debug("setsockopt(%d, %d) failed: %s", level, option, exc)


class _Sender(asyncio.DatagramProtocol):
    def __init__(self, link: Link) -> None:
        self.link = link

    def error_received(self, exc: Exception) -> None:
        """Log socket errors (ICMP unreachable and the like); they are not fatal."""
        log.debug("send error on %s: %s", self.link, exc)


class Link:
    """Discovery on one (interface, family): a receiving and a sending socket, and the interface's addresses."""

    def __init__(self, interface: Interface, family: int, addresses: tuple[InterfaceAddress, ...], port: int) -> None:
        self.index = interface.index
        self.name = interface.name
        self.family = family
        self.addresses = addresses
        self.port = port
        self.closed = False
        self._receiver: socket.socket | None = None
        self._on_datagram: DatagramHandler | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._buffer = bytearray(READ_SIZE)
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

    async def open(
        self, on_datagram: DatagramHandler, sockets: tuple[socket.socket, socket.socket] | None = None
    ) -> None:
        """Open both sockets; every datagram received goes to ``on_datagram(link, data, peer)``.
        ``sockets``: a (receiving, sending) pair of non-blocking UDP sockets the caller opened
        instead (tests bind unicast loopback ones). On any failure (or cancellation) nothing stays open."""
        loop = asyncio.get_running_loop()
        sockets_list: list[socket.socket] = list(sockets or ())
        try:
            if sockets is None:
                sockets_list.append(_open_receiver(self.family, self.index, self.port))
                sockets_list.append(_open_sender(self.family, self.index))
            self._sender, _ = await loop.create_datagram_endpoint(lambda: _Sender(self), sock=sockets_list[1])
            self._on_datagram = on_datagram
            loop.add_reader(sockets_list[0].fileno(), self._readable)
            self._loop = loop
            self._receiver = sockets_list[0]
        except BaseException:
            self.close()
            for sock in sockets_list:
                sock.close()
            raise

    def _readable(self) -> None:
        """Read what the receiving socket holds, up to :data:`READ_BATCH` datagrams per wake-up
        (one per loop iteration, as asyncio's datagram transport reads, cannot keep up with a
        storm: the kernel buffer overflows and legitimate Probes are lost with the storm's)."""
        receiver, handler = self._receiver, self._on_datagram
        if receiver is None or handler is None:
            return
        buffer = self._buffer
        for _ in range(READ_BATCH):
            try:
                size, peer = receiver.recvfrom_into(buffer)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # ICMP errors and the like: not fatal
                log.debug("receive error on %s: %s", self, exc)
                return
            handler(self, bytes(buffer[:size]), peer)
            if self._receiver is None:  # closed by the handler
                return

    def send(self, data: bytes, destination: tuple) -> None:
        """Send one datagram out of this link (nothing once closed)."""
        if not self.closed and self._sender is not None:
            self._sender.sendto(data, destination)

    def close(self) -> None:
        """Close both sockets; idempotent."""
        self.closed = True
        receiver, self._receiver = self._receiver, None
        if receiver is not None:
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(receiver.fileno())
            receiver.close()
        if self._sender is not None:
            self._sender.close()
