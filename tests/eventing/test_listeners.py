"""firmware/scan/events.py on its own: which status changes become which events, and a failing
publisher never breaks a job or status transition."""

from __future__ import annotations

import dataclasses

from firmware import model
from firmware.jobs.job import Job
from firmware.model import events as ev
from firmware.scan.events import ScanEvents
from firmware.scan.status import ScannerStatusTracker
from tests.xsd import validate


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []

    def __call__(self, action, body) -> None:
        validate(body)
        self.events.append((action, body))

    def names(self) -> list[str]:
        return [action.rsplit("/", 1)[1] for action, _ in self.events]


class StubTracker:
    """Stands in for ScannerStatusTracker where it cannot go (a condition changing severity)."""

    def __init__(self, status: model.ScannerStatus) -> None:
        self.status = status

    def snapshot(self) -> model.ScannerStatus:
        return self.status


def test_condition_appearing_and_clearing():
    tracker = ScannerStatusTracker()
    recorder = Recorder()
    events = ScanEvents(recorder, tracker)
    tracker.listeners.append(events.status_changed)
    tracker.raise_condition("CoverOpen", "Platen", "Critical")
    tracker.raise_condition("CoverOpen", "Platen", "Critical")  # already active: nothing
    tracker.set_job_active(True)  # still Stopped: nothing
    tracker.clear_all()
    assert recorder.names() == [
        "ScannerStatusConditionEvent",
        "ScannerStatusSummaryEvent",
        "ScannerStatusConditionClearedEvent",
        "ScannerStatusSummaryEvent",
    ]
    cleared = ev.ScannerStatusConditionClearedEvent.from_xml(recorder.events[2][1])
    history = tracker.snapshot().condition_history[0]
    assert (cleared.condition_id, cleared.clear_time) == (history.id, history.clear_time)
    summary = ev.ScannerStatusSummaryEvent.from_xml(recorder.events[3][1])
    assert (summary.state, summary.state_reasons) == ("Processing", ("None",))


def test_severity_change_is_sent_again():
    now = model.ScannerStatus(current_time=model.parse_datetime("2024-05-01T12:00:00Z"), state="Idle")
    warning = model.DeviceCondition(1, now.current_time, "LampWarning", "Platen", "Informational")
    stub = StubTracker(dataclasses.replace(now, active_conditions=(warning,)))
    recorder = Recorder()
    events = ScanEvents(recorder, stub)
    stub.status = dataclasses.replace(now, active_conditions=(dataclasses.replace(warning, severity="Warning"),))
    events.status_changed(stub)
    assert recorder.names() == ["ScannerStatusConditionEvent"]
    assert ev.ScannerStatusConditionEvent.from_xml(recorder.events[0][1]).condition.severity == "Warning"


def test_a_failing_publisher_does_not_break_transitions(caplog):
    def broken(action, body):
        raise RuntimeError("no network")

    tracker = ScannerStatusTracker()
    events = ScanEvents(broken, tracker)
    tracker.listeners.append(events.status_changed)
    tracker.set_job_active(True)
    assert tracker.state == "Processing"
    ticket = model.ScanTicket(model.JobDescription("j", "u"))
    job = Job(1, "token", ticket, None, None, listeners=[events.job_changed])
    job.scanning()
    job.complete()
    assert job.state == "Completed"
    assert "no network" in caplog.text


def test_job_end_state_is_sent_once():
    recorder = Recorder()
    events = ScanEvents(recorder, ScannerStatusTracker())
    job = Job(5, "token", model.ScanTicket(model.JobDescription("j", "u")), None, None, listeners=[events.job_changed])
    job.scanning()
    job.abort(("JobCompletedWithErrors",))
    events.job_changed(job)  # a spurious extra notification
    assert recorder.names() == ["JobStatusEvent", "JobStatusEvent", "JobEndStateEvent", "JobStatusEvent"]
