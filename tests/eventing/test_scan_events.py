"""The scan events a Windows-like subscriber receives over real HTTP, for whole jobs on the fake
scanner: the exact sequence per subscription, each body valid against WDPScan.xsd, each
notification addressed to NotifyTo with the subscriber's wse:Identifier header
(REFERENCE.md sections 3.1, 3.2 and 7)."""

from __future__ import annotations

import concurrent.futures
import time
from dataclasses import dataclass

import pytest

from drivers.base import Condition
from firmware import model
from firmware.eventing import EventingSettings
from firmware.model import events as ev
from firmware.wire import namespaces as ns
from firmware.wire.xml import local_name
from tests.servers import wait_for
from tests.soap import SoapClient
from tests.xsd import validate

from .harness import (
    JOB_EVENTS,
    STATUS_EVENTS,
    EventSink,
    Subscribed,
    WseClient,
    create_job,
    describe,
    retrieve,
    serve_with_events,
    ticket,
)

SCANNING = ("JobScanning",)
TRANSFERRING = ("JobScanningAndTransfering",)
STOPPED = ("JobCompletedWithErrors", "ScannerStopped")
NONE = ("None",)
SINK_PATH = "5357-pc-endpoint"


@dataclass
class Session:
    """A Windows-like client: a scan client, its job-events and status-events subscriptions."""

    scan: SoapClient
    jobs: Subscribed
    status: Subscribed


def windows_session(server, sink: EventSink) -> Session:
    """Subscribe as Windows does: one subscription for job events and one for scanner status
    events, both PT1H with NotifyTo = EndTo = the PC's endpoint, then Renew both."""
    client = WseClient(server.url)
    subscribed = []
    for actions in (JOB_EVENTS, STATUS_EVENTS):
        s = client.subscribe(sink.url(SINK_PATH), actions, expires="PT1H", end_to=sink.url(SINK_PATH))
        assert s.answer.status == 200, s.answer.data
        assert s.response is not None
        assert s.response.expires.text() == "PT1H"
        renewed = client.renew(s.identifier, "PT1H")
        assert renewed.status == 200, renewed.data
        subscribed.append(s)
    return Session(SoapClient(server.url), *subscribed)


def events(server, sink: EventSink, subscribed: Subscribed, last) -> list[tuple]:
    """Wait until ``last`` (a :func:`describe` tuple) arrived for ``subscribed`` and every queue is
    empty; check every notification's envelope and body; return the described sequence."""
    wait_for(lambda: last in [describe(r) for r in sink.messages(subscribed.ref)], timeout=10)
    wait_for(server.idle, timeout=10)
    received = sink.messages(subscribed.ref)
    assert len({r.message_id for r in received}) == len(received)
    for r in received:
        validate(r.body)
        assert r.to == sink.url(SINK_PATH)
        assert r.action == ns.scan_action(local_name(r.body.tag))
    return [describe(r) for r in received]


def job_statuses(sink: EventSink, subscribed: Subscribed) -> list[model.JobStatus]:
    return [
        ev.JobStatusEvent.from_xml(r.body).job_status
        for r in sink.messages(subscribed.ref)
        if r.action == ev.JobStatusEvent.ACTION
    ]


def created(answer) -> model.CreateScanJobResponse:
    assert answer.status == 200, answer.data
    return model.CreateScanJobResponse.from_xml(answer.body)


def test_flatbed_job(server, sink):
    session = windows_session(server, sink)
    job = created(create_job(session.scan))
    assert retrieve(session.scan, job).status == 200
    assert retrieve(session.scan, job).fault_subcode == "wscn:ClientErrorNoImagesAvailable"
    end = ("JobEndState", "Completed", ("JobCompletedSuccessfully",), 1)
    assert events(server, sink, session.jobs, end) == [
        ("JobStatus", "Processing", SCANNING, 0),
        ("JobStatus", "Processing", TRANSFERRING, 0),
        ("JobStatus", "Processing", TRANSFERRING, 1),
        ("JobStatus", "Completed", ("JobCompletedSuccessfully",), 1),
        end,
    ]
    assert events(server, sink, session.status, ("Summary", "Idle", NONE)) == [
        ("Summary", "Processing", NONE),
        ("Summary", "Idle", NONE),
    ]
    statuses = job_statuses(sink, session.jobs)
    assert {s.job_id for s in statuses} == {job.job_id}
    assert statuses[-1].job_completed_time is not None and statuses[0].job_completed_time is None
    end_state = ev.JobEndStateEvent.from_xml(sink.messages(session.jobs.ref)[-1].body).job_end_state
    assert (end_state.job_id, end_state.job_name, end_state.job_originating_user_name) == (
        job.job_id,
        "events job",
        "tester",
    )
    assert end_state.job_completed_time == statuses[-1].job_completed_time


def test_adf_job_of_ten_pages(fake, server, sink):
    fake.adf_pages = 10
    session = windows_session(server, sink)
    job = created(create_job(session.scan, ticket(source="ADF")))
    for _ in range(10):
        assert retrieve(session.scan, job).status == 200
    assert retrieve(session.scan, job).fault_subcode == "wscn:ClientErrorNoImagesAvailable"
    end = ("JobEndState", "Completed", ("JobCompletedSuccessfully",), 10)
    expected = [("JobStatus", "Processing", SCANNING, 0)]
    for page in range(1, 11):
        expected += [
            ("JobStatus", "Processing", TRANSFERRING, page - 1),
            ("JobStatus", "Processing", TRANSFERRING, page),
            ("JobStatus", "Processing", SCANNING, page),
        ]
    expected += [("JobStatus", "Completed", ("JobCompletedSuccessfully",), 10), end]
    assert events(server, sink, session.jobs, end) == expected
    assert sorted({s.scans_completed for s in job_statuses(sink, session.jobs)}) == list(range(11))
    assert events(server, sink, session.status, ("Summary", "Idle", NONE)) == [
        ("Summary", "Processing", NONE),
        ("Summary", "Idle", NONE),
    ]


def test_jam_mid_batch(fake, server, sink):
    fake.fail_with, fake.fail_at_page = Condition.JAMMED, 2
    session = windows_session(server, sink)
    job = created(create_job(session.scan, ticket(source="ADF")))
    assert retrieve(session.scan, job).status == 200
    assert retrieve(session.scan, job).fault_subcode == "wscn:ClientErrorJobCancelled"
    end = ("JobEndState", "Aborted", STOPPED, 1)
    assert events(server, sink, session.jobs, end) == [
        ("JobStatus", "Processing", SCANNING, 0),
        ("JobStatus", "Processing", TRANSFERRING, 0),
        ("JobStatus", "Processing", TRANSFERRING, 1),
        ("JobStatus", "Processing", SCANNING, 1),
        ("JobStatus", "Aborted", STOPPED, 1),
        end,
    ]
    stopped = ("Summary", "Stopped", ("MediaJam",))
    assert events(server, sink, session.status, stopped) == [
        ("Summary", "Processing", NONE),
        ("Condition", "MediaJam", "ADF", "Critical"),
        stopped,
    ]


def test_cover_open_then_cleared_by_a_good_scan(fake, server, sink):
    fake.fail_with, fake.fail_at_page = Condition.COVER_OPEN, 0
    session = windows_session(server, sink)
    assert create_job(session.scan).fault_subcode == "wscn:ServerErrorNotAcceptingJobs"
    end = ("JobEndState", "Aborted", STOPPED, 0)
    assert events(server, sink, session.jobs, end) == [("JobStatus", "Aborted", STOPPED, 0), end]
    stopped = ("Summary", "Stopped", ("CoverOpen",))
    assert events(server, sink, session.status, stopped) == [
        ("Summary", "Processing", NONE),
        ("Condition", "CoverOpen", "Platen", "Critical"),
        stopped,
    ]
    condition = ev.ScannerStatusConditionEvent.from_xml(sink.messages(session.status.ref)[1].body).condition

    fake.fail_with = None  # the operator closed the cover: the next scan succeeds and clears the condition
    job = created(create_job(session.scan))
    assert retrieve(session.scan, job).status == 200
    idle = ("Summary", "Idle", NONE)
    assert events(server, sink, session.status, idle)[3:] == [
        ("Cleared", condition.id),
        ("Summary", "Processing", NONE),
        idle,
    ]
    cleared = ev.ScannerStatusConditionClearedEvent.from_xml(sink.messages(session.status.ref)[3].body)
    assert cleared.clear_time >= condition.time
    history = session.scan.scanner_status().condition_history
    assert (history[0].id, history[0].clear_time) == (condition.id, cleared.clear_time)


def test_cancel_from_a_second_connection_during_retrieve_image(fake, server, sink):
    fake.page_delay = 2.0
    session = windows_session(server, sink)
    job = created(create_job(session.scan))
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        started = time.monotonic()
        pending = pool.submit(retrieve, session.scan, job)
        time.sleep(0.3)  # the RetrieveImage is now waiting for the page
        assert not pending.done()
        answer = SoapClient(server.url).call("CancelJob", model.CancelJobRequest(job.job_id).to_xml())
        assert answer.status == 200
        assert pending.result(5).fault_subcode == "wscn:ClientErrorJobCancelled"
        assert time.monotonic() - started < fake.page_delay
    end = ("JobEndState", "Canceled", NONE, 0)
    assert events(server, sink, session.jobs, end) == [
        ("JobStatus", "Processing", SCANNING, 0),
        ("JobStatus", "Canceled", NONE, 0),
        end,
    ]
    assert events(server, sink, session.status, ("Summary", "Idle", NONE)) == [
        ("Summary", "Processing", NONE),
        ("Summary", "Idle", NONE),
    ]


def test_job_timeout(fake, sink, tmp_path):
    with serve_with_events(
        fake, tmp_path / "state", job_timeout=0.3, eventing=EventingSettings(delivery_timeout=1.0)
    ) as server:
        session = windows_session(server, sink)
        created(create_job(session.scan))
        end = ("JobEndState", "Aborted", ("JobTimedOut",), 0)
        assert events(server, sink, session.jobs, end) == [
            ("JobStatus", "Processing", SCANNING, 0),
            ("JobStatus", "Aborted", ("JobTimedOut",), 0),
            end,
        ]
        assert events(server, sink, session.status, ("Summary", "Idle", NONE)) == [
            ("Summary", "Processing", NONE),
            ("Summary", "Idle", NONE),
        ]


def test_unplug(fake, server, sink):
    fake.page_delay = 0.3
    session = windows_session(server, sink)
    job = created(create_job(session.scan))
    fake.unplug()
    assert retrieve(session.scan, job).fault_subcode == "wscn:ServerErrorInternalError"
    end = ("JobEndState", "Aborted", STOPPED, 0)
    assert events(server, sink, session.jobs, end) == [
        ("JobStatus", "Processing", SCANNING, 0),
        ("JobStatus", "Aborted", STOPPED, 0),
        end,
    ]
    stopped = ("Summary", "Stopped", NONE)  # not AttentionRequired: sane-airscan reads that as "busy"
    assert events(server, sink, session.status, stopped) == [("Summary", "Processing", NONE), stopped]


def test_elements_change_goes_to_status_subscribers_only(server, sink):
    session = windows_session(server, sink)
    request = model.GetScannerElementsRequest(
        (model.RequestedName(ns.SCAN, "ScannerConfiguration", "wscn:ScannerConfiguration"),)
    )
    answer = session.scan.call("GetScannerElements", request.to_xml())
    configuration = model.GetScannerElementsResponse.from_xml(answer.body).elements[0].content
    server.loop.call(server.events.elements_changed, None, configuration)
    assert events(server, sink, session.status, ("ElementsChange",)) == [("ElementsChange",)]
    change = ev.ScannerElementsChangeEvent.from_xml(sink.messages(session.status.ref)[0].body)
    assert change.configuration == configuration and change.description is None and change.default_ticket is None
    assert sink.messages(session.jobs.ref) == []
    with pytest.raises(ValueError):
        server.loop.call(server.events.elements_changed)


def test_subscriber_without_filter_gets_every_event_in_order(server, sink):
    everything = WseClient(server.url).subscribe(sink.url(SINK_PATH), None)
    assert everything.answer.status == 200
    scan = SoapClient(server.url)
    job = created(create_job(scan))
    assert retrieve(scan, job).status == 200
    sequence = events(server, sink, everything, ("Summary", "Idle", NONE))
    assert sequence == [
        ("Summary", "Processing", NONE),
        ("JobStatus", "Processing", SCANNING, 0),
        ("JobStatus", "Processing", TRANSFERRING, 0),
        ("JobStatus", "Processing", TRANSFERRING, 1),
        ("JobStatus", "Completed", ("JobCompletedSuccessfully",), 1),
        ("JobEndState", "Completed", ("JobCompletedSuccessfully",), 1),
        ("Summary", "Idle", NONE),
    ]
