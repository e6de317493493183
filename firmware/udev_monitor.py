"""USB plug events from udev (pyudev), for :mod:`firmware.hotplug`.

:class:`UdevMonitor` listens on udev's netlink socket (source ``udev``: an event arrives
after udev's rules ran, so the device node already has the ``scanner`` group of
``60-wsd-scan-server.rules``) for USB devices (subsystem ``usb``, devtype
``usb_device``; not their interfaces), reading it on the asyncio event loop
(``add_reader``), and hands each ``add`` or ``remove`` to a callback as a
:class:`UsbEvent`.

It is optional: without pyudev (``python3-pyudev``), libudev or a netlink socket
:meth:`UdevMonitor.start` returns the reason and the service keeps polling the bus
(:data:`firmware.hotplug.USB_POLL_INTERVAL`). Where no udev daemon runs (a container),
the socket opens but stays silent, which polling also covers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

ACTIONS = ("add", "remove")
"""The udev actions passed on (``bind``, ``unbind`` and ``change`` follow an ``add``)."""


@dataclass(frozen=True)
class UsbEvent:
    """One udev event of a USB device: ``action`` (``add`` / ``remove``), ``bus`` and
    ``address`` (``BUSNUM`` / ``DEVNUM``, as libusb numbers them; None if udev gave none),
    ``vendor`` and ``product`` (idVendor / idProduct; None if unknown), ``sys_path``."""

    action: str
    bus: int | None
    address: int | None
    vendor: int | None
    product: int | None
    sys_path: str

    def describe(self) -> str:
        """``04a9:190f (bus 1, device 5)`` for the log."""
        usb_id = f"{self.vendor:04x}:{self.product:04x}" if None not in (self.vendor, self.product) else "?"
        return f"{usb_id} (bus {self.bus}, device {self.address})"


def _number(value: str | None, base: int = 10) -> int | None:
    try:
        return int(value, base) if value else None
    except ValueError:
        return None


def usb_event(action: str, properties: dict[str, str], sys_path: str = "") -> UsbEvent | None:
    """The :class:`UsbEvent` of a udev event, from its ``action`` and properties
    (``SUBSYSTEM``, ``DEVTYPE``, ``BUSNUM``, ``DEVNUM``, ``PRODUCT`` = ``vendor/product/bcdDevice``
    in hex without leading zeros); None for anything but a USB device (an interface, another
    subsystem) or an action not in :data:`ACTIONS`."""
    if action not in ACTIONS or properties.get("SUBSYSTEM") != "usb" or properties.get("DEVTYPE") != "usb_device":
        return None
    product_field = (properties.get("PRODUCT") or "").split("/")
    vendor = _number(product_field[0], 16) if len(product_field) >= 2 else None
    product = _number(product_field[1], 16) if len(product_field) >= 2 else None
    return UsbEvent(
        action, _number(properties.get("BUSNUM")), _number(properties.get("DEVNUM")), vendor, product, sys_path
    )


class UdevMonitor:
    """Calls ``on_event`` with a :class:`UsbEvent` for every USB device udev adds or removes.

    Use from one event loop: :meth:`start`, later :meth:`stop`. ``on_event`` runs in the
    event loop's thread and must not block.
    """

    def __init__(self, on_event: Callable[[UsbEvent], None]) -> None:
        self._on_event = on_event
        self._monitor: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> str | None:
        """Open udev's netlink socket and watch it on the running loop.

        Returns None when watching, else why not (pyudev or libudev missing, the
        socket refused); never raises."""
        try:
            import pyudev
        except ImportError as exc:
            return f"pyudev is not installed ({exc})"
        try:
            monitor = pyudev.Monitor.from_netlink(pyudev.Context(), source="udev")
            monitor.filter_by(subsystem="usb", device_type="usb_device")
            monitor.start()
        except (ImportError, OSError, ValueError) as exc:  # libudev missing; netlink refused
            return f"cannot watch udev: {exc}"
        self._loop = asyncio.get_running_loop()
        self._monitor = monitor
        self._loop.add_reader(monitor.fileno(), self._readable)
        return None

    @property
    def active(self) -> bool:
        """True between a successful :meth:`start` and :meth:`stop`."""
        return self._monitor is not None

    def stop(self) -> None:
        """Stop watching and close the socket. Never raises."""
        monitor, self._monitor = self._monitor, None
        if monitor is None or self._loop is None:
            return
        try:
            self._loop.remove_reader(monitor.fileno())
        except (OSError, ValueError):
            pass  # the socket or the loop is closed already
        try:
            monitor._socket.close()  # pyudev has no public close; the socket is released with it
        except (AttributeError, OSError):
            pass

    def _readable(self) -> None:
        monitor = self._monitor
        if monitor is None:
            return
        while True:
            try:
                device = monitor.poll(timeout=0)
            except (OSError, ValueError) as exc:  # a malformed or truncated message
                log.debug("udev: cannot read an event: %s", exc)
                return
            if device is None:
                return
            event = usb_event(device.action or "", dict(device.properties), device.sys_path)
            if event is None:
                continue
            try:
                self._on_event(event)
            except Exception:
                log.exception("udev event handler failed")
