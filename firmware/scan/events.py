"""Where job and scanner status changes become WS-Scan events (REFERENCE.md sections 3.1 and 7).

:class:`ScanEvents` listens to the jobs (:attr:`firmware.jobs.job.Job.listeners`,
called on every JobStatus change) and to the
:class:`~firmware.scan.status.ScannerStatusTracker`, and hands each event body
to a ``publish(action, body)`` callable (the subscription manager), in the
order the changes happened:

* every JobStatus change: JobStatusEvent; when the job has ended, then one
  JobEndStateEvent;
* a status change: first ScannerStatusConditionEvent for each condition that
  appeared (or changed severity), then ScannerStatusConditionClearedEvent for
  each that cleared, then ScannerStatusSummaryEvent when ScannerState or
  ScannerStateReasons changed;
* :meth:`ScanEvents.elements_changed`: ScannerElementsChangeEvent.

Listeners run synchronously on the event loop, inside the job and status
transitions; publishing only queues messages, so scanning is never slowed by
delivery, and a failure here is logged, never raised into the scan.
"""

from __future__ import annotations

import collections
import functools
import logging
from collections.abc import Callable

from ..jobs.job import Job
from ..model import DeviceCondition, ScannerConfiguration, ScannerDescription, ScanTicket
from ..model.events import (
    EVENTS,
    JobEndStateEvent,
    JobStatusEvent,
    ScannerElementsChangeEvent,
    ScannerStatusConditionClearedEvent,
    ScannerStatusConditionEvent,
    ScannerStatusSummaryEvent,
)
from ..wire import namespaces as ns
from ..wire.xml import Element
from .status import ScannerStatusTracker

EVENT_ACTIONS: tuple[str, ...] = tuple(event.ACTION for event in EVENTS)
"""The wsa:Action of every event this service sends."""

SUBSCRIBABLE_ACTIONS: tuple[str, ...] = (*EVENT_ACTIONS, ns.scan_action("ScanAvailableEvent"))
"""Actions a Subscribe filter may name without a wsdp:FilterActionNotSupported fault: the events
broadcast here, plus ScanAvailableEvent (scan to PC), which is never broadcast: it goes to the one
subscriber that registered the chosen destination (:mod:`firmware.pushscan`)."""

Publish = Callable[[str, Element], object]

log = logging.getLogger(__name__)

_ENDED_REMEMBERED = 64


def _never_raises(listener):
    @functools.wraps(listener)
    def guarded(*args, **kwargs):
        try:
            listener(*args, **kwargs)
        except Exception:
            log.exception("scan event listener %s failed", listener.__name__)

    return guarded


class ScanEvents:
    """Turns changes into event bodies for ``publish(action, body)``.

    ``status`` is the tracker whose current state is the baseline: only later
    changes produce status events.
    """

    def __init__(self, publish: Publish, status: ScannerStatusTracker) -> None:
        self._publish = publish
        snapshot = status.snapshot()
        self._summary = (snapshot.state, snapshot.state_reasons)
        self._conditions: dict[int, DeviceCondition] = {c.id: c for c in snapshot.active_conditions}
        self._ended: collections.deque[int] = collections.deque(maxlen=_ENDED_REMEMBERED)

    @_never_raises
    def job_changed(self, job: Job) -> None:
        """A JobStatus child of ``job`` changed: JobStatusEvent, then JobEndStateEvent once it has ended."""
        self._send(JobStatusEvent(job.status()))
        if job.ended and job.job_id not in self._ended:
            self._ended.append(job.job_id)
            self._send(JobEndStateEvent(job.end_state()))

    @_never_raises
    def status_changed(self, tracker: ScannerStatusTracker) -> None:
        """The scanner status changed: condition events, then the summary event if the summary changed."""
        snapshot = tracker.snapshot()
        current = {c.id: c for c in snapshot.active_conditions}
        for ident, condition in current.items():
            previous = self._conditions.get(ident)
            if previous is None or previous.severity != condition.severity:
                self._send(ScannerStatusConditionEvent(condition))
        for ident in self._conditions.keys() - current.keys():
            clear_time = next(
                (h.clear_time for h in snapshot.condition_history if h.id == ident and h.clear_time is not None),
                snapshot.current_time,
            )
            self._send(ScannerStatusConditionClearedEvent(ident, clear_time))
        self._conditions = current
        summary = (snapshot.state, snapshot.state_reasons)
        if summary != self._summary:
            self._summary = summary
            self._send(ScannerStatusSummaryEvent(*summary))

    def elements_changed(
        self,
        description: ScannerDescription | None = None,
        configuration: ScannerConfiguration | None = None,
        default_ticket: ScanTicket | None = None,
    ) -> None:
        """ScannerDescription, ScannerConfiguration and/or DefaultScanTicket changed: send each
        given element complete in one ScannerElementsChangeEvent. Raises ``ValueError`` if none is given."""
        if description is None and configuration is None and default_ticket is None:
            raise ValueError("elements_changed needs at least one changed element")
        self._send(ScannerElementsChangeEvent(description, configuration, default_ticket))

    def _send(self, event) -> None:
        self._publish(event.ACTION, event.to_xml())
