"""USB plug events from udev (firmware/udev_monitor.py) and hotplug following them.

udev events cannot be made here (no udev daemon, no USB device to plug), so pyudev is
the one thing replaced (pytest-mock puts a stand-in module in ``sys.modules``): its
monitor is a real socket pair whose readable end the event loop watches, exactly as it
watches udev's netlink socket, and each "event" is a device object with udev's property
names. Everything after that is real: the monitor's filtering, Hotplug's reaction, the app
serving the scanner over HTTP. The booted Pi image (tests/appliance/test_pi_image.py)
plugs an emulated USB device for real.
"""

from __future__ import annotations

import asyncio
import collections
import socket
import sys
import threading
import types
from typing import ClassVar

import pytest

from drivers.base import ScannerInfo
from firmware.udev_monitor import UdevMonitor, UsbEvent, usb_event
from tests.appliance.test_hotplug import bus, fake_sane, hotplug_service  # noqa: F401 - bus is a fixture
from tests.servers import wait_for

SCANNER_PROPERTIES = {
    "SUBSYSTEM": "usb",
    "DEVTYPE": "usb_device",
    "BUSNUM": "001",
    "DEVNUM": "005",
    "PRODUCT": "4a9/190f/100",
}
LIDE = ScannerInfo("genesys:libusb:001:005", "Canon", "LiDE 220", usb_id="04a9:190f")


class FakeDevice:
    """What pyudev's monitor hands out: ``action``, ``properties``, ``sys_path``."""

    def __init__(self, action: str, properties: dict[str, str], sys_path: str) -> None:
        self.action = action
        self.properties = properties
        self.sys_path = sys_path


class FakeMonitor:
    """pyudev.Monitor over a socket pair: :meth:`emit` queues a device and makes the socket readable."""

    instances: ClassVar[list[FakeMonitor]] = []

    def __init__(self) -> None:
        self._socket, self._peer = socket.socketpair()
        self.queue: collections.deque[FakeDevice] = collections.deque()
        self.filters: list[tuple[str, str | None]] = []
        self.started = False
        self.lock = threading.Lock()
        FakeMonitor.instances.append(self)

    @classmethod
    def from_netlink(cls, context, source="udev"):
        assert source == "udev"  # after udev's rules ran (the device node's group is set)
        return cls()

    def filter_by(self, subsystem, device_type=None):
        self.filters.append((subsystem, device_type))

    def start(self):
        self.started = True

    def fileno(self):
        return self._socket.fileno()

    def poll(self, timeout=None):
        assert timeout == 0  # never blocks the event loop
        with self.lock:
            if not self.queue:
                return None
            self._socket.recv(1)
            return self.queue.popleft()

    def emit(self, action: str, properties: dict[str, str], sys_path: str = "/sys/devices/usb1/1-1") -> None:
        with self.lock:
            self.queue.append(FakeDevice(action, properties, sys_path))
            self._peer.send(b"!")


@pytest.fixture
def fake_pyudev(mocker):
    """A stand-in ``pyudev`` module; yields the list its monitors are appended to."""
    module = types.ModuleType("pyudev")
    module.Context = lambda: object()
    module.Monitor = FakeMonitor
    FakeMonitor.instances = []
    mocker.patch.dict(sys.modules, {"pyudev": module})
    yield FakeMonitor.instances
    for monitor in FakeMonitor.instances:
        monitor._peer.close()
        monitor._socket.close()


def test_usb_event_from_udev_properties():
    event = usb_event("add", SCANNER_PROPERTIES, "/sys/devices/usb1/1-1")
    assert event == UsbEvent("add", 1, 5, 0x04A9, 0x190F, "/sys/devices/usb1/1-1")
    assert event.describe() == "04a9:190f (bus 1, device 5)"
    removed = usb_event("remove", {"SUBSYSTEM": "usb", "DEVTYPE": "usb_device"})
    assert removed is not None and removed.describe() == "? (bus None, device None)"
    bad_numbers = usb_event("add", {**SCANNER_PROPERTIES, "BUSNUM": "x", "PRODUCT": "zz/1"})
    assert bad_numbers is not None and (bad_numbers.bus, bad_numbers.vendor, bad_numbers.product) == (None, None, 1)


@pytest.mark.parametrize(
    ("action", "change"),
    [
        ("bind", {}),  # follows an add
        ("change", {}),
        ("add", {"DEVTYPE": "usb_interface"}),  # one per interface of the same device
        ("add", {"SUBSYSTEM": "block"}),
    ],
)
def test_usb_event_ignores_what_is_not_a_usb_device_added_or_removed(action, change):
    assert usb_event(action, {**SCANNER_PROPERTIES, **change}) is None


def test_without_pyudev_start_says_why_and_changes_nothing(mocker):
    mocker.patch.dict(sys.modules, {"pyudev": None})  # import pyudev raises ImportError

    async def start():
        monitor = UdevMonitor(lambda event: None)
        return monitor.start(), monitor.active

    why_not, active = asyncio.run(start())
    assert why_not is not None and "pyudev is not installed" in why_not
    assert active is False


def test_a_refused_netlink_socket_is_a_reason_not_an_error(fake_pyudev, mocker):
    mocker.patch.object(FakeMonitor, "start", side_effect=OSError(93, "Protocol not supported"))

    async def start():
        return UdevMonitor(lambda event: None).start()

    assert "cannot watch udev" in (asyncio.run(start()) or "")


def test_monitor_hands_usb_devices_to_the_callback_on_the_loop(fake_pyudev):
    seen: list[tuple[UsbEvent, int]] = []

    async def scenario():
        loop_thread = threading.get_ident()
        done = asyncio.Event()

        def on_event(event: UsbEvent) -> None:
            seen.append((event, threading.get_ident() == loop_thread))
            if event.action == "remove":
                done.set()

        monitor = UdevMonitor(on_event)
        assert monitor.start() is None and monitor.active
        fake = fake_pyudev[0]
        assert fake.started and fake.filters == [("usb", "usb_device")]
        fake.emit("add", {**SCANNER_PROPERTIES, "DEVTYPE": "usb_interface"})  # passed over
        fake.emit("add", SCANNER_PROPERTIES)
        fake.emit("bind", SCANNER_PROPERTIES)  # passed over
        fake.emit("remove", SCANNER_PROPERTIES)
        await asyncio.wait_for(done.wait(), 10)
        monitor.stop()
        assert not monitor.active
        monitor.stop()  # twice is harmless

    asyncio.run(scenario())
    assert [(event.action, event.bus, event.address) for event, _ in seen] == [("add", 1, 5), ("remove", 1, 5)]
    assert all(on_loop for _, on_loop in seen)


def test_a_failing_callback_is_logged_and_later_events_still_arrive(fake_pyudev, caplog):
    seen: list[str] = []

    async def scenario():
        done = asyncio.Event()

        def on_event(event: UsbEvent) -> None:
            seen.append(event.action)
            if event.action == "add":
                raise RuntimeError("handler bug")
            done.set()

        monitor = UdevMonitor(on_event)
        assert monitor.start() is None
        fake_pyudev[0].emit("add", SCANNER_PROPERTIES)
        fake_pyudev[0].emit("remove", SCANNER_PROPERTIES)
        await asyncio.wait_for(done.wait(), 10)
        monitor.stop()

    asyncio.run(scenario())
    assert seen == ["add", "remove"]
    assert "udev event handler failed" in caplog.text


def _counting(listings: list[list[ScannerInfo]]) -> tuple[dict, list[int]]:
    """Hotplug options whose SANE lists ``listings[i]`` at the i-th enumeration (the last one
    from then on), FakeScanner drivers; and a one-element list counting the enumerations."""
    options = fake_sane([])
    count = [0]

    async def list_scanners():
        listing = listings[min(count[0], len(listings) - 1)]
        count[0] += 1
        return list(listing)

    options["list_scanners"] = list_scanners
    return options, count


@pytest.mark.usefixtures("bus")
def test_hotplug_follows_udev_events_while_the_bus_poll_sees_no_change(tmp_path, fake_pyudev, caplog):
    caplog.set_level("INFO", logger="firmware")
    # The fake USB bus never changes: only the udev events can make the service re-enumerate.
    options, count = _counting([[], [LIDE], [LIDE], []])
    options.update(udev=True, retry_delay=60.0)
    with hotplug_service(tmp_path, None, hotplug_options=options) as (app, hotplug, loop, _base):
        assert hotplug.udev is not None and hotplug.udev.active
        assert "USB hotplug: udev events, polling every 0.1 s as a fallback" in caplog.text
        assert count[0] == 1 and app.scanners == []
        fake_pyudev[0].emit("add", SCANNER_PROPERTIES)
        wait_for(lambda: app.find(LIDE.name) is not None, timeout=10)
        assert "udev: USB device added 04a9:190f (bus 1, device 5)" in caplog.text
        loop.run(asyncio.wait_for(asyncio.shield(hotplug._udev_task), 10))
        assert count[0] == 2  # the add served a scanner: no retry
        fake_pyudev[0].emit("remove", SCANNER_PROPERTIES)
        wait_for(lambda: count[0] >= 3, timeout=10)
        # SANE still lists it at the third enumeration: kept; then gone at the fourth (another event).
        fake_pyudev[0].emit("remove", SCANNER_PROPERTIES)
        wait_for(lambda: app.find(LIDE.name) is None, timeout=10)
        assert "udev: USB device removed 04a9:190f (bus 1, device 5)" in caplog.text


@pytest.mark.usefixtures("bus")
def test_a_scanner_plugged_before_its_driver_finished_loading_is_picked_up_by_the_retry(tmp_path, fake_pyudev):
    # At the enumeration right after the add, SANE does not list the scanner yet (the kernel was
    # still binding its driver or the backend loading firmware); RETRY_DELAY later it does.
    options, count = _counting([[], [], [LIDE]])
    options.update(udev=True, retry_delay=0.2)
    with hotplug_service(tmp_path, None, hotplug_options=options) as (app, _hotplug, _loop, _base):
        fake_pyudev[0].emit("add", SCANNER_PROPERTIES)
        wait_for(lambda: app.find(LIDE.name) is not None, timeout=10)
        assert count[0] == 3  # start-up, after the event, the retry


@pytest.mark.usefixtures("bus")
def test_a_remove_is_not_retried(tmp_path, fake_pyudev):
    options, count = _counting([[LIDE], []])
    options.update(udev=True, retry_delay=0.0)
    with hotplug_service(tmp_path, None, hotplug_options=options) as (app, hotplug, loop, _base):
        assert app.find(LIDE.name) is not None
        fake_pyudev[0].emit("remove", SCANNER_PROPERTIES)
        wait_for(lambda: app.find(LIDE.name) is None, timeout=10)
        loop.run(asyncio.wait_for(asyncio.shield(hotplug._udev_task), 10))
        assert count[0] == 2


@pytest.mark.usefixtures("bus")
def test_without_udev_events_the_bus_is_polled(tmp_path, mocker, caplog):
    caplog.set_level("INFO", logger="firmware")
    mocker.patch.dict(sys.modules, {"pyudev": None})
    options, _count = _counting([[]])
    options.update(udev=True)
    with hotplug_service(tmp_path, None, hotplug_options=options) as (_app, hotplug, _loop, _base):
        assert hotplug.udev is not None and not hotplug.udev.active
        assert "USB hotplug: polling every 0.1 s (no udev events: pyudev is not installed" in caplog.text
        assert hotplug._poller is not None and not hotplug._poller.done()


@pytest.mark.usefixtures("bus")
def test_stop_closes_the_udev_socket(tmp_path, fake_pyudev):
    options, _count = _counting([[]])
    options.update(udev=True)
    with hotplug_service(tmp_path, None, hotplug_options=options) as (_app, hotplug, loop, _base):
        fake = fake_pyudev[0]
        loop.run(hotplug.stop())
        assert hotplug.udev is not None and not hotplug.udev.active
        assert fake._socket.fileno() == -1
