"""Device metadata (WS-Transfer GetResponse body), parsed back with defusedxml (REFERENCE.md 4.4)."""

from __future__ import annotations

import pytest

from firmware.dpws import metadata as metadata_module
from firmware.dpws.envelope import MAX_ENVELOPE_SIZE
from firmware.dpws.identity import load_identity
from firmware.dpws.metadata import (
    ACTION_GET_RESPONSE,
    DeviceMetadata,
    Metadata,
    MetadataError,
    default_hardware_id,
    get_response_body,
)
from firmware.wire import namespaces as ns
from firmware.wire.envelope import build_envelope
from firmware.wire.xml import find, find_all, parse_with_prefixes, qname, resolve_qname, serialize, text_of

SERVICE_URL = "http://198.18.7.2:5358/WSDScanner"
WSDP, MEX, WSA, PNPX, XML = ns.WSDP, ns.MEX, ns.WSA, ns.PNPX, ns.XML


def q(namespace: str, local: str) -> str:
    return qname(namespace, local)


@pytest.fixture
def identity(tmp_path):
    return load_identity(tmp_path, "test:0")


@pytest.fixture
def device_metadata():
    return DeviceMetadata(
        manufacturer="LabCorp",
        model="LabScan 1",
        friendly_name="Office scanner",
        firmware_version="1.2.3",
        serial_number="SN0001",
        presentation_url="http://198.18.7.2:5358/",
        hardware_id="VEN_0103&DEV_069D",
    )


def parse_back(identity, device_metadata, url=SERVICE_URL):
    """Serialize the full GetResponse envelope and parse it with defusedxml, as a client would."""
    body = get_response_body(identity, device_metadata, url)
    envelope = build_envelope(ACTION_GET_RESPONSE, body, relates_to="urn:uuid:x")
    data = serialize(envelope)
    root, prefixes = parse_with_prefixes(data)
    body = find(root, q(ns.SOAP, "Body"))
    return data, list(body), prefixes


def test_get_response_body_has_the_dpws_structure(identity, device_metadata):
    data, body_children, prefixes = parse_back(identity, device_metadata)
    assert len(data) < MAX_ENVELOPE_SIZE
    assert [child.tag for child in body_children] == [q(MEX, "Metadata")]  # R2044: only wsx:Metadata
    sections = list(find_all(body_children[0], q(MEX, "MetadataSection")))
    assert [s.get("Dialect") for s in sections] == [
        "http://schemas.xmlsoap.org/ws/2006/02/devprof/ThisModel",
        "http://schemas.xmlsoap.org/ws/2006/02/devprof/ThisDevice",
        "http://schemas.xmlsoap.org/ws/2006/02/devprof/Relationship",
    ]
    this_model, this_device, relationship = (next(iter(s)) for s in sections)

    assert [c.tag for c in this_model] == [
        q(WSDP, "Manufacturer"),
        q(WSDP, "ModelName"),
        q(WSDP, "ModelNumber"),
        q(WSDP, "PresentationUrl"),
        q(PNPX, "DeviceCategory"),
    ]
    assert text_of(find(this_model, q(WSDP, "ModelNumber"))) == "LabScan 1"  # defaults to the model
    assert text_of(find(this_model, q(WSDP, "Manufacturer"))) == "LabCorp"
    assert find(this_model, q(WSDP, "Manufacturer")).get(q(XML, "lang")) == "en"
    assert text_of(find(this_model, q(WSDP, "ModelName"))) == "LabScan 1"
    assert text_of(find(this_model, q(PNPX, "DeviceCategory"))) == "Scanners"

    assert [c.tag for c in this_device] == [
        q(WSDP, "FriendlyName"),
        q(WSDP, "FirmwareVersion"),
        q(WSDP, "SerialNumber"),
        q(ns.DF, "ContainerId"),
    ]
    assert text_of(find(this_device, q(WSDP, "FriendlyName"))) == "Office scanner"
    assert text_of(find(this_device, q(ns.DF, "ContainerId"))) == identity.container_id

    assert relationship.tag == q(WSDP, "Relationship")
    assert relationship.get("Type") == "http://schemas.xmlsoap.org/ws/2006/02/devprof/host"
    host, hosted = list(relationship)
    assert host.tag == q(WSDP, "Host") and hosted.tag == q(WSDP, "Hosted")

    def types_of(el):
        return {resolve_qname(word, prefixes) for word in text_of(find(el, q(WSDP, "Types"))).split()}

    def address_of(el):
        return text_of(find(find(el, q(WSA, "EndpointReference")), q(WSA, "Address")))

    assert address_of(host) == identity.endpoint
    assert types_of(host) == {(WSDP, "Device"), (ns.SCAN, "ScanDeviceType")}
    assert text_of(find(host, q(WSDP, "ServiceId"))) == identity.endpoint

    assert [c.tag for c in hosted] == [
        q(WSA, "EndpointReference"),
        q(WSDP, "Types"),
        q(WSDP, "ServiceId"),
        q(PNPX, "HardwareId"),
        q(PNPX, "CompatibleId"),
    ]
    assert address_of(hosted) == SERVICE_URL
    assert types_of(hosted) == {(ns.SCAN, "ScannerServiceType")}
    assert text_of(find(hosted, q(WSDP, "ServiceId"))) == identity.service_id
    assert text_of(find(hosted, q(PNPX, "HardwareId"))) == "VEN_0103&DEV_069D"
    assert text_of(find(hosted, q(PNPX, "CompatibleId"))) == (
        "http://schemas.microsoft.com/windows/2006/08/wdp/scan/ScannerServiceType"
    )


def test_qname_prefixes_are_declared_where_the_types_are(identity, device_metadata):
    """ElementTree declares only namespaces of element names; the Types texts need wscn declared too."""
    data, _, _ = parse_back(identity, device_metadata)
    assert b'xmlns:wscn="http://schemas.microsoft.com/windows/2006/08/wdp/scan"' in data
    assert b"2006/01/wdp/scan" not in data


def test_metadata_round_trips_through_from_xml(identity, device_metadata):
    _, body_children, prefixes = parse_back(identity, device_metadata)
    parsed = Metadata.from_xml(body_children[0], prefixes)
    assert parsed == metadata_module.build_metadata(identity, device_metadata, [SERVICE_URL])
    assert parsed.this_device.serial_number == "SN0001"
    assert parsed.relationship.hosted[0].service_id == identity.service_id


def test_several_service_urls_give_several_endpoint_references(identity, device_metadata):
    urls = ["http://198.18.7.2:5358/WSDScanner", "http://[fd00:7::2]:5358/WSDScanner"]
    _, body_children, prefixes = parse_back(identity, device_metadata, urls)
    assert Metadata.from_xml(body_children[0], prefixes).relationship.hosted[0].addresses == tuple(urls)


def test_defaults_friendly_name_and_hardware_id(monkeypatch):
    monkeypatch.setattr(metadata_module.socket, "gethostname", lambda: "raspberrypi.home.arpa")
    meta = DeviceMetadata(manufacturer="Canon", model="CanoScan LiDE 220")
    assert meta.friendly_name == "CanoScan LiDE 220 on raspberrypi"
    assert meta.hardware_id == "VEN_CANON&DEV_CANOSCANLIDE220"
    assert default_hardware_id("", "!!") == "VEN_UNKNOWN&DEV_UNKNOWN"


def test_long_fields_are_trimmed_and_long_uris_refused(identity):
    meta = DeviceMetadata(manufacturer="M" * 400, model="X", friendly_name="F" * 400)
    _, body_children, prefixes = parse_back(identity, meta)
    parsed = Metadata.from_xml(body_children[0], prefixes)
    assert len(parsed.this_model.manufacturer) == 255
    assert len(parsed.this_device.friendly_name) == 255
    with pytest.raises(MetadataError):
        get_response_body(identity, meta, "http://h/" + "p" * 2048)


def test_digest_follows_the_content(device_metadata):
    same = DeviceMetadata(**device_metadata.__dict__)
    assert device_metadata.digest(["/WSDScanner"]) == same.digest(["/WSDScanner"])
    renamed = DeviceMetadata(**{**device_metadata.__dict__, "friendly_name": "Other"})
    assert renamed.digest(["/WSDScanner"]) != device_metadata.digest(["/WSDScanner"])
    assert device_metadata.digest(["/Scan2"]) != device_metadata.digest(["/WSDScanner"])


def test_from_xml_rejects_missing_sections(identity, device_metadata):
    body = get_response_body(identity, device_metadata, SERVICE_URL)
    body.remove(list(body)[1])  # drop ThisDevice
    root, prefixes = parse_with_prefixes(serialize(body))
    with pytest.raises(MetadataError):
        Metadata.from_xml(root, prefixes)
