"""Scan to PC (device-initiated scans, REFERENCE.md section 3.3).

Modules: :mod:`.model` (ScanDestinations, DestinationResponses, ScanAvailableEvent),
:mod:`.registry` (destinations, DestinationTokens, ScanIdentifiers), :mod:`.push`
(the per-scanner glue: Subscribe extension, triggers, CreateScanJob check) and
:mod:`.http` (the local HTTP trigger).

Wiring, in :func:`firmware.app.build_app` (after :func:`firmware.eventing.attach_eventing`)::

    push = attach_push(service, events, buttons={"scan": "Scan"})
    router.add_handler(path + "/push", PushHandler, dict(push=push))
"""

from __future__ import annotations

from collections.abc import Mapping

from ..scan.eventsource import EventSource
from ..scan.service import ScanService
from .push import DEFAULT_BUTTONS, DEFAULT_DESTINATION, PushScan, Triggered, UnknownDestination
from .registry import DestinationRegistry

__all__ = [
    "DEFAULT_BUTTONS",
    "DEFAULT_DESTINATION",
    "DestinationRegistry",
    "PushScan",
    "Triggered",
    "UnknownDestination",
    "attach_push",
]


def attach_push(
    service: ScanService,
    events: EventSource,
    buttons: Mapping[str, str] | None = None,
    identifier_lifetime: float = 60.0,
) -> PushScan:
    """Give ``service`` scan to PC: ScanDestinations in its Subscribes (``events``), the
    CreateScanJob check, and its scanner's buttons (``buttons``: button -> destination
    overrides). ``identifier_lifetime``: seconds a ScanIdentifier stays good. Returns the
    :class:`PushScan` (the HTTP trigger's handler needs it). Must be called on the event loop."""
    push = PushScan(
        events.subscriptions,
        DestinationRegistry(identifier_lifetime),
        lambda: frozenset(service.capabilities.sources),
        buttons,
    )
    events.subscriptions.extensions.append(push)
    service.push_authorizer = push.authorize
    service.scanner.watch_buttons(push.button_pressed)
    return push
