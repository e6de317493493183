"""Scan to PC for one scanner: destinations in Subscribe, triggers, and CreateScanJob's checks.

:class:`PushScan` is the glue of REFERENCE.md section 3.3:

* as a :class:`~firmware.eventing.subscriptions.SubscribeExtension` it registers
  the ``wscn:ScanDestinations`` of a Subscribe whose filter selects
  ScanAvailableEvent and answers ``wscn:DestinationResponses`` (only the first
  ScanDestinations element counts, [SPEC] 5.2.1); it drops a subscription's
  destinations when the subscription ends;
* :meth:`PushScan.trigger` (a scanner button, or the HTTP trigger) picks one
  destination and sends ScanAvailableEvent to its subscriber only;
* :meth:`PushScan.authorize` is the scan service's check of a CreateScanJob
  carrying ScanIdentifier / DestinationToken.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from drivers.base import ButtonPress, Source

from ..eventing import model as wse
from ..eventing.subscriptions import Subscription, SubscriptionManager
from ..model import CreateScanJobRequest
from ..model.pushscan import INPUT_SOURCES, ScanAvailableEvent, ScanDestinations
from ..wire.envelope import Request
from ..wire.xml import Element, scan
from .registry import Destination, DestinationRegistry

log = logging.getLogger(__name__)

DEFAULT_DESTINATION = "Scan"
"""What a trigger without a destination picks: the ClientContext Windows gives its plain
"Scan to <PC>" destination."""

DEFAULT_BUTTONS: dict[str, str] = {
    "scan": "Scan",
    "file": "Scan",
    "email": "ScanToEmail",
    "copy": "ScanToPrint",
    "print": "ScanToPrint",
    "fax": "ScanToFax",
    "ocr": "ScanToOCR",
}
"""Button (SANE sensor name) -> destination when the configuration names none. The names
are the ClientContext values Windows registers (REFERENCE.md section 3.3)."""


class UnknownDestination(LookupError):
    """No registered destination matches; ``str()`` says which name and what is registered."""


@dataclass(frozen=True)
class Triggered:
    """A ScanAvailableEvent that was sent: to ``destination``, with ``scan_identifier``
    and ``input_source`` (None: not given)."""

    destination: Destination
    scan_identifier: str
    input_source: str | None


class PushScan:
    """Scan to PC for one scan service.

    ``subscriptions``: the service's event source; ``registry``: its destinations;
    ``sources``: returns the scanner's sources now (to fill InputSource);
    ``buttons``: button -> destination overrides of the configuration (an empty
    destination disables a button), on top of :data:`DEFAULT_BUTTONS`.
    Must be used on the event loop.
    """

    def __init__(
        self,
        subscriptions: SubscriptionManager,
        registry: DestinationRegistry,
        sources: Callable[[], frozenset[Source]],
        buttons: Mapping[str, str] | None = None,
    ) -> None:
        self.subscriptions = subscriptions
        self.registry = registry
        self._sources = sources
        self.buttons: dict[str, str] = {**DEFAULT_BUTTONS, **(buttons or {})}

    def configure(self, buttons: Mapping[str, str] | None, identifier_lifetime: float) -> None:
        """Use new button overrides and ScanIdentifier lifetime (seconds), e.g. after a reload."""
        self.buttons = {**DEFAULT_BUTTONS, **(buttons or {})}
        self.registry.identifier_lifetime = identifier_lifetime

    # --- SubscribeExtension ----------------------------------------------------------

    def subscribed(self, subscription: Subscription, request: wse.Subscribe, envelope: Request) -> tuple[Element, ...]:
        """Register the Subscribe's ScanDestinations; returns ``(DestinationResponses,)``,
        or nothing when it has none or its filter leaves out ScanAvailableEvent.
        Raises wscn:InvalidArgs for a malformed ScanDestinations."""
        found = next((e for e in request.extensions if e.tag == scan("ScanDestinations")), None)
        if found is None:
            return ()
        if ScanAvailableEvent.ACTION not in subscription.actions:
            log.info("subscription %s: ScanDestinations ignored (no ScanAvailableEvent)", subscription.identifier)
            return ()
        destinations = ScanDestinations.from_xml(found)
        responses = self.registry.register(
            subscription.identifier, subscription.client, envelope.remote_ip, destinations
        )
        log.info(
            "subscription %s registered destinations: %s",
            subscription.identifier,
            ", ".join(repr(d.client_display_name[:60]) for d in destinations.destinations),
        )
        return (responses.to_xml(),)

    def removed(self, subscription: Subscription) -> None:
        """Drop the destinations of an ended subscription."""
        if self.registry.drop_subscription(subscription.identifier):
            log.info("subscription %s ended: its scan destinations are gone", subscription.identifier)

    # --- triggers ----------------------------------------------------------------------

    def trigger(self, destination: str | None = None, input_source: str | None = None) -> Triggered:
        """Send ScanAvailableEvent for destination ``destination`` (a ClientDisplayName or
        ClientContext, see :meth:`DestinationRegistry.choose`; None: :data:`DEFAULT_DESTINATION`)
        to the one subscriber that registered it. ``input_source``: Platen, ADF, ADFDuplex
        or Film, or None to say what the scanner can tell (:meth:`input_source_for`).

        Raises :class:`UnknownDestination` when no live subscriber registered it, and
        ``ValueError`` for an input source that is not one of those values.
        """
        if input_source is not None and input_source not in INPUT_SOURCES:
            raise ValueError(f"input source {input_source!r} is not one of {', '.join(INPUT_SOURCES)}")
        name = destination or DEFAULT_DESTINATION
        while True:
            chosen = self.registry.choose(name)
            if chosen is None:
                known = ", ".join(sorted({repr(d.client_display_name) for d in self.registry.destinations()}))
                raise UnknownDestination(
                    f"no PC has registered a scan destination {name!r}"
                    + (f"; registered: {known}" if known else "; no PC has registered any")
                )
            pending = self.registry.issue(chosen)
            event = ScanAvailableEvent(chosen.client_context, pending.scan_identifier, input_source)
            if self.subscriptions.publish_to(chosen.subscription, event.ACTION, event.to_xml()):
                log.info(
                    "ScanAvailableEvent for %r (%s) to %s",
                    chosen.client_display_name[:60],
                    chosen.client_context[:60],
                    chosen.client,
                )
                return Triggered(chosen, pending.scan_identifier, input_source)
            self.registry.drop_subscription(chosen.subscription)  # it expired meanwhile: try the next

    def input_source_for(self, feeder_loaded: bool | None) -> str | None:
        """InputSource for a press: ADF when paper is in the feeder, Platen when it is not (or
        the scanner has no feeder), None when it cannot be told."""
        sources = self._sources()
        has_adf = bool(sources & {Source.ADF, Source.ADF_DUPLEX})
        has_platen = Source.FLATBED in sources
        if feeder_loaded and has_adf:
            return "ADF"
        if has_platen and (feeder_loaded is False or not has_adf):
            return "Platen"
        if has_adf and not has_platen:
            return "ADF"
        return None

    def button_pressed(self, press: ButtonPress) -> None:
        """A scanner button was pressed: trigger its destination (:attr:`buttons`). Never raises."""
        target = self.buttons.get(press.name)
        if not target:
            log.info("button %r pressed: no destination configured for it", press.name)
            return
        try:
            sent = self.trigger(target, self.input_source_for(press.feeder_loaded))
        except UnknownDestination as exc:
            log.warning("button %r pressed: %s", press.name, exc)
        except Exception:
            log.exception("button %r pressed: the scan event could not be sent", press.name)
        else:
            log.info("button %r pressed: scan offered to %r", press.name, sent.destination.client_display_name[:60])

    # --- CreateScanJob ---------------------------------------------------------------------

    def authorize(self, req: CreateScanJobRequest, request: Request) -> Callable[[], None]:
        """Check a CreateScanJob that carries ScanIdentifier and/or DestinationToken; returns
        the call that marks the identifier used (once the job exists). Raises the faults of
        :meth:`DestinationRegistry.redeem`."""
        pending = self.registry.redeem(req.scan_identifier, req.destination_token, request.remote_ip)
        return lambda: self.registry.commit(pending)
