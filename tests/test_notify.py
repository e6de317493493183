"""systemd notification: READY=1 once listening, watchdog pings, STOPPING=1 on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.sane_env import write_sane_dir
from tests.servers import REPO, free_port

pytestmark = [pytest.mark.service, pytest.mark.sane]


def test_service_notifies_systemd(tmp_path):
    sane = write_sane_dir(tmp_path / "sane", number_of_devices=1)
    path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        sock.settimeout(30)
        env = {**os.environ, "SANE_CONFIG_DIR": str(sane), "NOTIFY_SOCKET": path, "WATCHDOG_USEC": "400000"}
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "firmware",
                "--host",
                "127.0.0.1",
                "--port",
                str(free_port()),
                "--state-dir",
                str(tmp_path / "state"),
            ],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            messages = []
            deadline = time.monotonic() + 30
            while sum("WATCHDOG=1" in m for m in messages) < 3 and time.monotonic() < deadline:
                messages.append(sock.recv(4096).decode())
            assert messages[0].startswith("READY=1\nSTATUS=serving 1 scanner(s)")
            assert sum("WATCHDOG=1" in m for m in messages) >= 3
            process.send_signal(signal.SIGTERM)
            while "STOPPING=1" not in messages[-1]:
                messages.append(sock.recv(4096).decode())
            assert process.wait(15) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
