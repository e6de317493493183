"""The WS-Discovery target service: an asyncio UDP responder on every usable interface (REFERENCE.md section 4).

What it does, and where the rule comes from:

* listens on UDP 3702 for 239.255.255.250 and [ff02::c] on every usable
  interface, one socket per interface and family, bound with SO_REUSEADDR so
  Samba's wsdd on the same host keeps working (WS-Discovery section 2.4,
  REFERENCE.md section 4.1; not SO_REUSEPORT, see :mod:`.udp`);
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
* drops, unanswered, datagrams from senders outside the ``peer_allowed`` allow-list;
* drops, before parsing, datagrams from a sender past its rate (:mod:`.ratelimit`: a Probe
  storm from one host cannot starve the others), and never lets a datagram raise: anything
  unexpected is a debug line and a dropped datagram.

Interfaces come from the kernel over NETLINK_ROUTE (standard library only).
By default loopback, interfaces without multicast, and container/VM bridges
(:data:`~firmware.dpws.interfaces.DEFAULT_SKIP_PATTERNS`) are skipped; ``interfaces_allow`` and
``interfaces_deny`` are lists of interface-name globs.

Modules: :mod:`.interfaces` (NETLINK_ROUTE, interface selection, XAddr address),
:mod:`.matching` (Probe and Resolve matching, the directed Probe), :mod:`.udp`
(the sockets of one interface) and this one, the responder that ties them together.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence

from firmware.wire import faults
from firmware.wire.envelope import parse_request
from firmware.wire.xml import Element

from .envelope import (
    ACTION_BYE,
    ACTION_HELLO,
    ACTION_PROBE,
    ACTION_PROBE_MATCHES,
    ACTION_RESOLVE,
    ACTION_RESOLVE_MATCHES,
    MAX_ENVELOPE_SIZE,
    EnvelopeTooLarge,
    bye_body,
    discovery_envelope,
    hello_body,
    probe_matches_body,
    resolve_matches_body,
    serialize_message,
)
from .identity import IdentityError
from .ifwatch import InterfaceWatch
from .interfaces import (
    DEFAULT_SKIP_PATTERNS,
    Interface,
    InterfaceAddress,
    choose_address,
    interface_selected,
    read_interfaces,
)
from .matching import DiscoveredDevice, match_probe, resolve_address
from .ratelimit import SourceRateLimiter
from .udp import DISCOVERY_PORT, Link

log = logging.getLogger(__name__)

# --- constants (WS-Discovery section 2.4, SOAP-over-UDP, DPWS Appendix I) ----------------------

DEFAULT_HTTP_PORT = 5358  # the device endpoint's port; not 5357, which Samba's wsdd binds (REFERENCE.md 4.5)
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
    datagram unanswered (the configuration's ``allow`` list; None: everyone);
    ``limiter``: the per-source rate limit (default :class:`SourceRateLimiter` ()).

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
        limiter: SourceRateLimiter | None = None,
    ) -> None:
        self.devices = list(devices)
        self.limiter = limiter or SourceRateLimiter()
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
        self._links: dict[tuple[int, int], Link] = {}
        self._tasks: set[asyncio.Task] = set()
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._watch = InterfaceWatch(self._refresh_later, REFRESH_DEBOUNCE)
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
            self._watch.open()
            await self._refresh()
        except BaseException:
            self._running = False
            self._watch.close()
            for link in self._links.values():
                link.close()
            self._links.clear()
            raise
        if not self._links:
            log.warning("WS-Discovery: no usable network interface yet")

    async def start_on(self, links: Iterable[Link]) -> None:
        """Serve on ``links`` the caller opened (with :meth:`datagram_received` as their
        handler) instead of the kernel's interfaces: no netlink monitor, no Hello. For tests on
        loopback; :meth:`stop` closes them."""
        self._running = True
        for link in links:
            self._links[(link.index, link.family)] = link

    async def stop(self) -> None:
        """Send Bye for every device on every interface, then close everything.

        Pending replies and Hellos are cancelled. Takes up to about
        UDP_MAX_DELAY (the Bye retransmission).
        """
        if not self._running:
            return
        self._running = False
        self._watch.close()
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

    def _refresh_later(self) -> None:
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
                existing = self._links.get(key)
                if existing is None:
                    new = Link(interface, key[1], addresses, self.port)
                    try:
                        await new.open(self.datagram_received)
                    except OSError as exc:
                        log.warning("WS-Discovery: cannot listen on %s: %s", new, exc)
                        new.close()
                        continue
                    self._links[key] = new
                    log.info("WS-Discovery: joined %s (%s)", new, ", ".join(a.address for a in addresses))
                    self._schedule_hellos(new)
                else:
                    link = existing
                    old = link.address_key()
                    link.addresses = addresses
                    if link.address_key() != old:
                        log.info("WS-Discovery: addresses of %s changed", link)
                        self._schedule_hellos(link)

    # -- receiving -----------------------------------------------------------------------------

    def datagram_received(self, link: Link, data: bytes, peer: tuple) -> None:
        """Handle one datagram that arrived on ``link`` from socket address ``peer``: answer a
        Probe or Resolve, drop anything else. Never raises (a bad datagram is a debug line)."""
        if not self._running or link.closed or not peer or len(peer) < 2 or not peer[1]:
            return
        if not self.limiter.allow(peer[0], time.monotonic()):
            if self.limiter.dropped % 1000 == 1:
                log.debug("WS-Discovery: %s is over its rate; dropping (%d so far)", peer[0], self.limiter.dropped)
            return
        try:
            self._handle(link, data, peer)
        except Exception as exc:  # noqa: BLE001 - no datagram may raise into the transport
            log.debug("dropped a datagram from %s on %s: %s: %s", peer[0], link, type(exc).__name__, exc)

    def _handle(self, link: Link, data: bytes, peer: tuple) -> None:
        if len(data) > MAX_ENVELOPE_SIZE:
            log.debug("dropped a %d-octet datagram from %s on %s", len(data), peer[0], link)
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
            wanted = resolve_address(request.body)
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

    def _schedule_hellos(self, link: Link) -> None:
        for device in self.devices:
            self._spawn(self._send_hello(link, device, self._rng.uniform(0.0, self.app_max_delay)))

    async def _send_hello(self, link: Link, device: DiscoveredDevice, delay: float) -> None:
        await asyncio.sleep(delay)
        if link.closed or device not in self.devices:
            return
        identity = device.identity
        xaddr = device.xaddr(link.addresses[0].address, self.http_port, self.scheme)
        body = hello_body(identity.endpoint, device.types, device.scopes, (xaddr,), identity.metadata_version)
        await self._send(link, device, ACTION_HELLO, body, None, link.multicast_destination, MULTICAST_UDP_REPEAT)

    async def _send_bye(self, link: Link, device: DiscoveredDevice) -> None:
        if link.closed:
            return
        body = bye_body(device.identity.endpoint)
        await self._send(link, device, ACTION_BYE, body, None, link.multicast_destination, MULTICAST_UDP_REPEAT)

    async def _reply(
        self, link: Link, device: DiscoveredDevice, action: str, relates_to: str, peer: tuple, delay: float
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
        link: Link,
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
