"""End to end scan to PC: the service runs as a subprocess on libsane's `test` backend; the test
plays the PC (subscribes with ScanDestinations over HTTP, receives ScanAvailableEvent on its own
HTTP endpoint), the local HTTP trigger offers the scan, and the image the PC retrieves with the
ScanIdentifier + DestinationToken equals a direct `scanimage -d test:0` scan pixel for pixel."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from firmware import model
from firmware.model.pushscan import ScanAvailableEvent
from tests.inprocess import mtom_parts
from tests.pushscan.pc import PC, trigger
from tests.sane_env import write_sane_dir
from tests.servers import running_service, wait_for
from tests.test_service import ticket

from .test_airscan import PICTURE, direct_scan

pytestmark = pytest.mark.e2e

BED = 7874  # 200 mm in 1/1000 inch: the region direct_scan scans


def test_http_trigger_push_scan_is_pixel_identical_to_direct_scan(tmp_path, sink):
    sane = write_sane_dir(tmp_path / "sane", **PICTURE)
    with running_service(sane, tmp_path / "state") as service:
        pc = PC("E2EPC", "127.0.0.1", sink, service.url)
        assert pc.subscribe().status == 200
        status, answer = trigger(service.url, "Scan to E2EPC", input_source="Platen")
        assert status == 200, answer
        received = wait_for(lambda: pc.events())[0]
        event = ScanAvailableEvent.from_xml(received.body)
        assert (event.client_context, event.scan_identifier) == ("Scan", answer["scan_identifier"])

        t = ticket(fmt="png", source="Platen", color="Grayscale8", dpi=150, width=BED, height=BED)
        created = pc.create_job(t, event.scan_identifier, pc.tokens["Scan"])
        assert created.status == 200, created.data
        job = model.CreateScanJobResponse.from_xml(created.body)
        image = pc.call("RetrieveImage", model.RetrieveImageRequest(job.job_id, job.job_token, "push").to_xml())
        assert image.status == 200, image.data
        parts = mtom_parts(image.headers["Content-Type"], image.data)
        pushed = Image.open(io.BytesIO(parts[1][1]))

        replay = pc.create_job(t, event.scan_identifier, pc.tokens["Scan"])
        assert replay.fault_subcode == "wscn:ClientErrorInvalidScanIdentifier"

    direct = direct_scan(sane, tmp_path / "direct.png", "--mode", "Gray", "--resolution", "150", "--format=png")
    assert pushed.mode == direct.mode == "L"
    assert pushed.size == direct.size == (1181, 1181)
    assert pushed.tobytes() == direct.tobytes()
