"""One measured scan through ``scanimage``: direct, through the service (sane-airscan, WS-Scan), or
through AirSane (sane-airscan, eSCL); and what the bench measures of a server around a job.

Per scan (:class:`Scan`; NaN / -1 where a figure does not apply):

* ``wall``: seconds of the client's run (scanimage; for the raw clients of :mod:`bench.rawscans`,
  from the job's creation to the last byte);
* ``client_cpu``: CPU seconds of scanimage (the bench's reaped-children rusage);
* ``service_cpu``: utime + stime of the server's process tree (plus reaped descendants), from
  just before the scan to the idle sample after it;
* ``first_byte`` / ``log_after_row``: the service's log line for the job: first image byte after
  RetrieveImage, and after the side's first row (newer services only);
* ``client_after_row``: a raw client's first image byte minus the device's first row (the SANE
  ``test`` backend's debug stamps, same clock);
* ``client_tail``: from the service logging the job Completed to scanimage's exit (sane-airscan
  decoding the file it kept and scanimage writing its own: no server can overlap it);
* ``rss_before`` / ``rss_peak``: RSS of the server's tree just before the scan and its peak
  (sampled every 20 ms) during it; ``rss_idle``: the tree's RSS :data:`IDLE_SETTLE` seconds after
  the job ended (the service: its ``job N Completed`` log line, which is what its job history
  records; AirSane: its last answer);
* ``device_time``: the backend's ``sane_start`` to ``EOF reached`` (servers started with the
  stamps only; NaN for direct scans, which run without them);
* ``image_bytes``: bytes of the image a raw client received; ``sampling``: its chroma
  subsampling when it is a JPEG ("4:4:4", "4:2:0", ...).
"""

from __future__ import annotations

import contextlib
import os
import re
import resource
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from bench import airsane as airsane_mod
from bench.proctree import RssSampler, process_tree, tree_cpu_seconds, tree_rss
from bench.sanelog import device_events, first_byte_line
from tests.airscan import DEVICE as AIRSCAN_DEVICE
from tests.airscan import scanimage
from tests.servers import wait_for

NAN = float("nan")

DIRECT_DEVICE = "test:0"

STAMPS = "SANE_DEBUG_TEST"
"""The environment variable that makes the ``test`` backend stamp its calls (value 2)."""

IDLE_SETTLE = 0.5
"""Seconds after a job ended at which the server's idle RSS is sampled."""

COMPLETED = re.compile(r"job (\d+) Completed ")
CREATED = re.compile(r"job (\d+) created(?: \(eSCL\))?: \S+ (\S+) (\d+) dpi (\S+)")

FORMATS = {"png": "png", "jpeg": "jfif"}
"""scanimage --format -> the WS-Scan FormatValue the service must have used for it."""


SCAN_TIMEOUT = 60
"""Seconds a scanimage run may take (the longest scan of the bench takes about 7 s)."""


class BenchError(RuntimeError):
    """A scan failed or a server did not do what the case asked; the message says what and shows the logs."""


class ScanHung(BenchError):
    """scanimage did not end within :data:`SCAN_TIMEOUT` seconds (it was killed), or the service's
    SANE worker stopped answering and the service's watchdog killed it (the ``test`` backend can
    hang while it stops its reader thread at the end of a page, with or without the service)."""


WORKER_KILLED = "did not answer for"
"""In a service log line: its watchdog killed a SANE worker that stopped answering."""


def failed_scan(message: str, log_lines: list[str]) -> BenchError:
    """The error for a scan through the service that failed with ``message``: :class:`ScanHung`
    when ``log_lines`` (the service's log of that scan) show its worker was killed."""
    text = f"{message}\nservice log:\n" + "\n".join(log_lines[-40:])
    hung = any(WORKER_KILLED in line for line in log_lines)
    return ScanHung(text) if hung else BenchError(text)


@dataclass(frozen=True)
class Page:
    """The scanned area: ``name`` for the tables, width and height in mm from the top left, dpi."""

    name: str
    width_mm: float
    height_mm: float
    dpi: int

    def geometry(self, fmt: str) -> list[str]:
        """scanimage arguments: this area, Color, this resolution, ``--format=fmt``."""
        return [
            *("-l", "0", "-t", "0", "-x", f"{self.width_mm:g}", "-y", f"{self.height_mm:g}"),
            *("--mode", "Color", "--resolution", str(self.dpi), f"--format={fmt}"),
        ]


@dataclass(frozen=True)
class Scan:
    """One measured scan (see the module docstring for every field; times in seconds, memory in bytes)."""

    wall: float
    client_cpu: float = NAN
    size: tuple[int, int] | None = None
    service_cpu: float = NAN
    first_byte: float = NAN
    log_after_row: float = NAN
    client_after_row: float = NAN
    client_tail: float = NAN
    rss_before: int = -1
    rss_peak: int = -1
    rss_idle: int = -1
    device_time: float = NAN
    image_bytes: int = -1
    sampling: str = ""

    @property
    def image_mb(self) -> float:
        """MB (10^6 bytes) of the image a raw client received (NaN for scanimage runs)."""
        return NAN if self.image_bytes < 0 else self.image_bytes / 1e6

    @property
    def served(self) -> float:
        """``wall`` without the client's tail: scanimage's start to the job's end at the server,
        seconds (NaN without a tail: direct scans, raw clients)."""
        return self.wall - self.client_tail

    @property
    def memory_growth(self) -> float:
        """Peak RSS during the scan minus RSS just before it, bytes (NaN when not sampled)."""
        return NAN if self.rss_peak < 0 else float(max(self.rss_peak, self.rss_before) - self.rss_before)

    @property
    def idle_growth(self) -> float:
        """Idle RSS after the job minus RSS just before it, bytes (NaN when not sampled)."""
        return NAN if self.rss_idle < 0 else float(self.rss_idle - self.rss_before)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_scanimage(sane_dir: Path, out: Path, *args: str) -> tuple[float, float, tuple[int, int], str]:
    """Run ``scanimage *args -o out`` with ``SANE_CONFIG_DIR=sane_dir``.

    Returns (wall seconds, CPU seconds of scanimage, image (width, height) in pixels, its stderr).
    Raises :class:`ScanHung` when it runs longer than :data:`SCAN_TIMEOUT`, :class:`BenchError`
    when it fails.
    """
    out.unlink(missing_ok=True)
    cpu = _children_cpu()
    start = time.monotonic()
    try:
        result = scanimage(sane_dir, *args, "-o", str(out), timeout=SCAN_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        tail = str(exc.stderr or "")[-1500:]
        message = f"scanimage {' '.join(args)} hung for {SCAN_TIMEOUT} s and was killed; stderr ends: {tail}"
        raise ScanHung(message) from None
    wall = time.monotonic() - start
    cpu = _children_cpu() - cpu
    if result.returncode != 0:
        raise BenchError(f"scanimage {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    with Image.open(out) as image:
        size = image.size
    return wall, cpu, size, result.stderr


@contextlib.contextmanager
def unstamped() -> Iterator[None]:
    """Within the block, processes start without ``SANE_DEBUG_TEST`` (the ``test`` backend's
    debug stamps, :mod:`bench.sanelog`); the variable is put back afterwards."""
    saved = os.environ.pop(STAMPS, None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ[STAMPS] = saved


def direct_scan(sane_dir: Path, out: Path, page: Page, fmt: str) -> Scan:
    """A direct ``scanimage -d test:0`` scan, always without the backend's debug stamps
    (``device_time`` NaN): writing a stamped line per ``sane_read`` made direct scans 2-5 %
    slower, which flattered every ratio to them (docs/performance.md). Raises :class:`BenchError`."""
    with unstamped():
        wall, cpu, size, _ = timed_scanimage(sane_dir, out, "-d", DIRECT_DEVICE, *page.geometry(fmt))
    return Scan(wall, cpu, size)


def wait_completed(service, logged: int, timeout: float = 10) -> float:
    """``time.monotonic()`` once the service logged a job Completed after log line ``logged``
    (to within 10 ms). Raises :class:`BenchError` when it does not within ``timeout`` s."""

    def done() -> float | None:
        return time.monotonic() if any(COMPLETED.search(line) for line in service.log[logged:]) else None

    try:
        return wait_for(done, timeout=timeout, interval=0.01)
    except AssertionError:
        raise BenchError("the job did not complete:\n" + "\n".join(service.log[logged:][-40:])) from None


def settle(pid: int, ended: float) -> int:
    """Wait until :data:`IDLE_SETTLE` s after ``ended`` (monotonic), then the RSS of ``pid``'s tree."""
    time.sleep(max(0.0, ended + IDLE_SETTLE - time.monotonic()))
    return tree_rss(process_tree(pid))


def wsd_scan(service, client_dir: Path, out: Path, page: Page, fmt: str) -> Scan:
    """The scan through ``service`` (a ``tests.servers.Service``) with sane-airscan configured in
    ``client_dir``. Raises :class:`BenchError` when the scan fails, the service used another
    format or resolution, or its job lines do not come within 10 s."""
    pid = service.process.pid
    logged = len(service.log)
    before_rss = tree_rss(process_tree(pid))
    before_cpu = tree_cpu_seconds(pid)
    with RssSampler(pid, service.log, logged, COMPLETED) as sampler:
        try:
            started = time.monotonic()
            wall, cpu, size, _ = timed_scanimage(client_dir, out, "-d", AIRSCAN_DEVICE, *page.geometry(fmt))
        except BenchError as exc:
            raise failed_scan(str(exc), service.log[logged:]) from None
    completed = sampler.matched_at or wait_completed(service, logged)
    idle = settle(pid, completed)
    service_cpu = tree_cpu_seconds(pid) - before_cpu
    lines = service.log[logged:]
    created = next((m for m in map(CREATED.search, lines) if m), None)
    first = first_byte_line(lines)
    if created is None or first is None:
        raise BenchError("the service logged no job / first image byte line:\n" + "\n".join(lines[-40:]))
    if (created.group(2), int(created.group(3)), created.group(4)) != ("Color", page.dpi, FORMATS[fmt]):
        raise BenchError(f"asked Color {page.dpi} dpi {FORMATS[fmt]}, the service scanned: {created.group(0)}")
    events = device_events(lines)
    return Scan(
        wall,
        cpu,
        size,
        service_cpu,
        first.after_request,
        NAN if first.after_first_row is None else first.after_first_row,
        client_tail=max(0.0, started + wall - completed),
        rss_before=before_rss,
        rss_peak=sampler.peak,
        rss_idle=idle,
        device_time=events.get("eof", NAN) - events.get("start", NAN),
    )


def airsane_scan(airsane: airsane_mod.AirSane, client_dir: Path, out: Path, page: Page, fmt: str) -> Scan:
    """The scan through AirSane (sane-airscan in eSCL mode, configured in ``client_dir``), with
    airsaned's CPU seconds and memory (AirSane logs no first byte). Raises :class:`BenchError`."""
    pid = airsane.process.pid
    before_rss = tree_rss(process_tree(pid))
    before_cpu = tree_cpu_seconds(pid)
    with RssSampler(pid) as sampler:
        wall, cpu, size, _ = timed_scanimage(client_dir, out, "-d", airsane_mod.DEVICE, *page.geometry(fmt))
    idle = settle(pid, time.monotonic())
    service_cpu = tree_cpu_seconds(pid) - before_cpu
    return Scan(wall, cpu, size, service_cpu, rss_before=before_rss, rss_peak=sampler.peak, rss_idle=idle)
