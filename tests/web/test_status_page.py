"""The status page in-process, over real HTTP on loopback, around the fake scanner: ``/``, its
static files, ``/health``, ``/events`` (server-sent events: content, live updates, the cap on
streams, no backlog for a client that does not read), ``/scan`` (downloads through the job
table; every client mistake a 4xx with a sentence) and the allow-list."""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime
import http.client
import io
import json
import re
import socket
import time

import pytest
from PIL import Image

from drivers.base import Condition
from drivers.fake import DEFAULT_CAPABILITIES, FakeScanner, fake_page_bytes, page_info
from firmware.model.enums import ConditionName
from firmware.scan import conditions
from firmware.web import events as web_events
from tests.inprocess import serve
from tests.pushscan.pc import PC
from tests.servers import wait_for


@pytest.fixture
def fake():
    return FakeScanner()


def request(port: int, method: str, path: str, body: str | None = None, headers: dict | None = None):
    """(status, headers, body bytes) of one request to 127.0.0.1:``port``."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        heads = dict(headers or {})
        if body is not None:
            heads.setdefault("Content-Type", "application/x-www-form-urlencoded")
        conn.request(method, path, body=body, headers=heads)
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


def background(call) -> concurrent.futures.Future:
    """Run ``call`` in a thread of its own; its future."""
    executor = concurrent.futures.ThreadPoolExecutor(1)
    try:
        return executor.submit(call)
    finally:
        executor.shutdown(wait=False)


def pdf_pages(document: bytes) -> int:
    """The page objects in a PDF."""
    return len(re.findall(rb"/Type /Page\b(?!s)", document))


def port_of(app) -> int:
    return app.config.http_port


class EventStream:
    """A reader of ``GET /events``: :meth:`next_state` returns the next ``state`` event's JSON."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        self.conn.request("GET", "/events")
        self.response = self.conn.getresponse()

    def next_state(self) -> dict:
        event = None
        while True:
            line = self.response.readline().decode()
            assert line, "the stream ended"
            line = line.rstrip("\n")
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "state":
                return json.loads(line[6:])

    def close(self) -> None:
        self.conn.close()


def test_the_page_and_its_files_are_served(fake, tmp_path):
    with serve(fake, tmp_path / "state") as (app, _url, _loop):
        status, headers, body = request(port_of(app), "GET", "/")
        assert status == 200 and headers["Content-Type"].startswith("text/html")
        page = body.decode()
        assert '<script src="/static/status.js"' in page and "/static/status.css" in page
        assert "http" not in page.replace("http-equiv", "").split("<body>")[0]  # nothing from the internet
        for name, kind in (("status.css", "text/css"), ("status.js", "text/javascript")):
            status, headers, body = request(port_of(app), "GET", f"/static/{name}")
            assert status == 200 and headers["Content-Type"].startswith(kind) and body
            etag = headers["Etag"]
            assert request(port_of(app), "GET", f"/static/{name}", headers={"If-None-Match": etag})[0] == 304
        assert request(port_of(app), "GET", "/static/other.js")[0] == 404


def test_health_says_ok_then_degraded_with_the_advice_of_a_jam(fake, tmp_path):
    with serve(fake, tmp_path / "state") as (app, _url, _loop):
        status, headers, body = request(port_of(app), "GET", "/health")
        assert status == 200 and headers["Content-Type"].startswith("application/json")
        health = json.loads(body)
        assert health["status"] == "ok" and health["version"] and health["uptime"] >= 0
        assert health["scanners"] == [{"name": "fake:0", "state": "Idle", "advice": []}]

        fake.fail_with = Condition.JAMMED
        status, _headers, body = request(port_of(app), "POST", "/scan", "scanner=fake-0&source=ADF&format=png")
        assert status == 503
        assert conditions.ADVICE[Condition.JAMMED] in body.decode()  # the same words as the page's

        health = json.loads(request(port_of(app), "GET", "/health")[2])
        assert health["status"] == "degraded"
        assert health["scanners"][0]["state"] == "Stopped"
        assert health["scanners"][0]["advice"] == [conditions.ADVICE[Condition.JAMMED]]


def test_health_is_degraded_without_a_scanner(tmp_path):
    with serve(FakeScanner(), tmp_path / "state") as (app, _url, loop):
        asyncio.run_coroutine_threadsafe(app.remove_scanner(app.scanners[0]), loop).result(10)
        health = json.loads(request(port_of(app), "GET", "/health")[2])
        assert (health["status"], health["scanners"]) == ("degraded", [])


def test_every_condition_has_advice():
    assert all(conditions.advice_for(c) for c in Condition if c is not Condition.CANCELLED)
    assert all(conditions.advice_for_name(name) for name in ConditionName)
    assert "jam" in conditions.advice_for_name(ConditionName.MEDIA_JAM).lower()
    assert "close" in conditions.advice_for_name(ConditionName.COVER_OPEN).lower()
    assert "load paper" in conditions.advice_for_name(ConditionName.INPUT_TRAY_EMPTY).lower()
    assert "re-plug" in conditions.ATTENTION_ADVICE


def test_events_send_the_state_then_every_change(fake, tmp_path):
    with serve(fake, tmp_path / "state") as (app, _url, _loop):
        stream = EventStream(port_of(app))
        try:
            assert stream.response.status == 200
            assert stream.response.headers["Content-Type"].startswith("text/event-stream")
            first = stream.next_state()
            (scanner,) = first["scanners"]
            assert (scanner["id"], scanner["name"], scanner["state"]) == ("fake-0", "fake:0", "Idle")
            assert scanner["urls"] == {
                "wsd": "/scanners/fake-0",
                "escl": "/scanners/fake-0/eSCL",
                "escl_default": "/eSCL",
            }
            assert scanner["options"]["formats"] == ["png", "jpeg", "pdf"]
            assert scanner["job"] is None and scanner["history"] == []
            assert first["protocols"] == {"wsd": True, "escl": True, "discovery": False}

            status, _headers, _body = request(port_of(app), "POST", "/scan", "scanner=fake-0&resolution=75")
            assert status == 200
            history = []
            while not history:
                history = stream.next_state()["scanners"][0]["history"]
            (job,) = history
            assert job["state"] == "Completed" and job["pages"] == 1 and job["duration"] is not None
            assert job["name"] == "Scan from the status page" and job["bytes"] > 0
        finally:
            stream.close()


def test_events_show_the_job_in_progress_and_the_jam_with_its_advice(tmp_path):
    slow = FakeScanner(page_delay=0.4, adf_pages=3)
    with serve(slow, tmp_path / "state") as (app, _url, _loop):
        stream = EventStream(port_of(app))
        try:
            stream.next_state()
            future = background(
                lambda: request(port_of(app), "POST", "/scan", "scanner=fake-0&source=ADF&format=pdf&resolution=75")
            )
            seen_pages = set()
            while True:
                scanner = stream.next_state()["scanners"][0]
                job = scanner["job"]
                if job is not None:
                    assert job["source"] == "ADF" and job["bytes"] >= 0 and "rate" in job
                    seen_pages.add(job["pages"])
                elif scanner["history"]:
                    break
            assert seen_pages >= {0, 1, 2}  # the page count moved while the job ran
            status, headers, body = future.result(30)
            assert status == 200 and headers["Content-Type"] == "application/pdf" and pdf_pages(body) == 3

            slow.fail_with, slow.fail_at_page = Condition.JAMMED, 2
            with pytest.raises(http.client.IncompleteRead):  # the first side went out before the jam: cut short
                request(port_of(app), "POST", "/scan", "scanner=fake-0&source=ADF&format=pdf")
            while True:
                scanner = stream.next_state()["scanners"][0]
                if scanner["conditions"] and scanner["job"] is None:
                    break
            (condition,) = scanner["conditions"]
            assert condition["name"] == "MediaJam"
            assert condition["advice"] == conditions.ADVICE[Condition.JAMMED]
            assert scanner["state"] == "Stopped"
            assert scanner["history"][0]["state"] == "Aborted"
            assert scanner["history"][0]["advice"] == conditions.ADVICE[Condition.JAMMED]
        finally:
            stream.close()


def test_subscribed_pcs_and_their_destinations_are_listed(fake, sink, tmp_path):
    with serve(fake, tmp_path / "state") as (app, url, loop):
        pc = PC("PC1", "127.0.0.1", sink, url)
        assert pc.subscribe().status == 200
        stream = EventStream(port_of(app))
        try:
            (subscriber,) = stream.next_state()["scanners"][0]["subscribers"]
        finally:
            stream.close()
        assert subscriber["pc"] == "127.0.0.1"
        expires = datetime.datetime.fromisoformat(subscriber["expires"])
        assert expires > datetime.datetime.now(datetime.UTC)
        names = {d["name"] for d in subscriber["destinations"]}
        assert "Scan to PC1" in names and len(names) == 5

        # idle with a PC subscribed, the state stays the same (the uptime aside): nothing to send
        async def state():
            document = app.web.snapshot()
            del document["uptime"]
            return document

        before = asyncio.run_coroutine_threadsafe(state(), loop).result(5)
        time.sleep(1.5)
        assert asyncio.run_coroutine_threadsafe(state(), loop).result(5) == before


def test_an_unchanged_state_is_not_sent_again() -> None:
    sent: list[bytes] = []
    documents = iter([{"n": 1, "uptime": 1}, {"n": 1, "uptime": 2}, {"n": 2, "uptime": 3}])

    class Stream:
        def offer(self, message: bytes) -> None:
            sent.append(message)

    broadcaster = web_events.Broadcaster(lambda: next(documents))
    broadcaster.streams.add(Stream())  # type: ignore[arg-type]
    for _ in range(3):
        broadcaster._publish()
    assert [json.loads(m.split(b"data: ")[1]) for m in sent] == [{"n": 1, "uptime": 1}, {"n": 2, "uptime": 3}]


def test_the_number_of_streams_is_capped(fake, tmp_path):
    with serve(fake, tmp_path / "state", max_connections=8) as (app, _url, _loop):
        cap = app.web.broadcaster.max_streams
        assert cap == 2  # a quarter of max_connections
        streams = [EventStream(port_of(app)) for _ in range(cap)]
        try:
            for stream in streams:
                stream.next_state()
            status, headers, body = request(port_of(app), "GET", "/events")
            assert status == 503 and b"Too many status pages" in body and headers["Retry-After"]
        finally:
            for stream in streams:
                stream.close()
        wait_for(lambda: not app.web.broadcaster.streams)
        second = EventStream(port_of(app))  # a closed page frees its place
        try:
            assert second.response.status == 200
        finally:
            second.close()


def test_a_client_that_does_not_read_gets_no_backlog_and_is_closed(fake, tmp_path, monkeypatch):
    """Each state is made 256 KiB large and a stream is sent many; the client never reads. The
    server holds at most one message waiting plus the one being written, then closes the stream."""
    monkeypatch.setattr(web_events, "TICK", 0.05)
    monkeypatch.setattr(web_events, "STALL_TIMEOUT", 1.0)
    with serve(fake, tmp_path / "state") as (app, _url, loop):
        broadcaster = app.web.broadcaster
        counter = iter(range(10**9))
        broadcaster._build = lambda: {"n": next(counter), "padding": "x" * 256 * 1024, "uptime": 0}
        sock = socket.create_connection(("127.0.0.1", port_of(app)))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            wait_for(lambda: broadcaster.streams)
            (stream,) = broadcaster.streams
            most = 0
            deadline = time.monotonic() + 0.8
            while time.monotonic() < deadline:  # about 16 states, 4 MiB, offered meanwhile
                buffered = asyncio.run_coroutine_threadsafe(_buffered(stream), loop).result(5)
                most = max(most, buffered)
                time.sleep(0.02)
            assert 0 < most <= 2 * (256 * 1024 + 1024)  # the kernel's buffers were full, and no backlog grew
            wait_for(lambda: not broadcaster.streams, timeout=10)  # stalled: closed
        finally:
            sock.close()


async def _buffered(stream) -> int:
    """Bytes the server holds for ``stream``: Tornado's write buffer and the message waiting."""
    iostream = stream.request.connection.stream
    return len(iostream._write_buffer) + len(stream._waiting or b"")


@pytest.mark.parametrize(
    "body, status, words",
    [
        ("scanner=fake-0&resolution=77", 400, "resolution '77' is not offered"),
        ("scanner=fake-0&source=Film", 400, "source 'Film' is not offered"),
        ("scanner=fake-0&mode=Purple", 400, "mode 'Purple' is not offered"),
        ("scanner=fake-0&format=gif", 400, "format 'gif' is not offered"),
        ("scanner=nope", 404, "There is no scanner 'nope'"),
        ("scanner=fake-0&format=png&" + "x" * 5000, 413, "too large"),
        ("scanner=fake-0&resolution=%ff", 400, ""),
    ],
)
def test_scan_form_mistakes_get_a_clear_4xx(fake, tmp_path, body, status, words):
    with serve(fake, tmp_path / "state") as (app, _url, _loop):
        got, headers, answer = request(port_of(app), "POST", "/scan", body)
        assert got == status, answer
        assert headers["Content-Type"].startswith("text/plain")
        assert words in answer.decode(errors="replace")
        assert b"Traceback" not in answer and fake.started == []


def test_scan_from_another_site_and_other_methods_are_refused(fake, tmp_path):
    with serve(fake, tmp_path / "state") as (app, _url, _loop):
        port = port_of(app)
        foreign = request(port, "POST", "/scan", "scanner=fake-0", {"Origin": "http://evil.example"})
        assert foreign[0] == 403 and b"own status page" in foreign[2]
        assert request(port, "POST", "/scan", "scanner=fake-0", {"Origin": "null"})[0] == 403
        own = request(port, "POST", "/scan", "scanner=fake-0&resolution=75", {"Origin": f"http://127.0.0.1:{port}"})
        assert own[0] == 200
        for method, path in (("GET", "/scan"), ("PUT", "/scan"), ("POST", "/health"), ("DELETE", "/")):
            status, headers, body = request(port, method, path, "" if method != "GET" else None)
            assert status == 405 and headers["Content-Type"].startswith("text/plain") and b"Traceback" not in body


@pytest.mark.parametrize("fmt, kind", [("png", "PNG"), ("jpeg", "JPEG")])
def test_scan_to_the_browser_downloads_an_image(fake, tmp_path, fmt, kind):
    with serve(fake, tmp_path / "state") as (app, _url, _loop):
        status, headers, body = request(
            port_of(app), "POST", "/scan", f"scanner=fake-0&source=Flatbed&mode=Gray&resolution=75&format={fmt}"
        )
        assert status == 200
        assert headers["Content-Disposition"] == f'attachment; filename="scan-1.{fmt}"'
        image = Image.open(io.BytesIO(body))
        image.load()
        params = fake.started[-1]
        info = page_info(params, DEFAULT_CAPABILITIES.sources[params.source])
        assert (params.resolution, params.source.value) == (75, "Flatbed")
        assert image.format == kind and image.mode == "L" and image.size == (info.pixels_per_line, info.lines)
        if kind == "PNG":  # lossless: the very pixels scanned
            assert image.tobytes() == fake_page_bytes(info, params.mode, 1)
        (job,) = app.scanners[0].service.jobs.history()
        assert (job.state, job.scans_completed, job.job_name) == ("Completed", 1, "Scan from the status page")


def test_a_feeder_scan_as_png_takes_one_sheet_and_as_pdf_every_sheet(tmp_path):
    fake = FakeScanner(adf_pages=4)
    with serve(fake, tmp_path / "state") as (app, _url, _loop):
        port = port_of(app)
        status, _headers, body = request(port, "POST", "/scan", "scanner=fake-0&source=ADF&format=png&resolution=75")
        assert status == 200 and Image.open(io.BytesIO(body)).format == "PNG"
        status, headers, body = request(port, "POST", "/scan", "scanner=fake-0&source=ADF&format=pdf&resolution=75")
        assert status == 200 and headers["Content-Type"] == "application/pdf"
        assert body.startswith(b"%PDF-") and pdf_pages(body) == 4
        jobs = app.scanners[0].service.jobs.history()
        assert [(j.state, j.scans_completed) for j in jobs] == [("Completed", 4), ("Completed", 1)]


def test_a_scan_while_the_scanner_is_busy_is_refused_with_503(tmp_path):
    slow = FakeScanner(page_delay=1.0)
    with serve(slow, tmp_path / "state") as (app, _url, _loop):
        port = port_of(app)
        first = background(lambda: request(port, "POST", "/scan", "scanner=fake-0&resolution=75"))
        wait_for(lambda: app.scanners[0].service.jobs.active is not None)
        status, headers, body = request(port, "POST", "/scan", "scanner=fake-0&resolution=75")
        assert status == 503 and headers["Retry-After"] and b"busy with another job" in body
        assert first.result(30)[0] == 200


def test_an_empty_feeder_says_to_load_paper(tmp_path):
    with serve(FakeScanner(adf_pages=0), tmp_path / "state") as (app, _url, _loop):
        status, _headers, body = request(port_of(app), "POST", "/scan", "scanner=fake-0&source=ADF&format=png")
        assert status == 503 and conditions.ADVICE[Condition.NO_DOCS] in body.decode()


def test_the_page_is_behind_the_allow_list(fake, tmp_path):
    with serve(fake, tmp_path / "state", allow=("10.9.9.0/24",)) as (app, _url, _loop):
        for method, path in (("GET", "/"), ("GET", "/health"), ("GET", "/events"), ("GET", "/static/status.js")):
            assert request(port_of(app), method, path)[0] == 403
        assert request(port_of(app), "POST", "/scan", "scanner=fake-0")[0] == 403
        assert fake.started == []
