"""The push-scan elements round-trip through their serializer and parser, validate against
WDPScan.xsd, and refuse what the XSD refuses (REFERENCE.md section 3.3)."""

from __future__ import annotations

import pytest

from firmware.eventing import model as wse
from firmware.eventing.expiration import Expiration
from firmware.model.pushscan import (
    DestinationResponse,
    DestinationResponses,
    ScanAvailableEvent,
    ScanDestination,
    ScanDestinations,
)
from firmware.wire.faults import SoapFault
from firmware.wire.xml import element, parse_xml, scan, serialize, sub
from tests.xsd import require_schemas, validate

DESTINATIONS = ScanDestinations(
    (
        ScanDestination("Scan to MYPC", "Scan"),
        ScanDestination("Scan for E-mail to MYPC", "ScanToEmail"),
    )
)
RESPONSES = DestinationResponses((DestinationResponse("Scan", "a" * 32), DestinationResponse("ScanToEmail", "b" * 32)))


@pytest.mark.parametrize(
    "value",
    [
        DESTINATIONS,
        RESPONSES,
        ScanAvailableEvent("Scan", "0123abcd"),
        ScanAvailableEvent("ScanToEmail", "ident-2", "ADF"),
        ScanAvailableEvent("Scan", "ident-3", "Platen"),
    ],
    ids=lambda v: type(v).__name__,
)
def test_round_trip_and_schema(value):
    data = serialize(value.to_xml())
    validate(data)
    assert type(value).from_xml(parse_xml(data)) == value


def test_scan_available_event_children_are_in_xsd_order():
    el = ScanAvailableEvent("Scan", "id", "ADFDuplex").to_xml()
    assert [c.tag for c in el] == [scan("ClientContext"), scan("ScanIdentifier"), scan("InputSource")]
    assert ScanAvailableEvent.ACTION == "http://schemas.microsoft.com/windows/2006/08/wdp/scan/ScanAvailableEvent"


def test_an_input_source_outside_the_schema_does_not_validate():
    """The test is able to fail: the XSD rejects a made-up InputSource."""
    require_schemas()
    with pytest.raises(AssertionError):
        validate(ScanAvailableEvent("Scan", "id", "Tray 7").to_xml())


@pytest.mark.parametrize(
    "build",
    [
        lambda: element(scan("ScanDestinations")),  # no ScanDestination
        lambda: _destination(display="x" * 128),  # ClientDisplayName is String127
        lambda: _destination(context="y" * 256),  # ClientContext is String255
        lambda: _destination(context=None),  # ClientContext missing
        lambda: element(scan("ScanDestination")),  # wrong root
    ],
)
def test_bad_scan_destinations_are_invalid_args(build):
    with pytest.raises(SoapFault) as info:
        ScanDestinations.from_xml(build())
    assert info.value.subcode[1] == "InvalidArgs"


def _destination(display: str | None = "Scan to PC", context: str | None = "Scan"):
    root = element(scan("ScanDestinations"))
    d = sub(root, scan("ScanDestination"))
    if display is not None:
        sub(d, scan("ClientDisplayName"), display)
    if context is not None:
        sub(d, scan("ClientContext"), context)
    return root


def test_subscribe_and_subscribe_response_carry_the_extension_elements():
    """wse:Subscribe keeps wscn:ScanDestinations; wse:SubscribeResponse keeps wscn:DestinationResponses."""
    subscribe = wse.Subscribe(
        notify_to=wse.EndpointReference("http://127.0.0.1:5357/pc"),
        expires=Expiration.parse("PT1H"),
        filter=wse.Filter((ScanAvailableEvent.ACTION,)),
        extensions=(DESTINATIONS.to_xml(),),
    )
    parsed = wse.Subscribe.from_xml(parse_xml(serialize(subscribe.to_xml())))
    assert [ScanDestinations.from_xml(e) for e in parsed.extensions] == [DESTINATIONS]
    assert parsed.filter == subscribe.filter

    response = wse.SubscribeResponse(
        wse.manager_reference("http://127.0.0.1/scanners/x", "urn:uuid:s"),
        Expiration.parse("PT1H"),
        (RESPONSES.to_xml(),),
    )
    el = response.to_xml()
    assert [c.tag for c in el][-1] == scan("DestinationResponses")  # after Expires
    again = wse.SubscribeResponse.from_xml(parse_xml(serialize(el)))
    assert [DestinationResponses.from_xml(e) for e in again.extensions] == [RESPONSES]
    assert wse.Subscribe.from_xml(wse.Subscribe(wse.EndpointReference("http://h/")).to_xml()).extensions == ()
