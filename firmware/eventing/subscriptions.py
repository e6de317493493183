"""The event source and subscription manager of one hosted service ([WSE] section 3, DPWS section 6).

:class:`SubscriptionManager` serves Subscribe, Renew, GetStatus and Unsubscribe
on the service's own endpoint (the SubscriptionManager EPR is the service
address plus a ``wse:Identifier`` reference parameter), keeps the table of
subscriptions, and fans published events out to the matching subscribers'
:class:`~firmware.eventing.delivery.Outbox`.

Policy (REFERENCE.md section 3.2):

* Push delivery only (DPWS R3009); another mode gets wse:DeliveryModeRequestedUnavailable.
* Filters in the DPWS Action dialect only (R3008); another dialect gets
  wse:FilteringRequestedUnavailable. Filter URIs match event actions by the
  RFC 2396 prefix rule; when none matches an action the service may send,
  wsdp:FilterActionNotSupported (R3020). No filter means every event.
* NotifyTo and EndTo must be http(s) URLs whose host is, or resolves to, the address the
  Subscribe came from or one in ``sink_networks`` (:mod:`.sinks`), else wsa:DestinationUnreachable
  (R3017, R3018); checked again before every POST (a refused POST is a failed delivery).
* Their ReferenceParameters, echoed in every notification, are bounded
  (``max_reference_bytes``, ``max_reference_depth``), else wse:InvalidMessage: the request is
  well-formed XML but not a Subscribe this source can honour, a Sender fault (400), whereas
  wse:EventSourceUnableToProcess would be a Receiver fault inviting the client to retry it unchanged.
* The granted expiry is the requested one capped at ``max_expiration``
  (an indefinite request gets the cap), in the requested form (duration or
  time); a zero/negative duration or a past time gets wse:InvalidExpirationTime.
  Expired subscriptions are removed by a timer, without SubscriptionEnd.
* At most ``max_subscriptions`` in all and ``max_per_client`` per client (the IP address
  the Subscribe came from, whatever NotifyTo names); past that, wse:EventSourceUnableToProcess.
* Renew of an unknown or expired subscription: wse:UnableToRenew; GetStatus
  and Unsubscribe: wsa:DestinationUnreachable.
* Extensions (:class:`SubscribeExtension`, e.g. push scan's ScanDestinations) see each
  Subscribe before it is stored, add elements to its SubscribeResponse, and hear of
  every subscription removed (Unsubscribe, expiry, delivery failure, shutdown).
* Each subscriber has its own outbox; preparing or queuing one subscriber's notification
  cannot fail or delay another's (:meth:`publish` isolates them).
* A subscriber whose deliveries keep failing is dropped with
  SubscriptionEnd(DeliveryFailure) to its EndTo (R3019); :meth:`close` ends
  every subscription with SubscriptionEnd(SourceShuttingDown).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol
from urllib.parse import urlsplit

from tornado.httpclient import AsyncHTTPClient

from firmware.dpws.envelope import MATCH_BY_RFC2396
from firmware.dpws.matching import match_scope
from firmware.wire.envelope import Request, build_envelope
from firmware.wire.handler import Operation, Reply
from firmware.wire.xml import Element, serialize

from . import faults
from . import model as m
from .delivery import DeliveryFailed, Outbox, post_envelope
from .expiration import Expiration
from .settings import EventingSettings
from .sinks import SinkPolicy, SinkRefused

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Subscription:
    """One subscription: ``identifier`` (``urn:uuid:...``), the ``manager`` EPR returned
    to the subscriber, where notifications go (``notify_to``) and SubscriptionEnd goes
    (``end_to``, optional), the event ``actions`` it receives, the ``client`` (the
    NotifyTo host, how push scan names the PC), the ``source`` IP address the Subscribe came
    from (what the caps count, None when unknown), ``expires_at`` on the event loop's clock (seconds), whether the
    subscriber asked for an absolute time (``as_time``), and its ``outbox``."""

    identifier: str
    manager: m.EndpointReference
    notify_to: m.EndpointReference
    end_to: m.EndpointReference | None
    actions: frozenset[str]
    client: str
    expires_at: float
    as_time: bool
    source: str | None = None
    outbox: Outbox | None = None
    timer: asyncio.TimerHandle | None = field(default=None, repr=False)


class SubscribeExtension(Protocol):
    """Something that extends Subscribe ([WSE] 3.1 allows extension elements in the body).

    ``subscribed`` runs for every accepted Subscribe before the subscription is stored;
    it may raise a :class:`~firmware.wire.faults.SoapFault` to refuse it, and returns the
    elements to append to the SubscribeResponse. ``removed`` runs when a subscription
    ends for any reason; it must not raise.
    """

    def subscribed(self, subscription: Subscription, request: m.Subscribe, envelope: Request) -> tuple[Element, ...]:
        """Look at the Subscribe ``request`` (its ``extensions``) of ``subscription``; return response elements."""
        ...

    def removed(self, subscription: Subscription) -> None:
        """``subscription`` is gone."""
        ...


def _wall_now() -> datetime:
    return datetime.now(UTC)


def _check_address(epr: m.EndpointReference, what: str) -> str:
    """Return the lower-case host of an http(s) address; raise wsa:DestinationUnreachable otherwise."""
    try:
        parts = urlsplit(epr.address)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        host = None
        parts = None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not host:
        raise faults.destination_unreachable(f"The {what} address is not an http URL: {epr.address[:200]}")
    return host.lower()


def _check_reference(epr: m.EndpointReference, what: str, max_bytes: int, max_depth: int) -> None:
    """Raise wse:InvalidMessage when the ReferenceParameters of ``epr`` nest deeper than
    ``max_depth`` elements or serialize to more than ``max_bytes`` (they are echoed in every
    message to ``epr``). Iterative: a deep tree cannot exhaust the stack here."""
    stack = [(param, 1) for param in epr.reference_parameters]
    while stack:
        el, depth = stack.pop()
        if depth > max_depth:
            raise faults.invalid_message(f"The {what} ReferenceParameters nest deeper than {max_depth} elements.")
        stack.extend((child, depth + 1) for child in el)
    size = sum(len(serialize(param, xml_declaration=False)) for param in epr.reference_parameters)
    if size > max_bytes:
        raise faults.invalid_message(f"The {what} ReferenceParameters are larger than {max_bytes} bytes.")


def _matches(wanted: str, action: str) -> bool:
    """Whether filter URI ``wanted`` selects ``action`` by the RFC 2396 prefix rule (DPWS 6.1.1)."""
    try:
        return match_scope(wanted, action, MATCH_BY_RFC2396)
    except ValueError:  # not a URI urlsplit accepts, e.g. "http://[::1"
        return False


class SubscriptionManager:
    """Subscriptions to the events of one hosted service.

    ``event_actions``: the actions a filter may select (see
    :data:`firmware.scan.events.SUBSCRIBABLE_ACTIONS`); ``default_address``:
    the SubscriptionManager address used when a Subscribe carries no http(s)
    ``wsa:To`` (normally the address the client used is echoed). Must be used on
    the event loop.
    """

    def __init__(self, event_actions: Iterable[str], settings: EventingSettings, default_address: str) -> None:
        self.event_actions = tuple(dict.fromkeys(event_actions))
        self.settings = settings
        self.default_address = default_address
        self._subscriptions: dict[str, Subscription] = {}
        self._http: AsyncHTTPClient | None = None
        self._background: set[asyncio.Task] = set()
        self._closed = False
        self._sinks = SinkPolicy(settings.sink_networks, settings.delivery_timeout)
        self.extensions: list[SubscribeExtension] = []

    # --- queries -----------------------------------------------------------------------

    def subscriptions(self) -> list[Subscription]:
        """The live subscriptions, oldest first."""
        return list(self._subscriptions.values())

    def get(self, identifier: str | None) -> Subscription | None:
        """The live subscription named ``identifier``, or None (unknown or expired)."""
        subscription = self._subscriptions.get(identifier or "")
        if subscription is not None and asyncio.get_running_loop().time() >= subscription.expires_at:
            self._expire(subscription)
            return None
        return subscription

    def operations(self) -> dict[str, Operation]:
        """Map the four WS-Eventing request actions to their handlers (merge into the service's table)."""
        return {
            m.SUBSCRIBE: self.subscribe,
            m.RENEW: self.renew,
            m.GET_STATUS: self.get_status,
            m.UNSUBSCRIBE: self.unsubscribe,
        }

    # --- operations --------------------------------------------------------------------

    async def subscribe(self, request: Request) -> Reply:
        """Subscribe -> SubscribeResponse{SubscriptionManager, Expires} (see the module docstring for faults)."""
        if request.body is None:
            raise faults.invalid_message("The Subscribe body is empty.")
        req = m.Subscribe.from_xml(request.body)
        if req.delivery_mode != m.PUSH_MODE:
            raise faults.delivery_mode_requested_unavailable(req.delivery_mode, m.PUSH_MODE)
        actions = self._select(req.filter)
        assert req.notify_to is not None  # Subscribe.from_xml requires it for Push
        client = _check_address(req.notify_to, "NotifyTo")
        ends = (("NotifyTo", req.notify_to),) + ((("EndTo", req.end_to),) if req.end_to is not None else ())
        for what, epr in ends:
            _check_address(epr, what)
            _check_reference(epr, what, self.settings.max_reference_bytes, self.settings.max_reference_depth)
        granted, as_time = self._grant(req.expires)
        if self._closed:
            raise faults.event_source_unable_to_process("The event source is shutting down.")
        source = request.remote_ip
        if sum(1 for s in self._subscriptions.values() if s.source == source) >= self.settings.max_per_client:
            raise faults.event_source_unable_to_process(
                f"Too many subscriptions from {str(source)[:100]} ({self.settings.max_per_client})."
            )
        if len(self._subscriptions) >= self.settings.max_subscriptions:
            raise faults.event_source_unable_to_process(
                f"The event source has too many subscribers ({self.settings.max_subscriptions})."
            )
        for what, epr in ends:
            try:
                await self._sinks.target(epr.address, source)
            except SinkRefused as refused:
                log.info("Subscribe from %s refused: %s %s", source, what, refused)
                raise faults.destination_unreachable(
                    f"The {what} address must be the subscriber's own address: {refused}"
                ) from None
        if self._closed:  # closed while resolving
            raise faults.event_source_unable_to_process("The event source is shutting down.")
        identifier = "urn:uuid:" + str(uuid.uuid4())
        address = request.to if request.to and urlsplit(request.to).scheme.lower() in ("http", "https") else None
        loop = asyncio.get_running_loop()
        subscription = Subscription(
            identifier=identifier,
            manager=m.manager_reference(address or self.default_address, identifier),
            notify_to=req.notify_to,
            end_to=req.end_to,
            actions=actions,
            client=client,
            expires_at=loop.time() + granted,
            as_time=as_time,
            source=source,
        )
        subscription.outbox = Outbox(
            req.notify_to.address,
            self._client,
            lambda reason: self._delivery_failed(subscription, reason),
            timeout=self.settings.delivery_timeout,
            max_failures=self.settings.max_failures,
            retry_delay=self.settings.retry_delay,
            queue_limit=self.settings.queue_limit,
            target=lambda url: self._target(url, source),
        )
        extra = tuple(el for extension in self.extensions for el in extension.subscribed(subscription, req, request))
        self._subscriptions[identifier] = subscription
        self._arm(subscription)
        log.info(
            "subscription %s for %s: %d event(s), %.0f s",
            identifier,
            req.notify_to.address[:200],
            len(actions),
            granted,
        )
        response = m.SubscribeResponse(subscription.manager, self._expiration(granted, as_time), extra)
        return Reply(m.SUBSCRIBE_RESPONSE, response.to_xml())

    async def renew(self, request: Request) -> Reply:
        """Renew{Expires?} -> RenewResponse{Expires}; faults: wse:UnableToRenew for an unknown or
        expired subscription, wse:InvalidExpirationTime, wse:InvalidMessage."""
        subscription = self.get(m.identifier_from_header(request.header))
        if subscription is None:
            raise faults.unable_to_renew("The subscription is unknown or has expired.")
        req = m.Renew() if request.body is None else m.Renew.from_xml(request.body)
        granted, as_time = self._grant(req.expires)
        subscription.expires_at = asyncio.get_running_loop().time() + granted
        subscription.as_time = as_time
        self._arm(subscription)
        return Reply(m.RENEW_RESPONSE, m.RenewResponse(self._expiration(granted, as_time)).to_xml())

    async def get_status(self, request: Request) -> Reply:
        """GetStatus -> GetStatusResponse{Expires}; fault wsa:DestinationUnreachable for an
        unknown or expired subscription."""
        subscription = self._known(request)
        if request.body is not None:
            m.GetStatus.from_xml(request.body)
        remaining = max(0.0, subscription.expires_at - asyncio.get_running_loop().time())
        response = m.GetStatusResponse(self._expiration(remaining, subscription.as_time))
        return Reply(m.GET_STATUS_RESPONSE, response.to_xml())

    async def unsubscribe(self, request: Request) -> Reply:
        """Unsubscribe -> an empty UnsubscribeResponse body; fault wsa:DestinationUnreachable for an
        unknown or expired subscription. No SubscriptionEnd is sent."""
        subscription = self._known(request)
        if request.body is not None:
            m.Unsubscribe.from_xml(request.body)
        self._remove(subscription)
        log.info("subscription %s ended by the subscriber", subscription.identifier)
        return Reply(m.UNSUBSCRIBE_RESPONSE, None)

    # --- events ------------------------------------------------------------------------

    def publish(self, action: str, body: Element) -> int:
        """Queue the notification ``body`` with wsa:Action ``action`` for every live subscription
        that selected ``action``; returns how many. Never blocks, never raises for a subscriber.

        Each notification is addressed to the NotifyTo address and carries its
        reference parameters (the subscriber's ``wse:Identifier``) as header blocks.
        """
        if not self._subscriptions:
            return 0
        now = asyncio.get_running_loop().time()
        queued = 0
        for subscription in list(self._subscriptions.values()):
            if action not in subscription.actions:
                continue
            if now >= subscription.expires_at:
                self._expire(subscription)
                continue
            if self._queue(subscription, action, body):
                queued += 1
        return queued

    def _queue(self, subscription: Subscription, action: str, body: Element) -> bool:
        """Build and queue one notification for ``subscription``; a failure (its reference
        parameters cannot be echoed, ...) drops that subscriber only. Never raises."""
        try:
            envelope = build_envelope(
                action, body, to=subscription.notify_to.address, extra_headers=subscription.notify_to.header_blocks()
            )
            assert subscription.outbox is not None
            subscription.outbox.put(serialize(envelope))
        except Exception as exc:  # noqa: BLE001 - one subscriber must not stop the others
            log.warning("subscription %s dropped: its notification cannot be built (%s)", subscription.identifier, exc)
            self._remove(subscription)
            return False
        return True

    def publish_to(self, identifier: str, action: str, body: Element) -> bool:
        """Queue one notification for the single live subscription ``identifier`` (e.g.
        ScanAvailableEvent, which goes to its destination's owner only); True when queued,
        False when that subscription is gone or expired. Never blocks."""
        subscription = self.get(identifier)
        if subscription is None or subscription.outbox is None:
            return False
        return self._queue(subscription, action, body)

    async def close(
        self, status: str = m.SOURCE_SHUTTING_DOWN, reason: str = "The scan service is shutting down."
    ) -> None:
        """End every subscription: let queued notifications go out (at most ``delivery_timeout``
        seconds), then send SubscriptionEnd(``status``) to each EndTo, and release the HTTP
        client. Later Subscribes get wse:EventSourceUnableToProcess. Never raises."""
        self._closed = True
        subscriptions = list(self._subscriptions.values())
        timeout = self.settings.delivery_timeout
        if subscriptions:
            await asyncio.gather(*(s.outbox.drain(timeout) for s in subscriptions if s.outbox is not None))
        for subscription in subscriptions:
            self._end(subscription, status, reason)
        if self._background:
            await asyncio.wait(set(self._background), timeout=timeout + 1.0)
        if self._http is not None:
            self._http.close()
            self._http = None

    # --- internals ---------------------------------------------------------------------

    def _client(self) -> AsyncHTTPClient:
        if self._http is None:
            # One private client, with a connection slot for every subscriber, so that a sink
            # that hangs cannot delay the notifications of the others.
            self._http = AsyncHTTPClient(
                force_instance=True, max_clients=self.settings.max_subscriptions + 8, max_body_size=65536
            )
        return self._http

    async def _target(self, url: str, source: str | None):
        """Where a POST to ``url`` for a subscriber at ``source`` goes, checked now (the
        :class:`~firmware.eventing.sinks.SinkTarget`); raises DeliveryFailed when refused."""
        try:
            return await self._sinks.target(url, source)
        except SinkRefused as refused:
            raise DeliveryFailed(f"refused: {refused}") from None

    def _select(self, filter_: m.Filter | None) -> frozenset[str]:
        if filter_ is None:
            return frozenset(self.event_actions)
        if filter_.dialect != m.ACTION_DIALECT:
            raise faults.filtering_requested_unavailable(filter_.dialect, m.ACTION_DIALECT)
        selected = frozenset(
            action for action in self.event_actions if any(_matches(wanted, action) for wanted in filter_.actions)
        )
        if not selected:
            raise faults.filter_action_not_supported()
        return selected

    def _grant(self, requested: Expiration | None) -> tuple[float, bool]:
        """(granted seconds, requested as an absolute time?)."""
        cap = self.settings.max_expiration
        if requested is None:
            return cap, False
        seconds = requested.seconds_from(_wall_now())
        if seconds <= 0:
            raise faults.invalid_expiration_time()
        return min(seconds, cap), not requested.is_duration

    @staticmethod
    def _expiration(seconds: float, as_time: bool) -> Expiration:
        if as_time:
            return Expiration(time=_wall_now() + timedelta(seconds=seconds))
        return Expiration(duration=timedelta(seconds=seconds))

    def _known(self, request: Request) -> Subscription:
        subscription = self.get(m.identifier_from_header(request.header))
        if subscription is None:
            raise faults.destination_unreachable("The subscription is unknown or has expired.")
        return subscription

    def _arm(self, subscription: Subscription) -> None:
        if subscription.timer is not None:
            subscription.timer.cancel()
        loop = asyncio.get_running_loop()
        subscription.timer = loop.call_at(subscription.expires_at, self._expire, subscription)

    def _expire(self, subscription: Subscription) -> None:
        if self._subscriptions.get(subscription.identifier) is subscription:
            log.info("subscription %s expired", subscription.identifier)
            self._remove(subscription)

    def _remove(self, subscription: Subscription) -> None:
        """Forget ``subscription`` and stop its outbox (in the background)."""
        self._subscriptions.pop(subscription.identifier, None)
        for extension in self.extensions:
            try:
                extension.removed(subscription)
            except Exception:
                log.exception("subscription extension failed")
        if subscription.timer is not None:
            subscription.timer.cancel()
            subscription.timer = None
        if subscription.outbox is not None:
            self._spawn(subscription.outbox.stop())

    def _delivery_failed(self, subscription: Subscription, reason: str) -> None:
        log.warning("subscription %s dropped: %s", subscription.identifier, reason)
        self._end(subscription, m.DELIVERY_FAILURE, "Notifications could not be delivered.")

    def _end(self, subscription: Subscription, status: str, reason: str) -> None:
        """Remove ``subscription`` and send SubscriptionEnd to its EndTo, if it gave one (in the background)."""
        self._remove(subscription)
        if subscription.end_to is None:
            return
        end = m.SubscriptionEnd(subscription.manager, status, reason)
        envelope = build_envelope(
            m.SUBSCRIPTION_END,
            end.to_xml(),
            to=subscription.end_to.address,
            extra_headers=subscription.end_to.header_blocks(),
        )
        self._spawn(self._send_end(subscription, serialize(envelope)))

    async def _send_end(self, subscription: Subscription, data: bytes) -> None:
        assert subscription.end_to is not None
        try:
            target = await self._target(subscription.end_to.address, subscription.source)
            await post_envelope(self._client(), target, data, self.settings.delivery_timeout)
        except Exception as exc:  # noqa: BLE001 - best effort ([WSE] 3.5)
            log.info("SubscriptionEnd to %s failed: %s", subscription.end_to.address[:200], exc)

    def _spawn(self, coroutine) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
