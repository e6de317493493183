"""The appliance booted for real: Debian 12 in systemd-nspawn with the project's Debian package installed.

Once per module: the project's package is built (``scripts/build-deb``: a
clean copy of the tracked files, ``dpkg-buildpackage -us -uc -b``), the cached
Debian 12 tree (:mod:`tests.appliance.rootfs`, built with debootstrap from
Debian packages on the first run) is copied, the package is installed into the
copy with ``apt-get install ./wsd-scan-server_*.deb`` (its postinst creates the
user and enables the unit), and it boots (``systemd-nspawn --boot --private-network``).
The unit runs exactly as shipped; the container has its own configuration:
SANE's ``test`` backend only (two devices), and a config.toml with a short
``worker_timeout`` and a slow ``test:1`` (read delay), for the hang test.

Checks: the system reaches ``running`` with no failed unit and our unit
active, never restarted, sandboxed as the unit says; sane-airscan on the host,
in the container's network namespace, scans through the service and gets the
same pixels as a direct scan of the same `test` device; a SANE worker that
hangs mid-scan is killed and replaced without a service restart; a killed
service is restarted by systemd and scans again; last, ``apt-get purge``
leaves no unit, user, group or file behind, and installing the package on the
running system starts the service, which scans.

Needs root; the first run downloads Debian packages (a few minutes), later
runs reuse the cached tree (see ``WSD_SCAN_SERVER_TEST_CACHE``).
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from tests.airscan import DEVICE, airscan_dir
from tests.appliance import rootfs
from tests.appliance.container import Container, ContainerError, booted
from tests.appliance.paths import REPO, SERVICE
from tests.prereqs import missing_prerequisite
from tests.sane_env import write_sane_dir

UNIT = "wsd-scan-server.service"
SERVICE_USER = "wsd-scan"
WORKER_TIMEOUT = 3
SLOW_READ_DELAY_US = 100_000
"""Microseconds the slow device (``test:1``) waits per read: a 300 dpi page takes about 8 s."""

CONFIG_TOML = f"""\
# The boot test's configuration: a hung SANE worker is given up after {WORKER_TIMEOUT} s.
worker_timeout = {WORKER_TIMEOUT}

# test:1 reads slowly, so that a scan is still in progress when the test freezes its worker.
[scanners."test:1"]
sane_options = {{ read_delay = true, read_delay_duration = {SLOW_READ_DELAY_US} }}
"""


def _why_not() -> str | None:
    tools = {
        "debootstrap": "debootstrap",
        "systemd-nspawn": "systemd-container",
        "nsenter": "util-linux",
        "systemctl": "systemd",
        "scanimage": "sane-utils",
    }
    missing = missing_prerequisite("debootstrap, systemd-nspawn, nsenter", tools)
    if missing:
        return missing
    if not glob.glob("/usr/lib/*/sane/libsane-airscan.so*"):
        return "needs sane-airscan as the client (apt-get install sane-airscan)"
    return None


_WHY_NOT = _why_not()
pytestmark = [pytest.mark.boot, pytest.mark.slow, pytest.mark.skipif(_WHY_NOT is not None, reason=_WHY_NOT or "")]


@dataclass
class BootReport:
    """What the container looked like right after booting, before any test touched it:
    the system state, the failed units, our unit's properties, and its main process's
    ``/proc/PID/status`` fields."""

    state: str
    failed: list[str]
    unit: dict[str, str]
    main_status: dict[str, str]


@dataclass
class Appliance:
    """The booted container, its :class:`BootReport`, the scan service URL of each SANE
    device (``{"test:0": "http://127.0.0.1:5358/scanners/test-0", ...}``), the tree,
    the package file, and the tree's paths before the package was installed
    (:func:`_tree_paths`)."""

    box: Container
    boot: BootReport
    urls: dict[str, str]
    root: Path
    deb: Path
    before: set[str]

    def why(self) -> str:
        """Diagnostics for a failed assertion (status and journal of the unit, console)."""
        return self.box.diagnostics(UNIT)


def _process_status(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as status:
        return {key: value.strip() for key, _, value in (line.partition(":") for line in status)}


def _boot_report(box: Container) -> BootReport:
    state = box.wait_running()
    failed = box.run("systemctl", "--failed", "--plain", "--no-legend", "--no-pager").stdout.split("\n")
    unit = box.unit(UNIT, "ActiveState", "SubState", "NRestarts", "Result", "MainPID", "DropInPaths", "FragmentPath")
    host_pid = box.host_pid(int(unit["MainPID"])) if unit.get("MainPID", "0") != "0" else None
    return BootReport(
        state, [line for line in failed if line.strip()], unit, _process_status(host_pid) if host_pid else {}
    )


def _scan_urls(lines: list[str]) -> dict[str, str]:
    """``{SANE device: URL}`` from the service's "scan service URL (..., SANE device)" log lines."""
    urls = {}
    for line in lines:
        match = re.search(r"scan service (http://127\.0\.0\.1:\d+/\S+) \(.*SANE (\S+)\)$", line)
        if match:
            urls[match[2]] = match[1]
    return urls


VOLATILE = ("var/lib/apt", "var/lib/dpkg", "var/lib/systemd", "var/cache", "var/log", "var/tmp", "tmp")
"""Places of the tree that booting, apt and dpkg change by themselves (lists, logs, their own
records): left out of the before/after comparison of a purge."""


def _tree_paths(root: Path) -> set[str]:
    """Every path under the tree's /etc, /usr, /var, /opt, /srv, /root and /home (symbolic links
    not followed), relative to ``root``, except the :data:`VOLATILE` places."""
    paths = set()
    for top in ("etc", "usr", "var", "opt", "srv", "root", "home"):
        for directory, dirs, files in os.walk(root / top):
            rel = os.path.relpath(directory, root)
            dirs[:] = [d for d in dirs if os.path.join(rel, d) not in VOLATILE]
            paths.add(rel)
            paths.update(os.path.join(rel, name) for name in files + dirs)
    return paths


@pytest.fixture(scope="module")
def appliance(tmp_path_factory):
    """Build the package, install it into a fresh copy of the cached Debian 12 tree, boot it (once per module)."""
    base = rootfs.base_rootfs()  # a failing debootstrap fails the tests: it is no reason to skip
    work = tmp_path_factory.mktemp("appliance")
    deb = rootfs.build_package(REPO, work / "dist")
    root = rootfs.copy_rootfs(base, work / "root")
    try:
        write_sane_dir(root / "etc/sane.d")  # the container's SANE: dll.conf = test, two test devices
        before = _tree_paths(root)
        rootfs.install_package(root, deb)
        config = root / "etc/wsd-scan-server/config.toml"  # the administrator edits the conffile
        assert config.read_text() == (REPO / "config.example.toml").read_text()
        config.write_text(CONFIG_TOML)
        with booted(root, work / "console.log", machine=f"wsd-scan-test-{os.getpid()}") as box:
            try:
                report = _boot_report(box)
            except ContainerError as exc:
                raise ContainerError(f"{exc}\n{box.diagnostics(UNIT)}") from None
            urls = _scan_urls(box.journal(UNIT))
            yield Appliance(box, report, urls, root, deb, before)
    finally:
        rootfs.remove_rootfs(root)


def _scan(
    appliance: Appliance, client: Path, out: Path, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess:
    """`scanimage` through sane-airscan, run on the host in the container's network namespace."""
    env = {**os.environ, "SANE_CONFIG_DIR": str(client)}
    argv = appliance.box.netns_argv("scanimage", "-d", DEVICE, *args, "-o", str(out))
    return subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)


def _client(appliance: Appliance, tmp_path: Path, device: str) -> Path:
    assert device in appliance.urls, f"no 'scan service' log line for {device}\n{appliance.why()}"
    return airscan_dir(tmp_path / f"client-{device.replace(':', '-')}", appliance.urls[device])


def _wait(appliance: Appliance, predicate, timeout: float, what: str):
    """Poll ``predicate`` (every 0.2 s) until it returns a true value, which is returned;
    AssertionError naming ``what``, with diagnostics, after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout:g} s\n{appliance.why()}")


def _worker_pids(lines: list[str], device: str) -> list[int]:
    """Container PIDs of the SANE workers started for ``device``, oldest first (from the log)."""
    return [int(m[1]) for line in lines if (m := re.search(rf"{re.escape(device)}: worker (\d+) started", line))]


def _quick_scan_ok(appliance: Appliance, client: Path, out: Path) -> None:
    """A 75 dpi colour scan of the whole 200 x 200 mm bed succeeds and is a real page."""
    result = _scan(appliance, client, out, "--mode", "Color", "--resolution", "75", "--format=pnm")
    assert result.returncode == 0, f"{result.stderr}\n{appliance.why()}"
    image = Image.open(out)
    assert image.mode == "RGB"
    assert image.size in ((590, 590), (591, 591))  # 200 mm at 75 dpi is 590.55 pixels
    colors = image.getcolors(1 << 16)  # None: more than that
    assert colors is None or len(colors) > 8, "a blank page"  # the colour pattern has many


def test_system_reaches_running_with_no_failed_unit(appliance):
    assert appliance.boot.state == "running", appliance.why()
    assert appliance.boot.failed == [], appliance.why()


def test_service_is_active_with_zero_restarts_sandboxed_as_shipped(appliance):
    unit = appliance.boot.unit
    assert (unit["ActiveState"], unit["SubState"], unit["NRestarts"], unit["Result"]) == (
        "active",
        "running",
        "0",
        "success",
    ), appliance.why()
    # The unit as shipped: the repository's file, no drop-in changing it.
    fragment = appliance.root / unit["FragmentPath"].lstrip("/")
    assert fragment.read_text() == SERVICE.read_text()
    assert unit["DropInPaths"] == ""
    # Its sandbox took effect: the service user (a member of "scanner"), no capabilities,
    # no new privileges, a seccomp filter.
    status = appliance.boot.main_status
    passwd = {line.split(":")[0]: line.split(":") for line in (appliance.root / "etc/passwd").read_text().splitlines()}
    groups = {line.split(":")[0]: line.split(":") for line in (appliance.root / "etc/group").read_text().splitlines()}
    uid, gid = passwd[SERVICE_USER][2], passwd[SERVICE_USER][3]
    assert status["Uid"].split() == [uid] * 4
    assert status["Gid"].split() == [gid] * 4
    assert groups["scanner"][2] in status["Groups"].split()
    assert int(status["CapEff"], 16) == 0 and int(status["CapBnd"], 16) == 0
    assert status["NoNewPrivs"] == "1"
    assert status["Seccomp"] == "2"


def test_scan_inside_the_container_equals_a_direct_scan(appliance, tmp_path):
    client = _client(appliance, tmp_path, "test:0")
    out = tmp_path / "wsd.pnm"
    result = _scan(appliance, client, out, "--mode", "Color", "--resolution", "150", "--format=pnm")
    assert result.returncode == 0, f"{result.stderr}\n{appliance.why()}"
    received = Image.open(out)
    # The same `test` device scanned directly on the host with the container's settings.
    direct_dir = write_sane_dir(tmp_path / "direct")
    direct_out = tmp_path / "direct.pnm"
    direct = subprocess.run(
        [
            "scanimage",
            "-d",
            "test:0",
            "-l",
            "0",
            "-t",
            "0",
            "-x",
            "200",
            "-y",
            "200",
            "--mode",
            "Color",
            "--resolution",
            "150",
            "--format=pnm",
            "-o",
            str(direct_out),
        ],
        env={**os.environ, "SANE_CONFIG_DIR": str(direct_dir)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert direct.returncode == 0, direct.stderr
    expected = Image.open(direct_out)
    assert received.mode == expected.mode == "RGB"
    assert received.size == expected.size == (1181, 1181)
    assert received.tobytes() == expected.tobytes()


def test_hung_worker_is_replaced_without_a_service_restart(appliance, tmp_path):
    box = appliance.box
    client = _client(appliance, tmp_path, "test:1")
    before = box.unit(UNIT, "MainPID", "NRestarts")
    mark = len(box.journal(UNIT))
    workers = _worker_pids(box.journal(UNIT), "test:1")
    assert workers, f"no worker started for test:1\n{appliance.why()}"
    hung = box.host_pid(workers[-1])
    assert hung is not None, f"worker {workers[-1]} of test:1 is not running\n{appliance.why()}"

    env = {**os.environ, "SANE_CONFIG_DIR": str(client)}
    slow = subprocess.Popen(
        box.netns_argv(
            "scanimage",
            "-d",
            DEVICE,
            "--mode",
            "Color",
            "--resolution",
            "300",
            "--format=pnm",
            "-o",
            str(tmp_path / "hung.pnm"),
        ),
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait(
            appliance,
            lambda: any(re.search(r"job \d+ created", line) for line in box.journal(UNIT)[mark:]),
            30,
            "the slow scan's job was not created",
        )
        os.kill(hung, signal.SIGSTOP)  # the worker hangs in the middle of the page
        started = time.monotonic()
        _, stderr = slow.communicate(timeout=60)
        failed_after = time.monotonic() - started
    finally:
        if slow.poll() is None:
            slow.kill()
            slow.wait(10)
    assert slow.returncode != 0, f"the scan whose worker hung succeeded:\n{stderr}\n{appliance.why()}"
    # Given up by the service's watchdog after about worker_timeout (left alone, the frozen
    # worker would keep the scan waiting forever).
    assert failed_after < WORKER_TIMEOUT + 10, f"failed after {failed_after:.1f} s\n{appliance.why()}"
    _wait(appliance, lambda: not os.path.exists(f"/proc/{hung}"), 10, f"hung worker (host PID {hung}) still exists")
    after = box.unit(UNIT, "MainPID", "NRestarts", "ActiveState")
    assert (after["MainPID"], after["NRestarts"], after["ActiveState"]) == (
        before["MainPID"],
        before["NRestarts"],
        "active",
    ), appliance.why()

    _quick_scan_ok(appliance, client, tmp_path / "next.pnm")
    replaced = _worker_pids(box.journal(UNIT), "test:1")
    assert replaced[-1] != workers[-1] and box.host_pid(replaced[-1]) is not None, appliance.why()


def test_systemctl_reload_applies_the_configuration_without_a_restart(appliance, tmp_path):
    box = appliance.box
    before = box.unit(UNIT, "MainPID", "NRestarts")
    mark = len(box.journal(UNIT))
    config = appliance.root / "etc/wsd-scan-server/config.toml"
    config.write_text('friendly_name = "Reloaded scanner"\n' + CONFIG_TOML)
    reloaded = box.run("systemctl", "reload", UNIT, timeout=60)
    assert reloaded.returncode == 0, f"{reloaded.stdout}{reloaded.stderr}\n{appliance.why()}"
    _wait(
        appliance,
        lambda: any("configuration reloaded" in line for line in box.journal(UNIT)[mark:]),
        30,
        "no 'configuration reloaded' in the journal",
    )
    lines = box.journal(UNIT)[mark:]
    assert sum("scanner elements changed" in line for line in lines) == 2, appliance.why()  # both names changed
    after = box.unit(UNIT, "MainPID", "NRestarts", "ActiveState", "SubState")
    assert (after["MainPID"], after["NRestarts"], after["ActiveState"], after["SubState"]) == (
        before["MainPID"],
        before["NRestarts"],
        "active",
        "running",
    ), appliance.why()
    _quick_scan_ok(appliance, _client(appliance, tmp_path, "test:0"), tmp_path / "after-reload.pnm")


def test_killed_service_is_restarted_by_systemd_and_scans_again(appliance, tmp_path):
    box = appliance.box
    client = _client(appliance, tmp_path, "test:0")
    before = box.unit(UNIT, "MainPID", "NRestarts")
    main = box.host_pid(int(before["MainPID"]))
    assert main is not None, appliance.why()
    lines = box.journal(UNIT)
    old_workers = [box.host_pid(_worker_pids(lines, device)[-1]) for device in ("test:0", "test:1")]
    assert None not in old_workers, appliance.why()

    os.kill(main, signal.SIGKILL)
    restarted = _wait(
        appliance,
        lambda: (
            (props := box.unit(UNIT, "MainPID", "NRestarts", "ActiveState", "SubState"))["ActiveState"] == "active"
            and props["MainPID"] not in ("0", before["MainPID"])
            and props
        ),
        40,
        "the killed service did not come back active",  # RestartSec=5, then start-up
    )
    assert int(restarted["NRestarts"]) == int(before["NRestarts"]) + 1, appliance.why()
    assert restarted["SubState"] == "running"
    # The killed service's SANE workers went with it (KillMode=mixed).
    assert not [pid for pid in old_workers if os.path.exists(f"/proc/{pid}")], appliance.why()

    _quick_scan_ok(appliance, client, tmp_path / "after-restart.pnm")


# Last in this module: it removes the package from the booted container, then installs it again.
def test_purge_leaves_nothing_behind_and_install_starts_the_service(appliance, tmp_path):
    box = appliance.box
    uid = box.run("id", "-u", SERVICE_USER).stdout.strip()
    assert uid.isdigit(), appliance.why()
    purged = box.run(
        "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "purge", "-y", "-q", "wsd-scan-server", timeout=120
    )
    assert purged.returncode == 0, f"{purged.stdout}{purged.stderr}"
    assert box.unit(UNIT, "LoadState")["LoadState"] == "not-found", box.run("systemctl", "status", UNIT).stdout
    for database, name in (("passwd", SERVICE_USER), ("group", SERVICE_USER)):
        assert box.run("getent", database, name).returncode == 2, f"{database} {name} left behind"
    assert box.run("getent", "group", "scanner").returncode == 0  # libsane1's group stays
    left = sorted(_tree_paths(appliance.root) - appliance.before)
    assert left == [], f"left behind by purge: {left}"
    owned = box.run("find", "/", "-xdev", "-uid", uid, "-not", "-path", "/proc/*").stdout.split()
    assert owned == [], f"files of the removed user {SERVICE_USER} (uid {uid}): {owned}"

    # Installed on a running system, the package starts the service.
    mark = len(box.journal(UNIT))
    shutil.copyfile(appliance.deb, appliance.root / "root" / appliance.deb.name)
    installed = box.run(
        "env",
        "DEBIAN_FRONTEND=noninteractive",
        "apt-get",
        "install",
        "-y",
        "-q",
        "--no-install-recommends",
        f"/root/{appliance.deb.name}",
        timeout=180,
    )
    (appliance.root / "root" / appliance.deb.name).unlink()
    assert installed.returncode == 0, f"{installed.stdout}{installed.stderr}"
    unit = box.unit(UNIT, "ActiveState", "SubState", "UnitFileState")
    assert (unit["ActiveState"], unit["SubState"], unit["UnitFileState"]) == ("active", "running", "enabled"), (
        appliance.why()
    )
    urls = _scan_urls(box.journal(UNIT)[mark:])
    assert urls.get("test:0") == appliance.urls["test:0"], appliance.why()
    _quick_scan_ok(appliance, _client(appliance, tmp_path, "test:0"), tmp_path / "reinstalled.pnm")
