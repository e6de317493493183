"""The DNS-SD announcement of the eSCL scanners: ``_uscan._tcp`` over multicast DNS, per interface.

Every scanner served with eSCL is announced as one ``_uscan._tcp`` service instance (its friendly
name, the TXT record of :mod:`firmware.escl.txt`) on the interfaces WS-Discovery serves: the
configuration's ``interfaces`` globs, else every up, multicast-capable interface except loopback
and container/VM bridges (:func:`firmware.dpws.interfaces.interface_selected`), and of those only
the address families the HTTP server accepts. With an ``allow`` list, an interface is used for a
family only when one of its networks overlaps an allowed network (a multicast answer cannot be
kept from single hosts; the HTTP server refuses the others with 403 anyway).

Why python-zeroconf and not the system's avahi: it needs no avahi-daemon and no D-Bus system bus
on the appliance (the Buildroot image has neither), and the one process that chooses the
interfaces, the allow-list and the HTTP port also announces, so they cannot disagree; it is
packaged by Debian 12 (python3-zeroconf) and Buildroot (python-zeroconf).

One python-zeroconf instance runs per interface, so each interface announces its own addresses
only (like WS-Discovery's XAddrs). The A/AAAA records carry a host name of our own,
``<hostname>-<6 hex digits>.local`` (from /etc/machine-id): an avahi-daemon on the same host keeps
``<hostname>.local``, and two appliances with the default host name do not share one. Interfaces
are followed over NETLINK_ROUTE: an interface that appears, goes or changes its addresses is
announced on afresh (the old announcement withdrawn with goodbye packets, TTL 0). A scanner that
goes away (:meth:`DnssdAnnouncer.remove`) and every scanner at :meth:`DnssdAnnouncer.stop` is
withdrawn the same way. Instance names are unique among our scanners (two identical ones:
``Name``, ``Name (2)``); a name taken by another host is renamed by python-zeroconf's probing.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
import re
import socket
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from zeroconf import IPVersion, NonUniqueNameException
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

from ..dpws.ifwatch import InterfaceWatch
from ..dpws.interfaces import (
    DEFAULT_SKIP_PATTERNS,
    Interface,
    InterfaceAddress,
    interface_selected,
    read_interfaces,
)
from ..wire.access import AllowList
from .routes import EsclRoutes
from .service import EsclService
from .txt import SERVICE_TYPE, instance_name, txt_record

log = logging.getLogger(__name__)

REFRESH_DEBOUNCE = 0.5
"""Seconds between a netlink event and re-reading the interfaces."""

MACHINE_ID = Path("/etc/machine-id")


def host_label(hostname: str | None = None, machine_id: Path = MACHINE_ID) -> str:
    """The host name label of our A/AAAA records: ``hostname`` (default: this host's, first label)
    as a DNS label (letters, digits, '-'), a '-' and 6 hex digits of SHA-256 of the machine id
    (``machine_id`` file; without one, of this host's MAC address as :func:`uuid.getnode` gives it)."""
    name = (hostname if hostname is not None else socket.gethostname()).split(".", 1)[0]
    label = re.sub(r"[^A-Za-z0-9-]+", "-", name).strip("-")[:48] or "scanner"
    try:
        seed = machine_id.read_bytes().strip()
    except OSError:
        seed = b""
    if not seed:
        seed = str(uuid.getnode()).encode()
    return f"{label}-{hashlib.sha256(seed).hexdigest()[:6]}"


def allowed_addresses(addresses: Iterable[InterfaceAddress], allow: AllowList) -> tuple[InterfaceAddress, ...]:
    """``addresses`` of a family whose networks overlap ``allow`` (all when the list is empty, none
    when no address's network overlaps): the family is announced on the interface, or not at all."""
    found = tuple(addresses)
    if not allow:
        return found
    for address in found:
        network = ipaddress.ip_network(f"{address.address}/{address.prefixlen}", strict=False)
        if any(network.version == net.version and network.overlaps(net) for net in allow.networks):
            return found
    return ()


def _shape(interface: Interface, addresses: Iterable[InterfaceAddress]) -> tuple:
    """What an announcement on an interface depends on: its name and the addresses announced."""
    return interface.name, tuple((a.family, a.address) for a in addresses)


def record_addresses(addresses: Sequence[InterfaceAddress]) -> list[InterfaceAddress]:
    """The addresses of an interface put in our A/AAAA records: every IPv4 one, and the IPv6 ones
    that are not link-local, or the link-local ones when there are no others. A client handed
    ``fe80::...`` without its zone cannot connect (sane-backends' ``escl`` builds such a URL), so
    a routable IPv6 address wins when the interface has one."""
    v6 = [a for a in addresses if a.family == socket.AF_INET6]
    routable = [a for a in v6 if not a.link_local]
    return [a for a in addresses if a.family != socket.AF_INET6 or a in (routable or v6)]


@dataclass(eq=False)
class _Link:
    """One interface announced on: its python-zeroconf instance, the addresses in our A/AAAA
    records, the services registered there and their registrations under way."""

    interface: Interface
    addresses: tuple[InterfaceAddress, ...]
    zeroconf: AsyncZeroconf
    registered: dict[EsclService, AsyncServiceInfo] = field(default_factory=dict)
    pending: dict[EsclService, asyncio.Task] = field(default_factory=dict)


class DnssdAnnouncer:
    """Announces eSCL services with DNS-SD on the selected interfaces (see the module docstring).

    ``http_port``: the TCP port of the HTTP server; ``interfaces_allow`` / ``interfaces_deny``:
    interface-name globs (:func:`~firmware.dpws.interfaces.interface_selected`); ``families``:
    the address families the HTTP server accepts; ``allow``: the client allow-list;
    ``hostname``: the host name label of the A/AAAA records (default :func:`host_label`);
    ``routes``: where the services are served (the one at ``/eSCL`` is announced with ``rs=eSCL``,
    :func:`~firmware.escl.txt.txt_record`), None when that is unknown.

    Use from one asyncio event loop: ``await start()``, then :meth:`add` / :meth:`remove` /
    :meth:`update` as scanners come, go and change, and ``await stop()``.
    """

    def __init__(
        self,
        http_port: int,
        interfaces_allow: Sequence[str] | None = None,
        interfaces_deny: Sequence[str] | None = None,
        *,
        families: Iterable[int] = (socket.AF_INET, socket.AF_INET6),
        skip_patterns: Sequence[str] = DEFAULT_SKIP_PATTERNS,
        allow: AllowList | None = None,
        hostname: str | None = None,
        routes: EsclRoutes | None = None,
    ) -> None:
        self.http_port = http_port
        self.interfaces_allow = list(interfaces_allow) if interfaces_allow is not None else None
        self.interfaces_deny = list(interfaces_deny or ())
        self.families = tuple(families)
        self.skip_patterns = tuple(skip_patterns)
        self.allow = allow or AllowList()
        self.routes = routes
        self.server = f"{hostname or host_label()}.local."
        self.services: dict[EsclService, str] = {}
        self._links: dict[int, _Link] = {}
        self._fixed: list[Interface] | None = None
        self._watch = InterfaceWatch(self._refresh_later, REFRESH_DEBOUNCE)
        self._refreshing: asyncio.Task | None = None
        self._lock = asyncio.Lock()
        self._running = False

    # -- life cycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Announce on the kernel's interfaces from now on, following their changes over netlink.
        Raises OSError when netlink is unavailable; an interface whose sockets cannot be opened is
        logged and skipped."""
        if self._running:
            return
        self._watch.open()
        self._running = True
        await self._refresh()
        if not self._links:
            log.warning("DNS-SD: no usable network interface yet")

    async def start_on(self, interfaces: Iterable[Interface]) -> None:
        """Announce on ``interfaces`` as given (no netlink, no interface selection; the allow-list
        and families still apply). For tests on loopback."""
        self._fixed = list(interfaces)
        self._running = True
        await self._refresh()

    async def stop(self) -> None:
        """Withdraw every announcement (goodbye packets) and close every socket. Idempotent."""
        if not self._running:
            return
        self._running = False
        self._watch.close()
        async with self._lock:
            for index in list(self._links):
                await self._close(self._links.pop(index))

    # -- services ----------------------------------------------------------------------------

    async def add(self, service: EsclService, friendly_name: str) -> str:
        """Announce ``service`` under ``friendly_name`` (numbered when another of ours has it) on every
        interface; returns the instance name. The registrations (probing, then announcing) go on in
        the background. A service announced already keeps its name."""
        if service in self.services:
            return self.services[service]
        name = instance_name(friendly_name, [n for s, n in self.services.items() if s is not service])
        self.services[service] = name
        for link in self._links.values():
            self._register(link, service)
        return name

    async def remove(self, service: EsclService) -> None:
        """Withdraw ``service`` on every interface (goodbye packets); returns once they are sent.
        Nothing happens for a service not announced. Never raises."""
        if self.services.pop(service, None) is None:
            return
        await asyncio.gather(*(self._unregister(link, service) for link in list(self._links.values())))
        for other in list(self.services):  # another one may be the default scanner now (rs=eSCL)
            await self._refresh_txt(other)

    async def update(self, service: EsclService, friendly_name: str) -> None:
        """Announce ``service`` as it is now: under a new instance name when ``friendly_name``
        changed (the old one withdrawn), else with its TXT record refreshed where it changed
        (formats, sources). Nothing happens for a service not announced. Never raises."""
        if service not in self.services:
            return
        others = [n for s, n in self.services.items() if s is not service]
        if instance_name(friendly_name, others) != self.services[service]:
            await self.remove(service)
            await self.add(service, friendly_name)
            return
        await self._refresh_txt(service)

    async def _refresh_txt(self, service: EsclService) -> None:
        """Send ``service``'s TXT record again on every interface where it changed. Never raises."""
        for link in list(self._links.values()):
            info = link.registered.get(service)
            if info is None:
                continue
            fresh = self._info(link, service, info.name)
            if fresh.properties != info.properties:
                link.registered[service] = fresh
                try:
                    await link.zeroconf.async_update_service(fresh)
                except Exception as exc:  # noqa: BLE001 - an announcement must not break a reload
                    log.warning("DNS-SD: cannot update %s on %s: %s", info.name, link.interface.name, exc)

    def set_allow(self, allow: AllowList) -> None:
        """Use client allow-list ``allow`` from now on (a reload): interfaces are chosen again."""
        self.allow = allow
        self._watch.schedule()

    @property
    def announced(self) -> list[tuple[str, str]]:
        """``(interface name, service instance name)`` of every registration done, for logs and tests."""
        return [
            (link.interface.name, info.name.removesuffix("." + SERVICE_TYPE))
            for link in self._links.values()
            for info in link.registered.values()
        ]

    # -- registrations -------------------------------------------------------------------------

    def _info(self, link: _Link, service: EsclService, name: str) -> AsyncServiceInfo:
        reachable = [a for a in link.addresses if not a.link_local]
        admin = None
        if reachable:
            host = reachable[0].address
            authority = f"[{host}]" if ":" in host else host
            admin = f"http://{authority}:{self.http_port}{service.base}/ScannerStatus"
        return AsyncServiceInfo(
            SERVICE_TYPE,
            name if name.endswith("." + SERVICE_TYPE) else f"{name}.{SERVICE_TYPE}",
            port=self.http_port,
            properties=txt_record(service, admin, self.routes is not None and self.routes.default is service),
            server=self.server,
            parsed_addresses=[a.address for a in record_addresses(link.addresses)],
        )

    def _register(self, link: _Link, service: EsclService) -> None:
        task = asyncio.get_running_loop().create_task(self._registration(link, service))
        link.pending[service] = task
        task.add_done_callback(lambda _t: link.pending.pop(service, None) if link.pending.get(service) is _t else None)

    async def _registration(self, link: _Link, service: EsclService) -> None:
        info = self._info(link, service, self.services[service])
        try:
            # returns once probing found the name free (or renamed it) and the records are served
            announcing = await link.zeroconf.async_register_service(info, allow_name_change=True)
        except (NonUniqueNameException, OSError, ValueError) as exc:
            log.warning("DNS-SD: cannot announce %s on %s: %s", info.name, link.interface.name, exc)
            return
        link.registered[service] = info
        log.info("DNS-SD: announcing %r (_uscan._tcp) on %s", info.name, link.interface.name)
        await announcing

    async def _unregister(self, link: _Link, service: EsclService) -> None:
        task = link.pending.pop(service, None)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        info = link.registered.pop(service, None)
        if info is None:
            return
        try:
            await (await link.zeroconf.async_unregister_service(info))
            log.info("DNS-SD: withdrew %r on %s", info.name, link.interface.name)
        except Exception as exc:  # noqa: BLE001 - a socket gone with its interface; nothing to withdraw there
            log.debug("DNS-SD: withdrawing %s on %s: %s", info.name, link.interface.name, exc)

    # -- interfaces ----------------------------------------------------------------------------

    def _refresh_later(self) -> None:
        if self._running and (self._refreshing is None or self._refreshing.done()):
            self._refreshing = asyncio.get_running_loop().create_task(self._refresh())
        elif self._running:  # one is running: look again once it is done
            self._watch.schedule()

    def _wanted(self) -> dict[int, tuple[Interface, tuple[InterfaceAddress, ...]]]:
        """Interface index -> (interface, the addresses to announce there), for every interface used."""
        if self._fixed is not None:
            interfaces = self._fixed
        else:
            try:
                interfaces = [
                    i
                    for i in read_interfaces()
                    if interface_selected(i, self.interfaces_allow, self.interfaces_deny, self.skip_patterns)
                ]
            except OSError as exc:
                log.warning("DNS-SD: cannot read the interfaces: %s", exc)
                return {index: (link.interface, link.addresses) for index, link in self._links.items()}
        wanted = {}
        for interface in interfaces:
            addresses = tuple(
                a for family in self.families for a in allowed_addresses(interface.usable_addresses(family), self.allow)
            )
            if addresses:
                wanted[interface.index] = (interface, addresses)
        return wanted

    async def _refresh(self) -> None:
        """Re-read the interfaces: close the links of interfaces gone or changed, open new ones and
        register every service there."""
        async with self._lock:
            if not self._running:
                return
            wanted = self._wanted()
            for index, link in list(self._links.items()):
                if index not in wanted or _shape(*wanted[index]) != _shape(link.interface, link.addresses):
                    del self._links[index]
                    log.info("DNS-SD: leaving %s", link.interface.name)
                    await self._close(link)
            for index, (interface, addresses) in wanted.items():
                if index in self._links or not self._running:
                    continue
                opened = self._open(interface, addresses)
                if opened is None:
                    continue
                self._links[index] = opened
                for service in self.services:
                    self._register(opened, service)

    def _open(self, interface: Interface, addresses: tuple[InterfaceAddress, ...]) -> _Link | None:
        v4 = [a for a in addresses if a.family == socket.AF_INET]
        v6 = [a for a in addresses if a.family == socket.AF_INET6]
        choice: list[str | int] = [v4[0].address] if v4 else []
        if v6:
            choice.append(interface.index)  # python-zeroconf takes an IPv6 interface by its index
        version = IPVersion.All if v4 and v6 else IPVersion.V4Only if v4 else IPVersion.V6Only
        try:
            zeroconf = AsyncZeroconf(interfaces=choice, ip_version=version)
        except (OSError, ValueError) as exc:
            log.warning("DNS-SD: cannot announce on %s: %s", interface.name, exc)
            return None
        log.info("DNS-SD: joined %s (%s)", interface.name, ", ".join(a.address for a in addresses))
        return _Link(interface, addresses, zeroconf)

    async def _close(self, link: _Link) -> None:
        """Cancel ``link``'s registrations under way, withdraw the others and close its sockets."""
        pending = list(link.pending.values())
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        try:
            await link.zeroconf.async_close()  # goodbye for every registered service, then close
        except Exception as exc:  # noqa: BLE001 - an interface gone takes its sockets with it
            log.debug("DNS-SD: closing %s: %s", link.interface.name, exc)
        link.registered.clear()
