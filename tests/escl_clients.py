"""The two independent eSCL clients the tests drive through `scanimage`.

* sane-airscan in eSCL mode: a private SANE_CONFIG_DIR whose dll.conf loads only ``airscan``,
  one manual device ``"Test" = <url>, eSCL`` (the scanner's ``.../eSCL`` URL), discovery off;
* sane-backends' own ``escl`` backend: dll.conf ``escl``, escl.conf ``device http://H:P`` (it
  always asks for ``/eSCL/...`` at the server's root: the default scanner). Without an avahi
  daemon its device list is empty, but ``scanimage -d escl:http://H:P`` opens the device.

Both find devices through avahi-client over D-Bus: for discovery tests, :class:`PrivateAvahi` runs an
``avahi-daemon`` of our own inside a network namespace, on a private D-Bus system bus
(:class:`tests.dpws.discovery_clients.PrivateSystemBus`), and :func:`airscan_escl_discovery_dir` /
:func:`sane_escl_discovery_dir` write SANE config dirs that list what it finds.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from tests.netns import netns_argv

AIRSCAN_DEVICE = "airscan:e0:Test"


def airscan_escl_dir(directory: Path, escl_url: str, trace: bool = False) -> Path:
    """A SANE config dir in which ``scanimage -d airscan:e0:Test`` talks eSCL to ``escl_url``."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "dll.conf").write_text("airscan\n")
    lines = ["[devices]", f'"Test" = {escl_url}, eSCL', "", "[options]", "discovery = disable", "ws-discovery = off"]
    if trace:
        lines += ["", "[debug]", "enable = true", f"trace = {directory / 'trace'}"]
    (directory / "airscan.conf").write_text("\n".join(lines) + "\n")
    return directory


def sane_escl_dir(directory: Path, port: int) -> tuple[Path, str]:
    """A SANE config dir for sane-backends' ``escl`` backend and the device name to open."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "dll.conf").write_text("escl\n")
    (directory / "escl.conf").write_text(f"device http://127.0.0.1:{port}\n")
    return directory, f"escl:http://127.0.0.1:{port}"


def airscan_escl_discovery_dir(directory: Path) -> Path:
    """A SANE config dir in which sane-airscan finds eSCL scanners by DNS-SD only (no manual devices,
    WS-Discovery off)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "dll.conf").write_text("airscan\n")
    (directory / "airscan.conf").write_text("[options]\ndiscovery = enable\nws-discovery = off\n")
    return directory


def sane_escl_discovery_dir(directory: Path) -> Path:
    """A SANE config dir in which sane-backends' ``escl`` lists what avahi finds (no manual devices)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "dll.conf").write_text("escl\n")
    (directory / "escl.conf").write_text("")
    return directory


_AVAHI_CONFIG = """[server]
host-name={host_name}
use-ipv4=yes
use-ipv6=yes
allow-interfaces={interface}
enable-dbus=yes
[wide-area]
enable-wide-area=no
[publish]
publish-hinfo=no
publish-workstation=no
"""


def avahi_missing() -> str | None:
    """Why :class:`PrivateAvahi` cannot run here (a skip reason), or None."""
    missing = [tool for tool in ("avahi-daemon", "avahi-browse", "dbus-daemon", "unshare") if not shutil.which(tool)]
    if missing:
        return f"DNS-SD discovery tests need {', '.join(missing)} (scripts/setup installs avahi-daemon, avahi-utils)"
    return None


class PrivateAvahi:
    """An ``avahi-daemon`` of our own in network namespace ``namespace``, on ``interface`` only, on the
    D-Bus system bus at ``bus_address``, with its own configuration in ``directory`` and host name
    ``host_name``. It runs in a private mount namespace with a tmpfs on /run, so its pid file and
    socket never meet the host's /run/avahi-daemon. :meth:`stop` ends it by PID.
    Raises RuntimeError when it does not report start-up within ``timeout`` seconds."""

    def __init__(
        self,
        namespace: str,
        interface: str,
        bus_address: str,
        directory: Path,
        host_name: str = "wsdtest-client",
        timeout: float = 15.0,
    ) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.config = directory / "avahi-daemon.conf"
        self.config.write_text(_AVAHI_CONFIG.format(host_name=host_name, interface=interface))
        self.log = directory / "avahi-daemon.log"
        self.env = {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": bus_address}
        script = (
            "mount -t tmpfs tmpfs /run && mkdir /run/avahi-daemon && "
            'exec avahi-daemon --no-drop-root --no-chroot --no-rlimits --no-proc-title -f "$0"'
        )
        argv = netns_argv(namespace, "unshare", "--mount", "--propagation", "private", "sh", "-c", script)
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [*argv, str(self.config)], env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
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
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
