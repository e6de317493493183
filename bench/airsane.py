"""AirSane (an eSCL server for SANE scanners) as the bench's reference server, on loopback only.

AirSane is not packaged by Debian. :func:`airsaned_binary` takes either a built
``airsaned`` or a source checkout (github.com/SimulPiscator/AirSane), which it
builds with cmake in a directory outside the repository; nothing of AirSane is
copied into this project.

airsaned lists a scanner only once its mDNS announcement through Avahi was
accepted (with ``--mdns-announce=false`` it serves no scanner at all), and it
reaches Avahi through the D-Bus *system* bus. :func:`running_airsane` therefore
starts, besides airsaned, a private ``dbus-daemon`` (its own socket in the work
directory, ``DBUS_SYSTEM_BUS_ADDRESS`` pointing at it) and a private
``avahi-daemon`` allowed on ``lo`` only, which publishes nothing of its own, so
no packet leaves the machine. airsaned listens on ``lo`` on a free port, with
hot-plug and network-change reloads off, empty options / ignore / access files,
and the SANE config dir it is given (the bench's ``test`` backend). Every
process is stopped by its PID when the block ends.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.private_daemons import PrivateAvahi, PrivateSystemBus, avahi_missing
from tests.servers import free_port

DEVICE = "airscan:e0:AirSane"
"""The SANE name sane-airscan gives the one manual eSCL device of :func:`airscan_escl_dir`."""


class AirSaneError(RuntimeError):
    """AirSane could not be built or started; the message says why (with the tail of its log)."""


def airsaned_binary(path: Path, build_dir: Path | None = None) -> Path:
    """The ``airsaned`` executable for ``path``: ``path`` itself when it is an executable file,
    else ``path`` is a source checkout (a CMakeLists.txt at its top) which is configured and built
    (``nice cmake`` + ``nice make -j2``, Release) in ``build_dir`` (default: a new directory under
    the system temporary directory). Raises :class:`AirSaneError` when the build fails."""
    if path.is_file() and os.access(path, os.X_OK):
        return path
    if not (path / "CMakeLists.txt").is_file():
        raise AirSaneError(f"{path} is neither an executable airsaned nor an AirSane checkout")
    build = build_dir or Path(tempfile.mkdtemp(prefix="airsane-build-"))
    build.mkdir(parents=True, exist_ok=True)
    for command in (
        ["nice", "cmake", "-DCMAKE_BUILD_TYPE=Release", str(path.resolve())],
        ["nice", "make", "-j2"],
    ):
        result = subprocess.run(command, cwd=build, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            raise AirSaneError(
                f"{' '.join(command)} failed in {build}:\n{result.stdout[-2000:]}{result.stderr[-2000:]}"
            )
    return build / "airsaned"


@dataclass
class AirSane:
    """A running airsaned: its process, its eSCL root URL (``http://127.0.0.1:PORT/eSCL``) and
    the file its stdout and stderr go to (with ``SANE_DEBUG_TEST`` set, the backend's stamps too)."""

    process: subprocess.Popen
    url: str
    log: Path


def airscan_escl_dir(directory: Path, url: str) -> Path:
    """Write a SANE config dir in which ``scanimage -d`` :data:`DEVICE` talks eSCL to ``url``
    (sane-airscan only, one manual device, discovery off)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "dll.conf").write_text("airscan\n")
    lines = ["[devices]", f'"AirSane" = {url}, eSCL', "", "[options]", "discovery = disable", "ws-discovery = off", ""]
    (directory / "airscan.conf").write_text("\n".join(lines))
    return directory


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait(check, what: str, logs: list[Path], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    tails = "\n".join(f"--- {log.name}:\n{log.read_text(errors='replace')[-2000:]}" for log in logs if log.exists())
    raise AirSaneError(f"{what} within {timeout:.0f} s\n{tails}")


def _serves(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/ScannerCapabilities", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@contextlib.contextmanager
def running_airsane(airsaned: Path, sane_dir: Path, work: Path) -> Iterator[AirSane]:
    """Run airsaned (with its private D-Bus and loopback-only Avahi, see the module docstring)
    against ``sane_dir`` until the block ends; files go to ``work``. Raises :class:`AirSaneError`
    when a daemon is missing or airsaned serves no scanner within 15 s."""
    missing = avahi_missing()
    if missing:
        raise AirSaneError(f"airsaned needs Avahi on a D-Bus system bus: {missing}")
    work.mkdir(parents=True, exist_ok=True)
    for name in ("options.conf", "ignore.conf", "access.conf"):
        (work / name).write_text("")
    env = {**os.environ, "SANE_CONFIG_DIR": str(sane_dir)}
    port = free_port()
    url = f"http://127.0.0.1:{port}/eSCL"
    processes: list[subprocess.Popen] = []

    def start(command: list[str], log: str) -> subprocess.Popen:
        with open(work / log, "wb") as out:
            process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        processes.append(process)
        return process

    try:
        try:  # Avahi on lo only, publishing no address of its own; avahi.conf and avahi.log in work
            bus = PrivateSystemBus(work / "dbus")
            processes.append(bus.proc)
            avahi = PrivateAvahi(None, "lo", bus.address, work, "airsane-bench", ipv6=False, publish_addresses=False)
            processes.append(avahi.proc)
        except RuntimeError as exc:
            raise AirSaneError(str(exc)) from exc
        env["DBUS_SYSTEM_BUS_ADDRESS"] = bus.address
        airsane = start(
            [
                str(airsaned),
                "--interface=lo",
                f"--listen-port={port}",
                "--hotplug=false",
                "--network-hotplug=false",
                "--local-scanners-only=true",
                f"--options-file={work / 'options.conf'}",
                f"--ignore-list={work / 'ignore.conf'}",
                f"--access-file={work / 'access.conf'}",
                f"--access-log={work / 'access.log'}",
            ],
            "airsaned.log",
        )
        _wait(lambda: _serves(url), "airsaned served no scanner", [work / "airsaned.log", work / "avahi.log"])
        yield AirSane(airsane, url, work / "airsaned.log")
    finally:
        for process in reversed(processes):
            _stop(process)
