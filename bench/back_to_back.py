"""Back-to-back scans through sane-airscan: N small scans, each started as soon as the previous ended.

    .venv/bin/python bench/back_to_back.py [-n 1000] [--timeout 60] [--cancel-every K]

The service (``python -m firmware`` on 127.0.0.1) serves libsane's ``test``
backend; every scan is ``scanimage -d airscan:w0:Test`` of a 20 x 20 mm area
at 75 dpi as PNG, so the time goes to the job's start and end, where the
previous job's SANE session may still be closing (issue 10 item 3: 2 of 1000
such scans failed with "Device busy"). With ``--cancel-every K`` every K-th
scan is interrupted with SIGINT (Ctrl-C) once its job is active and the next
scan starts at once, as in the e2e Ctrl-C test.

Reports the failures (exit status and scanimage's message), the hangs (a scan
still running after ``--timeout`` seconds is killed), how often a new job had
to wait for the previous session to close (the service's log), and the scan
times. Exit status 0 when every scan succeeded.
"""

from __future__ import annotations

import argparse
import collections
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.airscan import DEVICE, airscan_dir, scanimage, start_scanimage  # noqa: E402
from tests.sane_env import write_sane_dir  # noqa: E402
from tests.servers import running_service, wait_for  # noqa: E402
from tests.soap import SoapClient  # noqa: E402

SCAN_ARGS = ("-d", DEVICE, "--resolution", "75", "-l", "0", "-t", "0", "-x", "20", "-y", "20", "--format=png")
WAIT_LINE = "waits for the previous session to close"


@dataclass
class Result:
    """What N back-to-back scans gave: ``failures`` (scan number, exit status, last stderr line),
    ``hangs`` (scan numbers killed after the timeout), ``seconds`` per successful scan,
    ``cancelled`` scans interrupted on purpose, ``waits`` jobs that waited for a closing session."""

    scans: int = 0
    failures: list[tuple[int, int, str]] = field(default_factory=list)
    hangs: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    cancelled: int = 0
    waits: int = 0

    @property
    def ok(self) -> bool:
        """True when every scan that was not cancelled on purpose succeeded."""
        return not self.failures and not self.hangs

    def report(self) -> str:
        """A few lines for a human."""
        lines = [
            f"scans: {self.scans}, succeeded: {len(self.seconds)}, cancelled on purpose: {self.cancelled}, "
            f"failed: {len(self.failures)}, hung: {len(self.hangs)}",
            f"jobs that waited for the previous session to close: {self.waits}",
        ]
        if self.seconds:
            ordered = sorted(self.seconds)
            lines.append(
                f"scan time: median {statistics.median(ordered):.3f} s, "
                f"p99 {ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]:.3f} s, max {ordered[-1]:.3f} s"
            )
        messages = collections.Counter(message for _, _, message in self.failures)
        for message, count in messages.most_common():
            lines.append(f"  {count} x {message}")
        if self.hangs:
            lines.append(f"  hung: scans {self.hangs[:20]}")
        return "\n".join(lines)


def run_back_to_back(
    count: int, workdir: Path, timeout: float = 60.0, cancel_every: int = 0, progress: bool = False
) -> Result:
    """Run ``count`` back-to-back scans against a fresh service in ``workdir``; see the module doc."""
    result = Result()
    sane = write_sane_dir(workdir / "sane", **{"test-picture": '"Color pattern"'})
    with running_service(sane, workdir / "state") as service:
        client = airscan_dir(workdir / "client", service.url)
        soap = SoapClient(service.url)
        out = workdir / "scan.png"
        for number in range(1, count + 1):
            result.scans += 1
            if cancel_every and number % cancel_every == 0:
                _cancelled_scan(client, soap, workdir)
                result.cancelled += 1
                continue
            started = time.monotonic()
            try:
                done = scanimage(client, *SCAN_ARGS, "-o", str(out), timeout=timeout)
            except subprocess.TimeoutExpired:
                result.hangs.append(number)
                continue
            if done.returncode == 0:
                result.seconds.append(time.monotonic() - started)
            else:
                last = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
                result.failures.append((number, done.returncode, last))
            if progress and number % 50 == 0:
                print(f"{number} scans, {len(result.failures)} failed, {len(result.hangs)} hung", flush=True)
        result.waits = service.log_text().count(WAIT_LINE)
    return result


def _cancelled_scan(client: Path, soap: SoapClient, workdir: Path) -> None:
    """A full-bed scan interrupted with SIGINT once its job is active (then it is waited for)."""
    scan = start_scanimage(client, "-d", DEVICE, "--resolution", "300", "--format=png", "-o", str(workdir / "c.png"))
    try:
        wait_for(lambda: soap.active_jobs() or scan.poll() is not None, timeout=20)
        scan.send_signal(signal.SIGINT)
        scan.communicate(timeout=30)
    finally:
        if scan.poll() is None:
            scan.kill()
            scan.wait(5)


def main(argv: list[str] | None = None) -> int:
    """Command line entry; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--count", type=int, default=1000, help="number of scans (default 1000)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds before a scan counts as hung")
    parser.add_argument("--cancel-every", type=int, default=0, help="interrupt every K-th scan with SIGINT")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="back-to-back-") as tmp:
        result = run_back_to_back(args.count, Path(tmp), args.timeout, args.cancel_every, progress=True)
    print(result.report())
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
