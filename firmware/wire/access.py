"""The client allow-list: which peer addresses may talk to the service at all.

The configuration's ``allow`` key is a list of CIDR networks
(``["192.168.1.0/24", "fd00::/8"]``); an empty list lets everyone in. The HTTP
side answers a refused client HTTP 403 with a short SOAP fault
(:class:`ForbiddenHandler`) before any route is looked up, so a refused client
cannot even learn which paths exist; the WS-Discovery responder drops its
datagrams without an answer (``DiscoveryService(peer_allowed=...)``).

IPv4 clients reaching an IPv6 wildcard socket appear as ``::ffff:a.b.c.d``; they
are checked as the IPv4 address. An IPv6 zone (``fe80::1%eth0``) is ignored.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable

import tornado.web

from . import faults
from . import namespaces as ns
from .envelope import build_fault_envelope
from .handler import SOAP_CONTENT_TYPE
from .xml import serialize

log = logging.getLogger(__name__)

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class AllowList:
    """A set of CIDR networks a peer address must fall in; empty = every address is allowed.

    ``cidrs``: network texts such as ``"10.0.0.0/8"`` or ``"fd00::/8"`` (host
    bits may be set: ``"192.168.1.7/24"`` means ``192.168.1.0/24``). Raises
    ``ValueError`` for a text that is not a network (the configuration checks
    this earlier, see ``firmware.config``).
    """

    def __init__(self, cidrs: Iterable[str] = ()) -> None:
        self.networks: tuple[IPNetwork, ...] = tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)

    def __bool__(self) -> bool:
        """True when the list restricts anything (at least one network)."""
        return bool(self.networks)

    def permits(self, address: str | None) -> bool:
        """Whether a peer at ``address`` (an IPv4 or IPv6 text, zone allowed) may be served.

        Always True for an empty list; False for an address that cannot be parsed
        (e.g. a Unix socket peer) when the list is not empty.
        """
        if not self.networks:
            return True
        if not address:
            return False
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in network for network in self.networks if network.version == ip.version)


def access_denied() -> faults.SoapFault:
    """wsa:DestinationUnreachable (Sender), the fault sent with HTTP 403 to a client outside the
    allow-list: the message cannot be delivered to this endpoint (WS-Addressing 2004/08 section 5.3).
    Neither SOAP 1.2 nor WS-Scan has a fault for "not allowed"."""
    return faults.SoapFault(
        faults.SENDER, (ns.WSA, "DestinationUnreachable"), "This client's address is not allowed to use the scanner."
    )


@tornado.web.stream_request_body
class ForbiddenHandler(tornado.web.RequestHandler):
    """Answers every request HTTP 403 with the :func:`access_denied` SOAP fault."""

    def _forbid(self) -> None:
        request = self.request
        log.debug("refused %s %s from %s: not in the allow-list", request.method, request.path, request.remote_ip)
        fault = access_denied()
        self.set_status(403)
        self.set_header("Content-Type", SOAP_CONTENT_TYPE)
        self.finish(serialize(build_fault_envelope(fault, None)))

    def prepare(self) -> None:
        """Answer 403 before any body is read or any method runs; the connection then closes."""
        self._forbid()

    def data_received(self, chunk: bytes) -> None:
        """Discard the body of a refused request."""
