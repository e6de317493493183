"""Where notifications may go: the subscriber's own address, or a configured sink network.

WS-Eventing lets a Subscribe name any NotifyTo and EndTo. Taken literally, that lets any
client on the allow-list make the device POST to a third host (server-side request forgery,
issue 12). The appliance's rule, checked when subscribing and again before every POST:

* the host of a NotifyTo/EndTo URL must be, or resolve to, the IP address the Subscribe came
  from (Windows' WSDAPI names ``http://<its own address>:5357/<uuid>``), or an address inside
  one of the ``sink_networks`` of the ``[eventing]`` configuration (CIDRs);
* a hostname is resolved each time; only the permitted addresses it resolves to are used, and
  a plain-http POST goes to that address literally (the Host header keeps the name), so a name
  that resolves elsewhere later is not posted to (no DNS rebinding). https keeps the name for
  TLS, after the same check;
* addresses compare without an IPv6 zone id, and an IPv4-mapped IPv6 source (``::ffff:a.b.c.d``,
  a dual-stack listener) as the IPv4 address.

A refusal is ``wsa:DestinationUnreachable`` (Sender) on Subscribe, as DPWS R3017/R3018 name it
for a NotifyTo or EndTo the event source will not use, and a failed delivery afterwards.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class SinkRefused(Exception):
    """The address is not one notifications may go to; the text says why (no traceback needed)."""


def parse_ip(text: str | None) -> IPAddress | None:
    """The IP address in ``text`` without a zone id, IPv4-mapped IPv6 as IPv4; None when not an address."""
    if not text:
        return None
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def parse_networks(values: Iterable[str]) -> tuple[IPNetwork, ...]:
    """CIDR texts (``192.168.1.0/24``, ``fd00::/8``, a bare address) -> networks; raises ValueError."""
    return tuple(ipaddress.ip_network(value.strip(), strict=False) for value in values)


@dataclass(frozen=True)
class SinkTarget:
    """Where one POST goes: ``url`` to fetch (a literal address for plain http) and the
    ``host`` header to send (None: the URL's own)."""

    url: str
    host: str | None = None


class SinkPolicy:
    """The rule of the module docstring for the given ``networks`` (parsed ``sink_networks``).

    ``resolve_timeout``: seconds allowed to resolve a hostname (getaddrinfo in the loop's executor).
    """

    def __init__(self, networks: Iterable[str] = (), resolve_timeout: float = 2.0) -> None:
        self.networks = parse_networks(networks)
        self.resolve_timeout = resolve_timeout

    def permits(self, address: IPAddress, source: IPAddress | None) -> bool:
        """Whether ``address`` may receive notifications of a subscriber that subscribed from ``source``."""
        if source is not None and address == source:
            return True
        return any(address.version == net.version and address in net for net in self.networks)

    async def target(self, url: str, source: str | None) -> SinkTarget:
        """Check ``url`` (an http(s) NotifyTo/EndTo) for a subscriber at ``source`` (its IP text)
        and return where to POST. Raises :class:`SinkRefused` when no permitted address is
        reachable under that name (not an http URL, unresolvable, or resolving elsewhere)."""
        try:
            parts = urlsplit(url)
            host = parts.hostname
            port = parts.port
        except ValueError:
            raise SinkRefused("not a URL") from None
        if parts.scheme.lower() not in ("http", "https") or not host:
            raise SinkRefused("not an http URL")
        origin = parse_ip(source)
        literal = parse_ip(host)
        if literal is not None:
            if not self.permits(literal, origin):
                raise SinkRefused(f"{literal} is not the subscriber's address ({origin}) nor in a sink network")
            return SinkTarget(url)
        addresses = await self._resolve(host, port or (443 if parts.scheme.lower() == "https" else 80))
        permitted = [a for a in addresses if self.permits(a, origin)]
        if not permitted:
            raise SinkRefused(
                f"{host[:100]} does not resolve to the subscriber's address ({origin}) nor a sink network"
            )
        if parts.scheme.lower() == "https":
            return SinkTarget(url)
        chosen = permitted[0]
        literal_host = f"[{chosen}]" if chosen.version == 6 else str(chosen)
        netloc = literal_host if parts.port is None else f"{literal_host}:{parts.port}"
        return SinkTarget(urlunsplit((parts.scheme, netloc, parts.path, parts.query, "")), parts.netloc.rsplit("@")[-1])

    async def _resolve(self, host: str, port: int) -> list[IPAddress]:
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout=self.resolve_timeout
            )
        except (OSError, TimeoutError, UnicodeError, ValueError) as exc:
            raise SinkRefused(f"{host[:100]} cannot be resolved: {type(exc).__name__}") from None
        found: list[IPAddress] = []
        for _family, _type, _proto, _name, sockaddr in infos:
            address = parse_ip(str(sockaddr[0]))
            if address is not None and address not in found:
                found.append(address)
        return found
