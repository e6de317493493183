"""End to end: two independent eSCL clients, sane-airscan (eSCL mode) and sane-backends' ``escl``
backend, scan through the running service from libsane's ``test`` backend with `scanimage`."""

from __future__ import annotations

import io
import signal
import subprocess
import urllib.request

import pytest
from PIL import Image, ImageChops, ImageStat

from tests.airscan import DEVICE as WSD_DEVICE
from tests.airscan import airscan_dir, scanimage, start_scanimage
from tests.escl_clients import AIRSCAN_DEVICE, airscan_escl_dir, sane_escl_dir
from tests.sane_env import write_sane_dir
from tests.servers import running_service, wait_for
from tests.soap import SoapClient

pytestmark = [pytest.mark.e2e, pytest.mark.service, pytest.mark.sane]

PICTURE = {"test-picture": '"Color pattern"'}
SETTINGS = b"""<scan:ScanSettings xmlns:scan="http://schemas.hp.com/imaging/escl/2011/05/03"
 xmlns:pwg="http://www.pwg.org/schemas/2010/12/sm"><pwg:InputSource>%s</pwg:InputSource>
 <scan:ColorMode>RGB24</scan:ColorMode><scan:XResolution>75</scan:XResolution><scan:YResolution>75</scan:YResolution>
 <pwg:DocumentFormat>%s</pwg:DocumentFormat></scan:ScanSettings>"""


def direct_scan(sane_dir, out, *args):
    """A direct `scanimage -d test:0` of the whole 200 x 200 mm bed."""
    result = scanimage(sane_dir, "-d", "test:0", "-l", "0", "-t", "0", "-x", "200", "-y", "200", *args, "-o", str(out))
    assert result.returncode == 0, result.stderr
    return Image.open(out)


def config_file(tmp_path, text: str):
    path = tmp_path / "config.toml"
    path.write_text(text)
    return ("--config", str(path))


def test_airscan_flatbed_png_is_pixel_identical_to_a_direct_scan(tmp_path):
    sane = write_sane_dir(tmp_path / "sane", **PICTURE)
    with running_service(sane, tmp_path / "state") as service:
        wait_for(lambda: f"eSCL {service.url}/eSCL (" in service.log_text())  # the start-up line
        client = airscan_escl_dir(tmp_path / "client", service.url + "/eSCL")
        out = tmp_path / "escl.png"
        result = scanimage(client, "-d", AIRSCAN_DEVICE, "--mode", "Color", "--resolution", "300", "-o", str(out))
        assert result.returncode == 0, result.stderr + service.log_text()
        assert "image/png" in service.log_text()
    received = Image.open(out)
    direct = direct_scan(sane, tmp_path / "direct.png", "--mode", "Color", "--resolution", "300", "--format=png")
    assert received.mode == direct.mode == "RGB"
    assert received.size == direct.size == (2362, 2362)
    assert received.tobytes() == direct.tobytes()


@pytest.mark.xfail(
    strict=True,
    reason="sane-backends 1.2.1's escl backend garbles the rows of the PNG it receives (the same PNG is "
    "pixel-identical through sane-airscan and Pillow); see the JPEG/PDF tests for this client",
)
def test_sane_escl_flatbed_png_is_pixel_identical_to_a_direct_scan(tmp_path):
    """sane-backends' escl takes PDF from a platen when offered: offer PNG only (formats = ["png"])."""
    sane = write_sane_dir(tmp_path / "sane", **PICTURE)
    with running_service(sane, tmp_path / "state", *config_file(tmp_path, 'formats = ["png"]\n')) as service:
        client, device = sane_escl_dir(tmp_path / "client", service.port)
        out = tmp_path / "escl.png"
        result = scanimage(
            client, "-d", device, "--mode", "Color", "--resolution", "300", "--format=png", "-o", str(out)
        )
        assert result.returncode == 0, result.stderr + service.log_text()
    received = Image.open(out)
    direct = direct_scan(sane, tmp_path / "direct.png", "--mode", "Color", "--resolution", "300", "--format=png")
    assert received.size == direct.size == (2362, 2362)
    assert received.convert("RGB").tobytes() == direct.tobytes()


def as_jpeg(image: Image.Image, quality: int = 85) -> Image.Image:
    """``image`` through a JPEG of ``quality`` (the service's default jpeg_quality), decoded."""
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=quality)
    return Image.open(io.BytesIO(out.getvalue())).convert("RGB")


def close_to(received: Image.Image, reference: Image.Image, limit: float = 3.0) -> bool:
    """True when two images of one size differ by at most ``limit`` on average per channel."""
    diff = ImageChops.difference(received.convert("RGB"), reference.convert("RGB"))
    return max(ImageStat.Stat(diff).mean) <= limit


def test_airscan_jpeg(tmp_path):
    sane = write_sane_dir(tmp_path / "sane", **PICTURE)
    with running_service(sane, tmp_path / "state", *config_file(tmp_path, 'formats = ["jfif"]\n')) as service:
        client = airscan_escl_dir(tmp_path / "client", service.url + "/eSCL")
        out = tmp_path / "escl.png"
        result = scanimage(client, "-d", AIRSCAN_DEVICE, "--resolution", "150", "--format=png", "-o", str(out))
        assert result.returncode == 0, result.stderr + service.log_text()
        assert "150 dpi image/jpeg" in service.log_text()
    direct = direct_scan(sane, tmp_path / "direct.png", "--resolution", "150", "--format=png")
    received = Image.open(out)
    assert received.size == direct.size == (1181, 1181)
    assert received.convert("RGB").tobytes() == as_jpeg(direct).tobytes()  # the same libjpeg, quality 85


def test_sane_escl_takes_a_pdf_from_the_platen(tmp_path):
    """With the default formats sane-backends' escl asks for application/pdf and renders it with poppler."""
    sane = write_sane_dir(tmp_path / "sane", **PICTURE)
    with running_service(sane, tmp_path / "state") as service:
        client, device = sane_escl_dir(tmp_path / "client", service.port)
        out = tmp_path / "escl.png"
        result = scanimage(client, "-d", device, "--resolution", "150", "--format=png", "-o", str(out))
        assert result.returncode == 0, result.stderr + service.log_text()
        assert "150 dpi application/pdf" in service.log_text()
    direct = direct_scan(sane, tmp_path / "direct.png", "--resolution", "150", "--format=png")
    received = Image.open(out)
    assert received.size == direct.size
    assert close_to(received, as_jpeg(direct))  # the JPEG page as poppler renders it


@pytest.mark.parametrize("client_name", ["airscan", "sane-escl"])
def test_adf_batch_of_ten_pages(tmp_path, client_name):
    sane = write_sane_dir(tmp_path / "sane", **PICTURE)
    with running_service(sane, tmp_path / "state") as service:
        if client_name == "airscan":
            client, device = airscan_escl_dir(tmp_path / "client", service.url + "/eSCL"), AIRSCAN_DEVICE
        else:
            client, device = sane_escl_dir(tmp_path / "client", service.port)
        pages = tmp_path / "pages"
        pages.mkdir()
        result = scanimage(
            client, "-d", device, "--source", "ADF", "--resolution", "75", "--format=png", f"--batch={pages}/p%d.png"
        )
        files = sorted(pages.glob("p*.png"))
        assert len(files) == 10, result.stderr + service.log_text()
        for file in files:
            assert Image.open(file).size in ((590, 590), (591, 591))
        history = SoapClient(service.url).job_history()
        assert (history[0].job_name, history[0].scans_completed) == ("eSCL scan", 10)


def test_adf_batch_as_one_pdf(tmp_path):
    """A client asking for one PDF from the feeder gets the whole batch in one NextDocument,
    sent page by page; the next NextDocument is 404."""
    sane = write_sane_dir(tmp_path / "sane", **PICTURE)
    with running_service(sane, tmp_path / "state") as service:
        base = service.url + "/eSCL"
        request = urllib.request.Request(base + "/ScanJobs", data=SETTINGS % (b"Feeder", b"application/pdf"))
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert answer.status == 201
            location = answer.headers["Location"]
        with urllib.request.urlopen(location + "/NextDocument", timeout=120) as answer:
            assert answer.headers["Content-Type"] == "application/pdf"
            (tmp_path / "batch.pdf").write_bytes(answer.read())
        with pytest.raises(urllib.error.HTTPError) as ended:
            urllib.request.urlopen(location + "/NextDocument", timeout=30)
        assert ended.value.code == 404
    info = subprocess.run(["pdfinfo", str(tmp_path / "batch.pdf")], capture_output=True, text=True, check=True)
    assert "Pages:           10" in info.stdout
    assert "Page size:       566.4 x 566.4 pts" in info.stdout  # 590 px at 75 dpi
    subprocess.run(["pdftoppm", "-r", "75", "-png", str(tmp_path / "batch.pdf"), str(tmp_path / "p")], check=True)
    rendered = sorted(tmp_path.glob("p-*.png"))
    assert len(rendered) == 10
    assert Image.open(rendered[0]).size == (590, 590)


@pytest.mark.parametrize(
    "status, message, exit_code",
    [("SANE_STATUS_JAMMED", "Document feeder jammed", 6), ("SANE_STATUS_COVER_OPEN", "Scanner cover is open", 8)],
)
@pytest.mark.parametrize("client_name", ["airscan", "sane-escl"])
def test_feeder_condition_reaches_the_client(tmp_path, client_name, status, message, exit_code):
    """A jam or an open cover while the feeder scans: ScannerStatus reports AdfState ScannerAdfJam /
    ScannerAdfDoorOpen and the client reports it. sane-backends' escl reads the status before a
    scan, so it reports the condition at its next scan."""
    sane = write_sane_dir(tmp_path / "sane", **PICTURE)
    config = config_file(tmp_path, f'[scanners."test:0"]\nsane_options = {{ read-return-value = "{status}" }}\n')
    with running_service(sane, tmp_path / "state", *config) as service:
        if client_name == "airscan":
            client, device = airscan_escl_dir(tmp_path / "client", service.url + "/eSCL"), AIRSCAN_DEVICE
        else:
            client, device = sane_escl_dir(tmp_path / "client", service.port)
        args = ("-d", device, "--source", "ADF", "--resolution", "75", "--format=png", "-o", str(tmp_path / "x.png"))
        failed = scanimage(client, *args)
        assert failed.returncode != 0
        if client_name == "sane-escl":
            failed = scanimage(client, *args)
        assert failed.returncode == exit_code, failed.stderr + service.log_text()
        assert message in failed.stderr
        assert SoapClient(service.url).job_history()[0].job_state == "Aborted"


@pytest.mark.parametrize("client_name", ["airscan", "sane-escl"])
def test_busy_while_a_wsd_job_runs(tmp_path, client_name):
    """One scanner, two protocols: an eSCL client is told "busy" while a WSD job runs, both jobs
    show in the history, and eSCL's ScannerStatus lists the WSD job."""
    slow = {"read-delay": "true", "read-delay-duration": "50000", **PICTURE}
    sane = write_sane_dir(tmp_path / "sane", **slow)
    with running_service(sane, tmp_path / "state") as service:
        wsd = airscan_dir(tmp_path / "wsd", service.url)
        first = start_scanimage(wsd, "-d", WSD_DEVICE, "--resolution", "300", "--format=png", "-o", str(tmp_path / "a"))
        soap = SoapClient(service.url)
        try:
            active = wait_for(lambda: soap.active_jobs(), timeout=20)
            status = urllib.request.urlopen(service.url + "/eSCL/ScannerStatus", timeout=10).read().decode()
            assert "<pwg:State>Processing</pwg:State>" in status
            assert f"<pwg:JobState>{active[0].job_state}</pwg:JobState>" in status
            if client_name == "airscan":
                client, device = airscan_escl_dir(tmp_path / "client", service.url + "/eSCL"), AIRSCAN_DEVICE
            else:
                client, device = sane_escl_dir(tmp_path / "client", service.port)
            second = scanimage(client, "-d", device, "--resolution", "75", "--format=png", "-o", str(tmp_path / "b"))
            if client_name == "sane-escl":  # reads ScannerStatus (Processing) first and gives up at once
                assert second.returncode == 3, second.stderr + service.log_text()
                assert "Device busy" in second.stderr
            else:  # sane-airscan retries a 503 for 10 s; the WSD job ends within them and its scan then runs
                assert "eSCL ScanJobs refused (503)" in service.log_text()
                assert second.returncode == 0 or "Device busy" in second.stderr, second.stderr
        finally:
            first.send_signal(signal.SIGINT)
            first.wait(30)
        wait_for(lambda: not soap.active_jobs(), timeout=15)
        request = urllib.request.Request(service.url + "/eSCL/ScanJobs", data=SETTINGS % (b"Platen", b"image/png"))
        with urllib.request.urlopen(request, timeout=30) as answer:
            location = answer.headers["Location"]
        assert urllib.request.urlopen(location + "/NextDocument", timeout=60).read()[:4] == b"\x89PNG"
        names = [summary.job_name for summary in soap.job_history()]
        assert names[0] == "eSCL scan" and names[-1] != "eSCL scan"  # both protocols in one history
