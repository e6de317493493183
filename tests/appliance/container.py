"""A booted systemd-nspawn container, seen from the host: start, commands inside, stop.

:func:`booted` starts ``systemd-nspawn --boot --private-network`` on a root
tree as a background process of this test, waits until the container's
systemd answers, and stops it afterwards (an orderly power-off, SIGKILL of
the container's PID 1 if that takes too long), leaving no process behind.
The host has no systemd, so nspawn registers nowhere (``--register=no``)
and creates no scope (``--keep-unit``).

Inside, :meth:`Container.run` runs a program in all of the container's
namespaces (``nsenter``); :meth:`Container.netns_argv` prefixes a host
program so that it runs in the container's network namespace only (a client
on the container's loopback). Container PIDs become host PIDs with
:meth:`Container.host_pid`, to signal a process from here.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

INSIDE_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "SYSTEMD_COLORS": "0", "SYSTEMD_PAGER": ""}
"""The environment of commands run inside (not the test's own)."""


class ContainerError(Exception):
    """The container did not start or its systemd did not answer; the message carries nspawn's output."""


class Container:
    """A running container: ``nspawn`` is the systemd-nspawn process this test started,
    ``init_pid`` the host PID of the container's PID 1 (its systemd), ``log`` the file
    nspawn's console output goes to."""

    def __init__(self, nspawn: subprocess.Popen, init_pid: int, log: Path) -> None:
        self.nspawn = nspawn
        self.init_pid = init_pid
        self.log = log
        self._pid_ns = os.stat(f"/proc/{init_pid}/ns/pid").st_ino

    # -- inside ---------------------------------------------------------------

    def run(self, *argv: str, timeout: float = 30.0, check: bool = False) -> subprocess.CompletedProcess:
        """Run ``argv`` inside the container (every namespace, its root, a clean environment).

        Returns the completed process (text output). Raises
        ``subprocess.TimeoutExpired`` after ``timeout`` seconds, and
        ``subprocess.CalledProcessError`` for a non-zero exit when ``check``."""
        return subprocess.run(
            ["nsenter", "-t", str(self.init_pid), "-a", "--", *argv],
            env=INSIDE_ENV,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=check,
        )

    def netns_argv(self, *argv: str) -> list[str]:
        """``argv`` prefixed to run on the host but in the container's network namespace."""
        return ["nsenter", f"--net=/proc/{self.init_pid}/ns/net", "--", *argv]

    def unit(self, name: str, *properties: str) -> dict[str, str]:
        """``systemctl show`` of ``name`` inside: ``{property: value}`` for ``properties``.

        Raises ``subprocess.CalledProcessError`` when systemctl fails."""
        args = [arg for prop in properties for arg in ("-p", prop)]
        result = self.run("systemctl", "show", name, *args, check=True)
        return dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)

    def journal(self, unit: str) -> list[str]:
        """The messages of ``unit`` in the journal inside, oldest first (text only)."""
        return self.run("journalctl", "--no-pager", "-q", "-o", "cat", "-u", unit).stdout.splitlines()

    def wait_running(self, timeout: float = 90.0) -> str:
        """``systemctl is-system-running --wait`` inside: the state it ends in (``running``,
        ``degraded``, ...), retried while systemd's socket is not there yet.

        Raises :class:`ContainerError` after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ContainerError(f"systemd in the container did not finish booting in {timeout:g} s")
            try:
                result = self.run("systemctl", "is-system-running", "--wait", timeout=remaining)
            except subprocess.TimeoutExpired:
                continue
            state = result.stdout.strip()
            if state and state not in ("offline", "unknown"):
                return state
            time.sleep(0.2)

    def diagnostics(self, unit: str) -> str:
        """What to print when a check fails: ``systemctl status`` and the journal of ``unit``,
        failed units, and the tail of nspawn's console output. Never raises."""
        parts = []
        for argv in (
            ("systemctl", "status", "--no-pager", "-l", unit),
            ("systemctl", "--failed", "--no-pager"),
            ("journalctl", "--no-pager", "-u", unit),
        ):
            try:
                result = self.run(*argv, timeout=15)
                parts.append(f"$ {' '.join(argv)}\n{result.stdout}{result.stderr}")
            except (OSError, subprocess.SubprocessError) as exc:
                parts.append(f"$ {' '.join(argv)}\n{exc}")
        try:
            console = self.log.read_text(errors="replace").splitlines()[-40:]
        except OSError:
            console = []
        parts.append("nspawn output (tail):\n" + "\n".join(console))
        return "\n".join(parts)

    # -- processes --------------------------------------------------------------

    def host_pid(self, pid: int) -> int | None:
        """The host PID of the container's process ``pid``, or None when there is none."""
        for host in self._processes():
            if _nspid(host)[-1:] == [pid]:
                return host
        return None

    def processes(self) -> list[int]:
        """Host PIDs of every process still in the container's PID namespace."""
        return list(self._processes())

    def _processes(self) -> Iterator[int]:
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                if os.stat(f"/proc/{entry}/ns/pid").st_ino == self._pid_ns:
                    yield int(entry)
            except OSError:
                continue

    # -- stop ---------------------------------------------------------------------

    def stop(self, timeout: float = 30.0) -> list[int]:
        """Power the container off (SIGTERM to nspawn: an orderly shutdown); after
        ``timeout`` seconds SIGKILL its PID 1 and nspawn. Returns the host PIDs of
        container processes still alive afterwards (should be none). Never raises."""
        if self.nspawn.poll() is None:
            self.nspawn.send_signal(signal.SIGTERM)
            try:
                self.nspawn.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.init_pid, signal.SIGKILL)  # ends every process of its PID namespace
                self.nspawn.kill()
                self.nspawn.wait(10)
        deadline = time.monotonic() + 5
        while (left := self.processes()) and time.monotonic() < deadline:
            time.sleep(0.1)
        return left


def _nspid(pid: int) -> list[int]:
    """The ``NSpid`` line of a process (its PID in each nested PID namespace), [] if gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("NSpid:"):
                    return [int(field) for field in line.split()[1:]]
    except (OSError, ValueError):
        pass
    return []


def _container_init(nspawn: subprocess.Popen, timeout: float) -> int:
    """Host PID of the container's PID 1: the nspawn child that is PID 1 of a PID namespace of its own."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and nspawn.poll() is None:
        try:
            children = Path(f"/proc/{nspawn.pid}/task/{nspawn.pid}/children").read_text().split()
        except OSError:
            children = []
        for child in map(int, children):
            if _nspid(child)[-1:] == [1] and len(_nspid(child)) > 1:
                return child
        time.sleep(0.05)
    raise ContainerError("no container init process appeared")


@contextlib.contextmanager
def booted(root: Path, log: Path, *, machine: str, boot_timeout: float = 90.0) -> Iterator[Container]:
    """Boot ``root`` with ``systemd-nspawn --boot --private-network``, yield the :class:`Container`
    once its systemd answers (the boot may still be in progress), stop it on exit.

    ``machine`` names the container (its host name too). nspawn's console goes to
    ``log``. Raises :class:`ContainerError` (with the console's tail) when nspawn
    exits early or its systemd does not answer within ``boot_timeout`` seconds,
    and when container processes survive the stop.
    """
    command = [
        "systemd-nspawn",
        "--quiet",
        "--boot",
        "--private-network",
        "--register=no",
        "--keep-unit",
        "--link-journal=no",
        "--console=read-only",
        f"--machine={machine}",
        f"--directory={root}",
    ]
    with open(log, "wb") as out:
        nspawn = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    container = None
    try:
        try:
            container = Container(nspawn, _container_init(nspawn, boot_timeout), log)
            deadline = time.monotonic() + boot_timeout
            while container.run("systemctl", "show", "-p", "Version").returncode != 0:  # systemd not up yet
                if time.monotonic() > deadline or nspawn.poll() is not None:
                    raise ContainerError("systemd in the container does not answer")
                time.sleep(0.1)
        except ContainerError as exc:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
            raise ContainerError(f"{exc}; `{' '.join(command)}` exit {nspawn.poll()}, output:\n{tail}") from None
        yield container
    finally:
        if container is not None:
            left = container.stop()
        else:
            if nspawn.poll() is None:
                nspawn.kill()
            nspawn.wait(10)
            left = []
        propagate = Path("/run/systemd/nspawn/propagate") / machine
        with contextlib.suppress(OSError):
            propagate.rmdir()  # nspawn leaves it behind where /run is not a tmpfs
    if left:
        raise ContainerError(f"processes of the container outlived it: host PIDs {left}")
