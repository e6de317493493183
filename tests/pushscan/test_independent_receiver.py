"""Scan to PC with an independent push-scan receiver this project did not write: retsamedoc/airscand
(https://github.com/retsamedoc/airscand), a Linux daemon that registers with a WSD scanner as a PC
does and saves the pages the scanner pushes to it. It parses our DestinationResponses and
ScanAvailableEvent its own way, then runs its own scan chain (GetScannerElements,
ValidateScanTicket, CreateScanJob with ScanIdentifier + DestinationToken, RetrieveImage).

Its code is not part of this repository and CI has no network, so this test runs only when
``WSD_PUSH_RECEIVER`` names a checkout of it, with a Python that has its dependencies
(``WSD_PUSH_RECEIVER_PYTHON``, default this interpreter; it needs aiohttp). Everything listens
on 127.0.0.1. airscand always sends scan operations to ``/WDP/SCAN`` on the scanner's host (Epson's
path); a small forwarding proxy on 127.0.0.1 plays that address and passes requests unchanged to
our scan service path.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import tornado.httpclient
import tornado.httpserver
import tornado.web
from PIL import Image, ImageChops, ImageStat

from drivers.fake import DEFAULT_CAPABILITIES, FakeScanner, fake_page_bytes, page_info
from tests.eventing.harness import LoopThread
from tests.inprocess import serve
from tests.servers import free_port, wait_for

from .pc import trigger

CHECKOUT = os.environ.get("WSD_PUSH_RECEIVER", "")
PYTHON = os.environ.get("WSD_PUSH_RECEIVER_PYTHON", sys.executable)
DRIVER = Path(__file__).with_name("receiver_driver.py")


def _receiver_usable() -> str | None:
    """Why the receiver cannot run here, or None."""
    if not CHECKOUT:
        return "set WSD_PUSH_RECEIVER to a checkout of retsamedoc/airscand to run the independent receiver"
    if not (Path(CHECKOUT) / "app" / "ws_eventing_client.py").is_file():
        return f"WSD_PUSH_RECEIVER={CHECKOUT} is not an airscand checkout (no app/ws_eventing_client.py)"
    probe = subprocess.run([PYTHON, "-c", "import aiohttp"], capture_output=True)
    if probe.returncode != 0:
        return f"{PYTHON} cannot import aiohttp; set WSD_PUSH_RECEIVER_PYTHON to a Python with airscand's dependencies"
    return None


pytestmark = pytest.mark.skipif(_receiver_usable() is not None, reason=str(_receiver_usable()))


class _Forward(tornado.web.RequestHandler):
    def initialize(self, target: str) -> None:
        self.target = target

    async def post(self, _path: str) -> None:
        client = tornado.httpclient.AsyncHTTPClient()
        response = await client.fetch(
            self.target,
            method="POST",
            body=self.request.body,
            headers={"Content-Type": self.request.headers.get("Content-Type", "")},
            raise_error=False,
            request_timeout=60,
        )
        self.set_status(response.code)
        self.set_header("Content-Type", response.headers.get("Content-Type", "application/octet-stream"))
        self.finish(response.body)


def forwarding_proxy(target: str):
    """An HTTP server on 127.0.0.1 forwarding every POST to ``target``; returns (url, stop)."""
    loop = LoopThread()
    port = free_port()

    async def start():
        server = tornado.httpserver.HTTPServer(tornado.web.Application([(r"/(.*)", _Forward, {"target": target})]))
        server.listen(port, "127.0.0.1")
        return server

    server = loop.run(start())

    def stop():
        loop.call(server.stop)
        loop.stop()

    return f"http://127.0.0.1:{port}/WDP/SCAN", stop


# airscand scans with its built-in ticket (it finds no ScanTicket element inside our
# DefaultScanTicket, which the XSD does not nest): exif, 300 dpi, RGB24, 8500 x 11700
# (1/1000 inch), every value MustHonor; it proceeds only when ValidateScanTicket says ValidTicket
# true. 11.7 inches is 297.18 mm, a little more than the fake's A4 bed (297 mm): the device takes it
# as the whole bed (firmware.scan.ticket.EDGE_SLACK), as a real A4 scanner must.


def test_airscand_receives_the_push_and_retrieves_the_page(tmp_path) -> None:
    fake = FakeScanner(feeder_loaded=False)
    output = tmp_path / "scans"
    with serve(fake, tmp_path / "state") as (app, url, _loop):
        proxy_url, stop_proxy = forwarding_proxy(url)
        port = free_port()
        log_path = tmp_path / "receiver.log"
        with open(log_path, "w") as log:
            receiver = subprocess.Popen(
                [PYTHON, str(DRIVER), CHECKOUT, url, proxy_url, str(port), str(output), str(tmp_path / "rstate")],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(receiver.stdout or ()), daemon=True)
        reader.start()  # the receiver logs to stdout: keep reading so it never blocks
        try:
            found = wait_for(lambda: [x for x in lines if x.startswith("REGISTERED ")], timeout=30)
            registered = json.loads(found[0].removeprefix("REGISTERED "))
            # the receiver found our five DestinationTokens under their ClientContexts
            assert set(registered["subscribe_destination_tokens"]) == {
                "Scan",
                "ScanToPrint",
                "ScanToEmail",
                "ScanToFax",
                "ScanToOCR",
            }, registered
            listed = [d.client_display_name for d in app.scanners[0].push.registry.destinations()]
            assert "Scan to airscand" in listed

            status, answer = trigger(url, "Scan to airscand")
            assert status == 200, answer
            try:
                saved = wait_for(
                    lambda: [p for p in output.rglob("*") if p.is_file()],
                    timeout=float(os.environ.get("WSD_PUSH_RECEIVER_WAIT", "60")),
                )
            except AssertionError:
                raise AssertionError("the receiver saved no page; its log:\n" + "".join(lines)[-8000:]) from None
        finally:
            assert receiver.stdin is not None
            receiver.stdin.close()
            try:
                receiver.wait(10)
            except subprocess.TimeoutExpired:
                receiver.kill()
                receiver.wait(5)
            stop_proxy()
        reader.join(5)
        journal = "".join(lines) + log_path.read_text()

    print(journal[-6000:])
    assert "ScanAvailableEvent accepted" in journal  # the receiver's own log line
    assert len(saved) == 1, saved
    image = Image.open(io.BytesIO(saved[0].read_bytes()))
    params = fake.started[-1]
    assert params.source.value == "Flatbed"
    assert (params.mode.value, params.resolution) == ("Color", 300)
    info = page_info(params, DEFAULT_CAPABILITIES.sources[params.source])
    assert image.format == "JPEG" and image.size == (info.pixels_per_line, info.lines) == (2550, 3508)  # A4 at 300 dpi
    # JPEG is lossy: the page must be the fake's pattern up to compression noise
    expected = Image.frombytes("RGB", image.size, fake_page_bytes(info, params.mode, 1))
    error = ImageStat.Stat(ImageChops.difference(image.convert("RGB"), expected)).mean
    assert max(error) < 4.0, error
