"""Delivery over real HTTP when sinks misbehave: scanning is never held up, a failing subscriber is
retried in order and then dropped with SubscriptionEnd(DeliveryFailure), and shutting down sends
SubscriptionEnd(SourceShuttingDown) after the queued events (REFERENCE.md section 3.2, DPWS R3019)."""

from __future__ import annotations

import time

from firmware import model
from firmware.eventing import EventingSettings
from firmware.eventing import model as wse
from tests.servers import free_port, wait_for
from tests.soap import SoapClient
from tests.xsd import validate

from .harness import JOB_EVENTS, WseClient, create_job, describe, retrieve, serve_with_events, ticket

NONE = ("None",)


def run_adf_job(url: str, pages: int) -> float:
    """Scan ``pages`` sides from the ADF and retrieve them all; returns the seconds it took."""
    scan = SoapClient(url)
    started = time.monotonic()
    answer = create_job(scan, ticket(source="ADF"))
    assert answer.status == 200, answer.data
    job = model.CreateScanJobResponse.from_xml(answer.body)
    for _ in range(pages):
        assert retrieve(scan, job).status == 200
    assert retrieve(scan, job).fault_subcode == "wscn:ClientErrorNoImagesAvailable"
    return time.monotonic() - started


def subscription_end(received) -> wse.SubscriptionEnd:
    assert received.action == wse.SUBSCRIPTION_END
    return wse.SubscriptionEnd.from_xml(received.body)


def test_hung_sink_does_not_slow_the_scan_and_is_dropped(fake, sink, tmp_path):
    timeout = 1.0
    settings = EventingSettings(delivery_timeout=timeout, max_failures=2, retry_delay=0.05)
    fake.adf_pages = 3
    sink.behaviour["hung"] = "hang"
    with serve_with_events(fake, tmp_path / "state", eventing=settings) as server:
        client = WseClient(server.url)
        hung = client.subscribe(sink.url("hung"), None, end_to=sink.url("end"))
        healthy = client.subscribe(sink.url("healthy"), JOB_EVENTS)
        elapsed = run_adf_job(server.url, 3)
        # About 12 events reach the hung sink's queue: a scan that waited for them would take
        # 2 x 1 s at least before the subscriber is dropped.
        assert elapsed < timeout + 0.5
        # the healthy subscriber is not held up by the hung one
        wait_for(
            lambda: (
                ("JobEndState", "Completed", ("JobCompletedSuccessfully",), 3)
                in [describe(r) for r in sink.messages(healthy.ref)]
            ),
            timeout=timeout,
        )

        wait_for(lambda: sink.messages(hung.ref) and sink.messages(hung.ref)[-1].name == "end", timeout=3 * timeout + 2)
        (end,) = [r for r in sink.messages(hung.ref) if r.name == "end"]
        ended = subscription_end(end)
        assert ended.status == wse.DELIVERY_FAILURE
        assert ended.subscription_manager.identifier == hung.identifier
        assert end.to == sink.url("end")
        assert [s.identifier for s in server.subscriptions()] == [healthy.identifier]
        assert client.get_status(hung.identifier).fault_subcode == "wsa:DestinationUnreachable"


def test_refused_sink_is_dropped_after_repeated_failures(fake, sink, tmp_path):
    settings = EventingSettings(delivery_timeout=1.0, max_failures=3, retry_delay=0.05)
    closed_port = free_port()
    with serve_with_events(fake, tmp_path / "state", eventing=settings) as server:
        client = WseClient(server.url)
        down = client.subscribe(f"http://127.0.0.1:{closed_port}/pc", None, end_to=sink.url("end"))
        silent = client.subscribe(f"http://127.0.0.1:{closed_port}/pc", None)  # no EndTo: dropped silently
        create_job(SoapClient(server.url))
        wait_for(lambda: not server.subscriptions(), timeout=5)
        (end,) = sink.messages(delivered_only=False)
        assert end.identifier == down.ref  # the EndTo reference parameters are echoed as headers
        assert subscription_end(end).subscription_manager.identifier == down.identifier
        assert client.get_status(silent.identifier).fault_subcode == "wsa:DestinationUnreachable"


def test_failing_sink_is_retried_in_order_and_then_dropped(fake, sink, tmp_path):
    settings = EventingSettings(delivery_timeout=1.0, max_failures=3, retry_delay=0.05)
    fake.adf_pages = 2
    sink.behaviour["flaky"] = [500, 503, 202]  # two failures, then it recovers
    sink.behaviour["broken"] = 500
    with serve_with_events(fake, tmp_path / "state", eventing=settings) as server:
        client = WseClient(server.url)
        flaky = client.subscribe(sink.url("flaky"), JOB_EVENTS)
        broken = client.subscribe(sink.url("broken"), JOB_EVENTS, end_to=sink.url("end"))
        run_adf_job(server.url, 2)
        wait_for(lambda: [r for r in sink.received if r.name == "end"], timeout=5)
        attempts = [r for r in sink.messages(broken.ref, delivered_only=False) if r.name == "broken"]
        assert len(attempts) == settings.max_failures
        assert len({r.message_id for r in attempts}) == 1  # the same notification, retried
        assert subscription_end(sink.messages(broken.ref)[-1]).status == wse.DELIVERY_FAILURE

        end = ("JobEndState", "Completed", ("JobCompletedSuccessfully",), 2)
        wait_for(lambda: end in [describe(r) for r in sink.messages(flaky.ref)], timeout=5)
        delivered = sink.messages(flaky.ref)
        assert [describe(r)[3] for r in delivered] == [0, 0, 1, 1, 1, 2, 2, 2, 2]  # ScansCompleted, in order
        assert [s.identifier for s in server.subscriptions()] == [flaky.identifier]


def test_shutdown_delivers_queued_events_then_sends_subscription_end(fake, sink, tmp_path):
    fake.page_delay = 5.0
    with serve_with_events(fake, tmp_path / "state", eventing=EventingSettings(delivery_timeout=1.0)) as server:
        client = WseClient(server.url)
        with_end = client.subscribe(sink.url("pc"), None, end_to=sink.url("pc-end"))
        without_end = client.subscribe(sink.url("pc"), None)
        assert create_job(SoapClient(server.url)).status == 200

        async def stop():
            await server.service.shutdown()
            await server.events.close()

        server.loop.run(stop())
        received = sink.messages(with_end.ref)
        assert [describe(r) for r in received[:-1]] == [
            ("Summary", "Processing", NONE),
            ("JobStatus", "Processing", ("JobScanning",), 0),
            ("JobStatus", "Aborted", ("JobCompletedWithErrors",), 0),
            ("JobEndState", "Aborted", ("JobCompletedWithErrors",), 0),
            ("Summary", "Idle", NONE),
        ]
        for r in received[:-1]:
            validate(r.body)
        ended = subscription_end(received[-1])
        assert (received[-1].name, ended.status) == ("pc-end", wse.SOURCE_SHUTTING_DOWN)
        assert ended.reason
        assert [r.action for r in sink.messages(without_end.ref)] == [r.action for r in received[:-1]]
        assert server.subscriptions() == []
        late = client.subscribe(sink.url("pc"), None)
        assert late.answer.fault_subcode == "wse:EventSourceUnableToProcess"
