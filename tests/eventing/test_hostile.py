"""Hostile subscribers (issue 12): the device cannot be aimed at another host, one client cannot
take every subscription, and one broken subscriber cannot stop or delay another's events."""

from __future__ import annotations

import asyncio
import re
import time

import pytest

from firmware import model
from firmware.eventing import EventingSettings
from firmware.eventing import model as wse
from firmware.eventing.sinks import SinkPolicy, SinkRefused, parse_ip
from firmware.model import events as ev
from firmware.wire.envelope import build_envelope
from firmware.wire.xml import element, serialize, sub
from tests.servers import wait_for
from tests.soap import Answer, SoapClient

from .harness import JOB_EVENTS, WseClient, create_job, serve_with_events

STATUS = (ev.ScannerStatusSummaryEvent.ACTION,)


def deep(levels: int):
    """A reference parameter nested ``levels`` elements deep."""
    root = element("{urn:x}p")
    node = root
    for _ in range(levels - 1):
        node = sub(node, "{urn:x}p")
    node.text = "x"
    return root


def subscribe_with_params(client: WseClient, notify_to: str, params: tuple, levels: int = 0) -> Answer:
    """Subscribe with these reference parameters, or with one nested ``levels`` deep (written as
    text: no recursive serializer can write 2,000 levels)."""
    if levels:
        params = (element("{urn:x}p", "DEEP"),)
    request = wse.Subscribe(notify_to=wse.EndpointReference(notify_to, params), filter=wse.Filter(JOB_EVENTS))
    data = serialize(build_envelope(wse.SUBSCRIBE, request.to_xml(), to=client.url))
    if levels:
        marker = re.search(rb"<(\w+):p>DEEP</\1:p>", data)
        assert marker is not None
        prefix = marker.group(1)
        data = data.replace(marker.group(0), b"<%s:p>" % prefix * levels + b"x" + b"</%s:p>" % prefix * levels)
    return client.client.post(data)


def test_notify_to_or_end_to_naming_another_host_is_refused(server, sink):
    client = WseClient(server.url)  # subscribes from 127.0.0.1
    elsewhere = sink.url("victim", "127.0.0.2")
    for answer in (
        client.subscribe(elsewhere, JOB_EVENTS).answer,
        client.subscribe(sink.url("pc"), JOB_EVENTS, end_to=elsewhere).answer,
        client.subscribe("http://192.0.2.1:5357/x", JOB_EVENTS).answer,  # outside the allow-list too
    ):
        assert (answer.status, answer.fault_subcode) == (400, "wsa:DestinationUnreachable")
    assert server.subscriptions() == []
    create_job(SoapClient(server.url))
    time.sleep(0.3)
    assert sink.messages(delivered_only=False) == []
    # its own address is fine, and so is another PC's when it subscribes itself
    assert client.subscribe(sink.url("pc"), JOB_EVENTS).answer.status == 200
    assert WseClient(server.url, source="127.0.0.2").subscribe(elsewhere, JOB_EVENTS).answer.status == 200


def test_sink_networks_allow_another_address(fake, sink, tmp_path):
    settings = EventingSettings(sink_networks=("127.0.0.2/32",))
    with serve_with_events(fake, tmp_path / "state", eventing=settings) as server:
        client = WseClient(server.url)
        s = client.subscribe(sink.url("second-nic", "127.0.0.2"), JOB_EVENTS)
        assert s.answer.status == 200
        create_job(SoapClient(server.url))
        wait_for(lambda: sink.messages(s.ref), timeout=3)
        refused = client.subscribe(sink.url("third", "127.0.0.3"), JOB_EVENTS).answer
        assert refused.fault_subcode == "wsa:DestinationUnreachable"


def test_one_client_cannot_take_every_subscription(server, sink):
    hog = WseClient(server.url)
    per_client = EventingSettings().max_per_client
    names = [sink.url(f"n{i}") for i in range(per_client)]
    assert all(hog.subscribe(name, STATUS).answer.status == 200 for name in names)
    more = hog.subscribe(f"http://localhost:{sink.port}/more", STATUS).answer
    assert (more.status, more.fault_subcode) == (500, "wse:EventSourceUnableToProcess")
    pc = WseClient(server.url, source="127.0.0.2")
    assert pc.subscribe(sink.url("pc", "127.0.0.2"), STATUS).answer.status == 200


@pytest.mark.parametrize("levels, subcode", [(2000, "wscn:InvalidArgs"), (12, "wse:InvalidMessage")])
def test_deep_reference_parameters_are_refused(server, levels, subcode, sink):
    answer = subscribe_with_params(WseClient(server.url), sink.url("pc"), (), levels)
    assert (answer.status, answer.fault_subcode) == (400, subcode)
    assert server.subscriptions() == []


def test_large_reference_parameters_are_refused(server, sink):
    params = tuple(element("{urn:x}p", "y" * 500) for _ in range(10))
    answer = subscribe_with_params(WseClient(server.url), sink.url("pc"), params)
    assert (answer.status, answer.fault_subcode) == (400, "wse:InvalidMessage")


def test_a_broken_subscriber_does_not_stop_another(server, sink, caplog):
    """The probe's case: a reference parameter that cannot be echoed (2,000 deep, placed behind the
    wire limits) fails at every delivery; the well-behaved subscriber still gets every event."""
    client = WseClient(server.url)
    hostile = client.subscribe(sink.url("hostile"), JOB_EVENTS)
    good = client.subscribe(sink.url("good"), JOB_EVENTS)
    manager = server.events.subscriptions

    def poison():
        subscription = manager.get(hostile.identifier)
        subscription.notify_to = wse.EndpointReference(subscription.notify_to.address, (deep(2000),))

    server.loop.call(poison)
    for _ in range(3):
        assert create_job(SoapClient(server.url)).status == 200
        scan = SoapClient(server.url)
        for job in scan.active_jobs():
            scan.call("CancelJob", model.CancelJobRequest(job.job_id).to_xml())
    wait_for(lambda: len([r for r in sink.messages(good.ref) if r.action == ev.JobEndStateEvent.ACTION]) == 3, 5)
    assert sink.messages(hostile.ref) == []
    assert [s.identifier for s in server.subscriptions()] == [good.identifier]
    assert not [r for r in caplog.records if r.exc_info]


def test_a_hung_subscriber_does_not_delay_another(fake, sink, tmp_path):
    """A subscriber whose sink never answers does not hold back another's event: the good sink
    gets it while the hung POST is still open (the sink holds it 10 s, the service would wait 30 s)."""
    settings = EventingSettings(delivery_timeout=30.0, max_failures=3, retry_delay=0.05)
    sink.behaviour["hung"] = "hang"
    with serve_with_events(fake, tmp_path / "state", eventing=settings) as server:
        client = WseClient(server.url)
        big = tuple(element("{urn:x}p", "y" * 300) for _ in range(10))  # within the bounds: accepted
        assert subscribe_with_params(client, sink.url("hung"), big).status == 200
        good = client.subscribe(sink.url("good"), JOB_EVENTS)
        assert create_job(SoapClient(server.url)).status == 200
        wait_for(lambda: "hung" in sink.arrivals and sink.messages(good.ref), timeout=20.0)
        # delivered in parallel, not behind the hung POST: that one has not been answered yet
        assert not [r for r in sink.received if r.name == "hung"], sink.arrivals
        sink.release_hung()


def test_a_hostname_that_resolves_elsewhere_later_is_not_posted_to():
    asyncio.run(_resolves_elsewhere_later())


async def _resolves_elsewhere_later():
    policy = SinkPolicy()
    addresses = {"pc.lan": ["127.0.0.1"]}

    async def resolve(host, port):
        return [parse_ip(a) for a in addresses[host]]

    policy._resolve = resolve  # DNS that changes cannot exist here
    target = await policy.target("http://pc.lan:5357/x", "127.0.0.1")
    assert (target.url, target.host) == ("http://127.0.0.1:5357/x", "pc.lan:5357")  # pinned, Host kept
    addresses["pc.lan"] = ["198.51.100.7"]
    with pytest.raises(SinkRefused):
        await policy.target("http://pc.lan:5357/x", "127.0.0.1")


@pytest.mark.parametrize(
    "url, source, allowed",
    [
        ("http://[fe80::1%25eth0]:5357/x", "fe80::1%eth0", True),
        ("http://192.168.1.5:5357/x", "::ffff:192.168.1.5", True),
        ("http://192.168.1.6:5357/x", "192.168.1.5", False),
        ("ftp://192.168.1.5/x", "192.168.1.5", False),
        ("http://[::1/x", "::1", False),
        ("http://192.168.1.5:5357/x", None, False),
    ],
)
def test_sink_policy_addresses(url, source, allowed):
    policy = SinkPolicy()
    if allowed:
        asyncio.run(policy.target(url, source))
    else:
        with pytest.raises(SinkRefused):
            asyncio.run(policy.target(url, source))
