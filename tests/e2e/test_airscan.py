"""End to end: sane-airscan (through `scanimage`) scans through the running service from libsane's
`test` backend, and the result equals a direct `scanimage -d test` scan."""

from __future__ import annotations

import re
import signal
import time

import pytest
from PIL import Image

from drivers.base import Condition
from drivers.fake import FakeScanner
from tests.airscan import DEVICE, airscan_dir, scanimage, start_scanimage
from tests.inprocess import serve
from tests.sane_env import write_sane_dir
from tests.servers import running_service, wait_for
from tests.soap import SoapClient

pytestmark = pytest.mark.e2e

PICTURE = {"test-picture": '"Color pattern"'}


def direct_scan(sane_dir, out, *args):
    """A direct `scanimage -d test:0` of the whole 200 x 200 mm bed."""
    result = scanimage(sane_dir, "-d", "test:0", "-l", "0", "-t", "0", "-x", "200", "-y", "200", *args, "-o", str(out))
    assert result.returncode == 0, result.stderr
    return Image.open(out)


@pytest.fixture
def flatbed(tmp_path):
    """A service on the `test` backend drawing the colour pattern, and an airscan client for it."""
    sane = write_sane_dir(tmp_path / "sane", **PICTURE)
    with running_service(sane, tmp_path / "state") as service:
        yield sane, airscan_dir(tmp_path / "client", service.url, trace=True), service


@pytest.mark.parametrize(
    "mode, dpi, pil_mode, size",
    [("Color", 300, "RGB", 2362), ("Gray", 150, "L", 1181)],
)
def test_flatbed_scan_is_pixel_identical_to_direct_scan(tmp_path, flatbed, mode, dpi, pil_mode, size):
    sane, client, _service = flatbed
    out = tmp_path / "wsd.png"
    result = scanimage(client, "-d", DEVICE, "--mode", mode, "--resolution", str(dpi), "--format=png", "-o", str(out))
    assert result.returncode == 0, result.stderr
    received = Image.open(out)
    direct = direct_scan(sane, tmp_path / "direct.png", "--mode", mode, "--resolution", str(dpi), "--format=png")
    assert received.mode == direct.mode == pil_mode
    assert received.size == direct.size == (size, size)
    assert received.tobytes() == direct.tobytes()
    # airscan pads or crops whatever it receives to the size it expects: check what it really received
    trace = "\n".join(p.read_text(errors="replace") for p in (client / "trace").glob("*.log"))
    assert re.search(rf"image size:\s+{size}x{size}\n", trace)


def test_adf_batch_gives_ten_pages_then_out_of_documents(tmp_path):
    sane = write_sane_dir(tmp_path / "sane", **PICTURE)
    with running_service(sane, tmp_path / "state") as service:
        client = airscan_dir(tmp_path / "client", service.url)
        pages = tmp_path / "pages"
        pages.mkdir()
        result = scanimage(
            client,
            "-d",
            DEVICE,
            "--source",
            "ADF",
            "--resolution",
            "75",
            "--format=png",
            f"--batch={pages}/p%d.png",
        )
        assert "Document feeder out of documents" in result.stderr, result.stderr + service.log_text()
        files = sorted(pages.glob("p*.png"))
        assert len(files) == 10, result.stderr
        for file in files:
            assert Image.open(file).size in ((590, 590), (591, 591))  # airscan pads 590.55 px to 591


@pytest.mark.parametrize(
    "status, message, exit_code",
    [
        ("SANE_STATUS_JAMMED", "Document feeder jammed", 6),
        ("SANE_STATUS_COVER_OPEN", "Scanner cover is open", 8),
        ("SANE_STATUS_NO_DOCS", "Document feeder out of documents", 7),
    ],
)
def test_physical_condition_reaches_scanimage_and_the_next_scan_succeeds(tmp_path, status, message, exit_code):
    """The condition comes from the `test` backend's read-return-value option, set through the
    scanner's sane_options; the user clearing it (the jam, the cover, an empty feeder refilled)
    is that option set back in config.toml and a reload (SIGHUP), with the service left running."""
    sane = write_sane_dir(tmp_path / "sane", **PICTURE)
    config = tmp_path / "config.toml"
    config.write_text(f'[scanners."test:0"]\nsane_options = {{ read-return-value = "{status}" }}\n')
    with running_service(sane, tmp_path / "state", "--config", str(config)) as service:
        client = airscan_dir(tmp_path / "client", service.url)
        source = ("--source", "ADF") if status == "SANE_STATUS_NO_DOCS" else ()
        failed = scanimage(
            client, "-d", DEVICE, *source, "--resolution", "75", "--format=png", "-o", str(tmp_path / "x.png")
        )
        assert failed.returncode == exit_code, failed.stderr + service.log_text()
        assert message in failed.stderr
        soap = SoapClient(service.url)
        history = soap.job_history()
        assert history[0].job_state == "Aborted"
        if status != "SANE_STATUS_NO_DOCS":
            assert soap.scanner_status().state == "Stopped"

        config.write_text('[scanners."test:0"]\nsane_options = { read-return-value = "Default" }\n')
        service.process.send_signal(signal.SIGHUP)
        wait_for(lambda: "configuration reloaded" in service.log_text(), timeout=30)
        again = scanimage(
            client, "-d", DEVICE, *source, "--resolution", "75", "--format=png", "-o", str(tmp_path / "y.png")
        )
        assert again.returncode == 0, again.stderr + service.log_text()
        assert Image.open(tmp_path / "y.png").size in ((590, 590), (591, 591))  # airscan pads 590.55 px to 591
        status_now = soap.scanner_status()
        assert (status_now.state, status_now.active_conditions) == ("Idle", ())
        # one page from the feeder, then scanimage cancels the rest of the batch
        assert soap.job_history()[0].job_state == ("Canceled" if source else "Completed")


def test_second_concurrent_job_gets_device_busy(tmp_path):
    slow = {"read-delay": "true", "read-delay-duration": "50000", **PICTURE}
    sane = write_sane_dir(tmp_path / "sane", **slow)
    with running_service(sane, tmp_path / "state") as service:
        client = airscan_dir(tmp_path / "client", service.url)
        first = start_scanimage(
            client, "-d", DEVICE, "--resolution", "300", "--format=png", "-o", str(tmp_path / "a.png")
        )
        try:
            soap = SoapClient(service.url)
            wait_for(lambda: soap.active_jobs(), timeout=20)
            second = scanimage(
                client, "-d", DEVICE, "--resolution", "75", "--format=png", "-o", str(tmp_path / "b.png")
            )
            assert second.returncode == 3, second.stderr
            assert "Device busy" in second.stderr
        finally:
            first.send_signal(signal.SIGINT)
            first.wait(30)
        wait_for(lambda: not soap.active_jobs(), timeout=15)
        again = scanimage(client, "-d", DEVICE, "--resolution", "75", "--format=png", "-o", str(tmp_path / "c.png"))
        assert again.returncode == 0, again.stderr


def test_ctrl_c_cancels_the_job_and_frees_the_scanner(tmp_path):
    slow = {"read-delay": "true", "read-delay-duration": "50000", **PICTURE}
    sane = write_sane_dir(tmp_path / "sane", **slow)
    with running_service(sane, tmp_path / "state") as service:
        client = airscan_dir(tmp_path / "client", service.url)
        soap = SoapClient(service.url)
        scan = start_scanimage(
            client, "-d", DEVICE, "--resolution", "300", "--format=png", "-o", str(tmp_path / "a.png")
        )
        jobs = wait_for(lambda: soap.active_jobs(), timeout=20)
        time.sleep(0.5)  # RetrieveImage is pending: the page takes seconds at this read delay
        scan.send_signal(signal.SIGINT)
        scan.wait(30)
        wait_for(lambda: not soap.active_jobs(), timeout=15)
        history = soap.job_history()
        assert history[0].job_id == jobs[0].job_id
        assert history[0].job_state == "Canceled"
        again = scanimage(client, "-d", DEVICE, "--resolution", "75", "--format=png", "-o", str(tmp_path / "b.png"))
        assert again.returncode == 0, again.stderr + "\n--- service log:\n" + service.log_text()
        assert Image.open(tmp_path / "b.png").size in ((590, 590), (591, 591))  # airscan pads 590.55 px to 591


@pytest.mark.parametrize("condition", [Condition.WARMING_UP, Condition.CALIBRATING])
def test_scanimage_waits_while_the_scanner_warms_up_or_calibrates(tmp_path, condition):
    """SANE reports neither state through the `test` backend, so the device is the HAL fake,
    refusing its first two jobs; sane-airscan reads LampWarming / Calibrating from ScannerStatus
    after the refusal, retries CreateScanJob, and the scan succeeds once the device is ready."""
    fake = FakeScanner(fail_with=condition, fail_at_page=0, fail_jobs=2)
    with serve(fake, tmp_path / "state") as (_app, url, _loop):
        client = airscan_dir(tmp_path / "client", url)
        result = scanimage(client, "-d", DEVICE, "--resolution", "100", "--format=png", "-o", str(tmp_path / "x.png"))
        assert result.returncode == 0, result.stderr
        assert Image.open(tmp_path / "x.png").size[0] > 0
        assert fake.fail_jobs == 0 and len(fake.started) == 1
        status = SoapClient(url).scanner_status()
        assert (status.state, status.active_conditions) == ("Idle", ())
