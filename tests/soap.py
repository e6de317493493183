"""A small WS-Scan client for tests: builds requests with the project's model, posts them over
HTTP to a running service, and parses the answers back into the model."""

from __future__ import annotations

import http.client
import urllib.parse
from dataclasses import dataclass

from firmware import model
from firmware.wire import namespaces as ns
from firmware.wire.envelope import BODY, build_envelope
from firmware.wire.xml import Element, find, parse_xml, qname, serialize
from tests.xmlfind import child, first_child


@dataclass
class Answer:
    """An HTTP answer: status, headers, raw body, and the parsed envelope when it is SOAP."""

    status: int
    headers: http.client.HTTPMessage
    data: bytes

    @property
    def envelope(self) -> Element:
        return parse_xml(self.data)

    @property
    def body(self) -> Element:
        """The Body's first child (the response or soap:Fault)."""
        return first_child(find(self.envelope, BODY))

    @property
    def fault_subcode(self) -> str | None:
        """The fault's Subcode value text (e.g. ``wscn:ClientErrorJobIdNotFound``) or None."""
        body = self.body
        if body.tag != qname(ns.SOAP, "Fault"):
            return None
        return child(body, "/".join(qname(ns.SOAP, name) for name in ("Code", "Subcode", "Value"))).text


class SoapClient:
    """Posts SOAP 1.2 requests to one scan service URL, from IP address ``source`` when given
    (e.g. 127.0.0.2, to play a second client on loopback)."""

    def __init__(self, url: str, timeout: float = 30, source: str | None = None) -> None:
        self.url = url
        self.source = source
        parts = urllib.parse.urlsplit(url)
        assert parts.hostname is not None, f"no host in {url}"
        self.host, self.port, self.path = parts.hostname, parts.port, parts.path
        self.timeout = timeout

    def post(self, data: bytes, content_type: str = "application/soap+xml", headers: dict | None = None) -> Answer:
        """POST raw bytes; returns the :class:`Answer`."""
        conn = http.client.HTTPConnection(
            self.host, self.port, timeout=self.timeout, source_address=(self.source, 0) if self.source else None
        )
        try:
            conn.request("POST", self.path, body=data, headers={"Content-Type": content_type, **(headers or {})})
            response = conn.getresponse()
            return Answer(response.status, response.headers, response.read())
        finally:
            conn.close()

    def call(self, operation: str, body: Element | None, action: str | None = None) -> Answer:
        """Send ``body`` with the wsa:Action of ``operation``."""
        envelope = build_envelope(action or ns.scan_action(operation), body, to=self.url)
        return self.post(serialize(envelope))

    def scanner_status(self) -> model.ScannerStatus:
        """GetScannerElements(ScannerStatus)."""
        request = model.GetScannerElementsRequest(
            (model.RequestedName(ns.SCAN, "ScannerStatus", "wscn:ScannerStatus"),)
        )
        answer = self.call("GetScannerElements", request.to_xml())
        assert answer.status == 200, answer.data
        content = model.GetScannerElementsResponse.from_xml(answer.body).elements[0].content
        assert isinstance(content, model.ScannerStatus), content
        return content

    def active_jobs(self) -> tuple[model.JobSummary, ...]:
        """GetActiveJobs: the summaries."""
        answer = self.call("GetActiveJobs", model.GetActiveJobsRequest().to_xml())
        assert answer.status == 200, answer.data
        return model.GetActiveJobsResponse.from_xml(answer.body).summaries

    def job_history(self) -> tuple[model.JobSummary, ...]:
        """GetJobHistory: the summaries, newest first."""
        answer = self.call("GetJobHistory", model.GetJobHistoryRequest().to_xml())
        assert answer.status == 200, answer.data
        return model.GetJobHistoryResponse.from_xml(answer.body).summaries
