"""Subscribe, Renew, GetStatus and Unsubscribe over real HTTP: the answers' structure, granted
expiries, filters, caps, expiry on time, and the faults REFERENCE.md section 3.2 and DPWS
section 6 name."""

from __future__ import annotations

import re
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from firmware.eventing import EventingSettings
from firmware.eventing import model as wse
from firmware.eventing.expiration import Expiration
from firmware.model import events as ev
from firmware.scan.events import EVENT_ACTIONS, SUBSCRIBABLE_ACTIONS
from firmware.wire import namespaces as ns
from firmware.wire.xml import find, qname, text_of
from firmware.wire.xsdtime import format_datetime
from tests.servers import wait_for
from tests.soap import SoapClient
from tests.xmlfind import child

from .harness import JOB_EVENTS, WseClient, create_job, describe, serve_with_events

UUID_URN = re.compile(r"urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")

WINDOWS_SUBSCRIBE = """<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"
    xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing"
    xmlns:wse="http://schemas.xmlsoap.org/ws/2004/08/eventing"
    xmlns:wscn="http://schemas.microsoft.com/windows/2006/08/wdp/scan">
  <soap:Header>
    <wsa:To>{to}</wsa:To>
    <wsa:Action>http://schemas.xmlsoap.org/ws/2004/08/eventing/Subscribe</wsa:Action>
    <wsa:MessageID>urn:uuid:6f2a8a7e-1d3b-4c55-9a52-0c7f2b9e4d11</wsa:MessageID>
    <wsa:ReplyTo><wsa:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</wsa:Address></wsa:ReplyTo>
    <wsa:From><wsa:Address>urn:uuid:0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f</wsa:Address></wsa:From>
  </soap:Header>
  <soap:Body>
    <wse:Subscribe>
      <wse:EndTo>
        <wsa:Address>{sink}</wsa:Address>
        <wsa:ReferenceParameters><wse:Identifier>urn:uuid:a1b2c3d4-0000-4000-8000-000000000001</wse:Identifier></wsa:ReferenceParameters>
      </wse:EndTo>
      <wse:Delivery Mode="http://schemas.xmlsoap.org/ws/2004/08/eventing/DeliveryModes/Push">
        <wse:NotifyTo>
          <wsa:Address>{sink}</wsa:Address>
          <wsa:ReferenceParameters><wse:Identifier>urn:uuid:a1b2c3d4-0000-4000-8000-000000000001</wse:Identifier></wsa:ReferenceParameters>
        </wse:NotifyTo>
      </wse:Delivery>
      <wse:Expires>PT1H</wse:Expires>
      <wse:Filter Dialect="http://schemas.xmlsoap.org/ws/2006/02/devprof/Action">
        http://schemas.microsoft.com/windows/2006/08/wdp/scan/ScannerStatusSummaryEvent
        http://schemas.microsoft.com/windows/2006/08/wdp/scan/ScanAvailableEvent
      </wse:Filter>
      <wscn:ScanDestinations>
        <wscn:ScanDestination>
          <wscn:ClientDisplayName>Scan to MYPC</wscn:ClientDisplayName>
          <wscn:ClientContext>Scan</wscn:ClientContext>
        </wscn:ScanDestination>
      </wscn:ScanDestinations>
    </wse:Subscribe>
  </soap:Body>
</soap:Envelope>
"""


def header_text(answer, local: str, namespace: str = ns.WSA) -> str | None:
    return text_of(find(child(answer.envelope, qname(ns.SOAP, "Header")), qname(namespace, local)))


def test_windows_subscribe_gets_a_subscribe_response_per_the_reference(server, sink):
    data = WINDOWS_SUBSCRIBE.format(to=server.url, sink=sink.url("pc")).encode()
    answer = SoapClient(server.url).post(data)
    assert answer.status == 200, answer.data
    assert header_text(answer, "Action") == wse.SUBSCRIBE_RESPONSE
    assert header_text(answer, "RelatesTo") == "urn:uuid:6f2a8a7e-1d3b-4c55-9a52-0c7f2b9e4d11"
    assert header_text(answer, "To") == ns.ANONYMOUS
    body = answer.body
    assert body.tag == qname(ns.WSE, "SubscribeResponse")
    assert [child.tag for child in body] == [qname(ns.WSE, "SubscriptionManager"), qname(ns.WSE, "Expires")]
    manager = find(body, qname(ns.WSE, "SubscriptionManager"))
    assert [child.tag for child in manager] == [qname(ns.WSA, "Address"), qname(ns.WSA, "ReferenceParameters")]
    assert text_of(find(manager, qname(ns.WSA, "Address"))) == server.url
    identifier = text_of(find(find(manager, qname(ns.WSA, "ReferenceParameters")), qname(ns.WSE, "Identifier")))
    assert UUID_URN.fullmatch(identifier)
    assert text_of(find(body, qname(ns.WSE, "Expires"))) == "PT1H"
    (subscription,) = server.subscriptions()
    assert subscription.identifier == identifier
    assert subscription.actions == {ev.ScannerStatusSummaryEvent.ACTION, ns.scan_action("ScanAvailableEvent")}

    create_job(SoapClient(server.url))  # Idle -> Processing reaches this subscriber with its own Identifier
    wait_for(lambda: sink.messages("urn:uuid:a1b2c3d4-0000-4000-8000-000000000001"))
    first = sink.messages("urn:uuid:a1b2c3d4-0000-4000-8000-000000000001")[0]
    assert describe(first) == ("Summary", "Processing", ("None",))


def test_renew_get_status_unsubscribe(server, sink):
    client = WseClient(server.url)
    s = client.subscribe(sink.url("pc"), JOB_EVENTS, expires="PT10M")
    assert s.response.expires.text() == "PT10M"

    renewed = client.renew(s.identifier, "PT30M")
    assert renewed.status == 200 and header_text(renewed, "Action") == wse.RENEW_RESPONSE
    assert wse.RenewResponse.from_xml(renewed.body).expires.text() == "PT30M"

    status = client.get_status(s.identifier)
    assert status.status == 200 and header_text(status, "Action") == wse.GET_STATUS_RESPONSE
    remaining = wse.GetStatusResponse.from_xml(status.body).expires.duration
    assert timedelta(minutes=29) < remaining <= timedelta(minutes=30)

    gone = client.unsubscribe(s.identifier)
    assert gone.status == 200 and header_text(gone, "Action") == wse.UNSUBSCRIBE_RESPONSE
    assert len(find(gone.envelope, qname(ns.SOAP, "Body"))) == 0
    assert server.subscriptions() == []
    assert client.get_status(s.identifier).fault_subcode == "wsa:DestinationUnreachable"
    again = client.renew(s.identifier)
    assert (again.status, again.fault_subcode) == (500, "wse:UnableToRenew")
    assert client.unsubscribe(s.identifier).fault_subcode == "wsa:DestinationUnreachable"


@pytest.mark.parametrize(
    "requested, granted",
    [
        (None, "PT1H"),  # indefinite: the cap
        ("PT10H", "PT1H"),  # capped
        ("PT5M", "PT5M"),
        ("P1DT2H", "PT1H"),
    ],
)
def test_granted_duration(server, sink, requested, granted):
    s = WseClient(server.url).subscribe(sink.url("pc"), JOB_EVENTS, expires=requested)
    assert s.answer.status == 200, s.answer.data
    assert s.response.expires.text() == granted


def test_expires_as_a_time_is_granted_as_a_time(server, sink):
    client = WseClient(server.url)
    wanted = datetime.now(UTC) + timedelta(minutes=20)
    s = client.subscribe(sink.url("pc"), JOB_EVENTS, expires=format_datetime(wanted))
    assert not s.response.expires.is_duration
    assert abs(s.response.expires.time - wanted) < timedelta(seconds=2)
    far = datetime.now(UTC) + timedelta(days=3)
    renewed = wse.RenewResponse.from_xml(client.renew(s.identifier, format_datetime(far)).body).expires
    assert abs(renewed.time - (datetime.now(UTC) + timedelta(hours=1))) < timedelta(seconds=5)
    status = wse.GetStatusResponse.from_xml(client.get_status(s.identifier).body).expires
    assert abs(status.time - renewed.time) < timedelta(seconds=2)


@pytest.mark.parametrize("expires", ["PT0S", "-PT5M", "2001-01-01T00:00:00Z"])
def test_invalid_expiration_time(server, sink, expires):
    s = WseClient(server.url).subscribe(sink.url("pc"), JOB_EVENTS, expires=expires)
    assert (s.answer.status, s.answer.fault_subcode) == (400, "wse:InvalidExpirationTime")
    assert server.subscriptions() == []


def test_renew_with_a_past_time_is_refused_and_keeps_the_subscription(server, sink):
    client = WseClient(server.url)
    s = client.subscribe(sink.url("pc"), JOB_EVENTS)
    assert client.renew(s.identifier, "2001-01-01T00:00:00Z").fault_subcode == "wse:InvalidExpirationTime"
    assert client.get_status(s.identifier).status == 200


def test_filter_selects_by_rfc2396_prefix(server, sink):
    client = WseClient(server.url)
    everything = client.subscribe(sink.url("pc"), (ns.SCAN + "/",))
    assert everything.answer.status == 200
    upper_host = client.subscribe(sink.url("pc"), ("http://SCHEMAS.microsoft.com/windows/2006/08/wdp/scan",))
    assert upper_host.answer.status == 200
    mixed = client.subscribe(
        sink.url("pc"), (ev.JobEndStateEvent.ACTION, "http://example.com/NotAnEvent", "http://[::1")
    )
    assert mixed.answer.status == 200
    actions = {s.identifier: s.actions for s in server.subscriptions()}
    assert actions[everything.identifier] == set(SUBSCRIBABLE_ACTIONS) == actions[upper_host.identifier]
    assert actions[mixed.identifier] == {ev.JobEndStateEvent.ACTION}
    no_filter = client.subscribe(sink.url("pc"), None)
    assert {s.identifier: s.actions for s in server.subscriptions()}[no_filter.identifier] >= set(EVENT_ACTIONS)


@pytest.mark.parametrize(
    "actions",
    [
        ("http://example.com/NotAnEvent",),
        (ns.scan_action("JobStatus"),),  # a segment prefix, not a string prefix
        (ns.scan_action("CreateScanJob"),),  # an operation, not an event
        (),
    ],
)
def test_filter_naming_no_event_is_refused(server, sink, actions):
    s = WseClient(server.url).subscribe(sink.url("pc"), actions)
    assert (s.answer.status, s.answer.fault_subcode) == (400, "wsdp:FilterActionNotSupported")
    assert server.subscriptions() == []


def test_other_filter_dialect_is_refused(server, sink):
    s = WseClient(server.url).subscribe(sink.url("pc"), JOB_EVENTS, dialect=wse.XPATH_DIALECT)
    assert (s.answer.status, s.answer.fault_subcode) == (400, "wse:FilteringRequestedUnavailable")
    detail = find(find(s.answer.body, qname(ns.SOAP, "Detail")), qname(ns.WSE, "SupportedDialect"))
    assert text_of(detail) == wse.ACTION_DIALECT


def test_other_delivery_mode_is_refused(server, sink):
    s = WseClient(server.url).subscribe(sink.url("pc"), JOB_EVENTS, mode=ns.WSE + "/DeliveryModes/Pull")
    assert (s.answer.status, s.answer.fault_subcode) == (400, "wse:DeliveryModeRequestedUnavailable")


@pytest.mark.parametrize(
    "notify_to, end_to",
    [
        ("urn:uuid:3726983d-02de-4d41-8207-d028ae92ce3d", None),
        ("http://:5357/x", None),
        ("pc", "mailto:someone@example.com"),
    ],
)
def test_unusable_addresses_are_refused(server, sink, notify_to, end_to):
    notify = sink.url(notify_to) if notify_to == "pc" else notify_to
    s = WseClient(server.url).subscribe(notify, JOB_EVENTS, end_to=end_to)
    assert (s.answer.status, s.answer.fault_subcode) == (400, "wsa:DestinationUnreachable")


def test_unknown_or_missing_identifier(server, sink):
    client = WseClient(server.url)
    client.subscribe(sink.url("pc"), JOB_EVENTS)
    unknown = "urn:uuid:" + str(uuid.uuid4())
    assert client.renew(unknown).fault_subcode == "wse:UnableToRenew"
    assert client.get_status(unknown).fault_subcode == "wsa:DestinationUnreachable"
    assert client.unsubscribe(unknown).fault_subcode == "wsa:DestinationUnreachable"
    missing = client.send(wse.UNSUBSCRIBE, wse.Unsubscribe().to_xml())
    assert missing.fault_subcode == "wsa:DestinationUnreachable"
    assert len(server.subscriptions()) == 1


def test_malformed_subscribe(server, sink):
    client = WseClient(server.url)
    no_delivery = client.send(wse.SUBSCRIBE, wse.Subscribe(None, delivery_mode=wse.PUSH_MODE).to_xml())
    assert (no_delivery.status, no_delivery.fault_subcode) == (400, "wse:InvalidMessage")
    body = wse.Subscribe(wse.EndpointReference(sink.url("pc")), expires=Expiration.parse("PT1H")).to_xml()
    find(body, qname(ns.WSE, "Expires")).text = "one hour"
    assert client.send(wse.SUBSCRIBE, body).fault_subcode == "wse:InvalidMessage"
    assert client.send(wse.SUBSCRIBE, None).fault_subcode == "wse:InvalidMessage"


def test_expired_subscription_is_removed_on_time(server, sink):
    client = WseClient(server.url)
    s = client.subscribe(sink.url("pc"), None, expires="PT0.3S", end_to=sink.url("end"))
    assert s.response.expires.text() == "PT0.3S"
    started = time.monotonic()
    wait_for(lambda: not server.subscriptions(), timeout=3)
    assert 0.25 < time.monotonic() - started < 1.5
    assert client.get_status(s.identifier).fault_subcode == "wsa:DestinationUnreachable"
    create_job(SoapClient(server.url))
    time.sleep(0.2)
    assert sink.messages(delivered_only=False) == []  # no events, and no SubscriptionEnd for an expiry


def test_subscription_caps(fake, sink, tmp_path):
    settings = EventingSettings(max_subscriptions=3, max_per_client=2)
    with serve_with_events(fake, tmp_path / "state", eventing=settings) as server:
        client = WseClient(server.url)
        for _ in range(2):
            assert client.subscribe(sink.url("pc"), JOB_EVENTS).answer.status == 200
        third = client.subscribe(sink.url("pc"), JOB_EVENTS).answer
        assert (third.status, third.fault_subcode) == (500, "wse:EventSourceUnableToProcess")
        # the cap counts the subscriber, not the NotifyTo host: another name for the same PC is no way round it
        renamed = client.subscribe(f"http://localhost:{sink.port}/other", JOB_EVENTS).answer
        assert (renamed.status, renamed.fault_subcode) == (500, "wse:EventSourceUnableToProcess")
        second_pc = WseClient(server.url, source="127.0.0.2")
        assert second_pc.subscribe(f"http://127.0.0.2:{sink.port}/other", JOB_EVENTS).answer.status == 200
        third_pc = WseClient(server.url, source="127.0.0.3")
        full = third_pc.subscribe(f"http://127.0.0.3:{sink.port}/third", JOB_EVENTS).answer
        assert (full.status, full.fault_subcode) == (500, "wse:EventSourceUnableToProcess")
        assert len(server.subscriptions()) == 3
        first = server.subscriptions()[0]
        assert client.unsubscribe(first.identifier).status == 200
        assert client.subscribe(sink.url("pc"), JOB_EVENTS).answer.status == 200
