"""USB hotplug against the real SANE `test` backend: a scanner plugged in is served and announced,
one unplugged is withdrawn and its running job aborted.

The USB bus is the only fake: pytest-mock replaces ``usb.core.find`` with a list the
test changes. What SANE lists is real: ``number_of_devices`` in the project-owned
``test.conf`` goes from 1 to 2 (and back) before the fresh enumeration the USB
change triggers, exactly as a new USB scanner appears to libsane only after a
new ``sane_init``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import http.client
import socket
import threading
import time
import types
from pathlib import Path

import pytest

from drivers.base import ScannerInfo
from drivers.fake import FakeScanner
from firmware import model
from firmware.app import build_app
from firmware.config import Config, ScannerOverrides
from firmware.dpws.discovery import DiscoveryService
from firmware.hotplug import Hotplug, libusb_address, usb_snapshot
from firmware.wire import namespaces as ns
from tests.sane_env import write_sane_dir
from tests.servers import free_port, wait_for
from tests.soap import SoapClient
from tests.test_service import create, retrieve, ticket

PRINTER = (1, 2, 0x03F0, 0x2B17)
SCANNER = (1, 5, 0x04A9, 0x190F)
SLOW_SANE_OPTIONS = {"read_delay": True, "read_delay_duration": 100000}  # 0.1 s per 64 KiB read


class FakeBus:
    """What ``usb.core.find(find_all=True)`` reports: a mutable set of (bus, address, vendor, product)."""

    def __init__(self, *devices: tuple[int, int, int, int]) -> None:
        self.devices = set(devices)
        self.calls = 0

    def find(self, find_all=False, **_filters):
        assert find_all is True
        self.calls += 1
        return iter(
            [types.SimpleNamespace(bus=b, address=a, idVendor=v, idProduct=p) for b, a, v, p in sorted(self.devices)]
        )


@pytest.fixture
def bus(mocker):
    fake = FakeBus(PRINTER)
    mocker.patch("usb.core.find", side_effect=fake.find)
    return fake


class Loop:
    """An asyncio event loop in a thread; ``run(coro)`` runs a coroutine there and returns its result."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine, timeout: float = 30.0):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@contextlib.contextmanager
def hotplug_service(tmp_path: Path, sane: Path | None, discovery_factory=None, hotplug_options=None, **config):
    """The real app on 127.0.0.1 with :class:`Hotplug` polling the (fake) bus every 0.1 s
    (udev events off unless ``hotplug_options`` has ``udev=True``); yields ``(app, hotplug, loop, base_url)``."""
    loop = Loop()
    cfg = dataclasses.replace(Config(), host="127.0.0.1", http_port=free_port(), state_dir=tmp_path / "state", **config)
    app = loop.run(build_app(cfg, []))
    discovery = None
    hotplug = None
    try:
        if discovery_factory is not None:
            discovery = discovery_factory(cfg)
            loop.run(discovery.start())
        hotplug = Hotplug(
            app,
            discovery,
            sane_config_dir=str(sane) if sane else None,
            poll_interval=0.1,
            settle_delay=0.0,
            **{"udev": False, **(hotplug_options or {})},  # polling only, unless a test asks for udev
        )
        loop.run(hotplug.start())
        yield app, hotplug, loop, f"http://127.0.0.1:{cfg.http_port}"
    finally:
        if hotplug is not None:
            loop.run(hotplug.stop())
        if discovery is not None:
            loop.run(discovery.stop())
        loop.run(app.stop())
        loop.close()


def fake_sane(listed: list[ScannerInfo]) -> dict:
    """Hotplug options under which "SANE" lists what ``listed`` holds at each enumeration and
    every scanner is a :class:`FakeScanner`."""

    async def list_scanners():
        return list(listed)

    return {"list_scanners": list_scanners, "make_scanner": lambda info: FakeScanner(info)}


def scanner_elements(url: str):
    name = model.RequestedName(ns.SCAN, "ScannerDescription", "wscn:ScannerDescription")
    request = model.GetScannerElementsRequest((name,))
    return SoapClient(url, timeout=10).call("GetScannerElements", request.to_xml())


def test_usb_snapshot_and_libusb_names(bus):
    bus.devices.add(SCANNER)
    assert usb_snapshot() == frozenset({PRINTER, SCANNER})
    assert libusb_address("genesys:libusb:001:005") == (1, 5)
    assert libusb_address("epson2:libusb:003:012") == (3, 12)
    assert libusb_address("test:0") is None
    assert libusb_address("airscan:e0:Office") is None


@pytest.mark.sane
def test_plugged_scanner_is_served_within_seconds_and_unplugged_one_withdrawn(tmp_path, bus):
    sane = write_sane_dir(tmp_path / "sane", number_of_devices=1)
    overrides = {"test:1": ScannerOverrides(sane_options=SLOW_SANE_OPTIONS)}
    with hotplug_service(tmp_path, sane, scanners=overrides) as (app, _hotplug, _loop, base):
        assert [s.name for s in app.scanners] == ["test:0"]
        second_url = base + "/scanners/test-1"
        assert scanner_elements(second_url).status == 404
        polls = bus.calls

        # plug in: SANE lists a second device after a new sane_init, and the bus changes
        write_sane_dir(tmp_path / "sane", number_of_devices=2)
        plugged = time.monotonic()
        bus.devices.add(SCANNER)
        answer = wait_for(lambda: (a := scanner_elements(second_url)).status == 200 and a, timeout=10)
        assert time.monotonic() - plugged < 5.0
        assert bus.calls > polls  # found by polling the bus, not by chance
        description = model.GetScannerElementsResponse.from_xml(answer.body).elements[0].content
        assert description.name  # a real ScannerDescription for the new scanner
        second = app.find("test:1")
        assert scanner_elements(f"{base}{second.device.path}").status == 400  # the device endpoint is routed too
        assert second.device.identity.endpoint != app.find("test:0").device.identity.endpoint

        # a slow job on test:1, with a RetrieveImage receiving its page as it is scanned
        client = SoapClient(second_url, timeout=30)
        job = create(client, ticket(dpi=150, width=8000, height=8000))  # 4.3 MB: about 7 s at this read delay
        outcome: dict[str, object] = {}

        def receive() -> None:
            try:
                outcome["answer"] = retrieve(client, job.job_id, job.job_token)
            except (http.client.HTTPException, ConnectionError) as exc:
                outcome["cut"] = exc

        waiting = threading.Thread(target=receive)
        waiting.start()
        time.sleep(0.5)
        assert waiting.is_alive()

        # unplug: the bus loses the device and SANE no longer lists test:1
        write_sane_dir(tmp_path / "sane", number_of_devices=1)
        unplugged = time.monotonic()
        bus.devices.discard(SCANNER)
        wait_for(lambda: scanner_elements(second_url).status == 404, timeout=10)
        assert time.monotonic() - unplugged < 5.0
        waiting.join(10)
        assert not waiting.is_alive()
        # the answer had begun (the page streams), so it cannot become a fault: it is cut off
        assert "answer" not in outcome and isinstance(outcome["cut"], http.client.IncompleteRead), outcome
        ended = second.service.jobs.get(job.job_id)
        assert (ended.state, ended.reasons) == ("Aborted", ("JobCompletedWithErrors", "ScannerStopped"))
        assert scanner_elements(f"{base}{second.device.path}").status == 404
        assert [s.name for s in app.scanners] == ["test:0"]
        assert scanner_elements(base + "/scanners/test-0").status == 200  # the other scanner is untouched
        wait_for(lambda: second.scanner.worker_pid is None, timeout=10)  # its worker is stopped


@pytest.mark.sane
def test_a_usb_change_without_a_new_sane_device_changes_nothing(tmp_path, bus):
    sane = write_sane_dir(tmp_path / "sane", number_of_devices=1)
    with hotplug_service(tmp_path, sane) as (app, hotplug, loop, base):
        first = app.find("test:0")
        bus.devices.add(SCANNER)  # e.g. a USB stick: SANE lists the same devices
        wait_for(lambda: hotplug.usb is not None and SCANNER in hotplug.usb, timeout=5)
        changes = loop.run(hotplug.reconcile())
        assert not changes
        assert app.scanners == [first]
        assert scanner_elements(base + first.path).status == 200


def test_a_scanner_still_on_the_bus_is_kept_when_sane_skips_it(tmp_path, bus):
    """Some backends do not list a device another process (our own worker) has open: a scanner
    named after its libusb address stays served while that address is on the bus."""
    info = ScannerInfo("genesys:libusb:001:005", "Canon", "LiDE 220", usb_id="04a9:190f")
    listed = [info]
    bus.devices.add(SCANNER)
    with hotplug_service(tmp_path, None, hotplug_options=fake_sane(listed)) as (app, hotplug, loop, base):
        served = app.find(info.name)
        assert served is not None and served.path == "/scanners/genesys-libusb-001-005"
        listed.clear()  # SANE skips it, but its bus address 001:005 is still there
        changes = loop.run(hotplug.reconcile())
        assert not changes and app.scanners == [served]
        bus.devices.discard(SCANNER)  # now really unplugged
        wait_for(lambda: served not in app.scanners, timeout=10)
        assert scanner_elements(base + served.path).status == 404
        assert served.scanner.session is None


def test_a_scanner_plugged_again_into_the_same_socket_keeps_its_device_identity(tmp_path, bus):
    """libusb gives a re-plugged (or rebooted) scanner a new device number, so a new SANE name;
    its WSD identity is keyed by USB id and port path, so Windows sees the same device."""
    first = ScannerInfo("genesys:libusb:001:005", "Canon", "LiDE 220", usb_id="04a9:190f", usb_port="1-1.2")
    listed = [first]
    bus.devices.add(SCANNER)
    with hotplug_service(tmp_path, None, hotplug_options=fake_sane(listed)) as (app, hotplug, loop, _base):
        endpoint = app.find(first.name).device.identity.endpoint
        bus.devices.discard(SCANNER)
        listed.clear()
        wait_for(lambda: not app.scanners, timeout=10)
        again = dataclasses.replace(first, name="genesys:libusb:001:006")
        listed.append(again)
        bus.devices.add((1, 6, 0x04A9, 0x190F))
        wait_for(lambda: app.find(again.name) is not None, timeout=10)
        assert app.find(again.name).device.identity.endpoint == endpoint
        other_socket = dataclasses.replace(first, name="genesys:libusb:001:007", usb_port="1-1.3")
        listed.append(other_socket)  # an identical model in another socket is another device
        loop.run(hotplug.reconcile())
        assert app.find(other_socket.name).device.identity.endpoint != endpoint


@pytest.mark.sane
def test_disabled_scanner_is_not_served_when_plugged(tmp_path, bus):
    sane = write_sane_dir(tmp_path / "sane", number_of_devices=1)
    overrides = {"test:1": ScannerOverrides(disabled=True)}
    with hotplug_service(tmp_path, sane, scanners=overrides) as (app, hotplug, loop, _base):
        write_sane_dir(tmp_path / "sane", number_of_devices=2)
        changes = loop.run(hotplug.reconcile())
        assert not changes
        assert [s.name for s in app.scanners] == ["test:0"]


# --- Hello and Bye on the network, in namespaces created for the test ------------------------------


@pytest.fixture
def hotplug_lab(netns_lab):
    return netns_lab, netns_lab.add_pair("H", "198.18.9")


@pytest.mark.netns
@pytest.mark.sane
def test_plug_sends_hello_and_unplug_sends_bye(tmp_path, bus, hotplug_lab):
    from tests.dpws.netlab import UdpClient
    from tests.netns import in_netns

    lab, pair = hotplug_lab
    sane = write_sane_dir(tmp_path / "sane", number_of_devices=1)
    listener = UdpClient(lab, lab.cli_ns, pair.cli, socket.AF_INET, listen_group=True)

    def discovery(cfg):
        return DiscoveryService(
            [], cfg.http_port, interfaces_allow=[pair.dev], families=(socket.AF_INET,), app_max_delay=0.05
        )

    def scenario():
        # the app, its discovery sockets and its event loop live in the device namespace
        with hotplug_service(tmp_path, sane, discovery_factory=discovery) as (app, _hotplug, _loop, _base):
            first = app.find("test:0").device.identity.endpoint
            time.sleep(0.5)
            write_sane_dir(tmp_path / "sane", number_of_devices=2)
            bus.devices.add(SCANNER)
            wait_for(lambda: app.find("test:1") is not None, timeout=10)
            second = app.find("test:1").device.identity.endpoint
            time.sleep(0.5)
            write_sane_dir(tmp_path / "sane", number_of_devices=1)
            bus.devices.discard(SCANNER)
            wait_for(lambda: app.find("test:1") is None, timeout=10)
            time.sleep(0.5)
            return first, second

    try:
        first, second = in_netns(lab.dev_ns, scenario)
        got = [(m.kind, m.endpoint) for m in listener.collect(0.3)]
    finally:
        listener.close()
    assert first != second
    for_second = [kind for kind, endpoint in got if endpoint == second]
    assert for_second == ["Hello", "Hello", "Bye", "Bye"]  # each sent twice (SOAP-over-UDP)
    for_first = [kind for kind, endpoint in got if endpoint == first]
    assert for_first[:2] == ["Hello", "Hello"] and for_first[-2:] == ["Bye", "Bye"]  # at start and at stop
    assert "Bye" not in for_first[:-2]  # test:0 stayed while test:1 came and went


@pytest.mark.sane
def test_without_libusb_polling_is_off_and_trigger_still_enumerates(tmp_path, mocker):
    import usb.core

    find = mocker.patch("usb.core.find", side_effect=usb.core.NoBackendError("No backend available"))
    sane = write_sane_dir(tmp_path / "sane", number_of_devices=1)
    with hotplug_service(tmp_path, sane) as (app, hotplug, loop, base):
        assert hotplug.usb is None
        assert [s.name for s in app.scanners] == ["test:0"]  # the start-up enumeration still serves
        calls = find.call_count
        time.sleep(0.3)
        assert find.call_count == calls  # no polling
        write_sane_dir(tmp_path / "sane", number_of_devices=2)

        async def triggered():
            return await hotplug.trigger()

        changes = loop.run(triggered())
        assert [s.name for s in changes.added] == ["test:1"]
        assert scanner_elements(base + "/scanners/test-1").status == 200


@pytest.mark.service
@pytest.mark.sane
def test_sighup_re_enumerates_sane_in_the_service(tmp_path):
    import signal

    from tests.servers import running_service

    sane = write_sane_dir(tmp_path / "sane", number_of_devices=1)
    with running_service(sane, tmp_path / "state") as service:
        assert list(service.urls) == ["test:0"]
        write_sane_dir(tmp_path / "sane", number_of_devices=2)
        service.process.send_signal(signal.SIGHUP)
        wait_for(lambda: "test:1" in service.urls, timeout=10)  # its "scan service <URL>" line
        assert service.urls["test:1"].endswith("/scanners/test-1")
        assert scanner_elements(service.urls["test:1"]).status == 200
        write_sane_dir(tmp_path / "sane", number_of_devices=1)
        service.process.send_signal(signal.SIGHUP)
        wait_for(lambda: "scanner test:1 is gone: withdrawn" in service.log_text(), timeout=10)
        wait_for(lambda: scanner_elements(service.urls["test:1"]).status == 404, timeout=5)
        assert scanner_elements(service.urls["test:0"]).status == 200
