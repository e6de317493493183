"""Every answer stays under the DPWS envelope limit and no request buys a large one (issue 12):
GetJobHistory after 50 long-named jobs, repeated names in GetScannerElements/GetJobElements,
too many names, and an echoed MessageID or Host that is too long."""

from __future__ import annotations

import dataclasses
import logging
import time

import pytest

from drivers.fake import FakeScanner
from firmware import model
from firmware.scan.service import MAX_REQUESTED_NAMES
from firmware.wire import namespaces as ns
from firmware.wire.envelope import build_envelope
from firmware.wire.handler import MAX_RESPONSE_BYTES
from firmware.wire.xml import element, serialize, sub
from tests.eventing.harness import ticket
from tests.inprocess import serve
from tests.soap import SoapClient


@pytest.fixture
def served(tmp_path):
    with serve(FakeScanner(), tmp_path / "state") as (_app, url, _loop):
        yield SoapClient(url, timeout=10)


def long_named_ticket(n: int) -> model.ScanTicket:
    base = ticket()
    description = model.JobDescription(f"{n:03d}" + "j" * 252, "u" * 255, "i" * 255)
    return dataclasses.replace(base, job_description=description)


def test_job_history_after_50_long_named_jobs_fits_in_an_envelope(served, caplog):
    caplog.set_level(logging.INFO, logger="firmware.scan.service")
    for n in range(50):
        created = served.call("CreateScanJob", model.CreateScanJobRequest(long_named_ticket(n)).to_xml())
        assert created.status == 200, created.data
        job = model.CreateScanJobResponse.from_xml(created.body)
        assert served.call("CancelJob", model.CancelJobRequest(job.job_id).to_xml()).status == 200
    answer = served.call("GetJobHistory", model.GetJobHistoryRequest().to_xml())
    assert answer.status == 200
    assert len(answer.data) <= MAX_RESPONSE_BYTES
    summaries = model.GetJobHistoryResponse.from_xml(answer.body).summaries
    names = [s.job_name[:3] for s in summaries]
    assert 10 < len(names) < 50
    assert names == [f"{n:03d}" for n in range(49, 49 - len(names), -1)]  # newest first, the oldest left out
    assert any("left out" in r.getMessage() and r.levelno == logging.INFO for r in caplog.records)


def scanner_elements_request(names: list[str]) -> bytes:
    body = element(f"{{{ns.SCAN}}}GetScannerElementsRequest")
    requested = sub(body, f"{{{ns.SCAN}}}RequestedElements")
    for name in names:
        sub(requested, f"{{{ns.SCAN}}}Name", name)
    return serialize(build_envelope(ns.scan_action("GetScannerElements"), body))


def test_repeated_names_are_answered_once_and_quickly(served):
    data = scanner_elements_request(["wscn:ScannerConfiguration"] * 1237 + ["wscn:ScannerStatus"] * 100)
    assert len(data) > 50_000
    started = time.monotonic()
    answer = served.post(data)
    elapsed = time.monotonic() - started
    assert answer.status == 200
    elements = model.GetScannerElementsResponse.from_xml(answer.body).elements
    assert [e.name for e in elements] == ["wscn:ScannerConfiguration", "wscn:ScannerStatus"]
    assert len(answer.data) < MAX_RESPONSE_BYTES
    assert elapsed < 0.5  # was 4.5 MB in 0.63 s


def test_too_many_distinct_names_are_refused(served):
    names = [f"wscn:Unknown{n}{'x' * 200}" for n in range(MAX_REQUESTED_NAMES + 1)]
    answer = served.post(scanner_elements_request(names))
    assert (answer.status, answer.fault_subcode) == (400, "wscn:InvalidArgs")
    job_elements = element(f"{{{ns.SCAN}}}GetJobElementsRequest")
    sub(job_elements, f"{{{ns.SCAN}}}JobId", "1")
    requested = sub(job_elements, f"{{{ns.SCAN}}}RequestedElements")
    for n in range(MAX_REQUESTED_NAMES + 1):
        sub(requested, f"{{{ns.SCAN}}}Name", f"wscn:Other{n}")
    answer = served.post(serialize(build_envelope(ns.scan_action("GetJobElements"), job_elements)))
    assert answer.status == 400


def test_a_long_message_id_is_refused_not_echoed(served):
    envelope = build_envelope(
        ns.scan_action("GetActiveJobs"), model.GetActiveJobsRequest().to_xml(), message_id="urn:x:" + "m" * 30000
    )
    answer = served.post(serialize(envelope))
    assert (answer.status, answer.fault_subcode) == (400, "wsa:InvalidMessageInformationHeader")
    assert len(answer.data) < 2000


def test_a_long_host_header_is_refused(served):
    request = serialize(build_envelope(ns.scan_action("GetActiveJobs"), model.GetActiveJobsRequest().to_xml()))
    answer = served.post(request, headers={"Host": "h" * 20000})
    assert answer.status == 400
    assert len(answer.data) < 2000
