"""Test helpers for discovery clients: a private D-Bus system bus and a discovering sane-airscan set-up.

sane-airscan's ``sane_init`` fails without a D-Bus system bus when discovery is
enabled (SANE-AIRSCAN.md sections 7 and 8); :class:`PrivateSystemBus` runs a
``dbus-daemon`` of type ``system`` on a socket in a temporary directory, so the
host's bus is never used. :func:`airscan_discovery_dir` writes the
``SANE_CONFIG_DIR`` in which airscan finds devices by WS-Discovery only.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

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
  </policy>
</busconfig>
"""


class PrivateSystemBus:
    """A ``dbus-daemon`` with a minimal system-bus configuration, listening in ``directory``.

    :attr:`address` is the value for ``DBUS_SYSTEM_BUS_ADDRESS``. :meth:`stop`
    ends the daemon by its PID. Raises RuntimeError when the socket does not
    appear within ``timeout`` seconds.
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
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def airscan_discovery_dir(directory: Path, trace_dir: Path) -> Path:
    """Write a SANE config dir in which sane-airscan finds WSD scanners by WS-Discovery only.

    ``dll.conf`` loads only ``airscan``; ``airscan.conf`` enables discovery with
    ``ws-discovery = full`` (SANE-AIRSCAN.md section 8), has no ``[devices]``,
    and writes airscan's protocol trace into ``trace_dir``. Returns ``directory``.
    """
    directory.mkdir(parents=True, exist_ok=True)
    trace_dir.mkdir(parents=True, exist_ok=True)
    (directory / "dll.conf").write_text("airscan\n")
    (directory / "airscan.conf").write_text(
        f"[options]\ndiscovery = enable\nws-discovery = full\n\n[debug]\ntrace = {trace_dir}\n"
    )
    return directory
