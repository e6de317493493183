"""A scan service as a WS-Eventing event source: its scan events wired to a subscription manager.

Wiring, in :func:`firmware.app.build_app` (one event source per scan service)::

    events = attach_eventing(service, path, EventingSettings())
    routes.append((path, SoapHandler, dict(operations={**service.operations(), **events.operations()})))
    ...
    await events.close()   # in App.stop, after service.shutdown(), so the aborted jobs' events go out

The events themselves are built by :mod:`firmware.scan.events`; subscriptions and
delivery are :mod:`firmware.eventing`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..eventing.settings import EventingSettings
from ..eventing.subscriptions import SubscriptionManager
from ..model import ScannerConfiguration, ScannerDescription, ScanTicket
from ..wire.handler import Operation
from .events import SUBSCRIBABLE_ACTIONS, ScanEvents
from .service import ElementsChange, ScanService

__all__ = ["EventSource", "attach_eventing"]


@dataclass(eq=False)
class EventSource:
    """The events of one scan service: its ``subscriptions`` (manager) and the ``scan_events``
    listener registered on the service's jobs and status."""

    service: ScanService
    subscriptions: SubscriptionManager
    scan_events: ScanEvents

    def operations(self) -> dict[str, Operation]:
        """Subscribe, Renew, GetStatus and Unsubscribe action URIs -> handlers, to merge into
        the scan service's operations for the same HTTP path."""
        return self.subscriptions.operations()

    def elements_changed(
        self,
        description: ScannerDescription | None = None,
        configuration: ScannerConfiguration | None = None,
        default_ticket: ScanTicket | None = None,
    ) -> None:
        """Send ScannerElementsChangeEvent with the complete new elements given.
        Raises ``ValueError`` when none is given."""
        self.scan_events.elements_changed(description, configuration, default_ticket)

    def forward_elements_change(self, change: ElementsChange) -> None:
        """The service's elements listener: ScannerElementsChangeEvent with what ``change`` carries."""
        self.elements_changed(change.description, change.configuration, change.default_ticket)

    async def close(self) -> None:
        """Stop listening, deliver what is queued (bounded by the delivery timeout) and send
        SubscriptionEnd(SourceShuttingDown) to every subscriber that gave an EndTo. Never raises."""
        _discard(self.service.jobs.listeners, self.scan_events.job_changed)
        _discard(self.service.status.listeners, self.scan_events.status_changed)
        _discard(self.service.elements_listeners, self.forward_elements_change)
        await self.subscriptions.close()


def attach_eventing(
    service: ScanService, service_url_path: str, settings: EventingSettings = EventingSettings()
) -> EventSource:
    """Make ``service`` an event source: register the scan event listeners on its job table
    (every job created from now on) and its status tracker.

    ``service_url_path`` is the service's HTTP path, the SubscriptionManager address
    used when a Subscribe has no http ``wsa:To``. Returns the :class:`EventSource`;
    merge its :meth:`EventSource.operations` into the path's SOAP operations.
    """
    manager = SubscriptionManager(SUBSCRIBABLE_ACTIONS, settings, service_url_path)
    scan_events = ScanEvents(manager.publish, service.status)
    service.jobs.listeners.append(scan_events.job_changed)
    service.status.listeners.append(scan_events.status_changed)
    source = EventSource(service, manager, scan_events)
    service.elements_listeners.append(source.forward_elements_change)
    return source


def _discard(listeners: list, listener) -> None:
    if listener in listeners:
        listeners.remove(listener)
