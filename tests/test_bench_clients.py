"""The scan bench's own parts (bench/): the SANE debug-stamp and service-log parsers, the raw
WS-Scan client's MIME reading, the RSS sampler (of a process tree or one process), and both raw
clients against the real service, bench/cpu_floor.py's one-process scans and the report's
sane-airscan table.

The parsers are fed lines in the shapes the SANE ``test`` backend (``SANE_DEBUG_TEST=2``) and
the service write, including two threads' stamps on one line; the clients scan a small page
from the service on libsane's ``test`` backend and must get the image the ticket asked for.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from bench import escl_client, rawclient, rawscans
from bench.proctree import RssSampler, read_stat
from bench.rawclient import Transfer
from bench.report import Case, format_tables
from bench.sanelog import device_events, first_byte_line
from bench.scans import Page, Scan
from tests.sane_env import write_sane_dir
from tests.servers import running_service, wait_for


def test_device_events_take_the_last_start_and_the_first_read_with_data():
    lines = [
        "[07:21:10.000000] [test] sane_start: handle=0x1",  # an earlier scan: forgotten
        "[07:21:10.500000] [test] sane_read: EOF reached",
        "[07:21:11.117222] [test] sane_start: handle=0x55e63879e1c0",
        "[07:21:11.120000] [test] sane_read: read 0 bytes of 32768, total 0",
        # two threads at once: the stamp before the message owns it
        "[07:21:11.137600] [test] [07:21:11.137655] [test] sane_read: read 5310 bytes of 32768, total 5310",
        "INFO firmware.scan.retrieve: job 3: first image byte 0.021 s after RetrieveImage",
        "[07:21:11.158010] [test] sane_read: EOF reached",
    ]
    events = device_events(lines)
    assert events == pytest.approx({"start": 26471.117222, "first_row": 26471.137655, "eof": 26471.158010})


def test_first_byte_line_reads_the_old_and_the_new_form():
    old = first_byte_line(["x", "INFO job 7: first image byte 0.023 s after RetrieveImage"])
    assert old is not None and (old.job_id, old.after_request, old.after_first_row) == (7, 0.023, None)
    lines = [
        "INFO job 8: first image byte 0.130 s after RetrieveImage, 0.095 s after the side's first row",
        "INFO job 9: first image byte 0.020 s after RetrieveImage, 0.004 s after the side's first row",
    ]
    new = first_byte_line(lines, job_id=9)
    assert new is not None and (new.job_id, new.after_request, new.after_first_row) == (9, 0.020, 0.004)
    assert first_byte_line(lines, job_id=10) is None


def test_image_start_waits_for_the_image_part_headers():
    delimiter = b"--b1"
    body = b"--b1\r\nContent-Type: application/xop+xml\r\n\r\n<soap/>\r\n--b1\r\nContent-ID: <image>\r\n\r\nPNG"
    cut = body.index(b"PNG")
    assert rawclient._image_start(body[: cut - 2], delimiter) is None  # headers not ended yet
    assert rawclient._image_start(body, delimiter) == cut


def test_jpeg_sampling_is_read_from_the_header():
    out = io.BytesIO()
    Image.new("RGB", (64, 64), "red").save(out, "JPEG", quality=90, subsampling=2)
    assert Transfer(head=bytearray(out.getvalue())).jpeg_sampling() == "4:2:0"
    out = io.BytesIO()
    Image.new("RGB", (64, 64), "red").save(out, "PNG")
    assert Transfer(head=bytearray(out.getvalue())).jpeg_sampling() == ""


@pytest.mark.sane
@pytest.mark.service
def test_both_raw_clients_get_the_page_they_asked_for(tmp_path, monkeypatch):
    monkeypatch.setenv("SANE_DEBUG_TEST", "2")  # the service's worker logs the backend's stamps
    sane = write_sane_dir(tmp_path / "sane", number_of_devices=1, **{"test-picture": '"Color pattern"'})
    page = Page("small", 50, 40, 75)  # 147 x 118 px (SANE rounds 147.6 down)
    with running_service(sane, tmp_path / "state") as service:
        for fmt in ("png", "dib"):
            scan = rawscans.raw_wsd_scan(service, page, fmt)
            assert scan.size == (147, 118)
            assert 0 <= scan.client_after_row < scan.wall  # the device's stamps were found and come first
            assert scan.image_bytes > 1000 and scan.first_byte >= 0
        root = f"http://127.0.0.1:{service.port}/eSCL"
        transfer = escl_client.scan(root, "image/jpeg", page.dpi, page.width_mm, page.height_mm)
        assert transfer.size() in ((147, 118), (148, 118)) and transfer.jpeg_sampling()
        assert transfer.request <= transfer.first_byte <= transfer.last_byte
        # the 404 after the page ended the eSCL job as it ends the WS-Scan ones
        wait_for(lambda: sum(" Completed " in line for line in service.log) == 3)


def test_a_scan_whose_worker_the_service_killed_counts_as_hung():
    """The bench retries a scan once when the service's watchdog killed its SANE worker (the test
    backend hung), and fails on any other error."""
    from bench.scans import ScanHung, failed_scan

    killed = [
        "WARNING firmware.scan.service: job 3 on test:0: test:0: the worker did not answer for 10 s and was killed"
    ]
    assert isinstance(failed_scan("IncompleteRead", killed), ScanHung)
    other = failed_scan("IncompleteRead", ["INFO firmware.jobs.runs: job 3 Aborted JobCompletedWithErrors"])
    assert not isinstance(other, ScanHung) and "job 3 Aborted" in str(other)


def test_rss_sampler_counts_the_children_only_for_a_tree():
    """A child holding 64 MiB shows in the tree's peak and not in its parent's alone."""
    held = 64 << 20
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import sys; b = bytearray({held}); b[::4096] = b'x' * len(b[::4096]); print(1, flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == b"1"  # the memory is touched
        me = os.getpid()
        with RssSampler(me, tree=False, interval=0.005) as alone, RssSampler(me, interval=0.005) as tree:
            time.sleep(0.05)
        own = read_stat(me)
        assert own is not None
        assert tree.peak >= alone.peak + held
        assert alone.peak < own.rss + held / 2
    finally:
        child.kill()
        child.wait()


@pytest.mark.sane
def test_cpu_floor_reads_and_encodes_the_whole_a4_page():
    """bench/cpu_floor.py scans the A4 page both ways and prints a figure per case and round."""
    bench = Path(__file__).resolve().parents[1] / "bench" / "cpu_floor.py"
    result = subprocess.run(
        [sys.executable, str(bench), "--rounds", "1", "--unthrottled"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split(":")[1].strip() for line in lines if line.startswith("round 1:")] == ["read", "read + jpeg"]
    assert all("104.4 MB of rows" in line for line in lines if line.startswith("round 1:"))
    assert any(line.strip().startswith("read + jpeg  CPU") for line in lines)


def test_the_airscan_table_shows_the_ratio_without_the_client_tail():
    """WSD 2.2 s of which 0.3 s is sane-airscan's and scanimage's after the job ended, direct 2.0 s."""
    case = Case("device-bound", Page("200 mm 300 dpi", 200, 200, 300), "png")
    case.add("direct", Scan(2.0, size=(2362, 2362)))
    case.add("wsd", Scan(2.2, client_tail=0.3, rss_before=0, rss_peak=0, rss_idle=0))
    head, _, row = format_tables([case]).splitlines()[2:5]
    cells = dict(zip(head.strip("| ").split(" | "), row.strip("| ").split(" | "), strict=True))
    assert cells["ratio (goal)"] == "1.100 (<= 1.05: NOT met)"
    assert cells["client tail s"] == "0.30"
    assert cells["ratio without client tail"] == "0.950"
