"""Limits a Raspberry Pi can live with (issue 12): a connection cap that idle floods cannot
exhaust, timeouts for trickling clients, accept errors (EMFILE) without spinning or flooding
the log, and a memory budget for one scanned side."""

from __future__ import annotations

import dataclasses
import logging
import os
import resource
import socket
import time
from pathlib import Path

import pytest

from drivers.base import ColorMode
from drivers.fake import DEFAULT_CAPABILITIES, FakeScanner
from firmware import model
from firmware.scan.ticket import raw_side_bytes
from firmware.wire import namespaces as ns
from firmware.wire.envelope import build_envelope
from firmware.wire.server import ThrottledLog
from firmware.wire.xml import serialize
from tests.inprocess import serve
from tests.sane_env import write_sane_dir
from tests.servers import running_service, wait_for
from tests.test_service import CheckedClient, create, image_of, retrieve, ticket

RESOLUTIONS = (75, 100, 150, 200, 300, 600, 1200)
A4 = {"width": 8500, "height": 11693}


def fake_1200() -> FakeScanner:
    """A fake flatbed that offers 1200 dpi."""
    sources = {
        source: dataclasses.replace(caps, resolutions=RESOLUTIONS)
        for source, caps in DEFAULT_CAPABILITIES.sources.items()
    }
    return FakeScanner(capabilities=dataclasses.replace(DEFAULT_CAPABILITIES, sources=sources))


# -- the memory budget of one side -----------------------------------------------------------------


def test_raw_side_bytes_counts_8_bit_samples():
    assert raw_side_bytes(ColorMode.COLOR, 100, (0.0, 0.0, 25.4, 50.8)) == 100 * 200 * 3
    assert raw_side_bytes(ColorMode.GRAY, 100, (0.0, 0.0, 25.4, 50.8)) == 100 * 200
    assert raw_side_bytes(ColorMode.LINEART, 100, (0.0, 0.0, 25.4, 50.8)) == 100 * 200


def test_a_1200_dpi_page_beyond_the_budget_is_refused_before_it_scans(tmp_path):
    fake = fake_1200()
    with serve(fake, tmp_path / "state") as (_app, url, _loop):  # default budget: 128 MiB
        client = CheckedClient(url)
        honored = ticket(dpi=1200, must_honor=frozenset({"Resolution"}), **A4)  # 409 MiB raw in colour
        answer = client.call("CreateScanJob", model.CreateScanJobRequest(honored).to_xml())
        assert answer.fault_subcode == "wscn:ClientErrorConflictingRequiredParameters"
        assert b"MiB" in answer.data
        assert fake.started == [] and not client.active_jobs()
        answer = client.call("ValidateScanTicket", model.ValidateScanTicketRequest(ticket(dpi=1200, **A4)).to_xml())
        response = model.ValidateScanTicketResponse.from_xml(answer.body)
        assert not response.valid
        assert response.valid_scan_ticket.document_parameters.media_front.resolution.width == 600  # 102 MiB
        # a small area at 1200 dpi fits, and is served as asked
        answer = client.call(
            "ValidateScanTicket", model.ValidateScanTicketRequest(ticket(dpi=1200, width=1000, height=1000)).to_xml()
        )
        assert model.ValidateScanTicketResponse.from_xml(answer.body).valid


def test_a_page_beyond_the_budget_is_scanned_at_the_highest_resolution_that_fits(tmp_path):
    fake = FakeScanner()
    with serve(fake, tmp_path / "state", max_page_mib=1) as (_app, url, _loop):
        client = CheckedClient(url)
        job = create(client, ticket(dpi=600))  # 2 x 1 inch: 2.1 MiB at 600 dpi, 0.5 MiB at 300
        assert job.image_information.front.pixels_per_line == 600
        side = job.document_final_parameters.media_front
        assert side.resolution.width == 300 and "Resolution" in job.document_final_parameters.override
        assert fake.started[0].resolution == 300
        assert image_of(retrieve(client, job.job_id, job.job_token)).size == (600, 300)


# -- connections -----------------------------------------------------------------------------------


def idle_connections(port: int, count: int) -> list[socket.socket]:
    """Open ``count`` TCP connections to 127.0.0.1:``port`` that never send a byte."""
    sockets = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sockets.append(sock)
    return sockets


def closed_by_peer(sock: socket.socket, timeout: float) -> bool:
    """True when the server closes ``sock`` within ``timeout`` seconds."""
    sock.settimeout(timeout)
    try:
        return sock.recv(1024) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_idle_connections_beyond_the_cap_make_room_for_real_clients(tmp_path):
    with serve(FakeScanner(), tmp_path / "state", max_connections=8) as (app, url, _loop):
        idle = idle_connections(app.config.http_port, 40)
        try:
            client = CheckedClient(url)
            assert client.scanner_status().state == "Idle"
            assert app.server.open_connections <= 8
            assert closed_by_peer(idle[0], 2)  # the longest idle went first
            assert not closed_by_peer(idle[-1], 0.2)  # the newest are kept
        finally:
            for sock in idle:
                sock.close()


def test_a_connection_in_the_middle_of_a_request_is_never_evicted(tmp_path):
    with serve(FakeScanner(), tmp_path / "state", max_connections=4) as (app, url, _loop):
        client = CheckedClient(url)
        request = model.GetScannerElementsRequest(
            (model.RequestedName(ns.SCAN, "ScannerStatus", "wscn:ScannerStatus"),)
        )
        body = serialize(build_envelope(ns.scan_action("GetScannerElements"), request.to_xml(), to=url))
        busy = socket.create_connection(("127.0.0.1", app.config.http_port), timeout=5)
        head = (
            f"POST {client.path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/soap+xml\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        busy.sendall(head + body[:10])
        time.sleep(0.2)  # the headers are in: the connection is busy
        idle = idle_connections(app.config.http_port, 12)
        try:
            busy.sendall(body[10:])
            answer = busy.recv(65536)
            assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
        finally:
            busy.close()
            for sock in idle:
                sock.close()


def test_a_trickling_body_is_cut_off_after_the_body_timeout(tmp_path):
    with serve(FakeScanner(), tmp_path / "state", body_timeout=1.0) as (app, url, _loop):
        path = url.split(str(app.config.http_port), 1)[1]
        sock = socket.create_connection(("127.0.0.1", app.config.http_port), timeout=5)
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/soap+xml\r\nContent-Length: 500\r\n\r\n".encode()
        )
        started = time.monotonic()
        closed = False
        try:
            while time.monotonic() - started < 6:
                sock.sendall(b"<")
                if closed_by_peer(sock, 0.3):
                    closed = True
                    break
        except (BrokenPipeError, ConnectionResetError):
            closed = True
        finally:
            sock.close()
        assert closed and 0.9 <= time.monotonic() - started < 3


def test_a_client_that_never_sends_its_headers_is_cut_off_after_the_idle_timeout(tmp_path):
    with serve(FakeScanner(), tmp_path / "state", idle_timeout=1.0) as (app, _url, _loop):
        sock = socket.create_connection(("127.0.0.1", app.config.http_port), timeout=5)
        sock.sendall(b"POST / HTTP/1.1\r\nHo")
        started = time.monotonic()
        try:
            assert closed_by_peer(sock, 4)
        finally:
            sock.close()
        assert 0.9 <= time.monotonic() - started < 3


def test_the_pressure_log_is_throttled() -> None:
    now = [0.0]
    log = ThrottledLog(interval=60, clock=lambda: now[0])
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Collect()
    logging.getLogger("firmware.wire.server").addHandler(handler)
    try:
        for _ in range(1000):
            log.note("connections refused", "hint")
        now[0] = 61
        log.note("connections refused", "hint")
    finally:
        logging.getLogger("firmware.wire.server").removeHandler(handler)
    assert len(records) == 2
    assert "connections refused: 1000" in records[1].getMessage()


# -- the service under a flood, with few file descriptors ------------------------------------------


def low_nofile(limit: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    return apply


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.service
@pytest.mark.sane
@pytest.mark.slow
@pytest.mark.parametrize("max_connections", [64, 4096], ids=["cap", "no-cap-emfile"])
def test_300_idle_connections_with_256_descriptors_leave_the_service_answering(tmp_path, max_connections):
    """With the cap (64) the flood never reaches the descriptor limit; without it (4096) accept()
    fails with EMFILE, which frees idle connections instead of spinning and flooding the log."""
    sane = write_sane_dir(tmp_path / "sane")
    config = tmp_path / "config.toml"
    config.write_text(f"max_connections = {max_connections}\n")
    with running_service(sane, tmp_path / "state", "--config", str(config), preexec_fn=low_nofile(256)) as service:
        before = len(service.log)
        idle = []
        try:
            for _ in range(300):
                try:
                    idle.append(socket.create_connection(("127.0.0.1", service.port), timeout=5))
                except OSError:
                    break  # the listen backlog is full while accepting pauses: a flood, as intended
            time.sleep(1)
            cpu_before = cpu_seconds(service.process.pid)
            time.sleep(2)
            assert cpu_seconds(service.process.pid) - cpu_before < 0.5  # no accept loop spinning
            started = time.monotonic()
            status = wait_for(lambda: _status_or_none(service.url), timeout=10)
            assert status.state == "Idle" and time.monotonic() - started < 5
            job = create(CheckedClient(service.url))
            assert image_of(retrieve(CheckedClient(service.url), job.job_id, job.job_token)).size[0] > 0
        finally:
            for sock in idle:
                sock.close()
        time.sleep(0.5)
        flood_lines = service.log[before:]
        pressure = [line for line in flood_lines if "pressure" in line or "Traceback" in line or "EMFILE" in line]
        assert len(pressure) <= 3, "\n".join(flood_lines[:20])
        assert len(flood_lines) <= 12, "\n".join(flood_lines[:40])


def _status_or_none(url: str):
    try:
        return CheckedClient(url, timeout=2).scanner_status()
    except OSError:
        return None
