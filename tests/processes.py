"""Stopping a child process the tests started, by its PID (or its own process group)."""

from __future__ import annotations

import os
import signal
import subprocess


def stop_process(process: subprocess.Popen, timeout: float, *, group: bool = False) -> None:
    """SIGTERM ``process`` (a child we started) if it still runs, SIGKILL it after ``timeout``
    seconds, and reap it. With ``group`` both signals go to its process group, which must be its
    own (``start_new_session=True``), so that what it started ends too."""
    if process.poll() is not None:
        return

    def send(signum: int) -> None:
        if group:
            os.killpg(process.pid, signum)
        else:
            os.kill(process.pid, signum)

    send(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        send(signal.SIGKILL)
        process.wait()
