"""The WS-Eventing messages and expiries (firmware/eventing/model.py, expiration.py) and the scan
event bodies (firmware/model/events.py): round trips, lenient parsing of foreign XML, and
every event body valid against WDPScan.xsd."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from drivers.fake import DEFAULT_CAPABILITIES, DEFAULT_INFO
from firmware import model
from firmware.eventing import model as wse
from firmware.eventing.expiration import Expiration, format_duration, parse_datetime, parse_duration
from firmware.model import events as ev
from firmware.scan import capabilities as capmap
from firmware.wire.faults import SoapFault
from firmware.wire.xml import parse_xml, serialize
from tests.xsd import validate

T0 = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    "text, seconds, canonical",
    [
        ("PT1H", 3600, "PT1H"),
        ("PT10M", 600, "PT10M"),
        ("PT0.5S", 0.5, "PT0.5S"),
        (" P1DT2H3M4.25S ", 93784.25, "PT26H3M4.25S"),
        ("P1Y", 365 * 86400, "PT8760H"),
        ("P2M", 60 * 86400, "PT1440H"),
        ("-PT5M", -300, "-PT5M"),
        ("PT0S", 0, "PT0S"),
    ],
)
def test_durations(text, seconds, canonical):
    value = parse_duration(text)
    assert value.total_seconds() == seconds
    assert format_duration(value) == canonical
    assert parse_duration(canonical) == value


def test_huge_duration_is_clamped():
    assert parse_duration("P99999999999999999999Y").total_seconds() == 10**10


@pytest.mark.parametrize("text", ["", "P", "PT", "P1DT", "1H", "PT1.S", "PT1H2", "P1H", "PTM", "PT-1H", "P1.5D"])
def test_not_durations(text):
    with pytest.raises(SoapFault) as info:
        parse_duration(text)
    assert info.value.subcode[1] == "InvalidMessage"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2024-05-01T12:30:00Z", T0),
        ("2024-05-01T12:30:00", T0),
        ("2024-05-01T14:30:00+02:00", T0),
        ("2024-05-01T04:30:00.000-08:00", T0),
        ("2024-05-01T12:30:00.1234567Z", T0 + timedelta(microseconds=123456)),
    ],
)
def test_datetimes(text, expected):
    assert parse_datetime(text) == expected


@pytest.mark.parametrize("text", ["2024-13-01T00:00:00Z", "2024-05-01", "yesterday", "2024-05-01T25:00:00Z"])
def test_not_datetimes(text):
    with pytest.raises(SoapFault):
        parse_datetime(text)


def test_expiration_forms():
    duration = Expiration.parse("PT1H")
    assert duration.is_duration and duration.seconds_from(T0) == 3600 and duration.text() == "PT1H"
    at = Expiration.parse("2024-05-01T13:30:00.5Z")
    assert not at.is_duration and at.seconds_from(T0) == 3600.5 and at.text() == "2024-05-01T13:30:00.500Z"
    with pytest.raises(ValueError):
        Expiration()


def test_subscribe_round_trip():
    params = (wse.identifier_header("urn:uuid:R"),)
    request = wse.Subscribe(
        notify_to=wse.EndpointReference("http://pc:5357/a", params),
        end_to=wse.EndpointReference("http://pc:5357/b", params),
        expires=Expiration.parse("PT1H"),
        filter=wse.Filter((ev.JobStatusEvent.ACTION, ev.JobEndStateEvent.ACTION)),
    )
    parsed = wse.Subscribe.from_xml(parse_xml(serialize(request.to_xml())))
    assert parsed.notify_to.address == "http://pc:5357/a" and parsed.notify_to.identifier == "urn:uuid:R"
    assert parsed.end_to.address == "http://pc:5357/b"
    assert (parsed.expires, parsed.filter, parsed.delivery_mode) == (request.expires, request.filter, wse.PUSH_MODE)


def test_subscribe_parsing_is_lenient_and_reads_reference_properties():
    data = b"""<wse:Subscribe xmlns:wse="http://schemas.xmlsoap.org/ws/2004/08/eventing"
        xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:ew="http://www.example.com/warnings">
      <wse:Delivery><wse:NotifyTo><wsa:Address> http://sink/x </wsa:Address>
        <wsa:ReferenceProperties><ew:MySubscription>2597</ew:MySubscription></wsa:ReferenceProperties>
      </wse:NotifyTo><ew:Extra/></wse:Delivery>
      <wse:Filter>weather.storms</wse:Filter>
      <ew:Unknown/>
    </wse:Subscribe>"""
    parsed = wse.Subscribe.from_xml(parse_xml(data))
    assert parsed.notify_to.address == "http://sink/x"
    assert [p.text for p in parsed.notify_to.header_blocks()] == ["2597"]
    assert parsed.filter.dialect == wse.XPATH_DIALECT and parsed.expires is None and parsed.end_to is None
    assert parsed.delivery_mode == wse.PUSH_MODE


@pytest.mark.parametrize(
    "data",
    [
        b'<wse:Subscribe xmlns:wse="http://schemas.xmlsoap.org/ws/2004/08/eventing"/>',
        b'<wse:Subscribe xmlns:wse="http://schemas.xmlsoap.org/ws/2004/08/eventing"><wse:Delivery/></wse:Subscribe>',
        b'<wse:Subscribe xmlns:wse="http://schemas.xmlsoap.org/ws/2004/08/eventing" '
        b'xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing"><wse:Delivery><wse:NotifyTo>'
        b"<wsa:Address/></wse:NotifyTo></wse:Delivery></wse:Subscribe>",
        b'<wse:Renew xmlns:wse="http://schemas.xmlsoap.org/ws/2004/08/eventing"/>',
    ],
)
def test_malformed_subscribe_is_invalid_message(data):
    with pytest.raises(SoapFault) as info:
        wse.Subscribe.from_xml(parse_xml(data))
    assert info.value.subcode[1] == "InvalidMessage"


def test_other_messages_round_trip():
    manager = wse.manager_reference("http://pi:5358/scanners/x", "urn:uuid:S")
    for message in (
        wse.SubscribeResponse(manager, Expiration.parse("PT1H")),
        wse.Renew(Expiration.parse("PT30M")),
        wse.Renew(),
        wse.RenewResponse(Expiration.parse("2024-05-01T12:30:00Z")),
        wse.GetStatus(),
        wse.GetStatusResponse(Expiration.parse("PT5M")),
        wse.Unsubscribe(),
    ):
        parsed = type(message).from_xml(parse_xml(serialize(message.to_xml())))
        if isinstance(message, wse.SubscribeResponse):
            assert parsed.subscription_manager.identifier == "urn:uuid:S" and parsed.expires == message.expires
        else:
            assert parsed == message
    with pytest.raises(SoapFault):
        wse.RenewResponse.from_xml(wse.Renew().to_xml())
    end = wse.SubscriptionEnd(manager, wse.SOURCE_SHUTTING_DOWN, "Going off line.")
    parsed = wse.SubscriptionEnd.from_xml(parse_xml(serialize(end.to_xml())))
    assert (parsed.status, parsed.reason, parsed.subscription_manager.address) == (
        wse.SOURCE_SHUTTING_DOWN,
        "Going off line.",
        "http://pi:5358/scanners/x",
    )


def test_identifier_header():
    header = parse_xml(
        b'<s:Header xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        b'xmlns:wse="http://schemas.xmlsoap.org/ws/2004/08/eventing"><wse:Identifier> urn:uuid:S </wse:Identifier></s:Header>'
    )
    assert wse.identifier_from_header(header) == "urn:uuid:S"
    assert wse.identifier_from_header(None) is None


def _scan_events():
    condition = model.DeviceCondition(id=7, time=T0, name="MediaJam", component="ADF", severity="Critical")
    status = model.JobStatus(
        job_id=12, job_state="Processing", job_state_reasons=("JobScanning",), scans_completed=3, job_created_time=T0
    )
    end = model.JobEndState(
        job_id=12,
        job_completed_state="Aborted",
        job_completed_state_reasons=("JobCompletedWithErrors", "ScannerStopped"),
        job_name="job",
        job_originating_user_name="me",
        scans_completed=3,
        job_completed_time=T0,
    )
    formats = ("png", "jfif")
    return [
        ev.JobStatusEvent(status),
        ev.JobEndStateEvent(end),
        ev.ScannerStatusSummaryEvent("Stopped", ("MediaJam", "CoverOpen")),
        ev.ScannerStatusSummaryEvent("Idle"),
        ev.ScannerStatusConditionEvent(condition),
        ev.ScannerStatusConditionClearedEvent(7, T0 + timedelta(seconds=5)),
        ev.ScannerElementsChangeEvent(configuration=capmap.scanner_configuration(DEFAULT_CAPABILITIES, formats)),
        ev.ScannerElementsChangeEvent(
            description=capmap.scanner_description(DEFAULT_INFO, "Office scanner"),
            configuration=capmap.scanner_configuration(DEFAULT_CAPABILITIES, formats),
            default_ticket=capmap.default_ticket(DEFAULT_CAPABILITIES, "png"),
        ),
        ev.ScannerElementsChangeEvent(),
    ]


@pytest.mark.parametrize("event", _scan_events(), ids=lambda e: type(e).__name__)
def test_scan_event_bodies_are_valid_and_round_trip(event):
    element = event.to_xml()
    validate(element)
    assert type(event).from_xml(parse_xml(serialize(element))) == event
    assert event.ACTION.endswith("/" + type(event).__name__)
