"""Start the real service as a subprocess for tests, and stop it by PID.

``running_service(sane_dir, state_dir)`` runs ``python -m firmware`` on
127.0.0.1 with a free port and ``SANE_CONFIG_DIR=sane_dir``, waits for its
"scan service http://..." log lines and yields a :class:`Service`.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.processes import stop_process

REPO = Path(__file__).resolve().parents[1]
URL_LINE = re.compile(r"scan service (http://127\.0\.0\.1:\d+/\S+) \(.*SANE (\S+)\)")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Service:
    """A running service: its process, its scan service URLs by SANE name, and its log."""

    process: subprocess.Popen
    urls: dict[str, str]
    port: int
    log: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        """The URL of the first scanner (test:0)."""
        return self.urls.get("test:0") or next(iter(self.urls.values()))

    def log_text(self) -> str:
        """Everything the service logged so far."""
        return "\n".join(self.log)


@contextlib.contextmanager
def running_service(
    sane_dir: Path,
    state_dir: Path,
    *extra: str,
    expect: int = 1,
    env: dict | None = None,
    preexec_fn: Callable[[], None] | None = None,
):
    """Run the service until the block ends; fail if it does not list ``expect`` scanners within 30 s.
    ``preexec_fn`` runs in the child before the service starts (e.g. to lower a resource limit)."""
    port = free_port()
    environment = {**os.environ, "SANE_CONFIG_DIR": str(sane_dir), "PYTHONUNBUFFERED": "1", **(env or {})}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "firmware",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--state-dir",
            str(state_dir),
            *extra,
        ],
        cwd=REPO,
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=preexec_fn,
    )
    service = Service(process, {}, port)
    ready = threading.Event()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            service.log.append(line.rstrip("\n"))
            match = URL_LINE.search(line)
            if match:
                service.urls[match.group(2)] = match.group(1)
                if len(service.urls) >= expect:
                    ready.set()
        ready.set()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        if not ready.wait(30) or len(service.urls) < expect:
            raise AssertionError("service did not start:\n" + service.log_text())
        yield service
    finally:
        stop_process(process, 10)
        reader.join(5)


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05):
    """Poll ``predicate`` until it returns a true value (returned) or ``timeout`` seconds pass (AssertionError)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")
