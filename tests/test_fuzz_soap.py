"""Fuzzing the SOAP operations in-process (issue 12): mutations of valid requests for the eight
WS-Scan operations, Subscribe/Renew/GetStatus/Unsubscribe, WS-Transfer Get and a directed Probe.

Every answer is either a success, or a well-formed SOAP fault; never an HTTP 500 except the
Receiver faults the specifications name for a state of the service (busy, too many subscribers,
an unknown subscription to renew); never ServerErrorInternalError (an unexpected exception);
never an ERROR or a traceback in the log; never an envelope over 32,767 bytes. The fast tier runs
a few dozen examples per operation (seeded: ``derandomize``); the ``slow`` one 5,000 in all.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings

from drivers.fake import FakeScanner
from firmware import model
from firmware.dpws import envelope as wsd
from firmware.dpws.metadata import ACTION_GET
from firmware.eventing import EventingSettings
from firmware.eventing import model as wse
from firmware.eventing.expiration import Expiration
from firmware.wire import namespaces as ns
from firmware.wire.envelope import build_envelope
from firmware.wire.handler import MAX_RESPONSE_BYTES
from firmware.wire.xml import element, find, qname, serialize
from tests.eventing.harness import EventSink, ticket
from tests.fuzzing import Problems, mutated
from tests.inprocess import serve
from tests.soap import Answer, SoapClient

STATE_FAULTS_500 = {
    "wscn:ServerErrorNotAcceptingJobs",
    "wscn:OperationFailed",
    "wse:EventSourceUnableToProcess",
    "wse:UnableToRenew",
}


@dataclasses.dataclass
class Target:
    scan: SoapClient
    device: SoapClient
    seeds: dict[str, tuple[SoapClient, bytes]]


def _seeds(scan: SoapClient, device: SoapClient, sink: EventSink) -> dict[str, tuple[SoapClient, bytes]]:
    created = scan.call("CreateScanJob", model.CreateScanJobRequest(ticket()).to_xml())
    assert created.status == 200, created.data
    job = model.CreateScanJobResponse.from_xml(created.body)
    subscribe = wse.Subscribe(
        notify_to=wse.EndpointReference(sink.url("fuzz"), (wse.identifier_header("urn:uuid:ref"),)),
        end_to=wse.EndpointReference(sink.url("fuzz-end")),
        expires=Expiration.parse("PT1H"),
        filter=wse.Filter((ns.SCAN + "/JobStatusEvent",)),
    )
    answer = scan.post(serialize(build_envelope(wse.SUBSCRIBE, subscribe.to_xml(), to=scan.url)))
    assert answer.status == 200, answer.data
    identifier = wse.SubscribeResponse.from_xml(answer.body).subscription_manager.identifier
    assert identifier is not None
    names = (model.RequestedName(ns.SCAN, "ScannerConfiguration", "wscn:ScannerConfiguration"),)

    def scan_op(operation: str, body) -> tuple[SoapClient, bytes]:
        return scan, serialize(build_envelope(ns.scan_action(operation), body, to=scan.url))

    def eventing(action: str, body) -> tuple[SoapClient, bytes]:
        header = (wse.identifier_header(identifier),)
        return scan, serialize(build_envelope(action, body, to=scan.url, extra_headers=header))

    probe = element(wsd.tag("Probe"))
    probe.append(wsd.qname_list_element(wsd.tag("Types"), wsd.SCANNER_DEVICE_TYPES))
    scopes = element(wsd.tag("Scopes"), "http://example.com/scope", {"MatchBy": wsd.MATCH_BY_RFC2396})
    probe.append(scopes)
    return {
        "GetScannerElements": scan_op("GetScannerElements", model.GetScannerElementsRequest(names).to_xml()),
        "ValidateScanTicket": scan_op("ValidateScanTicket", model.ValidateScanTicketRequest(ticket()).to_xml()),
        "CreateScanJob": scan_op("CreateScanJob", model.CreateScanJobRequest(ticket()).to_xml()),
        "RetrieveImage": scan_op(
            "RetrieveImage", model.RetrieveImageRequest(job.job_id, job.job_token, "fuzz").to_xml()
        ),
        "CancelJob": scan_op("CancelJob", model.CancelJobRequest(job.job_id).to_xml()),
        "GetJobElements": scan_op(
            "GetJobElements",
            model.GetJobElementsRequest(
                job.job_id, (model.RequestedName(ns.SCAN, "JobStatus", "wscn:JobStatus"),)
            ).to_xml(),
        ),
        "GetActiveJobs": scan_op("GetActiveJobs", model.GetActiveJobsRequest().to_xml()),
        "GetJobHistory": scan_op("GetJobHistory", model.GetJobHistoryRequest().to_xml()),
        "Subscribe": (scan, serialize(build_envelope(wse.SUBSCRIBE, subscribe.to_xml(), to=scan.url))),
        "Renew": eventing(wse.RENEW, wse.Renew(Expiration.parse("PT1H")).to_xml()),
        "GetStatus": eventing(wse.GET_STATUS, wse.GetStatus().to_xml()),
        "Unsubscribe": eventing(wse.UNSUBSCRIBE, wse.Unsubscribe().to_xml()),
        "Get": (device, serialize(build_envelope(ACTION_GET, None, to=device.url))),
        "DirectedProbe": (device, serialize(build_envelope(wsd.ACTION_PROBE, probe, to=device.url))),
    }


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    sink = EventSink()
    # caps out of the way: thousands of mutated Subscribes must reach the code, not the cap
    eventing = EventingSettings(max_subscriptions=100_000, max_per_client=100_000, delivery_timeout=0.5)
    try:
        with serve(FakeScanner(), tmp_path_factory.mktemp("fuzz-state"), eventing=eventing) as (app, url, _loop):
            scan = SoapClient(url, timeout=10)
            device = SoapClient(url.split("/scanners/")[0] + app.scanners[0].device.path, timeout=10)
            yield Target(scan, device, _seeds(scan, device, sink))
    finally:
        sink.close()


def check(answer: Answer) -> None:
    """The rules of the module docstring for one answer."""
    content_type = answer.headers.get_content_type()
    if content_type == "multipart/related":
        assert answer.status == 200
        return
    if answer.status == 202:
        assert answer.data == b""
        return
    assert content_type == "application/soap+xml", (answer.status, answer.data[:300])
    assert len(answer.data) <= MAX_RESPONSE_BYTES
    if answer.status == 200:
        return
    assert answer.status in (400, 413, 415, 500), answer.status
    fault = answer.body
    assert fault.tag == qname(ns.SOAP, "Fault"), answer.data[:300]
    code_el = find(fault, qname(ns.SOAP, "Code"))
    assert code_el is not None
    code = find(code_el, qname(ns.SOAP, "Value"))
    assert code is not None and code.text in ("soap:Sender", "soap:Receiver")
    assert answer.fault_subcode
    assert find(fault, qname(ns.SOAP, "Reason")) is not None
    if answer.status == 500:
        assert answer.fault_subcode in STATE_FAULTS_500, (answer.fault_subcode, answer.data[:400])


def fuzz(target: Target, name: str, examples: int) -> int:
    """Send ``examples`` mutations of seed ``name``; returns how many were sent."""
    client, seed = target.seeds[name]
    sent = 0

    @settings(
        max_examples=examples,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )
    @given(data=mutated(seed))
    def run(data: bytes) -> None:
        nonlocal sent
        sent += 1
        check(client.post(data))

    with Problems() as problems:
        run()
    found = [f"{r.name}: {r.getMessage()[:200]}" for r in problems.records if r.name != "tornado.access"]
    assert not found, found
    return sent


OPERATIONS = (
    "GetScannerElements",
    "ValidateScanTicket",
    "CreateScanJob",
    "RetrieveImage",
    "CancelJob",
    "GetJobElements",
    "GetActiveJobs",
    "GetJobHistory",
    "Subscribe",
    "Renew",
    "GetStatus",
    "Unsubscribe",
    "Get",
    "DirectedProbe",
)


@pytest.mark.parametrize("name", OPERATIONS)
def test_mutated_requests_get_an_answer_or_a_fault(target, name):
    assert fuzz(target, name, 25) > 0


@pytest.mark.slow
def test_five_thousand_mutated_requests(target):
    per_operation = -(-5000 // len(OPERATIONS))
    sent = sum(fuzz(target, name, per_operation) for name in OPERATIONS)
    print(f"{sent} fuzzed SOAP requests: 0 HTTP 500 outside the state faults, 0 tracebacks")
    assert sent >= 4500  # hypothesis may stop early on a small input space
