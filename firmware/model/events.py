"""The WS-Scan event bodies ([XSD] WDPScan.xsd, REFERENCE.md section 3.1).

One frozen dataclass per event element, each with its ``action`` (the
wsa:Action of the notification), ``to_xml`` and ``from_xml``:

* :class:`JobStatusEvent` ``{JobStatus}``
* :class:`JobEndStateEvent` ``{JobEndState}``
* :class:`ScannerStatusSummaryEvent` ``{StatusSummary{ScannerState, ScannerStateReasons?}}``
* :class:`ScannerStatusConditionEvent` ``{DeviceCondition @Id}``
* :class:`ScannerStatusConditionClearedEvent` ``{DeviceConditionCleared{ConditionId, ConditionClearTime}}``
* :class:`ScannerElementsChangeEvent`
  ``{ElementChanges{ScannerDescription?, ScannerConfiguration?, DefaultScanTicket?}}``

Parsing raises ``wscn:InvalidArgs`` for a missing or ill-typed required part,
like the rest of the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, Protocol, Self

from firmware.wire import namespaces as ns
from firmware.wire.xml import Element, element, find_all, scan, sub

from .common import INT_MAX, child, datetime_value, format_datetime, int_value, required_child, token_value
from .job import JobEndState, JobStatus
from .scanner import DeviceCondition, ScannerConfiguration, ScannerDescription
from .ticket import ScanTicket


@dataclass(frozen=True)
class JobStatusEvent:
    """JobStatusEvent: the job's JobStatus after one of its children changed."""

    ACTION: ClassVar[str] = ns.scan_action("JobStatusEvent")
    job_status: JobStatus

    def to_xml(self) -> Element:
        """Build JobStatusEvent{JobStatus}."""
        el = element(scan("JobStatusEvent"))
        el.append(self.job_status.to_xml())
        return el

    @classmethod
    def from_xml(cls, el: Element) -> Self:
        """Parse a JobStatusEvent; raises ``wscn:InvalidArgs``."""
        return cls(JobStatus.from_xml(required_child(el, "JobStatus")))


@dataclass(frozen=True)
class JobEndStateEvent:
    """JobEndStateEvent: sent once when a job reaches Completed, Aborted or Canceled."""

    ACTION: ClassVar[str] = ns.scan_action("JobEndStateEvent")
    job_end_state: JobEndState

    def to_xml(self) -> Element:
        """Build JobEndStateEvent{JobEndState}; ``ValueError`` when the end state has no reason."""
        el = element(scan("JobEndStateEvent"))
        el.append(self.job_end_state.to_xml())
        return el

    @classmethod
    def from_xml(cls, el: Element) -> Self:
        """Parse a JobEndStateEvent; raises ``wscn:InvalidArgs``."""
        return cls(JobEndState.from_xml(required_child(el, "JobEndState")))


@dataclass(frozen=True)
class ScannerStatusSummaryEvent:
    """ScannerStatusSummaryEvent: ``state`` (ScannerState) and ``state_reasons``
    (ScannerStateReason values; the element is omitted when empty), in StatusSummary."""

    ACTION: ClassVar[str] = ns.scan_action("ScannerStatusSummaryEvent")
    state: str
    state_reasons: tuple[str, ...] = ()

    def to_xml(self) -> Element:
        """Build ScannerStatusSummaryEvent{StatusSummary{ScannerState, ScannerStateReasons?}}."""
        el = element(scan("ScannerStatusSummaryEvent"))
        summary = sub(el, scan("StatusSummary"))
        sub(summary, scan("ScannerState"), self.state)
        if self.state_reasons:
            reasons = sub(summary, scan("ScannerStateReasons"))
            for reason in self.state_reasons:
                sub(reasons, scan("ScannerStateReason"), reason)
        return el

    @classmethod
    def from_xml(cls, el: Element) -> Self:
        """Parse a ScannerStatusSummaryEvent; raises ``wscn:InvalidArgs``."""
        summary = required_child(el, "StatusSummary")
        reasons = child(summary, "ScannerStateReasons")
        return cls(
            token_value(required_child(summary, "ScannerState")),
            () if reasons is None else tuple(token_value(r) for r in find_all(reasons, scan("ScannerStateReason"))),
        )


@dataclass(frozen=True)
class ScannerStatusConditionEvent:
    """ScannerStatusConditionEvent: a device condition became active (or changed severity)."""

    ACTION: ClassVar[str] = ns.scan_action("ScannerStatusConditionEvent")
    condition: DeviceCondition

    def to_xml(self) -> Element:
        """Build ScannerStatusConditionEvent{DeviceCondition @Id{Time, Name, Component, Severity}}."""
        el = element(scan("ScannerStatusConditionEvent"))
        el.append(self.condition.to_xml())
        return el

    @classmethod
    def from_xml(cls, el: Element) -> Self:
        """Parse a ScannerStatusConditionEvent; raises ``wscn:InvalidArgs``."""
        return cls(DeviceCondition.from_xml(required_child(el, "DeviceCondition")))


@dataclass(frozen=True)
class ScannerStatusConditionClearedEvent:
    """ScannerStatusConditionClearedEvent: condition ``condition_id`` (1..2^31-1) was
    resolved at ``clear_time`` (timezone-aware)."""

    ACTION: ClassVar[str] = ns.scan_action("ScannerStatusConditionClearedEvent")
    condition_id: int
    clear_time: datetime

    def to_xml(self) -> Element:
        """Build ScannerStatusConditionClearedEvent{DeviceConditionCleared{ConditionId, ConditionClearTime}}."""
        el = element(scan("ScannerStatusConditionClearedEvent"))
        cleared = sub(el, scan("DeviceConditionCleared"))
        sub(cleared, scan("ConditionId"), self.condition_id)
        sub(cleared, scan("ConditionClearTime"), format_datetime(self.clear_time))
        return el

    @classmethod
    def from_xml(cls, el: Element) -> Self:
        """Parse a ScannerStatusConditionClearedEvent; raises ``wscn:InvalidArgs``."""
        cleared = required_child(el, "DeviceConditionCleared")
        return cls(
            int_value(required_child(cleared, "ConditionId"), 1, INT_MAX),
            datetime_value(required_child(cleared, "ConditionClearTime")),
        )


@dataclass(frozen=True)
class ScannerElementsChangeEvent:
    """ScannerElementsChangeEvent: the complete new ``description``, ``configuration``
    and/or ``default_ticket`` (None: that element is not part of the change)."""

    ACTION: ClassVar[str] = ns.scan_action("ScannerElementsChangeEvent")
    description: ScannerDescription | None = None
    configuration: ScannerConfiguration | None = None
    default_ticket: ScanTicket | None = None

    def to_xml(self) -> Element:
        """Build ScannerElementsChangeEvent{ElementChanges{ScannerDescription?, ScannerConfiguration?,
        DefaultScanTicket?}} (XSD order)."""
        el = element(scan("ScannerElementsChangeEvent"))
        changes = sub(el, scan("ElementChanges"))
        if self.description is not None:
            changes.append(self.description.to_xml())
        if self.configuration is not None:
            changes.append(self.configuration.to_xml())
        if self.default_ticket is not None:
            changes.append(self.default_ticket.to_xml(scan("DefaultScanTicket")))
        return el

    @classmethod
    def from_xml(cls, el: Element) -> Self:
        """Parse a ScannerElementsChangeEvent; raises ``wscn:InvalidArgs``."""
        changes = required_child(el, "ElementChanges")
        description = child(changes, "ScannerDescription")
        configuration = child(changes, "ScannerConfiguration")
        ticket = child(changes, "DefaultScanTicket")
        return cls(
            None if description is None else ScannerDescription.from_xml(description),
            None if configuration is None else ScannerConfiguration.from_xml(configuration),
            None if ticket is None else ScanTicket.from_xml(ticket),
        )


class EventMessage(Protocol):
    """What every event class has: its wsa:Action, and its body element."""

    ACTION: ClassVar[str]

    def to_xml(self) -> Element:
        """The event body."""
        ...


EVENTS: tuple[type[EventMessage], ...] = (
    ScannerElementsChangeEvent,
    ScannerStatusSummaryEvent,
    ScannerStatusConditionEvent,
    ScannerStatusConditionClearedEvent,
    JobStatusEvent,
    JobEndStateEvent,
)
"""Every event class the scan service sends."""
