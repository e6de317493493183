"""A private D-Bus system bus and a private avahi-daemon, for the tests and the bench.

sane-airscan (with discovery on), sane-backends' ``escl`` and AirSane reach Avahi through the
D-Bus *system* bus. :class:`PrivateSystemBus` runs a ``dbus-daemon`` of type ``system`` on a
socket in a directory of ours (``DBUS_SYSTEM_BUS_ADDRESS`` points at it), so the host's bus is
never used; :class:`PrivateAvahi` runs an ``avahi-daemon`` on that bus, on one interface, in a
private mount namespace (a tmpfs on /run: its pid file and socket never meet the host's) and,
given one, in a network namespace of ours. Both are stopped by their PID. Used by
tests/dpws, tests/e2e/test_escl_dnssd.py and bench/airsane.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from tests.netns import netns_argv
from tests.processes import stop_process

_BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
    <allow receive_type="*"/>
  </policy>
</busconfig>
"""

_AVAHI_CONFIG = """[server]
host-name={host_name}
use-ipv4=yes
use-ipv6={ipv6}
allow-interfaces={interface}
enable-dbus=yes
[wide-area]
enable-wide-area=no
[publish]
publish-addresses={publish_addresses}
publish-hinfo=no
publish-workstation=no
publish-domain=no
[reflector]
enable-reflector=no
"""

_PACKAGES = {"dbus-daemon": "dbus-daemon", "avahi-daemon": "avahi-daemon", "avahi-browse": "avahi-utils"}


def avahi_missing(*tools: str) -> str | None:
    """Why :class:`PrivateSystemBus` and :class:`PrivateAvahi` (and the client ``tools`` named, such
    as ``avahi-browse``) cannot run here, as a skip reason naming what to install; None when they can."""
    missing = [tool for tool in ("dbus-daemon", "avahi-daemon", "unshare", *tools) if not shutil.which(tool)]
    if missing:
        packages = sorted({_PACKAGES.get(tool, "util-linux" if tool == "unshare" else tool) for tool in missing})
        return (
            f"needs {', '.join(missing)} for a private Avahi on a private D-Bus "
            f"(apt-get install {' '.join(packages)}; ./scripts/setup --test installs them)"
        )
    if os.geteuid() != 0:
        return "a private avahi-daemon needs root (a private mount namespace): run as root, e.g. sudo ./scripts/test"
    return None


class PrivateSystemBus:
    """A ``dbus-daemon`` with a minimal system-bus configuration, listening in ``directory``.

    :attr:`address` is the value for ``DBUS_SYSTEM_BUS_ADDRESS``; :attr:`proc` the daemon's
    process. :meth:`stop` ends the daemon by its PID. Raises RuntimeError when the socket does
    not appear within ``timeout`` seconds.
    """

    def __init__(self, directory: Path, timeout: float = 5.0) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.socket = directory / "system_bus_socket"
        self.config = directory / "system.conf"
        self.config.write_text(_BUS_CONFIG.format(socket=self.socket))
        self.log = directory / "dbus-daemon.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                ["dbus-daemon", f"--config-file={self.config}", "--nofork", "--nopidfile"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        deadline = time.monotonic() + timeout
        while not self.socket.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"dbus-daemon did not start: {self.log.read_text(errors='replace')}")
            time.sleep(0.02)
        self.address = f"unix:path={self.socket}"

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM the daemon we started (SIGKILL after ``timeout`` s) and reap it. Idempotent."""
        stop_process(self.proc, timeout)


class PrivateAvahi:
    """An ``avahi-daemon`` of our own on ``interface`` only, on the D-Bus system bus at
    ``bus_address``, in network namespace ``namespace`` (None: this process's), with its
    configuration (``avahi.conf``) and log (``avahi.log``) in ``directory`` and host name
    ``host_name``; ``ipv6`` and ``publish_addresses`` set avahi's use-ipv6 and publish-addresses.
    It runs in a private mount namespace with a tmpfs on /run, so its pid file and socket never
    meet the host's /run/avahi-daemon (needs root). :attr:`proc` is its process; :meth:`stop`
    ends it by PID. Raises RuntimeError when it does not report start-up within ``timeout`` seconds.
    """

    def __init__(
        self,
        namespace: str | None,
        interface: str,
        bus_address: str,
        directory: Path,
        host_name: str = "wsdtest-client",
        *,
        ipv6: bool = True,
        publish_addresses: bool = True,
        timeout: float = 15.0,
    ) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.config = directory / "avahi.conf"
        self.config.write_text(
            _AVAHI_CONFIG.format(
                host_name=host_name,
                interface=interface,
                ipv6="yes" if ipv6 else "no",
                publish_addresses="yes" if publish_addresses else "no",
            )
        )
        self.log = directory / "avahi.log"
        self.env = {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": bus_address}
        script = (
            "mount -t tmpfs tmpfs /run && mkdir /run/avahi-daemon && "
            'exec avahi-daemon --no-drop-root --no-chroot --no-rlimits --no-proc-title -f "$0"'
        )
        argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, str(self.config)]
        if namespace is not None:
            argv = netns_argv(namespace, *argv)
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(argv, env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while "Server startup complete" not in self.log_text():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"avahi-daemon did not start:\n{self.log_text()}")
            time.sleep(0.05)

    def log_text(self) -> str:
        """What the daemon logged so far."""
        return self.log.read_text(errors="replace")

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM the daemon we started (SIGKILL after ``timeout`` s) and reap it. Idempotent."""
        stop_process(self.proc, timeout)
