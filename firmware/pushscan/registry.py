"""Registered scan destinations, their DestinationTokens, and the ScanIdentifiers issued for them.

REFERENCE.md section 3.3, steps 2 and 5. A PC registers destinations with the
``wscn:ScanDestinations`` extension of its Subscribe; each gets a
DestinationToken. When the user picks a destination, a ScanIdentifier is
issued for it and sent in ScanAvailableEvent; the PC's CreateScanJob must then
carry that identifier and that destination's token.

Rules (where the spec is silent, decided here):

* Tokens and identifiers are unguessable: 128 random bits from :mod:`secrets`.
* Identity of a destination: the PC (the NotifyTo host of its subscription)
  plus the ClientDisplayName. A new registration from the same host with a
  display name registered before replaces the older one (its token stops
  working): a PC that subscribes again after a restart or a lost renewal gets
  fresh tokens and the stale ones die. Windows' display names name the PC
  ("Scan to MYPC"), so two PCs never collide even behind one address.
* A destination lives as long as its subscription: Unsubscribe, expiry,
  delivery failure and shutdown drop it (:meth:`DestinationRegistry.drop_subscription`).
* A ScanIdentifier is good once, for ``identifier_lifetime`` seconds after its
  event was sent, and only together with the token of the destination it was
  sent to, presented by that destination's PC (the address its Subscribe came
  from; when that is unknown, its NotifyTo host).
"""

from __future__ import annotations

import ipaddress
import itertools
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from firmware.wire import faults

from ..model.pushscan import DestinationResponse, DestinationResponses, ScanDestinations

MAX_DESTINATIONS = 32
"""Most destinations honoured per Subscribe (Windows registers five); more are ignored."""

MAX_PENDING = 64
"""Most ScanIdentifiers remembered at once; the oldest are forgotten first."""


@dataclass(frozen=True)
class Destination:
    """One registered destination: its ``token`` (DestinationToken), what the PC registered
    (``client_display_name``, ``client_context``), the ``subscription`` identifier it came
    with, the PC's ``client`` (NotifyTo host, lower case) and ``remote_ip`` (where the
    Subscribe came from; None when unknown), and ``order`` (the sequence number of the
    Subscribe that registered it)."""

    token: str
    client_display_name: str
    client_context: str
    subscription: str
    client: str
    remote_ip: str | None
    order: int


@dataclass
class PendingScan:
    """A ScanIdentifier sent in a ScanAvailableEvent: for ``destination``, issued at
    ``issued_at`` (seconds, the registry's clock), ``used`` once a job was created with it."""

    scan_identifier: str
    destination: Destination
    issued_at: float
    used: bool = False


def _same_ip(a: str | None, b: str | None) -> bool:
    """Whether two address texts name the same IP (IPv4-mapped IPv6 = IPv4; zones ignored)."""
    if not a or not b:
        return False

    def norm(text: str) -> str:
        try:
            ip = ipaddress.ip_address(text.strip("[]").split("%", 1)[0])
        except ValueError:
            return text.lower()
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return str(ip)

    return norm(a) == norm(b)


class DestinationRegistry:
    """The destinations of one scan service and the ScanIdentifiers issued for them.

    ``identifier_lifetime``: seconds a ScanIdentifier stays good after it was issued;
    ``clock``: the time source in seconds (monotonic; tests pass their own).
    """

    def __init__(self, identifier_lifetime: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.identifier_lifetime = identifier_lifetime
        self._clock = clock
        self._destinations: dict[str, Destination] = {}  # token -> destination
        self._pending: dict[str, PendingScan] = {}  # ScanIdentifier -> pending scan
        self._order = itertools.count(1)

    # --- registration -------------------------------------------------------------

    def register(
        self, subscription: str, client: str, remote_ip: str | None, destinations: ScanDestinations
    ) -> DestinationResponses:
        """Register the first :data:`MAX_DESTINATIONS` ``destinations`` of subscription
        ``subscription`` from the PC at NotifyTo host ``client`` (Subscribe sent from
        ``remote_ip``); earlier destinations of the same host with the same display
        name are dropped. Returns one DestinationResponse per destination, in order."""
        chosen = destinations.destinations[:MAX_DESTINATIONS]
        names = {d.client_display_name for d in chosen}
        for token, old in list(self._destinations.items()):
            if old.client == client and old.client_display_name in names:
                del self._destinations[token]
        responses = []
        order = next(self._order)
        for wanted in chosen:
            token = secrets.token_hex(16)
            self._destinations[token] = Destination(
                token,
                wanted.client_display_name,
                wanted.client_context,
                subscription,
                client,
                remote_ip,
                order,
            )
            responses.append(DestinationResponse(wanted.client_context, token))
        return DestinationResponses(tuple(responses))

    def drop_subscription(self, subscription: str) -> int:
        """Forget every destination registered with ``subscription``; returns how many."""
        gone = [token for token, d in self._destinations.items() if d.subscription == subscription]
        for token in gone:
            del self._destinations[token]
        return len(gone)

    def destinations(self) -> list[Destination]:
        """The registered destinations, the most recently registered Subscribe's first, each
        Subscribe's in the order it listed them."""
        return sorted(self._destinations.values(), key=lambda d: d.order, reverse=True)

    def choose(self, name: str) -> Destination | None:
        """The destination ``name`` designates: the most recently registered one whose
        ClientDisplayName equals ``name`` (ignoring case), else the most recently
        registered one whose ClientContext does; None when there is none."""
        wanted = name.casefold()
        newest_first = self.destinations()
        for attribute in ("client_display_name", "client_context"):
            for destination in newest_first:
                if getattr(destination, attribute).casefold() == wanted:
                    return destination
        return None

    # --- scan identifiers ----------------------------------------------------------

    def issue(self, destination: Destination) -> PendingScan:
        """A fresh ScanIdentifier for ``destination`` (to send in ScanAvailableEvent)."""
        now = self._clock()
        for identifier, pending in list(self._pending.items()):
            if pending.used or now - pending.issued_at > self.identifier_lifetime:
                del self._pending[identifier]
        while len(self._pending) >= MAX_PENDING:
            del self._pending[next(iter(self._pending))]
        pending = PendingScan(secrets.token_hex(16), destination, now)
        self._pending[pending.scan_identifier] = pending
        return pending

    def redeem(self, scan_identifier: str | None, token: str | None, caller_ip: str | None) -> PendingScan:
        """Check a device-initiated CreateScanJob's ScanIdentifier and DestinationToken,
        sent from ``caller_ip``; returns the :class:`PendingScan` (call :meth:`commit`
        once the job exists).

        Raises wscn:ClientErrorInvalidScanIdentifier for a missing, unknown, used or
        expired identifier, and wscn:ClientErrorInvalidDestinationToken for a missing
        token, a token other than the one of the destination the identifier was sent
        to, a destination no longer registered, or a caller other than that destination's PC
        (the address its Subscribe came from).
        """
        pending = self._pending.get(scan_identifier or "")
        if pending is None or pending.used:
            raise faults.client_error_invalid_scan_identifier()
        if self._clock() - pending.issued_at > self.identifier_lifetime:
            del self._pending[pending.scan_identifier]
            raise faults.client_error_invalid_scan_identifier()
        destination = pending.destination
        if not token or not secrets.compare_digest(token, destination.token):
            raise faults.client_error_invalid_destination_token()
        if self._destinations.get(token) is not destination:
            raise faults.client_error_invalid_destination_token()
        owner = destination.remote_ip or destination.client
        if caller_ip is not None and owner and not _same_ip(caller_ip, owner):
            raise faults.client_error_invalid_destination_token()
        return pending

    def commit(self, pending: PendingScan) -> None:
        """Mark ``pending`` used: its ScanIdentifier is refused from now on."""
        pending.used = True
        self._pending.pop(pending.scan_identifier, None)
