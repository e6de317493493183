"""The Raspberry Pi image (image/build.py): built, checked statically, booted under QEMU, scanned through.

Once per module the recipe builds the image (cached between runs, keyed by its inputs: a cold
build is an mmdebstrap run under emulation, about 10 minutes on two cores; from a cached base
tree a few minutes; unchanged inputs reuse the image). The timings are printed and kept in the
image's manifest.

No emulator runs the Pi's own firmware, so what the Pi's boot chain needs is checked statically:
the MBR and its partitions, the FAT partition's firmware for the Pi 3/Zero 2 W and Pi 4,
``config.txt`` naming a kernel and initramfs that are there, the boards' DTBs, ``cmdline.txt``'s
``root=LABEL=`` matching the ext4 partition's label, the service enabled, SSH off, no test
configuration in the shipped image.

Then a copy of the image, grown by 512 MiB as a bigger card would be, gets a test-only
configuration (written with debugfs, no mount): SANE's ``test`` backend as the only backend, and a
unit that prints the boot's outcome and follows the service's journal on the serial console. It
boots under ``qemu-system-aarch64 -M virt -cpu cortex-a53 -m 1024`` with the kernel, initramfs and
command line of its own boot partition (consoles swapped for QEMU's PL011). Checks: ``running``
with no failed unit, first boot grew the root file system and set a unique host name; from the host
through a 127.0.0.1 port forward the eSCL ScannerStatus (the service has no separate health page)
and a scan through sane-airscan, pixel-identical to a direct scan of the same ``test`` device;
a USB keyboard plugged into the emulated xHCI controller and unplugged through the QEMU monitor
shows in the service's log (its udev monitor).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from tests.airscan import DEVICE, airscan_dir, scanimage
from tests.appliance import pi_image
from tests.appliance.pi_image import PiVm, boot_files, partitions, root_list, root_read
from tests.sane_env import write_sane_dir
from tests.servers import free_port

_WHY_NOT = pi_image.why_not()
pytestmark = [pytest.mark.boot, pytest.mark.slow, pytest.mark.skipif(_WHY_NOT is not None, reason=_WHY_NOT or "")]

MIB = 1 << 20
BOOT_TIMEOUT = 900.0
"""Seconds the emulated boot may take to report (TCG on two shared cores: a few minutes)."""

PI3_FIRMWARE = ("bootcode.bin", "start.elf", "fixup.dat")
PI4_FIRMWARE = ("start4.elf", "fixup4.dat")
BOARD_DTBS = {
    "Raspberry Pi 3 B": "bcm2837-rpi-3-b.dtb",
    "Raspberry Pi 3 B+": "bcm2837-rpi-3-b-plus.dtb",
    "Raspberry Pi 3 A+": "bcm2837-rpi-3-a-plus.dtb",
    "Raspberry Pi Zero 2 W": "bcm2837-rpi-zero-2-w.dtb",
    "Raspberry Pi 4 B": "bcm2711-rpi-4-b.dtb",
    "Raspberry Pi 400": "bcm2711-rpi-400.dtb",
}

REPORT_UNIT = "wsdscan-test-report.service"
REPORT_SCRIPT = """\
#!/bin/sh
# Test-only (tests/appliance/test_pi_image.py): the boot's outcome, then the service's journal,
# on the serial console.
state=$(systemctl is-system-running --wait)
echo "WSDTEST state=$state"
systemctl --failed --plain --no-legend --no-pager | sed 's/^/WSDTEST failed /'
echo "WSDTEST hostname=$(hostname)"
echo "WSDTEST root_bytes=$(findmnt -n -b -o SIZE /)"
echo "WSDTEST firstboot=$(systemctl show -P Result wsdscan-firstboot.service)"
echo "WSDTEST service=$(systemctl show -P ActiveState wsd-scan-server.service)/$(systemctl show -P NRestarts wsd-scan-server.service)"
echo "WSDTEST ssh=$(systemctl is-active ssh.service)"
echo "WSDTEST boot_time=$(systemd-analyze time | head -1)"
echo "WSDTEST ready"
journalctl -f -n all -o short-monotonic -u wsd-scan-server.service | sed -u 's/^/WSDTEST journal /'
"""
REPORT_SERVICE = """\
[Unit]
Description=Boot test report on the serial console (test copy of the image only)

[Service]
ExecStart=/usr/local/sbin/wsdscan-test-report
StandardOutput=tty
TTYPath=/dev/console

[Install]
WantedBy=multi-user.target
"""


@dataclass
class Booted:
    """The booted test copy: the VM, its ``WSDTEST key=value`` report, the forwarded base URL."""

    vm: PiVm
    report: dict[str, str]
    failed: list[str]
    base_url: str
    seconds: float


@pytest.fixture(scope="module")
def built():
    image = pi_image.build()  # a failing build fails the tests: it is no reason to skip
    seconds = image.manifest.get("seconds", {})
    print(
        f"\nPi image {image.manifest['key']}: this build call {image.seconds:.0f} s; "
        f"cold build: base tree {seconds.get('base', 0):.0f} s + image {seconds.get('image', 0):.0f} s",
        file=sys.stderr,
    )
    return image


@pytest.fixture(scope="module")
def layout(built):
    label, parts = partitions(built.path)
    return label, parts


def test_partition_table_labels_and_sizes(built, layout):
    recipe = pi_image.recipe()
    label, parts = layout
    assert label == "dos"  # the Pi's boot ROM reads an MBR
    assert len(parts) == 2
    boot, root = parts
    assert boot.type == "c" and boot.bootable  # FAT32 (LBA)
    assert boot.start == recipe.BOOT_OFFSET_MIB * MIB and boot.size == recipe.BOOT_MIB * MIB
    assert root.type == "83" and root.start == boot.start + boot.size
    assert root.start + root.size == built.path.stat().st_size == built.manifest["size"]
    assert pi_image.fat_label(built.path, boot) == recipe.BOOT_LABEL == built.manifest["boot_label"]
    probed = pi_image.probe(built.path, root)
    assert probed["TYPE"] == "ext4" and probed["LABEL"] == recipe.ROOT_LABEL == built.manifest["root_label"]
    # Small enough to write quickly, with room to start before first boot grows it.
    assert 600 * MIB < root.size < 3000 * MIB


def test_boot_partition_has_what_the_pi_firmware_needs(built, layout, tmp_path):
    boot = layout[1][0]
    files = boot_files(built.path, boot)
    for name in (*PI3_FIRMWARE, *PI4_FIRMWARE, "config.txt", "cmdline.txt"):
        assert name in files, f"{name} missing from the boot partition: {files}"
    missing = {board: dtb for board, dtb in BOARD_DTBS.items() if dtb not in files}
    assert not missing, f"no device tree for {missing}"
    config = pi_image.boot_file(built.path, boot, "config.txt", tmp_path / "config.txt").read_text()
    lines = [line.strip() for line in config.splitlines() if line.strip() and not line.startswith("#")]
    assert "arm_64bit=1" in lines and "upstream_kernel=1" in lines
    kernel = next(line.split("=", 1)[1] for line in lines if line.startswith("kernel="))
    initrd = next(line.split()[1] for line in lines if line.startswith("initramfs "))
    assert kernel == f"vmlinuz-{built.manifest['kernel']}" and kernel in files
    assert initrd == f"initrd.img-{built.manifest['kernel']}" and initrd in files
    cmdline = pi_image.boot_file(built.path, boot, "cmdline.txt", tmp_path / "cmdline.txt").read_text()
    assert len(cmdline.splitlines()) == 1  # the firmware reads one line
    words = cmdline.split()
    assert f"root=LABEL={built.manifest['root_label']}" in words
    assert "rootwait" in words and "console=ttyS1,115200" in words


def test_root_file_system_is_the_appliance(built, layout):
    image, root = built.path, layout[1][1]
    wants = root_list(image, root, "/etc/systemd/system/multi-user.target.wants")
    assert "wsd-scan-server.service" in wants and "systemd-networkd.service" in wants
    assert "ssh.service" not in wants  # SSH off until a file "ssh" on the boot partition
    wifi = pi_image.recipe().WIFI_UNIT
    assert wifi not in wants  # else boot waits for a wlan0 that a Pi without Wi-Fi never gets
    assert wifi in root_list(image, root, "/" + pi_image.recipe().WIFI_WANTS)  # started when wlan0 appears
    assert "ssh.socket" not in root_list(image, root, "/etc/systemd/system/sockets.target.wants")
    preset = (root_read(image, root, "/etc/systemd/system-preset/50-wsdscan.preset") or "").splitlines()
    assert "disable ssh.service" in preset and "disable ssh.socket" in preset  # first boot's preset-all
    assert "wsdscan-firstboot.service" in root_list(image, root, "/etc/systemd/system/sysinit.target.wants")
    assert root_read(image, root, "/etc/machine-id") == "uninitialized\n"  # first boot detected on every card
    assert not [n for n in root_list(image, root, "/etc/ssh") if n.startswith("ssh_host_")]  # per-card keys
    fstab = root_read(image, root, "/etc/fstab") or ""
    assert f"LABEL={built.manifest['root_label']}" in fstab and f"LABEL={built.manifest['boot_label']}" in fstab
    assert root_list(image, root, "/boot/firmware") == []  # the FAT partition is mounted there
    launcher = root_read(image, root, "/usr/bin/wsd-scan-server") or ""
    assert launcher == (pi_image.REPO / "debian/wsd-scan-server.launcher").read_text()  # the Debian package's
    status = root_read(image, root, "/var/lib/dpkg/status") or ""
    assert "Package: wsd-scan-server\nStatus: install ok installed" in status, "installed as a Debian package"
    assert "wsd-scan:" in (root_read(image, root, "/etc/passwd") or "")
    unit = root_read(image, root, "/usr/lib/systemd/system/wsd-scan-server.service")
    assert unit == (pi_image.REPO / "systemd/wsd-scan-server.service").read_text()
    assert "StateDirectory=wsd-scan-server" in unit  # /var/lib on the root partition
    config = root_read(image, root, "/etc/wsd-scan-server/config.toml")
    assert config == (pi_image.REPO / "config.example.toml").read_text()


def test_shipped_image_has_no_test_configuration(built, layout):
    image, root = built.path, layout[1][1]
    dll = root_read(image, root, "/etc/sane.d/dll.conf") or ""
    assert "#test" in dll.split() and "test" not in dll.split()  # Debian's default: the test backend off
    assert [n for n in root_list(image, root, "/etc/sane.d/dll.d") if "test" in n] == []
    assert root_read(image, root, f"/etc/systemd/system/{REPORT_UNIT}") is None
    assert root_read(image, root, "/usr/local/sbin/wsdscan-test-report") is None


def _test_copy(built, workdir: Path) -> Path:
    """A copy of the image, 512 MiB bigger, with the test-only configuration written in by debugfs."""
    copy = workdir / "pi-test.img"
    subprocess.run(["cp", "--reflink=auto", "--sparse=always", str(built.path), str(copy)], check=True)
    os.truncate(copy, copy.stat().st_size + 512 * MIB)
    root = partitions(copy)[1][1]
    sane = write_sane_dir(workdir / "sane")  # dll.conf = test only; test.conf as the direct scan's
    (workdir / "report").write_text(REPORT_SCRIPT)
    (workdir / "report").chmod(0o755)
    (workdir / "report.service").write_text(REPORT_SERVICE)
    pi_image.root_edit(
        copy,
        root,
        [
            "cd /etc/sane.d",
            "rm dll.conf",
            f"write {sane / 'dll.conf'} dll.conf",
            "rm test.conf",
            f"write {sane / 'test.conf'} test.conf",
            "mkdir /usr/local/sbin",
            f"write {workdir / 'report'} /usr/local/sbin/wsdscan-test-report",
            f"write {workdir / 'report.service'} /etc/systemd/system/{REPORT_UNIT}",
            f"symlink /etc/systemd/system/multi-user.target.wants/{REPORT_UNIT} /etc/systemd/system/{REPORT_UNIT}",
        ],
        workdir,
    )
    assert (root_read(copy, root, "/etc/sane.d/dll.conf") or "").split() == ["test"]
    return copy


@pytest.fixture(scope="module")
def booted(built, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("pi-vm")
    copy = _test_copy(built, workdir)
    port = free_port()
    vm = PiVm(copy, workdir, port)
    vm.start()
    try:
        vm.wait_console(r"^WSDTEST ready", BOOT_TIMEOUT)
        seconds = time.monotonic() - vm.started
        text = vm.console_text()
        report: dict[str, str] = {}
        failed = []
        for line in text.splitlines():  # a getty's login prompt may share a line with a report line
            if match := re.search(r"WSDTEST failed (.*)", line):
                failed.append(match[1])
            elif match := re.search(r"WSDTEST (\w+)=(.*)", line):
                report[match[1]] = match[2].strip()
        print(f"\nPi image booted under QEMU in {seconds:.0f} s: {report.get('boot_time')}", file=sys.stderr)
        yield Booted(vm, report, failed, f"http://127.0.0.1:{port}", seconds)
    finally:
        vm.stop()
        shutil.copy2(vm.console, built.path.parent / "last-boot-console.log")


def test_boots_to_running_with_no_failed_unit(booted):
    assert booted.report.get("state") == "running", booted.vm.tail()
    assert booted.failed == [], booted.vm.tail()
    assert booted.report.get("service") == "active/0", booted.vm.tail()  # never restarted
    assert booted.report.get("ssh") != "active"


def test_boot_waits_for_no_device_this_machine_lacks(booted):
    """The VM has no Wi-Fi, like a Pi without it or with it switched off: nothing may wait for
    wlan0 (systemd gives up on a device after 90 s, and network.target, the service with it)."""
    console = booted.vm.console_text()
    assert "Timed out waiting for device" not in console, booted.vm.tail()
    assert "Dependency failed" not in console, booted.vm.tail()


def test_first_boot_grew_the_root_file_system_and_named_the_host(built, booted):
    assert booted.report.get("firstboot") == "success", booted.vm.tail()
    original = partitions(built.path)[1][1].size
    assert int(booted.report["root_bytes"]) > original + 400 * MIB  # the copy is 512 MiB bigger
    hostname = booted.report.get("hostname", "")
    assert hostname.startswith("wsdscan-") and len(hostname) == len("wsdscan-") + 4 and hostname != "wsdscan-0000"


def test_status_through_the_port_forward(booted):
    # The service has no separate health page: eSCL's ScannerStatus is its status answer.
    with urllib.request.urlopen(f"{booted.base_url}/eSCL/ScannerStatus", timeout=30) as response:
        assert response.status == 200
        body = response.read().decode()
    assert "<pwg:State>Idle</pwg:State>" in body


def _scan_path(booted) -> str:
    """The path of ``test:0``'s scan service, from the service's log line on the console."""
    match = booted.vm.wait_console(r"WSDTEST journal .*scan service http://\S+?:5358(/\S+) \(.*SANE test:0\)", 60)
    return match[1]


def test_scan_through_sane_airscan_equals_a_direct_scan(booted, tmp_path):
    client = airscan_dir(tmp_path / "client", booted.base_url + _scan_path(booted))
    out = tmp_path / "wsd.pnm"
    result = scanimage(client, "-d", DEVICE, "--mode", "Color", "--resolution", "150", "--format=pnm", "-o", str(out))
    assert result.returncode == 0, f"{result.stderr}\n{booted.vm.tail()}"
    direct_out = tmp_path / "direct.pnm"
    area = ("-l", "0", "-t", "0", "-x", "200", "-y", "200")
    direct = scanimage(
        write_sane_dir(tmp_path / "direct"),
        "-d",
        "test:0",
        *area,
        "--mode",
        "Color",
        "--resolution",
        "150",
        "--format=pnm",
        "-o",
        str(direct_out),
    )
    assert direct.returncode == 0, direct.stderr
    received, expected = Image.open(out), Image.open(direct_out)
    assert received.mode == expected.mode == "RGB"
    assert received.size == expected.size == (1181, 1181)  # 200 mm at 150 dpi
    assert received.tobytes() == expected.tobytes()


def test_usb_device_plugged_and_unplugged_is_seen_by_hotplug(booted):
    vm = booted.vm
    vm.wait_console(r"WSDTEST journal .*USB hotplug: udev events", 60)
    mark = len(vm.console_text())
    plugged = time.monotonic()
    assert "Error" not in vm.monitor("device_add usb-kbd,id=testkbd,bus=xhci.0")
    vm.wait_console(r"WSDTEST journal .*udev: USB device added 0627:0001", 120, since=mark)
    seen = time.monotonic() - plugged
    mark = len(vm.console_text())
    assert "Error" not in vm.monitor("device_del testkbd")
    vm.wait_console(r"WSDTEST journal .*udev: USB device removed 0627:0001", 120, since=mark)
    print(f"\nUSB keyboard plugged: in the service's log {seen:.1f} s later", file=sys.stderr)
