"""The eight WS-Scan operations over real HTTP against the fake driver; every SOAP answer is
checked against Microsoft's WDPScan.xsd."""

from __future__ import annotations

import io
import time

import pytest
from PIL import Image

from drivers.base import Condition
from drivers.fake import FakeScanner
from firmware import model
from firmware.wire import namespaces as ns
from firmware.wire.envelope import build_envelope
from firmware.wire.xml import serialize
from tests.inprocess import mtom_parts, serve
from tests.servers import wait_for
from tests.soap import SoapClient
from tests.xsd import validate


class CheckedClient(SoapClient):
    """A SoapClient that validates every scan body it receives against the XSD."""

    def call(self, operation, body, action=None):
        answer = super().call(operation, body, action)
        if answer.headers.get_content_type() == "application/soap+xml":
            assert len(answer.data) <= 32767
            if answer.fault_subcode is None:
                validate(answer.body)
        return answer


def ticket(
    fmt="png", source="Platen", color="RGB24", dpi=100, width=2000, height=1000, must_honor=frozenset(), images=None
):
    return model.ScanTicket(
        job_description=model.JobDescription("test job", "tester"),
        document_parameters=model.DocumentParameters(
            format=fmt,
            images_to_transfer=images,
            input_source=source,
            input_size=model.Size(width, height),
            media_front=model.MediaSide(
                scan_region=model.ScanRegion(width=width, height=height, x_offset=0, y_offset=0),
                color_processing=color,
                resolution=model.Resolution(dpi, dpi),
            ),
            must_honor=must_honor,
        ),
    )


@pytest.fixture
def fake():
    return FakeScanner()


@pytest.fixture
def server(fake, tmp_path):
    with serve(fake, tmp_path / "state") as (_app, url, _loop):
        yield CheckedClient(url)


def create(client, t=None):
    answer = client.call("CreateScanJob", model.CreateScanJobRequest(t or ticket()).to_xml())
    assert answer.status == 200, answer.data
    return model.CreateScanJobResponse.from_xml(answer.body)


def retrieve(client, job_id, token, name="IMAGE000.JPG"):
    return client.call("RetrieveImage", model.RetrieveImageRequest(job_id, token, name).to_xml())


def image_of(answer):
    assert answer.status == 200, answer.data
    parts = mtom_parts(answer.headers["Content-Type"], answer.data)
    assert len(parts) == 2
    soap_headers, soap = parts[0]
    assert "application/xop+xml" in soap_headers["Content-Type"]
    assert b"RetrieveImageResponse" in soap and b"xop:Include" in soap
    return Image.open(io.BytesIO(parts[1][1]))


def test_get_scanner_elements_answers_all_four_and_marks_unknown_invalid(server):
    names = [
        model.RequestedName(ns.SCAN, local, "wscn:" + local)
        for local in (
            "ScannerDescription",
            "ScannerConfiguration",
            "ScannerStatus",
            "DefaultScanTicket",
            "NoSuchElement",
        )
    ]
    answer = server.call("GetScannerElements", model.GetScannerElementsRequest(tuple(names)).to_xml())
    assert answer.status == 200
    elements = model.GetScannerElementsResponse.from_xml(answer.body).elements
    assert [e.valid for e in elements] == [True, True, True, True, False]
    config = elements[1].content
    assert config.platen.maximum_size == model.Size(8500, 11693)
    assert set(config.platen.colors) == {"RGB24", "Grayscale8"}
    assert config.adf_supports_duplex
    assert set(config.device_settings.formats) >= {"png", "jfif", "exif", "dib"}
    assert elements[2].content.state == "Idle"


def test_flatbed_job_lifecycle(server):
    started = time.monotonic()
    job = create(server)
    assert time.monotonic() - started < 1.0
    assert 1 <= job.job_id <= 2147483647
    assert job.image_information.front.pixels_per_line == 200
    image = image_of(retrieve(server, job.job_id, job.job_token))
    assert image.size == (200, 100) and image.mode == "RGB"
    again = retrieve(server, job.job_id, job.job_token)
    assert again.fault_subcode == "wscn:ClientErrorNoImagesAvailable"
    assert not server.active_jobs()
    summary = server.job_history()[0]
    assert (summary.job_id, summary.job_state, summary.scans_completed) == (job.job_id, "Completed", 1)
    request = model.GetJobElementsRequest.of(job.job_id, "JobStatus", "ScanTicket", "Documents")
    elements = model.GetJobElementsResponse.from_xml(server.call("GetJobElements", request.to_xml()).body).elements
    assert elements[0].content.job_completed_time is not None
    assert elements[2].content.document_names == ("IMAGE000.JPG",)


@pytest.mark.parametrize("fmt, pil_format", [("png", "PNG"), ("jfif", "JPEG"), ("exif", "JPEG"), ("dib", "BMP")])
def test_formats(server, fmt, pil_format):
    job = create(server, ticket(fmt=fmt, color="Grayscale8"))
    image = image_of(retrieve(server, job.job_id, job.job_token))
    assert image.format == pil_format and image.size == (200, 100)


def test_adf_gives_one_page_per_retrieve_then_no_images(fake, server):
    fake.adf_pages = 3
    job = create(server, ticket(source="ADF", dpi=75))
    for _ in range(3):
        assert image_of(retrieve(server, job.job_id, job.job_token)).size == (150, 75)
    assert retrieve(server, job.job_id, job.job_token).fault_subcode == "wscn:ClientErrorNoImagesAvailable"
    assert server.job_history()[0].scans_completed == 3


def test_empty_feeder_gives_no_images_available(fake, server):
    fake.adf_pages = 0
    # told at CreateScanJob (sane-airscan: "out of documents" at sane_start), not at the first RetrieveImage
    answer = server.call("CreateScanJob", model.CreateScanJobRequest(ticket(source="ADF")).to_xml())
    assert (answer.fault_subcode, answer.status) == ("wscn:ClientErrorNoImagesAvailable", 400)
    assert server.job_history()[0].job_state == "Aborted"
    status = server.scanner_status()
    assert [c.name for c in status.active_conditions] == ["InputTrayEmpty"]


def test_one_job_at_a_time(fake, server):
    fake.page_delay = 0.5
    create(server)
    answer = server.call("CreateScanJob", model.CreateScanJobRequest(ticket()).to_xml())
    assert answer.fault_subcode == "wscn:ServerErrorNotAcceptingJobs"
    assert answer.status == 500
    assert server.scanner_status().state == "Processing"


def test_cancel_job(fake, server):
    fake.page_delay = 2
    job = create(server)
    assert server.active_jobs()[0].job_state == "Processing"
    answer = server.call("CancelJob", model.CancelJobRequest(job.job_id).to_xml())
    assert answer.status == 200
    assert server.job_history()[0].job_state == "Canceled"
    assert retrieve(server, job.job_id, job.job_token).fault_subcode == "wscn:ClientErrorJobCancelled"
    again = server.call("CancelJob", model.CancelJobRequest(job.job_id).to_xml())
    assert again.fault_subcode == "wscn:ClientErrorJobIdNotFound"
    wait_for(lambda: fake.session is None)
    assert create(server).job_id == job.job_id + 1


def test_retrieve_image_faults(server):
    job = create(server)
    assert retrieve(server, job.job_id, "wrong").fault_subcode == "wscn:ClientErrorInvalidJobToken"
    assert retrieve(server, job.job_id + 1000, job.job_token).fault_subcode == "wscn:ClientErrorJobIdNotFound"
    body = serialize(model.RetrieveImageRequest(job.job_id, job.job_token, "x").to_xml()).decode()
    for bad, subcode in [
        (body.replace(f">{job.job_id}<", ">abc<"), "wscn:InvalidArgs"),
        (body.replace(f">{job.job_id}<", ">2147483648<"), "wscn:ClientErrorJobIdNotFound"),
        (body.replace(f"<wscn:JobToken>{job.job_token}</wscn:JobToken>", ""), "wscn:InvalidArgs"),
    ]:
        envelope = serialize(build_envelope(ns.scan_action("RetrieveImage"), None)).decode()
        data = envelope.replace("<soap:Body />", "<soap:Body>" + bad.split("?>", 1)[1] + "</soap:Body>")
        answer = server.post(data.encode())
        assert (answer.status, answer.fault_subcode) == (400, subcode), answer.data


def test_jam_mid_batch_aborts_the_job_and_stops_the_scanner(fake, server):
    fake.fail_with, fake.fail_at_page = Condition.JAMMED, 2
    job = create(server, ticket(source="ADF", dpi=75))
    image_of(retrieve(server, job.job_id, job.job_token))
    assert retrieve(server, job.job_id, job.job_token).fault_subcode == "wscn:ClientErrorJobCancelled"
    summary = server.job_history()[0]
    assert (summary.job_state, summary.job_state_reasons) == ("Aborted", ("JobCompletedWithErrors", "ScannerStopped"))
    status = server.scanner_status()
    assert (status.state, status.state_reasons) == ("Stopped", ("MediaJam",))
    assert status.active_conditions[0].component == "ADF"
    fake.fail_with = None  # the jam is cleared: the next scan succeeds and clears the condition
    job = create(server)
    image_of(retrieve(server, job.job_id, job.job_token))
    status = server.scanner_status()
    assert status.state == "Idle" and status.condition_history[0].name == "MediaJam"


def test_cover_open_at_start(fake, server):
    fake.fail_with, fake.fail_at_page = Condition.COVER_OPEN, 0
    answer = server.call("CreateScanJob", model.CreateScanJobRequest(ticket()).to_xml())
    assert answer.fault_subcode == "wscn:ServerErrorNotAcceptingJobs"
    assert server.scanner_status().state_reasons == ("CoverOpen",)


@pytest.mark.parametrize(
    ("condition", "name", "reason"),
    [(Condition.WARMING_UP, "LampWarning", "LampWarming"), (Condition.CALIBRATING, "Calibrating", "Calibrating")],
)
def test_device_preparing_refuses_jobs_until_ready(fake, server, condition, name, reason):
    fake.fail_with, fake.fail_at_page, fake.fail_jobs = condition, 0, 2
    for _attempt in range(2):  # what a client retrying CreateScanJob sees while the device prepares
        answer = server.call("CreateScanJob", model.CreateScanJobRequest(ticket()).to_xml())
        assert answer.fault_subcode == "wscn:ServerErrorNotAcceptingJobs"
        status = server.scanner_status()
        assert (status.state, status.state_reasons) == ("Processing", (reason,))
        [active] = status.active_conditions
        assert (active.name, active.component, active.severity) == (name, "Platen", "Informational")
    job = create(server)  # ready now
    image_of(retrieve(server, job.job_id, job.job_token))
    status = server.scanner_status()
    assert (status.state, status.state_reasons, status.active_conditions) == ("Idle", ("None",), ())
    assert status.condition_history[0].name == name and status.condition_history[0].clear_time is not None
    assert len(fake.started) == 1  # the refused attempts never opened a session


def test_unplugged_scanner(fake, server):
    fake.page_delay = 0.3
    job = create(server)
    fake.unplug()
    assert retrieve(server, job.job_id, job.job_token).fault_subcode == "wscn:ServerErrorInternalError"
    # Stopped, but not AttentionRequired: sane-airscan would read that as "Device busy"
    status = server.scanner_status()
    assert (status.state, status.state_reasons) == ("Stopped", ("None",))
    assert server.job_history()[0].job_state == "Aborted"


def test_geometry_beyond_the_bed_is_clamped_and_reported(fake, server):
    job = create(server, ticket(width=8500, height=12000, dpi=75))
    final = job.document_final_parameters
    assert final.media_front.scan_region.height == 11693
    assert "ScanRegionHeight" in final.override
    assert job.image_information.front.number_of_lines == 876


def test_a_page_rounded_to_inches_is_the_whole_bed_not_an_override(fake, server):
    # A4 is 11.693 in; push-scan receivers (airscand) and others ask for 11.7 in with MustHonor
    must = frozenset({"ScanRegionWidth", "ScanRegionHeight"})
    answer = server.call(
        "ValidateScanTicket",
        model.ValidateScanTicketRequest(ticket(width=8500, height=11700, must_honor=must)).to_xml(),
    )
    assert model.ValidateScanTicketResponse.from_xml(answer.body).valid
    job = create(server, ticket(width=8500, height=11700, dpi=75, must_honor=must))
    final = job.document_final_parameters
    assert final.media_front.scan_region.height == 11693
    assert "ScanRegionHeight" not in final.override
    assert job.image_information.front.number_of_lines == 876
    image_of(retrieve(server, job.job_id, job.job_token))


def test_must_honor_value_that_cannot_be_met_is_refused(server):
    answer = server.call(
        "CreateScanJob", model.CreateScanJobRequest(ticket(dpi=123, must_honor=frozenset({"Resolution"}))).to_xml()
    )
    assert answer.fault_subcode == "wscn:ClientErrorConflictingRequiredParameters"
    answer = server.call("CreateScanJob", model.CreateScanJobRequest(ticket(fmt="xps")).to_xml())
    assert answer.fault_subcode == "wscn:ClientErrorFormatNotSupported"


def test_validate_scan_ticket(server):
    answer = server.call("ValidateScanTicket", model.ValidateScanTicketRequest(ticket()).to_xml())
    assert model.ValidateScanTicketResponse.from_xml(answer.body).valid
    answer = server.call("ValidateScanTicket", model.ValidateScanTicketRequest(ticket(dpi=123)).to_xml())
    response = model.ValidateScanTicketResponse.from_xml(answer.body)
    assert not response.valid
    assert response.valid_scan_ticket.document_parameters.media_front.resolution.width in (100, 150)


def test_job_times_out_without_retrieve_image(fake, tmp_path):
    with serve(fake, tmp_path / "state", job_timeout=0.5) as (_app, url, _loop):
        client = CheckedClient(url)
        job = create(client)
        wait_for(lambda: not client.active_jobs(), timeout=5)
        summary = client.job_history()[0]
        assert (summary.job_id, summary.job_state, summary.job_state_reasons) == (
            job.job_id,
            "Aborted",
            ("JobTimedOut",),
        )
        assert retrieve(client, job.job_id, job.job_token).fault_subcode == "wscn:ClientErrorJobCancelled"
        wait_for(lambda: fake.session is None)


def test_job_ids_are_not_reused_after_a_restart(tmp_path):
    first = []
    for _ in range(2):
        with serve(FakeScanner(), tmp_path / "state") as (_app, url, _loop):
            client = CheckedClient(url)
            job = create(client)
            client.call("CancelJob", model.CancelJobRequest(job.job_id).to_xml())
            first.append(job.job_id)
    assert first[1] == first[0] + 1


def test_active_jobs_summary_shape(fake, server):
    fake.page_delay = 1
    job = create(server)
    answer = server.call("GetActiveJobs", model.GetActiveJobsRequest().to_xml())
    summary = model.GetActiveJobsResponse.from_xml(answer.body).summaries[0]
    assert (summary.job_id, summary.job_name, summary.job_originating_user_name) == (job.job_id, "test job", "tester")
    assert summary.job_state == "Processing" and summary.job_state_reasons == ("JobScanning",)
    assert summary.scans_completed == 0
