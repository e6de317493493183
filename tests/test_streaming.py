"""Sides stream from the SANE worker to the client (issue 11): the real service on libsane's
`test` backend, throttled like a USB scanner, and a raw HTTP client reading RetrieveImage.

What is proved, per side: the first image byte reaches the client while most of the page is
still to come from the device (the response does not wait for the page), and the resident
memory of the service process (sampled from /proc while the page streams) never grows by
anything near the page's raw size. A page of unknown height (the backend as a hand scanner)
streams too, and a client that stops reading is cut off after ``stall_timeout``: the job is
aborted and the scanner free for the next one, unless the spool kept the side: then a retried
RetrieveImage gets the whole side, the same image a clean transfer gives.
"""

from __future__ import annotations

import io
import re
import socket
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field

import pytest
from PIL import Image

from bench.proctree import RssSampler, read_stat
from firmware import model
from firmware.wire import namespaces as ns
from firmware.wire.envelope import build_envelope
from firmware.wire.xml import serialize
from tests.inprocess import mtom_parts
from tests.sane_env import write_sane_dir
from tests.servers import running_service, wait_for
from tests.soap import SoapClient

pytestmark = [pytest.mark.sane, pytest.mark.service]

THROTTLED = {"read-delay": "true", "read-delay-duration": "10000", "test-picture": '"Color pattern"'}
"""10 ms per backend read (about 64 KiB): a 300 dpi colour page of 16.7 MB takes 2.5 s or more."""

BED_MM = 200  # the test backend's bed is 200 x 200 mm


SAMPLE_SECONDS = 0.005
"""Seconds between two RSS samples of the service while a side streams."""


def rss(pid: int) -> int:
    """Resident set size of process ``pid`` (the service itself, not its workers), bytes."""
    stat = read_stat(pid)
    if stat is None:
        raise AssertionError(f"process {pid} is gone")
    return stat.rss


def rss_peak(pid: int) -> RssSampler:
    """The peak RSS of process ``pid`` alone, sampled every :data:`SAMPLE_SECONDS` while the block runs."""
    return RssSampler(pid, tree=False, interval=SAMPLE_SECONDS)


def ticket(fmt: str, dpi: int, color: str = "RGB24", source: str = "Platen") -> model.ScanTicket:
    size = round(BED_MM / 25.4 * 1000)
    return model.ScanTicket(
        job_description=model.JobDescription("streaming", "tester"),
        document_parameters=model.DocumentParameters(
            format=fmt,
            input_source=source,
            input_size=model.Size(size, size),
            media_front=model.MediaSide(
                scan_region=model.ScanRegion(width=size, height=size, x_offset=0, y_offset=0),
                color_processing=color,
                resolution=model.Resolution(dpi, dpi),
            ),
        ),
    )


def create_job(client: SoapClient, fmt: str, dpi: int, source: str = "Platen") -> model.CreateScanJobResponse:
    answer = client.call("CreateScanJob", model.CreateScanJobRequest(ticket(fmt, dpi, source=source)).to_xml())
    assert answer.status == 200, answer.data
    return model.CreateScanJobResponse.from_xml(answer.body)


def retrieve_request(url: str, job: model.CreateScanJobResponse) -> bytes:
    """The HTTP/1.1 request bytes of RetrieveImage for ``job``."""
    body = serialize(
        build_envelope(
            ns.scan_action("RetrieveImage"),
            model.RetrieveImageRequest(job.job_id, job.job_token, "page.img").to_xml(),
            to=url,
        )
    )
    host, _, path = url.removeprefix("http://").partition("/")
    head = (
        f"POST /{path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/soap+xml\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


def connect(url: str, receive_buffer: int | None = None) -> socket.socket:
    host, _, rest = url.removeprefix("http://").partition(":")
    port = int(rest.partition("/")[0])
    sock = socket.socket()
    if receive_buffer is not None:  # before connect: the window the service may fill
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.connect((host, port))
    sock.settimeout(60)
    return sock


@dataclass
class Transfer:
    """What a raw client saw of one RetrieveImage: times (monotonic seconds) and the bytes."""

    sent: float = 0.0
    first_image_byte: float = 0.0
    last_byte: float = 0.0
    data: bytearray = field(default_factory=bytearray)

    def image(self) -> Image.Image:
        head, _, body = bytes(self.data).partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        assert b"transfer-encoding: chunked" in head.lower()
        content_type = next(
            line.split(b":", 1)[1].strip().decode()
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-type:")
        )
        parts = mtom_parts(content_type, dechunk(body))
        assert b"RetrieveImageResponse" in parts[0][1]
        return Image.open(io.BytesIO(parts[1][1]))


def dechunk(body: bytes) -> bytes:
    out, pos = bytearray(), 0
    while True:
        end = body.index(b"\r\n", pos)
        size = int(body[pos:end].split(b";")[0], 16)
        if size == 0:
            return bytes(out)
        out += body[end + 2 : end + 2 + size]
        pos = end + 2 + size + 2


FIRST_BYTE_LINE = re.compile(
    r"job (\d+): first image byte ([0-9.]+) s after (RetrieveImage|NextDocument), ([0-9.]+) s after the side's first row"
)


def first_byte_figures(log: list[str], request: str, job_id: int | None = None) -> tuple[float, float] | None:
    """The service's last logged first-byte figures after ``request`` (of job ``job_id``; None:
    any job): (seconds after the request, seconds after the side's first row), or None."""
    figures = None
    for line in log:
        match = FIRST_BYTE_LINE.search(line)
        if match and match.group(3) == request and job_id in (None, int(match.group(1))):
            figures = float(match.group(2)), float(match.group(4))
    return figures


def received_payload(data: bytes | bytearray) -> bytes:
    """The body of a chunked HTTP response as far as ``data`` (the raw response so far) holds it:
    every whole chunk and what came of the one under way, without the framing."""
    _, separator, body = bytes(data).partition(b"\r\n\r\n")
    out, pos = bytearray(), 0
    while separator:
        end = body.find(b"\r\n", pos)
        if end < 0:
            break
        size = int(body[pos:end].split(b";")[0], 16)
        out += body[end + 2 : end + 2 + size]
        if size == 0 or end + 2 + size + 2 > len(body):
            break
        pos = end + 2 + size + 2
    return bytes(out)


def image_started(data: bytes | bytearray) -> bool:
    """True once the raw response ``data`` holds a byte of the image itself (past the image
    part's MIME headers; the chunked framing does not count)."""
    payload = received_payload(data)
    part = payload.find(b"Content-ID: <image.")
    end = payload.find(b"\r\n\r\n", part) if part >= 0 else -1
    return end >= 0 and len(payload) > end + 4


def retrieve(url: str, job: model.CreateScanJobResponse) -> Transfer:
    """RetrieveImage over a raw socket, noting when the first image byte and the last byte came."""
    transfer = Transfer()
    with connect(url) as sock:
        transfer.sent = time.monotonic()
        sock.sendall(retrieve_request(url, job))
        while True:
            piece = sock.recv(65536)
            if not piece:
                break
            transfer.data += piece
            if not transfer.first_image_byte and image_started(transfer.data):
                transfer.first_image_byte = time.monotonic()
        transfer.last_byte = time.monotonic()
    return transfer


@pytest.mark.parametrize("fmt", ["png", "jfif", "dib"])
def test_a_throttled_page_streams_with_flat_memory(tmp_path, fmt):
    sane = write_sane_dir(tmp_path / "sane", **THROTTLED)
    with running_service(sane, tmp_path / "state") as service:
        client = SoapClient(service.url)
        pid = service.process.pid
        retrieve(service.url, create_job(client, fmt, 75))  # warm-up: encoder libraries loaded, pools made
        wait_for(lambda: client.scanner_status().state == "Idle")
        job = create_job(client, fmt, 300)
        before = rss(pid)
        with rss_peak(pid) as memory:
            transfer = retrieve(service.url, job)
        image = transfer.image()
        assert image.size == (2362, 2362)
        page_bytes = 2362 * 2362 * 3  # 16.7 MB raw
        growth = memory.peak - before
        after_request, after_first_row = wait_for(lambda: first_byte_figures(service.log, "RetrieveImage", job.job_id))
        assert after_request >= 0 and after_first_row >= 0  # both figures logged per job (bench/scan_bench.py)
        print(
            f"{fmt}: first image byte {transfer.first_image_byte - transfer.sent:.3f} s (client), "
            f"{after_request:.3f} s after RetrieveImage and {after_first_row:.3f} s after the first row (log), "
            f"last {transfer.last_byte - transfer.sent:.3f} s, RSS +{growth / 2**20:.1f} MiB"
        )
        # The page takes the device seconds; its first encoded bytes leave with its first rows.
        assert transfer.first_image_byte - transfer.sent < (transfer.last_byte - transfer.sent) / 4
        # The whole-page path grew by the page and more (a raw copy, Pillow's RGBX copy); bands don't.
        assert growth < page_bytes / 2, f"RSS grew {growth} bytes for a page of {page_bytes}"
        history = client.job_history()
        assert history[0].job_state == "Completed"
        # After the job, freed memory goes back (malloc_trim): the idle service is near where it was.
        wait_for(lambda: client.scanner_status().state == "Idle")
        wait_for(lambda: rss(pid) - before < page_bytes / 4, timeout=10)


def test_a_page_of_unknown_height_streams(tmp_path):
    """The backend as a hand scanner: SANE lines = -1, the height known when the page ends."""
    sane = write_sane_dir(tmp_path / "sane", **{"test-picture": '"Color pattern"'})
    config = tmp_path / "config.toml"
    config.write_text('[scanners."test:0"]\nsane_options = { hand-scanner = true }\n')
    with running_service(sane, tmp_path / "state", "--config", str(config)) as service:
        client = SoapClient(service.url)
        for fmt in ("png", "jfif"):
            image = retrieve(service.url, create_job(client, fmt, 75)).image()
            assert image.size[0] == 324 and image.size[1] > 0, image.size  # hand-scanner: 11 cm wide
            wait_for(lambda: client.scanner_status().state == "Idle")
        assert [s.job_state for s in client.job_history()[:2]] == ["Completed", "Completed"]


def test_a_client_that_stops_reading_is_cut_off_and_frees_the_scanner(tmp_path):
    """Without a spool (spool_mib = 0) the job ends at once: Aborted, the scanner free."""
    sane = write_sane_dir(tmp_path / "sane", **THROTTLED)
    config = tmp_path / "config.toml"
    config.write_text("stall_timeout = 2\nspool_mib = 0\n")
    with running_service(sane, tmp_path / "state", "--config", str(config)) as service:
        client = SoapClient(service.url)
        job = create_job(client, "dib", 300)  # 16.7 MB uncompressed: more than the socket buffers hold
        with connect(service.url, receive_buffer=4096) as sock:
            sock.sendall(retrieve_request(service.url, job))
            head = sock.recv(4096)
            assert head.startswith(b"HTTP/1.1 200"), head
            # ... and read nothing more: the service's flush waits, then gives up
            wait_for(lambda: "image stream aborted" in service.log_text(), timeout=60)
        wait_for(lambda: client.scanner_status().state == "Idle", timeout=30)
        summary = client.job_history()[0]
        assert (summary.job_id, summary.job_state) == (job.job_id, "Aborted")
        assert "read nothing for 2 s" in service.log_text()
        again = retrieve(service.url, create_job(client, "png", 75))
        assert again.image().size == (590, 590)


def broken_retrieve(url: str, job: model.CreateScanJobResponse, keep: int) -> int:
    """RetrieveImage read until ``keep`` bytes came, then the connection closed; returns the bytes read."""
    data = bytearray()
    with connect(url) as sock:
        sock.sendall(retrieve_request(url, job))
        while len(data) < keep:
            piece = sock.recv(65536)
            if not piece:
                break
            data += piece
    return len(data)


@pytest.mark.parametrize("fmt", ["png", "dib"])
def test_a_transfer_broken_mid_page_is_answered_again_from_the_spool(tmp_path, fmt):
    sane = write_sane_dir(tmp_path / "sane", **THROTTLED)
    with running_service(sane, tmp_path / "state") as service:
        client = SoapClient(service.url)
        whole = retrieve(service.url, create_job(client, fmt, 150)).image()  # a clean transfer, for comparison
        wait_for(lambda: client.scanner_status().state == "Idle")
        job = create_job(client, fmt, 150)
        got = broken_retrieve(service.url, job, 20000)  # the client goes away mid-page
        assert got >= 20000
        wait_for(lambda: "kept for a retried RetrieveImage" in service.log_text(), timeout=30)
        assert [j.job_id for j in client.active_jobs()] == [job.job_id]  # the job waits for the retry
        again = retrieve(service.url, job).image()
        assert "sent again from the spool" in service.log_text()
        assert again.size == whole.size == (1181, 1181)
        assert again.tobytes() == whole.tobytes()
        summary = client.job_history()[0]
        assert (summary.job_id, summary.job_state) == (job.job_id, "Completed")
        assert list((tmp_path / "state" / "spool").iterdir()) == []  # the copy is gone once sent


def test_an_adf_transfer_broken_at_page_5_and_retried_delivers_all_10_pages_once(tmp_path):
    """Issue 12: an ADF sheet cannot be scanned twice, so the side whose transfer broke is sent
    again from the spool, and the batch goes on: 10 sides, each delivered once, then the end."""
    sane = write_sane_dir(tmp_path / "sane", **THROTTLED)
    with running_service(sane, tmp_path / "state") as service:
        client = SoapClient(service.url)
        job = create_job(client, "dib", 75, source="ADF")
        pages = []
        for number in range(1, 11):
            if number == 5:
                assert broken_retrieve(service.url, job, 20000) >= 20000  # the client goes away mid-side
                wait_for(lambda: "kept for a retried RetrieveImage" in service.log_text(), timeout=30)
            pages.append(retrieve(service.url, job).image())
        end = retrieve(service.url, job).data
        assert "sent again from the spool" in service.log_text()
        assert [page.size for page in pages] == [(590, 590)] * 10
        assert pages[4].tobytes() == pages[3].tobytes()  # the retried side is whole (the backend repeats its pattern)
        assert end.startswith(b"HTTP/1.1 400") and b"ClientErrorNoImagesAvailable" in end  # no 11th side
        summary = client.job_history()[0]
        assert (summary.job_id, summary.job_state, summary.scans_completed) == (job.job_id, "Completed", 10)


def test_a_kept_side_is_dropped_when_no_retry_comes(tmp_path):
    """The side waits in the spool for the RetrieveImage timeout, then the job times out."""
    sane = write_sane_dir(tmp_path / "sane", **THROTTLED)
    config = tmp_path / "config.toml"
    config.write_text("job_timeout = 3\n")
    with running_service(sane, tmp_path / "state", "--config", str(config)) as service:
        client = SoapClient(service.url)
        job = create_job(client, "dib", 150)
        broken_retrieve(service.url, job, 20000)
        wait_for(lambda: client.job_history() and client.job_history()[0].job_id == job.job_id, timeout=30)
        summary = client.job_history()[0]
        assert summary.job_state == "Aborted" and "JobTimedOut" in summary.job_state_reasons
        wait_for(lambda: list((tmp_path / "state" / "spool").iterdir()) == [], timeout=10)
        wait_for(lambda: client.scanner_status().state == "Idle")


ESCL_SETTINGS = b"""<scan:ScanSettings xmlns:scan="http://schemas.hp.com/imaging/escl/2011/05/03"
 xmlns:pwg="http://www.pwg.org/schemas/2010/12/sm"><pwg:InputSource>Platen</pwg:InputSource>
 <scan:ColorMode>RGB24</scan:ColorMode><scan:XResolution>300</scan:XResolution><scan:YResolution>300</scan:YResolution>
 <pwg:DocumentFormat>%s</pwg:DocumentFormat></scan:ScanSettings>"""


@pytest.mark.parametrize("mime", ["image/png", "image/jpeg"])
def test_escl_next_document_streams_with_flat_memory(tmp_path, mime):
    sane = write_sane_dir(tmp_path / "sane", **THROTTLED)
    with running_service(sane, tmp_path / "state") as service:
        pid = service.process.pid
        base = f"http://127.0.0.1:{service.port}/eSCL"
        host, port = "127.0.0.1", service.port

        def next_document() -> tuple[float, float, bytes]:
            """POST ScanJobs, then GET NextDocument over a raw socket: (first body byte s, last s, body)."""
            request = urllib.request.Request(base + "/ScanJobs", data=ESCL_SETTINGS % mime.encode())
            with urllib.request.urlopen(request, timeout=30) as answer:
                path = urllib.parse.urlsplit(answer.headers["Location"]).path
            data, first = bytearray(), 0.0
            with socket.create_connection((host, port), timeout=60) as sock:
                sent = time.monotonic()
                sock.sendall(f"GET {path}/NextDocument HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
                while piece := sock.recv(65536):
                    data += piece
                    end = data.find(b"\r\n\r\n")
                    if not first and end >= 0 and len(data) > end + 4:
                        first = time.monotonic()
                last = time.monotonic()
            head, _, body = bytes(data).partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200"), head
            return first - sent, last - sent, dechunk(body)

        next_document()  # warm-up (encoder libraries loaded)
        wait_for(lambda: "Completed" in service.log_text())
        before = rss(pid)
        logged = len(service.log)
        with rss_peak(pid) as memory:
            first, last, body = next_document()
        assert Image.open(io.BytesIO(body)).size == (2362, 2362)
        after_request, after_first_row = wait_for(lambda: first_byte_figures(service.log[logged:], "NextDocument"))
        assert after_request >= 0 and after_first_row >= 0  # logged as RetrieveImage's is
        assert first < last / 4
        assert memory.peak - before < 2362 * 2362 * 3 / 2
