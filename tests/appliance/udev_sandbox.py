"""Run real ``udevadm test`` against fake USB devices inside a private mount namespace.

A test describes USB devices (:class:`FakeUsbDevice`: ids and interface classes);
:func:`run_udev` builds a sysfs tree for them in a temporary directory, then, in a
mount namespace of its own (``unshare --mount``, needs root), binds that tree over
``/sys``, puts fresh tmpfs over ``/dev`` and ``/run`` (with the device nodes
``/dev/bus/usb/001/NNN`` created 0600 root:root), replaces the udev rule
directories with exactly the rule files the test chose, ``/etc/group`` with the
groups it chose, and runs ``udevadm test --action=add`` on every device.  Nothing
outside the namespace is touched.  ``udevadm test`` applies ``ATTR{}`` writes and
node ownership/mode like udevd would, and lists the ``RUN`` programs it would start.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import textwrap
from dataclasses import dataclass
from pathlib import Path

from tests.prereqs import missing_prerequisite

USB_DEVICE_MAJOR = 189
_PROPERTY = re.compile(r"^([A-Za-z0-9_]+)=(.*)$")


@dataclass(frozen=True)
class FakeUsbDevice:
    """A USB device as the kernel shows it in sysfs.

    ``vendor`` and ``product`` are 4 lowercase hex digits; ``interfaces`` holds one
    (class, subclass, protocol) triple per interface of its only configuration;
    ``devnum`` (1..127) gives its node ``/dev/bus/usb/001/<devnum>``.
    """

    vendor: str
    product: str
    interfaces: tuple[tuple[int, int, int], ...]
    devnum: int

    @property
    def sysname(self) -> str:
        """The sysfs name, ``1-<devnum>`` (bus 1, one port per device)."""
        return f"1-{self.devnum}"

    @property
    def devnode(self) -> str:
        """The libusb device node path."""
        return f"/dev/bus/usb/001/{self.devnum:03d}"

    def descriptors(self) -> bytes:
        """The binary ``descriptors`` sysfs attribute: device, configuration, interfaces.

        Every interface descriptor is followed by one bulk-in endpoint descriptor,
        as on real hardware (udev's usb_id needs bytes after the last interface).
        """
        vid, pid = int(self.vendor, 16), int(self.product, 16)
        device = struct.pack("<BBHBBBBHHHBBBB", 18, 1, 0x0200, 0, 0, 0, 64, vid, pid, 0x0100, 1, 2, 0, 1)
        body = b""
        for number, (cls, subclass, protocol) in enumerate(self.interfaces):
            body += struct.pack("<BBBBBBBBB", 9, 4, number, 0, 1, cls, subclass, protocol, 0)
            body += struct.pack("<BBBBHB", 7, 5, 0x81 + number, 2, 512, 0)
        config = struct.pack("<BBHBBBBB", 9, 2, 9 + len(body), len(self.interfaces), 1, 0, 0x80, 50)
        return device + config + body


@dataclass(frozen=True)
class UdevOutcome:
    """What ``udevadm test`` did to one device.

    ``properties``: the device's udev properties afterwards; ``run``: the RUN
    programs it would start; ``group`` and ``mode`` (e.g. ``0o660``): its device
    node afterwards; ``power_control``: the ``power/control`` attribute afterwards
    (``auto`` before); ``log``: the full ``udevadm test`` output.
    """

    properties: dict[str, str]
    run: list[str]
    group: str
    mode: int
    power_control: str
    log: str


def can_run() -> str | None:
    """Return why :func:`run_udev` cannot run here, or None when it can."""
    missing = missing_prerequisite(
        "a private mount namespace with device nodes",
        {"udevadm": "udev", "unshare": "util-linux", "mknod": "coreutils"},
    )
    if missing:
        return missing
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"udev rule tests need a private mount namespace, which this machine refuses (unshare --mount: {probe.stderr.strip()}); run them on a host or a privileged container"
    return None


def _write_sysfs(sys_root: Path, device: FakeUsbDevice) -> str:
    """Create ``device``'s sysfs directory under ``sys_root``; return its /sys path."""
    rel = Path("devices/pci0000:00/0000:00:14.0/usb1") / device.sysname
    path = sys_root / rel
    (path / "power").mkdir(parents=True)
    (sys_root / "bus/usb/devices").mkdir(parents=True, exist_ok=True)
    (path / "subsystem").symlink_to(os.path.relpath(sys_root / "bus/usb", path))
    (path / "uevent").write_text(
        f"MAJOR={USB_DEVICE_MAJOR}\nMINOR={device.devnum - 1}\n"
        f"DEVNAME=bus/usb/001/{device.devnum:03d}\nDEVTYPE=usb_device\nDRIVER=usb\n"
        f"PRODUCT={int(device.vendor, 16):x}/{int(device.product, 16):x}/100\n"
        f"TYPE=0/0/0\nBUSNUM=001\nDEVNUM={device.devnum:03d}\n"
    )
    for name, value in (("idVendor", device.vendor), ("idProduct", device.product), ("bDeviceClass", "00")):
        (path / name).write_text(value + "\n")
    (path / "descriptors").write_bytes(device.descriptors())
    (path / "power/control").write_text("auto\n")
    return "/sys/" + str(rel)


def _parse(log: str) -> tuple[dict[str, str], list[str]]:
    """Split ``udevadm test`` output into its final properties and RUN lines."""
    properties: dict[str, str] = {}
    run: list[str] = []
    for line in log.splitlines():
        if line.startswith("run: '") and line.endswith("'"):
            run.append(line.removeprefix("run: '").removesuffix("'"))
        elif match := _PROPERTY.match(line):
            properties[match.group(1)] = match.group(2)
    return properties, run


def _power_control(content: str) -> str:
    """The value a real ``power/control`` would hold, given its stand-in file's content.

    The stand-in is a regular file holding ``auto``; udev writes attributes
    without truncating (sysfs needs none), so writing ``on`` leaves ``onto``.
    """
    value = content.strip()
    return "on" if value.startswith("on") else value


def run_udev(
    work: Path,
    rules: dict[str, str],
    devices: list[FakeUsbDevice],
    groups: dict[str, int],
    hide_setfacl: bool = False,
) -> dict[FakeUsbDevice, UdevOutcome]:
    """Run ``udevadm test --action=add`` for ``devices`` with only ``rules`` installed.

    ``work``: a scratch directory, created if missing, empty otherwise; ``rules``: file name -> rules text, the
    only rule files udev sees (as /etc/udev/rules.d); ``groups``: name -> gid, the
    whole /etc/group besides root; ``hide_setfacl``: make /usr/bin empty, so that
    ``TEST=="/usr/bin/setfacl"`` fails.  Raises ``subprocess.CalledProcessError``
    when the namespace set-up fails.
    """
    work.mkdir(parents=True, exist_ok=True)
    sys_root, rules_dir, empty, out = work / "sys", work / "rules", work / "empty", work / "out"
    for directory in (sys_root, rules_dir, empty, out):
        directory.mkdir()
    for name, text in rules.items():
        (rules_dir / name).write_text(text)
    group_file = work / "group"
    group_file.write_text("root:x:0:\n" + "".join(f"{name}:x:{gid}:\n" for name, gid in groups.items()))
    # Private copies, so that they stay reachable when /usr/bin is hidden.
    tools = work / "bin"
    tools.mkdir()
    for tool in ("udevadm", "mknod", "stat", "cat"):
        path = shutil.which(tool)
        assert path is not None, f"{tool} is not installed"  # can_run() checked the first two
        shutil.copy(path, tools / tool)

    steps = []
    for device in devices:
        syspath = _write_sysfs(sys_root, device)
        steps.append(
            f"{tools}/mknod -m 0600 {device.devnode} c {USB_DEVICE_MAJOR} {device.devnum - 1}\n"
            f"SYSTEMD_DEVICE_VERIFY_SYSFS=0 {tools}/udevadm test --action=add '{syspath}' "
            f'> {out}/{device.sysname}.log 2>&1 || echo "exit $?" >> {out}/{device.sysname}.log\n'
            f"{tools}/stat -c '%G %a' {device.devnode} > {out}/{device.sysname}.stat\n"
            f"{tools}/cat '{syspath}/power/control' > {out}/{device.sysname}.power\n"
        )
    script = textwrap.dedent(
        f"""\
        set -e
        mount --bind {sys_root} /sys
        mount -t tmpfs tmpfs /dev
        mkdir -p /dev/bus/usb/001
        mount -t tmpfs tmpfs /run
        mount --bind {rules_dir} /etc/udev/rules.d
        for d in /usr/lib/udev/rules.d /lib/udev/rules.d; do
            [ -d "$d" ] && mount --bind {empty} "$d"
        done
        mount --bind {group_file} /etc/group
        """
    )
    if hide_setfacl:
        script += "mount -t tmpfs tmpfs /usr/bin\n"
    script += "".join(steps)
    (work / "run.sh").write_text(script)
    subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "/bin/sh", str(work / "run.sh")],
        check=True,
        capture_output=True,
        timeout=120,
    )

    outcomes = {}
    for device in devices:
        log = (out / f"{device.sysname}.log").read_text()
        properties, run = _parse(log)
        group, mode = (out / f"{device.sysname}.stat").read_text().split()
        outcomes[device] = UdevOutcome(
            properties=properties,
            run=run,
            group=group,
            mode=int(mode, 8),
            power_control=_power_control((out / f"{device.sysname}.power").read_text()),
            log=log,
        )
    return outcomes
