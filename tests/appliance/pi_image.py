"""The Raspberry Pi image for tests: built by image/build.py, read without mounting, booted under QEMU.

* :func:`build` runs the recipe (cached in ``$WSD_SCAN_SERVER_TEST_CACHE/pi-image``, keyed by its
  inputs) and returns the :class:`Built` image with its manifest and how long this call took.
* :class:`BackgroundBuild` runs the same recipe (``image/build --no-output``) in a child process
  from the start of a test session, so that a cold build overlaps the tests before the Pi image's.
* :func:`partitions` reads the MBR (``sfdisk --json``); :func:`boot_files` / :func:`boot_file`
  read the FAT partition with mtools (``-i IMG@@OFFSET``); :func:`root_read` and
  :func:`root_edit` read and write the ext4 partition with debugfs (``IMG?offset=N``). No loop
  device, no mount.
* :class:`PiVm` boots an image file under ``qemu-system-aarch64 -M virt`` with the kernel and
  initramfs taken from that image's own boot partition, its serial console in a file, its
  monitor on a UNIX socket and the service's port forwarded to 127.0.0.1.
"""

from __future__ import annotations

import importlib.util
import json
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from tests.appliance.paths import REPO
from tests.prereqs import missing_prerequisite
from tests.processes import stop_process

BUILD_SCRIPT = REPO / "image" / "build.py"
SECTOR = 512


def recipe() -> ModuleType:
    """image/build.py as a module (the recipe is a script, not a package); loaded once."""
    if "wsdscan_image_build" in sys.modules:
        return sys.modules["wsdscan_image_build"]
    spec = importlib.util.spec_from_file_location("wsdscan_image_build", BUILD_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@dataclass
class Built:
    """A built image: the ``.img`` path, its manifest (image/build.py), seconds this build call took."""

    path: Path
    manifest: dict
    seconds: float


def build() -> Built:
    """Build (or take from the cache) the image; raises the recipe's BuildError on failure."""
    started = time.monotonic()
    image = recipe().build_image()
    return Built(image.path, image.manifest, time.monotonic() - started)


class BackgroundBuild:
    """``image/build --no-output`` in a child process of its own process group, started when a
    test session begins, so that a cold build (the base tree takes 6-8 minutes under qemu-user,
    the recipe runs it at nice 15) overlaps the tests that run before the Pi image tests.

    Nothing waits for the child: :func:`build` takes the recipe's lock (``<cache>/lock``) after it,
    so the image tests reuse what it built; after a failed background build, :func:`build` runs
    the recipe again and fails with its error. The child's output goes to ``log``; ``argv`` is
    the recipe's command unless given (tests give another).
    """

    def __init__(self, log: Path, argv: list[str] | None = None) -> None:
        self.log = log
        self.argv = argv or [sys.executable, str(BUILD_SCRIPT), "--no-output"]
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        """Start the child (once)."""
        if self.process is not None:
            return
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "w") as out:
            self.process = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() ends mmdebstrap and dpkg too
            )

    def stop(self, grace: float = 60.0) -> None:
        """End a child that is still running (the session ended before the image tests waited for
        it): SIGTERM to its process group (mmdebstrap unmounts and cleans up on it), SIGKILL after
        ``grace`` seconds. The recipe removes a half-built stage at its next run."""
        if self.process is not None:
            stop_process(self.process, grace, group=True)


@dataclass(frozen=True)
class Partition:
    """One MBR partition: ``start`` and ``size`` in bytes, ``type`` (hex, as sfdisk writes it), bootable flag."""

    start: int
    size: int
    type: str
    bootable: bool


def partitions(image: Path) -> tuple[str, list[Partition]]:
    """The partition table's label (``dos`` for MBR) and its partitions in order."""
    table = json.loads(subprocess.run(["sfdisk", "--json", str(image)], capture_output=True, check=True).stdout)
    table = table["partitiontable"]
    assert table["sectorsize"] == SECTOR
    parts = [
        Partition(p["start"] * SECTOR, p["size"] * SECTOR, p["type"], bool(p.get("bootable")))
        for p in table["partitions"]
    ]
    return table["label"], parts


def boot_files(image: Path, boot: Partition) -> list[str]:
    """Names of the files in the FAT partition's top directory."""
    out = subprocess.run(
        ["mdir", "-i", f"{image}@@{boot.start}", "-b", "::"], capture_output=True, text=True, check=True
    )
    return sorted(line.removeprefix("::/") for line in out.stdout.split())


def boot_file(image: Path, boot: Partition, name: str, dest: Path) -> Path:
    """Copy ``name`` from the FAT partition to ``dest``; returns ``dest``."""
    subprocess.run(["mcopy", "-n", "-i", f"{image}@@{boot.start}", f"::/{name}", str(dest)], check=True)
    return dest


def fat_label(image: Path, boot: Partition) -> str:
    """The FAT volume label."""
    out = subprocess.run(["mlabel", "-s", "-i", f"{image}@@{boot.start}", "::"], capture_output=True, text=True)
    return out.stdout.replace("Volume label is", "").strip()


def probe(image: Path, part: Partition) -> dict[str, str]:
    """blkid's view of a partition (``TYPE``, ``LABEL``, ...)."""
    out = subprocess.run(
        ["blkid", "-p", "-O", str(part.start), "-o", "export", str(image)], capture_output=True, text=True, check=True
    )
    return dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)


def _debugfs(image: Path, root: Path | Partition, *args: str) -> str:
    start = root.start if isinstance(root, Partition) else 0
    result = subprocess.run(["debugfs", *args, f"{image}?offset={start}"], capture_output=True, text=True, check=True)
    return result.stdout


def root_read(image: Path, root: Partition, path: str) -> str | None:
    """The content of ``path`` in the ext4 root partition (a symlink: its target), or None if missing."""
    stat = _debugfs(image, root, "-R", f"stat {path}")
    if "Inode:" not in stat:
        return None
    if "Type: symlink" in stat:
        match = re.search(r'Fast link dest: "(.*)"', stat)
        return match[1] if match else ""
    return _debugfs(image, root, "-R", f"cat {path}")


def root_list(image: Path, root: Partition, directory: str) -> list[str]:
    """Names in ``directory`` of the root partition (without ``.`` and ``..``); empty if missing."""
    out = _debugfs(image, root, "-R", f"ls -p {directory}")
    names = [line.split("/")[5] for line in out.splitlines() if line.count("/") >= 6]
    return sorted(n for n in names if n not in (".", ".."))


def root_edit(image: Path, root: Partition, commands: list[str], workdir: Path) -> None:
    """Run debugfs ``commands`` read-write on the root partition (``write``, ``symlink``, ``rm`` ...)."""
    script = workdir / "debugfs.cmds"
    script.write_text("\n".join(commands) + "\n")
    _debugfs(image, root, "-w", "-f", str(script))


class PiVm:
    """``qemu-system-aarch64 -M virt`` running an image file (its own kernel, initramfs and cmdline).

    ``port``: the host's 127.0.0.1 port forwarded to the service's 5358. The serial console goes
    to ``workdir/console.log``; :meth:`monitor` sends one human monitor command.
    """

    def __init__(self, image: Path, workdir: Path, port: int, cpu: str = "cortex-a53") -> None:
        self.image = image
        self.workdir = workdir
        self.port = port
        self.console = workdir / "console.log"
        self.monitor_path = workdir / "monitor.sock"
        _label, parts = partitions(image)
        boot = parts[0]
        config = boot_file(image, boot, "config.txt", workdir / "config.txt").read_text()
        kernel = re.search(r"^kernel=(\S+)", config, re.M)
        initrd = re.search(r"^initramfs (\S+)", config, re.M)
        assert kernel and initrd, config
        self.kernel = boot_file(image, boot, kernel[1], workdir / "vmlinuz")
        self.initrd = boot_file(image, boot, initrd[1], workdir / "initrd.img")
        cmdline = boot_file(image, boot, "cmdline.txt", workdir / "cmdline.txt").read_text().split()
        # The Pi's consoles (HDMI, its UART) are not on QEMU's virt board: its PL011 is ttyAMA0.
        self.cmdline = " ".join([*(w for w in cmdline if not w.startswith("console=")), "console=ttyAMA0"])
        self.argv = [
            "qemu-system-aarch64",
            "-M",
            "virt",
            "-cpu",
            cpu,
            "-smp",
            "2",
            "-m",
            "1024",
            "-kernel",
            str(self.kernel),
            "-initrd",
            str(self.initrd),
            "-append",
            self.cmdline,
            "-drive",
            f"if=none,id=disk,file={image},format=raw",
            "-device",
            "virtio-blk-pci,drive=disk",
            "-netdev",
            f"user,id=net0,hostfwd=tcp:127.0.0.1:{port}-:5358",
            "-device",
            "virtio-net-pci,netdev=net0,romfile=",  # no PXE boot ROM: the kernel is given
            "-device",
            "qemu-xhci,id=xhci",
            "-serial",
            f"file:{self.console}",
            "-monitor",
            f"unix:{self.monitor_path},server=on,wait=off",
            "-display",
            "none",
            "-no-reboot",
        ]
        self.process: subprocess.Popen | None = None
        self.started = 0.0

    def start(self) -> None:
        """Start QEMU (niced: the machine is shared)."""
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            ["nice", "-n", "10", *self.argv],
            stdin=subprocess.DEVNULL,
            stdout=open(self.workdir / "qemu.log", "w"),  # noqa: SIM115 - the child keeps it
            stderr=subprocess.STDOUT,
        )

    def console_text(self) -> str:
        """Everything the serial console printed so far."""
        return self.console.read_text(errors="replace") if self.console.exists() else ""

    def wait_console(self, pattern: str, timeout: float, since: int = 0) -> re.Match:
        """The first match of ``pattern`` (a regex, multi-line) in the console after offset ``since``;
        AssertionError with the console's tail after ``timeout`` s or if QEMU exits."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.console_text()
            match = re.compile(pattern, re.M).search(text, since)
            if match:
                return match
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"QEMU exited ({self.process.returncode}) waiting for {pattern!r}\n{self.tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {pattern!r} on the console within {timeout:g} s\n{self.tail()}")
            time.sleep(0.5)

    def tail(self, lines: int = 60) -> str:
        """The console's last lines and QEMU's own output, for assertion messages."""
        qemu = self.workdir / "qemu.log"
        own = qemu.read_text(errors="replace") if qemu.exists() else ""
        return "\n".join(self.console_text().splitlines()[-lines:]) + (f"\nqemu: {own}" if own.strip() else "")

    def monitor(self, command: str) -> str:
        """Send one command to the QEMU monitor; returns what it printed back."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(10)
            sock.connect(str(self.monitor_path))
            received = b""
            while b"(qemu)" not in received:
                received += sock.recv(4096)
            sock.sendall(command.encode() + b"\n")
            answer = b""
            while b"(qemu)" not in answer:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                answer += chunk
        return answer.decode(errors="replace")

    def stop(self) -> None:
        """Power off (QEMU's ``quit``) and wait; kill this QEMU process if it does not exit."""
        if self.process is None or self.process.poll() is not None:
            return
        try:
            self.monitor("quit")
        except OSError:
            pass
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


def why_not() -> str | None:
    """Why the image cannot be built and booted here, or None."""
    tools = {
        "mmdebstrap": "mmdebstrap",
        "genimage": "genimage",
        "mkfs.vfat": "dosfstools",
        "mcopy": "mtools",
        "mkfs.ext4": "e2fsprogs",
        "debugfs": "e2fsprogs",
        "sfdisk": "fdisk",
        "rsync": "rsync",
        "qemu-system-aarch64": "qemu-system-arm",
        "scanimage": "sane-utils",
    }
    missing = missing_prerequisite("mmdebstrap --mode=root, chroot, mkfs.ext4 -d with file owners", tools)
    if missing:
        return missing
    if not Path("/proc/sys/fs/binfmt_misc/qemu-aarch64").exists():
        return "needs arm64 binfmt emulation (apt-get install qemu-user-static binfmt-support; ./scripts/setup --test installs them and loads the qemu-aarch64 entry)"
    return None
