"""Listing the SANE devices, through a short-lived worker (libsane never runs in the service).

``sane_get_devices`` runs in a worker process started for that call alone
(:class:`~drivers.sane.link.WorkerLink` without a device). USB ids and port
paths are looked up in sysfs for device names that carry a libusb bus and
device number (``genesys:libusb:001:004``).
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from drivers.base import Condition, ScannerError, ScannerInfo
from drivers.sane import protocol
from drivers.sane.link import WorkerGone, WorkerLink

SYSFS_USB_DEVICES = "/sys/bus/usb/devices"

_LIBUSB_NAME = re.compile(r"libusb:(\d{1,3}):(\d{1,3})(?::|$)")


def usb_location(device_name: str, sysfs_root: str = SYSFS_USB_DEVICES) -> tuple[str, str] | None:
    """``("vvvv:pppp", port path)`` of a SANE device named with ``libusb:BUS:DEV``, read from
    sysfs: the lower-case hex vendor:product (``idVendor``, ``idProduct``) and the name of
    the device's sysfs directory, its port path (``1-1.2``), found by ``busnum`` and
    ``devnum``. None when the name has no such part or no device matches."""
    match = _LIBUSB_NAME.search(device_name)
    if match is None:
        return None
    bus, dev = int(match.group(1)), int(match.group(2))
    root = Path(sysfs_root)
    if not root.is_dir():
        return None
    for entry in root.iterdir():
        try:
            if int((entry / "busnum").read_text()) != bus or int((entry / "devnum").read_text()) != dev:
                continue
            vendor = (entry / "idVendor").read_text().strip().lower()
            product = (entry / "idProduct").read_text().strip().lower()
        except (OSError, ValueError):
            continue
        return f"{vendor}:{product}", entry.name
    return None


def usb_id_for(device_name: str, sysfs_root: str = SYSFS_USB_DEVICES) -> str | None:
    """``"vvvv:pppp"`` of a SANE device named with ``libusb:BUS:DEV`` (see :func:`usb_location`), or None."""
    location = usb_location(device_name, sysfs_root)
    return location[0] if location else None


def scanner_info(name: str, vendor: str, model: str, kind: str, sysfs_root: str = SYSFS_USB_DEVICES) -> ScannerInfo:
    """The :class:`ScannerInfo` of one ``sane_get_devices`` entry, with its USB id and port when
    the name carries a libusb address."""
    usb_id, usb_port = usb_location(name, sysfs_root) or (None, None)
    return ScannerInfo(name=name, vendor=vendor, model=model, type=kind, usb_id=usb_id, usb_port=usb_port)


def _enumerate(link: WorkerLink) -> list[tuple[str, str, str, str]]:
    try:
        link.start()
        link.send((protocol.DEVICES,))
        return list(link.receive_reply()[1])
    finally:
        link.stop()


async def list_scanners(
    sane_config_dir: str | None = None,
    *,
    timeout: float = 30.0,
    sysfs_root: str = SYSFS_USB_DEVICES,
) -> list[ScannerInfo]:
    """The devices ``sane_get_devices`` lists, as :class:`ScannerInfo`, in its order.

    ``sane_config_dir``: SANE_CONFIG_DIR for the listing worker (None: this
    process's environment). ``timeout``: seconds for the whole listing (network
    backends may take several); past it the worker is killed and
    ``ScannerError(UNRESPONSIVE)`` raised. Other failures raise
    ``ScannerError(IO_ERROR)``.
    """
    link = WorkerLink(None, None, sane_config_dir)
    loop = asyncio.get_running_loop()
    future = loop.run_in_executor(None, _enumerate, link)
    try:
        devices = await asyncio.wait_for(asyncio.shield(future), timeout)
    except TimeoutError:
        link.kill()
        try:
            await asyncio.wait_for(future, 5.0)
        except BaseException:  # noqa: BLE001 - the worker is dead, its error is expected
            pass
        raise ScannerError(Condition.UNRESPONSIVE, f"listing SANE devices took over {timeout:g} s") from None
    except WorkerGone as exc:
        raise ScannerError(Condition.IO_ERROR, f"listing SANE devices: {exc}") from None
    return [scanner_info(name, vendor, model, kind, sysfs_root) for name, vendor, model, kind in devices]
