"""Bad input gets a SOAP fault and the service keeps serving: never a stack trace, never a hung connection."""

from __future__ import annotations

import socket

import pytest

from drivers.fake import FakeScanner
from firmware import model
from firmware.wire import namespaces as ns
from firmware.wire.envelope import build_envelope
from firmware.wire.xml import serialize
from tests.inprocess import serve
from tests.soap import SoapClient

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body>&lol3;</soap:Body></soap:Envelope>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body>&xxe;</soap:Body></soap:Envelope>"""


@pytest.fixture
def client(tmp_path):
    with serve(FakeScanner(), tmp_path / "state") as (_app, url, _loop):
        yield SoapClient(url, timeout=10)


def valid_request() -> bytes:
    return serialize(build_envelope(ns.scan_action("GetActiveJobs"), model.GetActiveJobsRequest().to_xml()))


def assert_still_serving(client):
    answer = client.post(valid_request())
    assert answer.status == 200


@pytest.mark.parametrize(
    "data, subcode",
    [
        (b"<not xml", "wscn:InvalidArgs"),
        (b"", "wscn:InvalidArgs"),
        (BILLION_LAUGHS, "wscn:InvalidArgs"),
        (EXTERNAL_ENTITY, "wscn:InvalidArgs"),
        (b"<a>not a SOAP envelope</a>", "wscn:InvalidArgs"),
        (serialize(build_envelope("http://example.invalid/Nope", None)), "wsa:ActionNotSupported"),
        (serialize(build_envelope(ns.scan_action("CreateScanJob"), None)), "wscn:InvalidArgs"),
        (
            serialize(build_envelope(ns.scan_action("CreateScanJob"), model.CancelJobRequest(1).to_xml())),
            "wscn:InvalidArgs",
        ),
    ],
    ids=[
        "malformed",
        "empty",
        "entity-bomb",
        "external-entity",
        "not-soap",
        "unknown-action",
        "empty-body",
        "wrong-body",
    ],
)
def test_bad_requests_get_a_sender_fault(client, data, subcode):
    answer = client.post(data)
    assert answer.status == 400
    assert answer.fault_subcode == subcode
    assert b"Traceback" not in answer.data and b"/etc/passwd" not in answer.data
    assert_still_serving(client)


def test_wrong_content_type(client):
    answer = client.post(valid_request(), content_type="text/xml")
    assert answer.status == 415
    assert answer.fault_subcode == "wscn:InvalidArgs"
    assert_still_serving(client)


def test_oversized_body_is_refused_without_reading_it(client):
    answer = client.post(b"<" * 70000)
    assert answer.status == 413 and answer.fault_subcode == "wscn:InvalidArgs"
    assert_still_serving(client)


def test_oversized_chunked_body(client):
    with socket.create_connection((client.host, client.port), timeout=10) as sock:
        sock.sendall(
            f"POST {client.path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/soap+xml\r\n"
            "Transfer-Encoding: chunked\r\n\r\n".encode()
        )
        chunk = b"x" * 8192
        for _ in range(10):
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        sock.sendall(b"0\r\n\r\n")
        reply = b""
        while b"</soap:Envelope>" not in reply:
            data = sock.recv(65536)
            if not data:
                break
            reply += data
    assert reply.startswith(b"HTTP/1.1 413")
    assert b"InvalidArgs" in reply
    assert_still_serving(client)


def test_non_anonymous_reply_to(client):
    envelope = serialize(
        build_envelope(ns.scan_action("GetActiveJobs"), model.GetActiveJobsRequest().to_xml())
    ).decode()
    data = envelope.replace(
        "</soap:Header>",
        "<wsa:ReplyTo><wsa:Address>http://example.invalid/</wsa:Address></wsa:ReplyTo></soap:Header>",
    )
    answer = client.post(data.encode())
    assert answer.fault_subcode == "wsa:InvalidMessageInformationHeader"


def test_fault_envelope_relates_to_the_request(client):
    envelope = build_envelope("http://example.invalid/Nope", None, message_id="urn:uuid:1234")
    answer = client.post(serialize(envelope))
    header = answer.envelope.find(f"{{{ns.SOAP}}}Header")
    assert header.find(f"{{{ns.WSA}}}RelatesTo").text == "urn:uuid:1234"
    assert header.find(f"{{{ns.WSA}}}Action").text == ns.ADDRESSING_FAULT_ACTION
