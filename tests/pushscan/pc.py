"""A scan-to-PC client written from the spec (REFERENCE.md section 3.3), for the tests: it
subscribes like Windows (ScanAvailableEvent + ScanDestinations, NotifyTo = its sink endpoint),
from a chosen loopback address, and answers a ScanAvailableEvent with CreateScanJob."""

from __future__ import annotations

import http.client
import json
import urllib.parse
import uuid
from dataclasses import dataclass, field

from firmware import model
from firmware.eventing import model as wse
from firmware.eventing.expiration import Expiration
from firmware.model.pushscan import DestinationResponses, ScanAvailableEvent, ScanDestination, ScanDestinations
from firmware.wire import namespaces as ns
from firmware.wire.envelope import build_envelope
from firmware.wire.xml import Element, scan, serialize
from tests.eventing.harness import EventSink, Received
from tests.soap import Answer
from tests.xsd import validate


def post(url: str, data: bytes, source_ip: str = "127.0.0.1", content_type: str = "application/soap+xml") -> Answer:
    """POST ``data`` to ``url`` from loopback address ``source_ip``."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(
        parts.hostname or "127.0.0.1", parts.port, timeout=30, source_address=(source_ip, 0)
    )
    try:
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        conn.request("POST", path, body=data, headers={"Content-Type": content_type})
        response = conn.getresponse()
        return Answer(response.status, response.headers, response.read())
    finally:
        conn.close()


def trigger(scan_url: str, destination: str | None = None, **extra: str) -> tuple[int, dict]:
    """The local HTTP trigger: POST <scan_url>/push?destination=...; returns (status, JSON)."""
    query = urllib.parse.urlencode({**({"destination": destination} if destination else {}), **extra})
    answer = post(f"{scan_url}/push" + (f"?{query}" if query else ""), b"", content_type="text/plain")
    assert answer.headers.get_content_type() == "application/json"
    return answer.status, json.loads(answer.data)


def windows_destinations(pc: str) -> ScanDestinations:
    """The five destinations Windows registers for PC ``pc``."""
    return ScanDestinations(
        (
            ScanDestination(f"Scan to {pc}", "Scan"),
            ScanDestination(f"Scan for Print to {pc}", "ScanToPrint"),
            ScanDestination(f"Scan for E-mail to {pc}", "ScanToEmail"),
            ScanDestination(f"Scan for Fax to {pc}", "ScanToFax"),
            ScanDestination(f"Scan for OCR to {pc}", "ScanToOCR"),
        )
    )


@dataclass
class PC:
    """One PC: its name, loopback ``address``, its endpoint on the ``sink``, and after
    :meth:`subscribe` its subscription identifier and tokens by ClientContext."""

    name: str
    address: str
    sink: EventSink
    scan_url: str
    identifier: str = ""
    ref: str = ""
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def endpoint(self) -> str:
        return f"pc-{self.name}"

    def call(self, operation: str, body: Element) -> Answer:
        envelope = build_envelope(ns.scan_action(operation), body, to=self.scan_url)
        answer = post(self.scan_url, serialize(envelope), self.address)
        if answer.headers.get_content_type() == "application/soap+xml" and answer.fault_subcode is None:
            validate(answer.body)
        return answer

    def subscribe(
        self, destinations: ScanDestinations | None = None, actions: tuple[str, ...] = (ScanAvailableEvent.ACTION,)
    ) -> Answer:
        """Subscribe as Windows does; records the identifier and the DestinationTokens."""
        self.ref = "urn:uuid:" + str(uuid.uuid4())
        params = (wse.identifier_header(self.ref),)
        request = wse.Subscribe(
            notify_to=wse.EndpointReference(self.sink.url(self.endpoint, self.address), params),
            end_to=wse.EndpointReference(self.sink.url(self.endpoint, self.address), params),
            expires=Expiration.parse("PT1H"),
            filter=wse.Filter(actions),
            extensions=(((destinations or windows_destinations(self.name)).to_xml()),),
        )
        envelope = build_envelope(wse.SUBSCRIBE, request.to_xml(), to=self.scan_url)
        answer = post(self.scan_url, serialize(envelope), self.address)
        if answer.status == 200:
            response = wse.SubscribeResponse.from_xml(answer.body)
            self.identifier = response.subscription_manager.identifier or ""
            self.tokens = {}
            for extension in response.extensions:
                if extension.tag == scan("DestinationResponses"):
                    validate(extension)
                    for r in DestinationResponses.from_xml(extension).responses:
                        self.tokens[r.client_context] = r.destination_token
        return answer

    def unsubscribe(self) -> Answer:
        envelope = build_envelope(
            wse.UNSUBSCRIBE,
            wse.Unsubscribe().to_xml(),
            to=self.scan_url,
            extra_headers=(wse.identifier_header(self.identifier),),
        )
        return post(self.scan_url, serialize(envelope), self.address)

    def events(self) -> list[Received]:
        """The ScanAvailableEvents delivered to this PC's endpoint."""
        return [r for r in self.sink.messages(self.ref) if r.action == ScanAvailableEvent.ACTION]

    def create_job(self, ticket: model.ScanTicket, scan_identifier: str | None, token: str | None) -> Answer:
        return self.call("CreateScanJob", model.CreateScanJobRequest(ticket, scan_identifier, token).to_xml())
