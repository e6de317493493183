#!/usr/bin/env python3
"""Build the wsd-scan-server Raspberry Pi SD card image (arm64) from Debian packages only.

Usage (as root; ``image/build --help``)::

    image/build [--output DIR] [--cache DIR] [--no-output]

Two cached stages, each kept under a name keyed by a hash of its inputs in the cache
directory (``--cache``, default ``$WSD_SCAN_SERVER_TEST_CACHE/pi-image``, where
``WSD_SCAN_SERVER_TEST_CACHE`` defaults to ``/var/cache/wsd-scan-server-tests``):

1. ``base-<key>/``: an arm64 Debian 12 tree made by ``mmdebstrap`` (through qemu-user's
   binfmt emulation) with Debian's kernel (``linux-image-arm64``), ``raspi-firmware`` and the
   project's dependencies (:data:`PACKAGES`), a small initramfs (``image/base/``). Keyed by
   :data:`BUILDER_VERSION`, the suite, the package list, the archives and ``image/base/``.
   About 6-7 minutes on two cores.
2. ``image-<key>/``: a copy of that tree with the project's own Debian package built from this
   checkout (``scripts/build-deb``) and installed with ``dpkg -i`` (the unit enabled, the user
   created, the udev rules, ``/etc/wsd-scan-server/config.toml``; every dependency is in the base
   tree, all of them Debian packages), the files of ``image/rootfs/`` (first boot, fstab, networkd, Wi-Fi); then the boot partition (FAT: what raspi-firmware
   put in ``/boot/firmware``: firmware, ``config.txt``, ``cmdline.txt``, DTBs, kernel,
   initramfs) made with ``mkfs.vfat`` + ``mcopy``, the root partition with ``mkfs.ext4 -d``,
   and both laid out by ``genimage`` (:data:`GENIMAGE_CFG`) as ``wsdscan-pi-arm64.img``, with
   ``manifest.json`` (versions, packages, labels, sizes, timings). Keyed by the base key and the
   content of the project's files. About 3 minutes.

No loop device and no mount is used. Needs root (mmdebstrap's root mode, chroot, file
ownership in the trees), mmdebstrap, qemu-user-static with binfmt-support, genimage,
dosfstools, mtools, e2fsprogs, fdisk (``sfdisk``) and rsync, all Debian packages
(``scripts/setup``'s test part installs them).
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
IMAGE_DIR = REPO / "image"

SUITE = "bookworm"
ARCH = "arm64"
BUILDER_VERSION = 2
"""Bump when the way either stage is made changes, so cached results are rebuilt."""

PACKAGES = (
    # kernel, Pi firmware, boot
    "linux-image-arm64",
    "raspi-firmware",
    "initramfs-tools",
    "firmware-brcm80211",
    # system
    "systemd",
    "systemd-sysv",
    "systemd-resolved",
    "systemd-timesyncd",
    "udev",
    "dbus",
    "kmod",
    "netbase",
    "fdisk",
    "e2fsprogs",
    "wpasupplicant",
    "openssh-server",
    # the project's dependencies
    "libsane1",
    "python3",
    "python3-tornado",
    "python3-defusedxml",
    "python3-sane",
    "python3-usb",
    "python3-pil",
    "python3-zeroconf",
    "python3-pyudev",
)
"""Debian packages on top of mmdebstrap's ``minbase`` (without recommends)."""

ARCHIVES = (
    f"deb http://deb.debian.org/debian {SUITE} main non-free-firmware",
    f"deb http://deb.debian.org/debian {SUITE}-updates main non-free-firmware",
    f"deb http://deb.debian.org/debian-security {SUITE}-security main non-free-firmware",
)
"""Where the packages come from (``non-free-firmware``: ``raspi-firmware``, the Wi-Fi firmware)."""

IMAGE_NAME = "wsdscan-pi-arm64.img"
BOOT_LABEL = "WSDBOOT"
ROOT_LABEL = "wsdroot"
BOOT_MIB = 256
"""Size of the FAT boot partition (kernel and initramfs twice with an upgrade in flight fit)."""
ROOT_SLACK_MIB = 384
"""Free space in the root file system as built; first boot grows it to the card."""
BOOT_OFFSET_MIB = 4

GENIMAGE_CFG = f"""\
image {IMAGE_NAME} {{
    hdimage {{
        partition-table-type = "mbr"
    }}
    partition boot {{
        partition-type = 0x0C
        bootable = "true"
        image = "boot.vfat"
        offset = {BOOT_OFFSET_MIB}M
    }}
    partition root {{
        partition-type = 0x83
        image = "root.ext4"
    }}
}}
"""

UNITS_ENABLED = (
    "wsd-scan-server.service",
    "wsdscan-firstboot.service",
    "systemd-networkd.service",
)
UNITS_DISABLED = ("ssh.service", "wpa_supplicant.service")
"""SSH is off until the first boot finds a file ``ssh`` on the boot partition; wpa_supplicant runs
only as wpa_supplicant@wlan0, when first boot installed a Wi-Fi configuration (:data:`WIFI_WANTS`)."""

WIFI_UNIT = "wpa_supplicant@wlan0.service"
WIFI_WANTS = "etc/systemd/system/sys-subsystem-net-devices-wlan0.device.wants"
"""wpa_supplicant@wlan0 is wanted by the wlan0 device, not by multi-user.target: it starts when
the interface appears. Enabled for multi-user.target, its job would wait for a device that a Pi
without Wi-Fi (or with Wi-Fi switched off) never gets, and network.target with it, so the
service would start 90 s late (systemd's device timeout) at every boot."""

PROJECT_FILES = ("pyproject.toml", "README.md", "config.example.toml", "scripts/build-deb")
PROJECT_DIRS = ("firmware", "drivers", "systemd", "debian", "image/rootfs")


class BuildError(Exception):
    """A build step failed; the message names the command and carries its output's tail."""


@dataclass
class Image:
    """A built image: its directory in the cache, the ``.img`` in it, its manifest."""

    directory: Path
    path: Path
    manifest: dict


def cache_dir() -> Path:
    """``$WSD_SCAN_SERVER_TEST_CACHE/pi-image`` (default ``/var/cache/wsd-scan-server-tests/pi-image``)."""
    return Path(os.environ.get("WSD_SCAN_SERVER_TEST_CACHE") or "/var/cache/wsd-scan-server-tests") / "pi-image"


def _hash_files(digest, root: Path, paths) -> None:
    for rel in paths:
        path = root / rel
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            if "__pycache__" in file.parts or file.suffix == ".pyc":
                continue
            digest.update(str(file.relative_to(root)).encode() + b"\0")
            digest.update(oct(file.stat().st_mode & 0o777).encode() + b"\0")
            digest.update(file.read_bytes() + b"\0")


def base_key() -> str:
    """16 hex digits naming the base tree's recipe (builder, suite, packages, archives, image/base/)."""
    digest = hashlib.sha256(f"{BUILDER_VERSION}\n{SUITE}\n{ARCH}\n".encode())
    digest.update("\n".join((*PACKAGES, *ARCHIVES)).encode())
    _hash_files(digest, IMAGE_DIR, ["base"])
    return digest.hexdigest()[:16]


def image_key() -> str:
    """16 hex digits naming the image: the base key, this script, the project's files."""
    digest = hashlib.sha256(f"{base_key()}\n{IMAGE_NAME}\n".encode())
    _hash_files(digest, REPO, [*PROJECT_FILES, *PROJECT_DIRS, "image/build.py"])
    return digest.hexdigest()[:16]


def _log(message: str) -> None:
    print(f"image: {message}", file=sys.stderr, flush=True)


def _run(argv: list[str], log: Path | None = None, timeout: float = 3600, **kwargs) -> str:
    """Run ``argv`` niced; its output goes to ``log`` (appended) or is returned. BuildError on failure."""
    command = ["nice", "-n", "15", *argv]
    if log is not None:
        with open(log, "a") as out:
            out.write(f"\n$ {' '.join(argv)}\n")
            out.flush()
            result = subprocess.run(
                command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, timeout=timeout, **kwargs
            )
        text = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
    else:
        result = subprocess.run(
            command, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout, **kwargs
        )
        text = (result.stdout or "") + (result.stderr or "")
    if result.returncode != 0:
        raise BuildError(f"{' '.join(argv)} failed ({result.returncode}):\n{text[-4000:]}")
    return text


def _remove(path: Path) -> None:
    subprocess.run(["rm", "-rf", "--one-file-system", "--", str(path)], check=False)


def build_base(cache: Path) -> tuple[Path, dict]:
    """The cached base tree (built first if missing) and its record (``{"seconds": ...}``)."""
    key = base_key()
    target = cache / f"base-{key}"
    record_path = cache / f"base-{key}.json"
    if target.is_dir() and record_path.is_file():
        return target, json.loads(record_path.read_text())
    for stale in cache.glob("base-*"):
        _remove(stale) if stale.is_dir() else stale.unlink()
    work = cache / f"base-{key}.part"
    log = cache / f"base-{key}.log"
    log.write_text("")
    _log(f"building the base tree base-{key} with mmdebstrap (about 7 min; log {log})")
    started = time.monotonic()
    base = IMAGE_DIR / "base"
    argv = [
        "mmdebstrap",
        "--mode=root",
        "--variant=minbase",
        f"--architectures={ARCH}",
        f"--include={','.join(PACKAGES)}",
        '--aptopt=APT::Install-Recommends "false"',
        "--dpkgopt=path-exclude=/usr/share/man/*",
        "--dpkgopt=path-exclude=/usr/share/locale/*",
        "--dpkgopt=path-include=/usr/share/locale/locale.alias",
        "--dpkgopt=path-exclude=/usr/share/doc/*",
        "--dpkgopt=path-include=/usr/share/doc/*/copyright",
        "--dpkgopt=path-exclude=/usr/share/info/*",
        f'--setup-hook=install -D -m 644 {base / "initramfs.conf"} "$1/etc/initramfs-tools/conf.d/wsdscan.conf"',
        f'--setup-hook=install -D -m 755 {base / "initramfs-modules-hook"} "$1/etc/initramfs-tools/hooks/wsdscan-modules"',
        f"--customize-hook={base / 'customize'}",
        SUITE,
        str(work),
        *ARCHIVES,
    ]
    _remove(work)
    try:
        # INITRD=No: the kernel package's hook builds no initramfs during the install, and then
        # initramfs-tools' trigger finds none to update; image/base/customize builds the one
        # initramfs at the end (each build takes about 40 s under emulation).
        _run(argv, log=log, timeout=3600, env={**os.environ, "INITRD": "No"})
    except BaseException:
        _remove(work)
        raise
    work.rename(target)
    record = {"key": key, "seconds": round(time.monotonic() - started, 1), "built": time.strftime("%Y-%m-%dT%H:%M:%S")}
    record_path.write_text(json.dumps(record, indent=2) + "\n")
    _log(f"base tree built in {record['seconds']:.0f} s")
    return target, record


def _build_package(dest: Path) -> Path:
    """The project's Debian package built from this checkout by ``scripts/build-deb`` into ``dest``
    (architecture all: no emulation needed); returns the ``.deb``."""
    _run([str(REPO / "scripts/build-deb"), str(dest)], timeout=900)
    debs = sorted(dest.glob("wsd-scan-server_*_all.deb"))
    if not debs:
        raise BuildError(f"scripts/build-deb left no wsd-scan-server_*_all.deb in {dest}")
    return debs[-1]


def _binfmt_interpreter() -> Path | None:
    """The arm64 interpreter the kernel looks up inside a chroot, or None when binfmt holds it open (flag F)."""
    entry = Path("/proc/sys/fs/binfmt_misc/qemu-aarch64")
    if not entry.is_file():
        raise BuildError("no binfmt entry qemu-aarch64: apt-get install qemu-user-static binfmt-support")
    fields = dict(line.split(" ", 1) for line in entry.read_text().splitlines() if " " in line)
    if "F" in fields.get("flags:", ""):
        return None
    return Path(fields["interpreter"].strip())


def _chroot(tree: Path, *argv: str) -> str:
    """Run ``argv`` in the arm64 ``tree`` through qemu-user (its interpreter copied in for the while)."""
    interpreter = _binfmt_interpreter()
    inside = tree / str(interpreter).lstrip("/") if interpreter else None
    if inside is not None and interpreter is not None:
        inside.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(interpreter.resolve(), inside)
    try:
        return _run(["chroot", str(tree), *argv], timeout=1800)
    finally:
        if inside is not None:
            inside.unlink(missing_ok=True)


def _customize(tree: Path, package: Path, key: str, version: str) -> None:
    """Install the project's Debian package ``package`` and the image's own files into the copied base tree.

    ``dpkg -i`` in the tree (through qemu-user): its dependencies are all in the base tree
    (:data:`PACKAGES`), so nothing is downloaded; its maintainer scripts enable the unit and create
    the user (no service starts in a chroot)."""
    inbox = tree / "tmp/wsdscan-install"
    inbox.mkdir(parents=True)
    shutil.copy2(package, inbox / package.name)
    _chroot(tree, "dpkg", "-i", f"/tmp/wsdscan-install/{package.name}")
    shutil.rmtree(inbox)
    for installed in ("usr/bin/wsd-scan-server", "usr/lib/systemd/system/wsd-scan-server.service"):
        if not (tree / installed).is_file():
            raise BuildError(f"the package installed no /{installed}")
    _run(["rsync", "-r", "--perms", "--chown=0:0", f"{IMAGE_DIR / 'rootfs'}/", f"{tree}/"])

    _run(["systemd-sysusers", f"--root={tree}"])
    _run(["systemctl", f"--root={tree}", "enable", *UNITS_ENABLED])
    _run(["systemctl", f"--root={tree}", "disable", *UNITS_DISABLED])
    (tree / WIFI_WANTS).mkdir(parents=True, exist_ok=True)  # systemctl add-wants knows no device units
    (tree / WIFI_WANTS / WIFI_UNIT).symlink_to("/lib/systemd/system/wpa_supplicant@.service")
    # systemd's ConditionFirstBoot, on every card (mmdebstrap leaves the file empty, which is no first boot).
    (tree / "etc/machine-id").write_text("uninitialized\n")
    (tree / "etc/wsdscan-release").write_text(f"wsd-scan-server {version}\nimage key {key}\n")


def _git_version() -> str:
    result = subprocess.run(
        ["git", "-C", str(REPO), "describe", "--always", "--dirty"], capture_output=True, text=True, check=False
    )
    project = next(
        line.split('"')[1] for line in (REPO / "pyproject.toml").read_text().splitlines() if line.startswith("version")
    )
    return f"{project} ({result.stdout.strip() or 'no git'})"


def _layout(work: Path, tree: Path) -> Path:
    """The boot and root file systems as files, laid out by genimage; returns the ``.img``."""
    boot_files = tree / "boot/firmware"
    names = sorted(p.name for p in boot_files.iterdir())
    if "config.txt" not in names or "cmdline.txt" not in names or "start4.elf" not in names:
        raise BuildError(f"/boot/firmware of the tree lacks the Pi boot files: {names}")
    boot = work / "boot.vfat"
    _run(["mkfs.vfat", "-F", "32", "-n", BOOT_LABEL, "-C", str(boot), str(BOOT_MIB * 1024)])
    _run(["mcopy", "-i", str(boot), "-s", "-p", "-m", *(str(boot_files / n) for n in names), "::/"])
    for name in names:  # the FAT partition is mounted there on the Pi (fstab)
        _remove(boot_files / name)

    used = int(_run(["du", "-s", "--block-size=1M", str(tree)]).split()[0])
    root_mib = int(used * 1.15) + ROOT_SLACK_MIB
    root = work / "root.ext4"
    _run(
        [
            "mkfs.ext4",
            "-q",
            "-L",
            ROOT_LABEL,
            "-d",
            str(tree),
            "-E",
            "root_owner=0:0",
            "-m",
            "1",
            str(root),
            f"{root_mib}M",
        ]
    )
    (work / "genimage.cfg").write_text(GENIMAGE_CFG)
    empty = work / "genimage-root"
    empty.mkdir()
    _run(
        [
            "genimage",
            "--config",
            str(work / "genimage.cfg"),
            "--inputpath",
            str(work),
            "--outputpath",
            str(work),
            "--tmppath",
            str(work / "genimage-tmp"),
            "--rootpath",
            str(empty),
        ]
    )
    boot.unlink()
    root.unlink()
    return work / IMAGE_NAME


def build_image(cache: Path | None = None) -> Image:
    """The cached image for :func:`image_key` (both stages built first as needed); raises BuildError."""
    cache = cache or cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build at a time; others wait and reuse it
        key = image_key()
        target = cache / f"image-{key}"
        if (target / "manifest.json").is_file():
            return Image(target, target / IMAGE_NAME, json.loads((target / "manifest.json").read_text()))
        base, base_record = build_base(cache)
        started = time.monotonic()
        work = Path(tempfile.mkdtemp(prefix=f"image-{key}.part-", dir=cache))
        try:
            _log("building the project's Debian package (scripts/build-deb)")
            package = _build_package(work / "deb")
            tree = work / "root"
            _log(f"copying base-{base_record['key']} and installing the project")
            _run(["cp", "-a", "--reflink=auto", str(base), str(tree)])
            version = _git_version()
            _customize(tree, package, key, version)
            kernel = sorted(p.name.removeprefix("vmlinuz-") for p in (tree / "boot").glob("vmlinuz-*"))[-1]
            _log("laying out the card image (mkfs.vfat + mcopy, mkfs.ext4 -d, genimage)")
            image = _layout(work, tree)
            _remove(tree)
            manifest = {
                "image": IMAGE_NAME,
                "key": key,
                "base_key": base_record["key"],
                "project": version,
                "kernel": kernel,
                "suite": SUITE,
                "packages": list(PACKAGES),
                "package": package.name,
                "boot_label": BOOT_LABEL,
                "root_label": ROOT_LABEL,
                "size": image.stat().st_size,
                "seconds": {"base": base_record["seconds"], "image": round(time.monotonic() - started, 1)},
            }
            (work / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
            for stale in cache.glob("image-*"):
                if stale.is_dir() and stale != work:
                    _remove(stale)
            work.rename(target)
        except BaseException:
            _remove(work)
            raise
    _log(f"image built in {manifest['seconds']['image']:.0f} s (base tree: {base_record['seconds']:.0f} s)")
    return Image(target, target / IMAGE_NAME, manifest)


def main(argv: list[str] | None = None) -> int:
    """Command line: build (or reuse) the image and copy it to ``--output`` (with ``--no-output``
    only print the cached image's path); 0 on success, 1 when the build fails, 2 without root."""
    parser = argparse.ArgumentParser(description="Build the wsd-scan-server Raspberry Pi image (arm64).")
    parser.add_argument("--output", type=Path, default=REPO / "build", help="directory for the .img (default build/)")
    parser.add_argument("--cache", type=Path, default=None, help="cache directory (default: %(default)s)")
    parser.add_argument(
        "--no-output",
        action="store_true",
        help="only build (or find) the image in the cache and print its path; copy nothing to --output",
    )
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("image/build: needs root (mmdebstrap --mode=root, chroot, mkfs.ext4 -d with owners)", file=sys.stderr)
        return 2
    try:
        image = build_image(args.cache)
    except (BuildError, subprocess.TimeoutExpired) as exc:
        print(f"image/build: {exc}", file=sys.stderr)
        return 1
    if args.no_output:
        print(image.path)
        return 0
    args.output.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "--reflink=auto", str(image.path), str(args.output / IMAGE_NAME)], check=True)
    shutil.copy2(image.directory / "manifest.json", args.output / "manifest.json")
    print(args.output / IMAGE_NAME)
    return 0


if __name__ == "__main__":
    sys.exit(main())
