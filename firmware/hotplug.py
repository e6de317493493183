"""USB hotplug: the served scanners follow what is plugged in.

udev tells (:mod:`firmware.udev_monitor`, pyudev): a USB device added or removed is
logged and, after :data:`SETTLE_DELAY`, SANE is enumerated again as below; when an
``add`` brought no new scanner (its backend may still be loading firmware, or its
kernel driver was still binding), one more enumeration follows :data:`RETRY_DELAY`
later. Polling stays on as the fallback (no pyudev, no udev daemon, a missed event):
:class:`Hotplug` polls the USB bus with pyusb (``usb.core.find(find_all=True)``,
every :data:`USB_POLL_INTERVAL` seconds, in a thread) and compares the set of
``(bus, address, idVendor, idProduct)``. When it changes, it waits
:data:`SETTLE_DELAY` (udev applies the device node's permissions meanwhile) and
re-enumerates SANE through a fresh worker (:func:`drivers.sane.list_scanners`:
many backends list devices only in ``sane_init``, so the service's own workers
would never see a new one), then reconciles (:meth:`Hotplug.reconcile`):

* a device SANE lists that is not served (and not ``disabled`` in the
  configuration) gets a driver, a scan service and a device endpoint
  (:meth:`firmware.app.App.add_scanner`) and is announced with Hello (WSD) and
  DNS-SD (eSCL);
* a served scanner the configuration now disables is withdrawn (Bye, DNS-SD goodbye,
  HTTP 404, its active job ends Aborted);
* a served scanner SANE no longer lists is withdrawn: Bye and DNS-SD goodbye, its paths answer
  HTTP 404, its active job ends Aborted as a DEVICE_GONE failure ends it
  (JobCompletedWithErrors, ScannerStopped) and its worker is stopped
  (:meth:`firmware.app.App.remove_scanner`). A scanner whose SANE name carries a
  ``libusb:BUS:DEV`` still present on the bus is kept: a backend may skip a
  device another process (our worker) has open.

There is no periodic re-enumeration: every enumeration starts a worker that
runs ``sane_init`` for every configured backend (network backends probe the
LAN for seconds; some USB backends open devices to identify them, which can
disturb a scan in progress), which is not cheap on a Raspberry Pi. USB changes
and an explicit :meth:`Hotplug.trigger` (SIGHUP in the service) cover what the
appliance serves. Without libusb, polling is off and only :meth:`trigger` and
the start-up enumeration add scanners.

The initial enumeration is :meth:`Hotplug.start`'s own reconcile, so start-up
and hotplug share one path.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from drivers.base import Condition, Scanner, ScannerError, ScannerInfo

from .app import App, ServedScanner
from .config import Config
from .dpws import DiscoveryService
from .udev_monitor import UdevMonitor, UsbEvent

if TYPE_CHECKING:
    from .escl.dnssd import DnssdAnnouncer

log = logging.getLogger(__name__)

USB_POLL_INTERVAL = 2.0
"""Seconds between two looks at the USB bus."""

SETTLE_DELAY = 1.0
"""Seconds between seeing a USB change and enumerating SANE (udev rules run meanwhile)."""

RETRY_DELAY = 3.0
"""Seconds after a udev ``add`` whose enumeration found no new scanner before enumerating once more."""

UsbDevice = tuple[int, int, int, int]
"""``(bus, address, idVendor, idProduct)`` of one USB device."""

_LIBUSB_NAME = re.compile(r"libusb:(\d{1,3}):(\d{1,3})(?::|$)")


def usb_snapshot() -> frozenset[UsbDevice]:
    """The USB devices present now, through pyusb. Blocking (call it in a thread).

    Raises ``usb.core.NoBackendError`` when libusb is missing, ``ImportError``
    without pyusb, ``usb.core.USBError`` / ``OSError`` when the bus cannot be read.
    """
    import usb.core

    return frozenset((d.bus, d.address, d.idVendor, d.idProduct) for d in usb.core.find(find_all=True))


def libusb_address(sane_name: str) -> tuple[int, int] | None:
    """``(bus, address)`` of a SANE device named with ``libusb:BBB:DDD``
    (``genesys:libusb:001:004`` -> ``(1, 4)``), else None."""
    match = _LIBUSB_NAME.search(sane_name)
    return (int(match.group(1)), int(match.group(2))) if match else None


def sane_scanner_for(config: Config, info: ScannerInfo, sane_config_dir: str | None = None) -> Scanner | None:
    """The SANE driver for ``info`` with its configured SANE options and watchdog
    (``worker_timeout``), or None when the configuration disables it."""
    from drivers.sane import SaneScanner

    overrides = config.overrides_for(info.name, info.usb_id)
    if overrides.disabled:
        return None
    return SaneScanner(
        info,
        sane_options=overrides.sane_options,
        sane_config_dir=sane_config_dir,
        unresponsive_timeout=config.worker_timeout,
    )


@dataclass
class Changes:
    """What one reconcile did: the scanners it started and stopped serving."""

    added: list[ServedScanner] = field(default_factory=list)
    removed: list[ServedScanner] = field(default_factory=list)

    def __bool__(self) -> bool:
        """True when anything changed."""
        return bool(self.added or self.removed)


class Hotplug:
    """Keeps ``app``'s scanners equal to what SANE lists, re-enumerating on USB changes.

    ``discovery``: the running ``DiscoveryService`` (Hello/Bye per scanner), or
    None when discovery is off. ``dnssd``: the running DNS-SD announcer of the eSCL
    services (:class:`~firmware.escl.dnssd.DnssdAnnouncer`), or None. ``sane_config_dir``: SANE_CONFIG_DIR of the
    enumeration and driver workers (None: this process's environment).
    ``list_scanners``: async callable returning the :class:`ScannerInfo` list
    (default :func:`drivers.sane.list_scanners`); ``make_scanner``: the driver
    for one info, or None to leave it out (default :func:`sane_scanner_for`).
    ``on_change``: called with the :class:`Changes` of every reconcile that
    changed something (the service logs the new URLs there).
    ``poll_interval`` / ``settle_delay`` / ``retry_delay``: seconds (:data:`USB_POLL_INTERVAL`,
    :data:`SETTLE_DELAY`, :data:`RETRY_DELAY`). ``udev``: also follow udev's USB events
    (:class:`~firmware.udev_monitor.UdevMonitor`) when available.

    Use from one event loop: ``await start()``, later ``await stop()``.
    """

    def __init__(
        self,
        app: App,
        discovery: DiscoveryService | None = None,
        *,
        dnssd: DnssdAnnouncer | None = None,
        sane_config_dir: str | None = None,
        list_scanners: Callable[[], Awaitable[list[ScannerInfo]]] | None = None,
        make_scanner: Callable[[ScannerInfo], Scanner | None] | None = None,
        on_change: Callable[[Changes], None] | None = None,
        poll_interval: float = USB_POLL_INTERVAL,
        settle_delay: float = SETTLE_DELAY,
        retry_delay: float = RETRY_DELAY,
        udev: bool = True,
    ) -> None:
        self.app = app
        self.discovery = discovery
        self.dnssd = dnssd
        self._sane_config_dir = sane_config_dir
        self._list = list_scanners or self._list_sane
        self._make = make_scanner or (lambda info: sane_scanner_for(app.config, info, sane_config_dir))
        self._on_change = on_change
        self.poll_interval = poll_interval
        self.settle_delay = settle_delay
        self.retry_delay = retry_delay
        self.udev = UdevMonitor(self._udev_event) if udev else None
        self._udev_task: asyncio.Task | None = None
        self.usb: frozenset[UsbDevice] | None = None  # None: USB cannot be watched
        self._lock = asyncio.Lock()
        self._poller: asyncio.Task | None = None
        self._reconciles: set[asyncio.Task] = set()
        self._stopping = False
        self._disabled: set[str] = set()  # names already logged as disabled

    async def _list_sane(self) -> list[ScannerInfo]:
        from drivers.sane import list_scanners

        return await list_scanners(self._sane_config_dir)

    # -- life cycle -----------------------------------------------------------------------

    async def start(self) -> Changes:
        """Read the USB bus, enumerate SANE and serve what it lists, then start polling.

        Returns the initial :class:`Changes`. Never raises for USB or SANE failures
        (logged: a missing libusb turns polling off).
        """
        self.usb = await self._read_usb(first=True)
        changes = await self.reconcile()
        if self.udev is not None:
            why_not = self.udev.start()
            if why_not is None:
                log.info("USB hotplug: udev events, polling every %g s as a fallback", self.poll_interval)
            else:
                log.info("USB hotplug: polling every %g s (no udev events: %s)", self.poll_interval, why_not)
        if self.usb is not None:
            self._poller = asyncio.get_running_loop().create_task(self._poll())
        return changes

    async def stop(self) -> None:
        """Stop polling and let a reconcile in progress finish without adding more scanners
        (a half-started driver would outlive it). Serving scanners stay: ``App.stop`` ends them."""
        self._stopping = True
        if self.udev is not None:
            self.udev.stop()
        for task in (self._poller, self._udev_task):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        self._poller = self._udev_task = None
        await asyncio.gather(*self._reconciles, return_exceptions=True)

    def trigger(self) -> asyncio.Task:
        """Re-enumerate SANE now, whatever USB says (e.g. on SIGHUP, for network scanners);
        returns the task, whose result is the :class:`Changes`."""
        task = asyncio.get_running_loop().create_task(self.reconcile())
        self._reconciles.add(task)
        task.add_done_callback(self._reconciles.discard)
        return task

    # -- USB ------------------------------------------------------------------------------

    async def _read_usb(self, first: bool = False) -> frozenset[UsbDevice] | None:
        try:
            return await asyncio.to_thread(usb_snapshot)
        except Exception as exc:  # noqa: BLE001 - NoBackendError, ImportError, USBError, OSError
            if first:
                log.warning("USB hotplug off: cannot list USB devices (%s)", exc or type(exc).__name__)
            else:
                log.debug("cannot list USB devices: %s", exc)
            return None

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval)
            current = await self._read_usb()
            if current is None or current == self.usb:
                continue
            previous, self.usb = self.usb or frozenset(), current
            log.info("USB devices changed: %d added, %d removed", len(current - previous), len(previous - current))
            await asyncio.sleep(self.settle_delay)
            settled = await self._read_usb()
            if settled is not None:
                self.usb = settled
            await asyncio.shield(self.trigger())  # stop() cancels the polling, not the reconcile

    def _udev_event(self, event: UsbEvent) -> None:
        log.info("udev: USB device %s %s", "added" if event.action == "add" else "removed", event.describe())
        if self._stopping:
            return
        if self._udev_task is not None and not self._udev_task.done():
            self._udev_task.cancel()  # superseded: the new pass reads the bus after this event (a reconcile runs on)
        self._udev_task = asyncio.get_running_loop().create_task(self._udev_changed(event.action == "add"))

    async def _udev_changed(self, added: bool) -> None:
        """After a udev event: let the rules settle, read the bus (so polling sees no change
        twice), enumerate SANE; after an ``add`` that served nothing new, once more later."""
        await asyncio.sleep(self.settle_delay)
        current = await self._read_usb()
        if current is not None:
            self.usb = current
        changes = await asyncio.shield(self.trigger())
        if added and not changes.added and not self._stopping:
            await asyncio.sleep(self.retry_delay)
            await asyncio.shield(self.trigger())

    # -- reconciling ----------------------------------------------------------------------

    async def reconcile(self) -> Changes:
        """Enumerate SANE once and make the served scanners match (see the module docstring).

        Returns the :class:`Changes`; a failed enumeration changes nothing
        (logged). Never raises; reconciles run one at a time.
        """
        async with self._lock:
            changes = Changes()
            if self._stopping:
                return changes
            try:
                infos = await self._list()
            except ScannerError as error:
                log.warning("listing SANE devices failed: %s", error.message)
                return changes
            except Exception:
                log.exception("listing SANE devices failed")
                return changes
            listed = {info.name for info in infos}
            for served in list(self.app.scanners):
                info = served.scanner.info
                if self.app.config.overrides_for(info.name, info.usb_id).disabled:
                    log.info("scanner %s disabled in the configuration: withdrawn", served.name)
                    await self._withdraw(served, gone=False)
                    changes.removed.append(served)
                elif served.name not in listed and not self._still_on_usb(served.name):
                    log.info("scanner %s is gone: withdrawn", served.name)
                    await self._withdraw(served)
                    changes.removed.append(served)
            for info in infos:
                if self._stopping or self.app.find(info.name) is not None:
                    continue
                added = await self._serve(info)
                if added is not None:
                    changes.added.append(added)
            if changes and self._on_change is not None:
                try:
                    self._on_change(changes)
                except Exception:
                    log.exception("hotplug change callback failed")
            return changes

    def _still_on_usb(self, sane_name: str) -> bool:
        address = libusb_address(sane_name)
        if address is None or self.usb is None:
            return False
        if any((bus, dev) == address for bus, dev, _vendor, _product in self.usb):
            log.info("%s: not listed by SANE but still on the USB bus; kept", sane_name)
            return True
        return False

    async def _serve(self, info: ScannerInfo) -> ServedScanner | None:
        scanner = self._make(info)
        if scanner is None:
            if info.name not in self._disabled:
                self._disabled.add(info.name)
                log.info("scanner %s disabled in the configuration", info.name)
            return None
        try:
            served = await self.app.add_scanner(scanner)
        except Exception:
            log.exception("cannot serve scanner %s", info.name)
            await scanner.shutdown()
            return None
        if served is None:
            return None
        log.debug("scanner %s (%s %s) added", info.name, info.vendor, info.model)
        if self.discovery is not None and served.wsd:  # eSCL only: no WS-Discovery
            await self.discovery.add_device(served.device)
        if self.dnssd is not None and served.escl is not None:
            await self.dnssd.add(served.escl, self.app.friendly_name(served))
        return served

    async def _withdraw(self, served: ServedScanner, gone: bool = True) -> None:
        """Stop serving ``served``, send Bye and withdraw its DNS-SD announcement; ``gone``: it was unplugged (its job ends as
        DEVICE_GONE ends it), else it was disabled (its job ends Aborted)."""
        error = (
            ScannerError(Condition.DEVICE_GONE, f"{served.name}: the scanner is no longer connected") if gone else None
        )
        steps = [self.app.remove_scanner(served, error)]  # first: its paths answer 404 at once
        if self.discovery is not None:
            steps.append(self.discovery.remove_device(served.device))
        if self.dnssd is not None and served.escl is not None:
            steps.append(self.dnssd.remove(served.escl))
        await asyncio.gather(*steps)
