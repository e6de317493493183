"""buildroot/board/raspberrypi/post-build.sh and post-image.sh, run as Buildroot runs them.

post-image.sh works on a BINARIES_DIR holding stand-ins for what the rpi-firmware
and linux packages install (firmware blobs, config.txt with ``kernel=Image``,
cmdline.txt, an overlay, a device tree, the kernel) and a real ext4 root file
system; the sdcard.img the real genimage makes is taken apart with sfdisk and
mtools.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.appliance.paths import BUILDROOT_EXTERNAL

POST_BUILD = BUILDROOT_EXTERNAL / "board/raspberrypi/post-build.sh"
POST_IMAGE = BUILDROOT_EXTERNAL / "board/raspberrypi/post-image.sh"
TOOLS = ["genimage", "mkdosfs", "mcopy", "mdir", "sfdisk", "mkfs.ext4"]
_MISSING = [tool for tool in TOOLS if shutil.which(tool) is None]
needs_image_tools = pytest.mark.skipif(
    bool(_MISSING),
    reason=f"needs {', '.join(_MISSING)} (apt-get install genimage dosfstools mtools fdisk e2fsprogs)",
)

SECTOR = 512
ALIGNMENT = 4 * 1024 * 1024
BOOT_FILES = {
    "rpi-firmware/start4.elf": b"firmware\x00" * 100,
    "rpi-firmware/fixup4.dat": b"fixup",
    "rpi-firmware/config.txt": b"start_file=start4.elf\nkernel=Image\narm_64bit=1\n",
    "rpi-firmware/cmdline.txt": b"root=/dev/mmcblk0p2 rootwait\n",
    "rpi-firmware/overlays/miniuart-bt.dtbo": b"overlay",
    "bcm2711-rpi-4-b.dtb": b"device tree",
    "Image": os.urandom(300_000),
}


def make_binaries_dir(root: Path) -> Path:
    """A BINARIES_DIR with the boot files above and a 16 MiB ext4 rootfs.ext4."""
    images = root / "images"
    for name, content in BOOT_FILES.items():
        (images / name).parent.mkdir(parents=True, exist_ok=True)
        (images / name).write_bytes(content)
    rootfs_source = root / "rootfs"
    (rootfs_source / "etc").mkdir(parents=True)
    (rootfs_source / "etc/hostname").write_text("wsd-scanner\n")
    subprocess.run(
        ["mkfs.ext4", "-q", "-d", str(rootfs_source), str(images / "rootfs.ext4"), "16M"],
        check=True,
        capture_output=True,
    )
    return images


def run_post_image(root: Path, images: Path) -> subprocess.CompletedProcess:
    """Run post-image.sh like Buildroot: BINARIES_DIR argument, BUILD_DIR and HOST_DIR set."""
    (root / "build").mkdir(exist_ok=True)
    host_bin = root / "host/bin"
    host_bin.mkdir(parents=True, exist_ok=True)
    bmaptool = shutil.which("bmaptool")
    if bmaptool and not (host_bin / "bmaptool").exists():
        (host_bin / "bmaptool").symlink_to(bmaptool)
    return subprocess.run(
        ["/bin/sh", str(POST_IMAGE), str(images)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "BUILD_DIR": str(root / "build"), "HOST_DIR": str(root / "host")},
    )


@needs_image_tools
def test_image_has_aligned_boot_and_root_partitions(tmp_path: Path) -> None:
    """MBR with a bootable FAT (type 0x0c) boot partition and the ext4 root, both 4 MiB aligned."""
    images = make_binaries_dir(tmp_path)
    result = run_post_image(tmp_path, images)
    assert result.returncode == 0, result.stderr

    image = images / "sdcard.img"
    table = json.loads(subprocess.run(["sfdisk", "--json", str(image)], check=True, capture_output=True).stdout)
    boot, root = table["partitiontable"]["partitions"]
    assert table["partitiontable"]["label"] == "dos"
    assert (boot["type"], boot.get("bootable"), root["type"]) == ("c", True, "83")
    for partition in (boot, root):
        assert partition["start"] * SECTOR % ALIGNMENT == 0
    rootfs = (images / "rootfs.ext4").read_bytes()
    assert root["size"] * SECTOR == len(rootfs)
    with image.open("rb") as disk:
        disk.seek(root["start"] * SECTOR)
        assert disk.read(len(rootfs)) == rootfs

    if shutil.which("bmaptool"):
        assert (images / "sdcard.img.bmap").read_text().lstrip().startswith("<?xml")


@needs_image_tools
def test_boot_partition_holds_firmware_kernel_and_device_trees(tmp_path: Path) -> None:
    """Every boot file lands at the root of the FAT file system (overlays/ as a directory)."""
    images = make_binaries_dir(tmp_path)
    assert run_post_image(tmp_path, images).returncode == 0
    image = images / "sdcard.img"
    table = json.loads(subprocess.run(["sfdisk", "--json", str(image)], check=True, capture_output=True).stdout)
    fat = f"{image}@@{table['partitiontable']['partitions'][0]['start'] * SECTOR}"

    for name, content in BOOT_FILES.items():
        inside = name.removeprefix("rpi-firmware/")
        copy = tmp_path / "out" / inside
        copy.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["mcopy", "-n", "-i", fat, f"::/{inside}", str(copy)],
            check=True,
            capture_output=True,
            env={**os.environ, "MTOOLS_SKIP_CHECK": "1"},
        )
        assert copy.read_bytes() == content, inside


@needs_image_tools
def test_missing_kernel_line_fails_the_build(tmp_path: Path) -> None:
    """A config.txt without kernel= stops the script with a message, and no image."""
    images = make_binaries_dir(tmp_path)
    (images / "rpi-firmware/config.txt").write_text("arm_64bit=1\n")
    result = run_post_image(tmp_path, images)
    assert result.returncode != 0
    assert "kernel=" in result.stderr
    assert not (images / "sdcard.img").exists()


def run_post_build(repo: Path, target: Path) -> subprocess.CompletedProcess:
    """Run post-build.sh for an external tree at ``repo``/buildroot and TARGET_DIR ``target``."""
    (repo / "buildroot").mkdir(parents=True, exist_ok=True)
    target.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        ["/bin/sh", str(POST_BUILD), str(target)],
        capture_output=True,
        text=True,
        env={**os.environ, "BR2_EXTERNAL_WSD_SCAN_PATH": str(repo / "buildroot")},
    )


def test_post_build_installs_the_example_configuration(tmp_path: Path) -> None:
    """The repository's config.example.toml becomes /etc/wsd-scan-server/config.toml (0644)."""
    repo, target = tmp_path / "repo", tmp_path / "target"
    repo.mkdir()
    (repo / "config.example.toml").write_text("[server]\nport = 5358\n")
    result = run_post_build(repo, target)
    assert (result.returncode, result.stderr) == (0, "")
    installed = target / "etc/wsd-scan-server/config.toml"
    assert installed.read_text() == "[server]\nport = 5358\n"
    assert installed.stat().st_mode & 0o777 == 0o644


def test_post_build_without_example_configuration_warns(tmp_path: Path) -> None:
    """Without config.example.toml the build goes on, says so, and installs nothing."""
    repo, target = tmp_path / "repo", tmp_path / "target"
    result = run_post_build(repo, target)
    assert result.returncode == 0
    assert "config.example.toml not found" in result.stderr
    assert not (target / "etc/wsd-scan-server").exists()
