"""Scan benchmark: a direct SANE scan against the same scan through the WSD service and sane-airscan.

    .venv/bin/python bench/scan_bench.py [--rounds N] [--quick] [--device-bound | --unthrottled]
                                         [--service-env NAME=VALUE ...]

Every case scans the whole 200 x 200 mm bed of the SANE ``test`` backend
("Color pattern"), Color, at 300 and 600 dpi, as PNG and as JPEG, twice per
round, interleaved: first directly (``scanimage -d test:0 ... --format=F``),
then through the service (``scanimage -d airscan:w0:Test ... --format=F``,
sane-airscan talking WS-Scan to ``python -m firmware`` on 127.0.0.1). Both
use the same project-owned SANE config dir (``tests/sane_env.py``), so the
device is the same. sane-airscan asks for PNG whenever the service offers it;
for JPEG a second service is started whose configuration offers only
``jfif``. The figures are medians over the rounds.

Modes: *unthrottled* (the test backend delivers as fast as it can) and
*device-bound* (``read-delay`` on, ``read-delay-duration`` 20000 us per
buffer, so the device, not the CPU, sets the pace, as with a real USB
scanner). By default both run, unthrottled first.

Measured per WSD scan (service = the ``python -m firmware`` process and all
its descendants, i.e. the SANE worker processes, read from /proc):

* wall time of the ``scanimage`` run, direct and through WSD, and their ratio;
* CPU seconds of the client (``scanimage``, from the bench's reaped-children
  rusage) and of the service (utime + stime, plus cutime + cstime of
  descendants reaped during the scan, summed over the process tree, before
  and after the scan);
* the time from RetrieveImage to the first image byte (the service's log line
  ``job N: first image byte X s after RetrieveImage``);
* the client tail: from the service's ``job N Completed`` log line (seen
  within 20 ms) to scanimage's exit, i.e. sane-airscan decoding the received
  file and scanimage writing its own; work no server can overlap with the scan;
* the service's memory growth: the RSS of the tree sampled every 20 ms during
  the scan, peak minus the value just before it; shown next to the raw page
  size (width x height x 3 bytes). Memory freed after a job but kept by the
  allocator is in "just before" and so hides part of the next job's growth;
  "peak over idle" (highest peak of the case minus the tree's RSS right after
  the warm-up scan) shows that memory too.

Goals (device-bound only): WSD/direct wall-time ratio (of the medians) at
most 1.35 for PNG and 1.16 for JPEG; memory growth at most 2 x raw page +
60 MB in every round. MB here is 10^6 bytes. Each service first does one
unmeasured 75 dpi scan (imports, codec set-up) so the rounds show the steady
state. The bench only reports: its exit status is 0 whether goals are met or
not, 1 when a scan fails.

Only loopback is used; the bench stops only the processes it started (by PID,
through ``tests.servers.running_service``).
"""

from __future__ import annotations

import argparse
import contextlib
import re
import resource
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from PIL import Image  # noqa: E402

from bench import airsane as airsane_mod  # noqa: E402
from bench.proctree import RssSampler, process_tree, tree_cpu_seconds, tree_rss  # noqa: E402
from tests.airscan import DEVICE as AIRSCAN_DEVICE  # noqa: E402
from tests.airscan import airscan_dir, scanimage  # noqa: E402
from tests.sane_env import write_sane_dir  # noqa: E402
from tests.servers import running_service, wait_for  # noqa: E402

MB = 1_000_000
"""Bytes in the MB of every figure and goal."""

BED_MM = 200
"""Width and height of the scanned area in mm (the test backend's whole bed)."""

DIRECT_DEVICE = "test:0"

DEVICE_BOUND_SETTINGS = {"read-delay": True, "read-delay-duration": 20000}
"""test.conf settings of the device-bound mode: 20000 us (20 ms) per buffer the backend delivers."""

PICTURE = {"test-picture": '"Color pattern"', "number_of_devices": 1}
"""test.conf settings of both modes: one device (test:0, so the service runs one worker), the colour pattern."""

FORMATS = {"png": "png", "jpeg": "jfif"}
"""scanimage --format -> the WS-Scan FormatValue the service must have used for it."""

SERVICE_CONFIG = {"png": "", "jpeg": 'formats = ["jfif"]\n'}
"""The service's TOML configuration per client format: PNG uses the defaults (sane-airscan
prefers png), JPEG offers only jfif so sane-airscan has to take it."""

RATIO_GOAL = {"png": 1.05, "jpeg": 1.05}
"""Device-bound goal (issue 11): WSD wall time / direct wall time, at most."""

AIRSANE_RATIO_GOAL = 1.0
"""Device-bound goal (issue 11): WSD wall time / AirSane wall time (both through sane-airscan), at most."""

MIB = 1024 * 1024
"""Bytes in a MiB (memory figures)."""

MEMORY_GOAL = 16 * MIB
"""Device-bound goal (issue 11): memory growth of the service's tree during a page at most 16 MiB (bytes)."""

_CREATED = re.compile(r"job (\d+) created: \S+ (\S+) (\d+) dpi (\S+)")
_COMPLETED = re.compile(r"job \d+ Completed ")
_FIRST_BYTE = re.compile(r"job (\d+): first image byte ([0-9.]+) s after RetrieveImage")


class BenchError(RuntimeError):
    """A scan failed or the service did not do what the case asked; the message says what and shows the logs."""


# --- one scan ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scan:
    """One measured scan: wall and client CPU seconds, the image size in pixels; for a WSD scan
    also the service's CPU seconds, RetrieveImage-to-first-byte seconds, the client's tail
    (seconds from the service logging the job completed to scanimage's exit), and the RSS of
    the service's process tree just before the scan and its peak during the scan (bytes)."""

    wall: float
    client_cpu: float
    size: tuple[int, int]
    service_cpu: float = 0.0
    first_byte: float = 0.0
    client_tail: float = 0.0
    rss_before: int = 0
    rss_peak: int = 0

    @property
    def memory_growth(self) -> int:
        """Peak RSS during the scan minus RSS just before it, in bytes."""
        return self.rss_peak - self.rss_before


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_scanimage(sane_dir: Path, out: Path, *args: str) -> tuple[float, float, tuple[int, int]]:
    """Run ``scanimage *args -o out`` with ``SANE_CONFIG_DIR=sane_dir``.

    Returns (wall seconds, CPU seconds of scanimage, image (width, height) in pixels).
    Raises :class:`BenchError` when scanimage fails.
    """
    out.unlink(missing_ok=True)
    cpu = _children_cpu()
    start = time.monotonic()
    result = scanimage(sane_dir, *args, "-o", str(out))
    wall = time.monotonic() - start
    cpu = _children_cpu() - cpu
    if result.returncode != 0:
        raise BenchError(f"scanimage {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    with Image.open(out) as image:
        size = image.size
    return wall, cpu, size


def geometry(dpi: int, fmt: str) -> list[str]:
    """scanimage arguments of the benchmark scan: the whole bed, Color, ``dpi``, format ``fmt``."""
    return [
        "-l",
        "0",
        "-t",
        "0",
        "-x",
        str(BED_MM),
        "-y",
        str(BED_MM),
        "--mode",
        "Color",
        "--resolution",
        str(dpi),
        f"--format={fmt}",
    ]


def direct_scan(sane_dir: Path, out: Path, dpi: int, fmt: str) -> Scan:
    """A direct ``scanimage -d test:0`` scan. Raises :class:`BenchError`."""
    wall, cpu, size = timed_scanimage(sane_dir, out, "-d", DIRECT_DEVICE, *geometry(dpi, fmt))
    return Scan(wall, cpu, size)


def wsd_scan(service, client_dir: Path, out: Path, dpi: int, fmt: str) -> Scan:
    """The same scan through ``service`` (a ``tests.servers.Service``) with sane-airscan
    configured in ``client_dir``, with the service's CPU, first-byte time, client tail and
    memory. Raises :class:`BenchError` when the scan fails, the service used another format or
    resolution, or its job / first-byte / completion log lines do not come within 5 s."""
    pid = service.process.pid
    logged = len(service.log)
    before_rss = tree_rss(process_tree(pid))
    before_cpu = tree_cpu_seconds(pid)
    with RssSampler(pid, service.log, logged, _COMPLETED) as sampler:
        try:
            started = time.monotonic()
            wall, cpu, size = timed_scanimage(client_dir, out, "-d", AIRSCAN_DEVICE, *geometry(dpi, fmt))
        except BenchError as exc:
            raise BenchError(f"{exc}\nservice log:\n" + "\n".join(service.log[logged:])) from None
    service_cpu = tree_cpu_seconds(pid) - before_cpu

    def job_lines():
        text = "\n".join(service.log[logged:])
        created, first = _CREATED.search(text), _FIRST_BYTE.search(text)
        return (created, first) if created and first else None

    try:
        created, first = wait_for(job_lines, timeout=5)
    except AssertionError:
        raise BenchError(
            "the service logged no job / first image byte line:\n" + "\n".join(service.log[logged:])
        ) from None
    if (created.group(2), int(created.group(3)), created.group(4)) != ("Color", dpi, FORMATS[fmt]):
        raise BenchError(f"asked Color {dpi} dpi {FORMATS[fmt]}, the service scanned: {created.group(0)}")
    matched_at = sampler.matched_at
    if matched_at is None:  # logged after the client ended (small pages): no measurable tail
        try:
            matched_at = wait_for(lambda: _COMPLETED.search("\n".join(service.log[logged:])) and time.monotonic(), 5)
        except AssertionError:
            raise BenchError("the job did not complete:\n" + "\n".join(service.log[logged:])) from None
    tail = max(0.0, started + wall - matched_at)
    return Scan(wall, cpu, size, service_cpu, float(first.group(2)), tail, before_rss, max(sampler.peak, before_rss))


def airsane_scan(airsane: airsane_mod.AirSane, client_dir: Path, out: Path, dpi: int, fmt: str) -> Scan:
    """The same scan through AirSane (sane-airscan in eSCL mode, configured in ``client_dir``),
    with airsaned's CPU seconds and memory (no first-byte time or client tail: AirSane logs
    neither). Raises :class:`BenchError` when the scan fails."""
    pid = airsane.process.pid
    before_rss = tree_rss(process_tree(pid))
    before_cpu = tree_cpu_seconds(pid)
    with RssSampler(pid) as sampler:
        wall, cpu, size = timed_scanimage(client_dir, out, "-d", airsane_mod.DEVICE, *geometry(dpi, fmt))
    service_cpu = tree_cpu_seconds(pid) - before_cpu
    return Scan(wall, cpu, size, service_cpu, float("nan"), 0.0, before_rss, max(sampler.peak, before_rss))


# --- cases, rounds, the table ----------------------------------------------------------------


@dataclass
class Case:
    """One line of the table: ``mode`` (unthrottled / device-bound), resolution in dpi,
    client format (png / jpeg), the service's idle RSS (bytes, its process tree right after
    the warm-up scan) and the scans of every round."""

    mode: str
    dpi: int
    fmt: str
    idle_rss: int
    direct: list[Scan] = field(default_factory=list)
    wsd: list[Scan] = field(default_factory=list)
    airsane: list[Scan] = field(default_factory=list)

    @property
    def raw_size(self) -> int:
        """Bytes of the raw 8-bit RGB page, from the direct scan's size in pixels."""
        width, height = self.direct[0].size
        return width * height * 3

    def median(self, which: str, attribute: str) -> float:
        """Median over the rounds of ``attribute`` of the ``which`` ("direct" / "wsd" / "airsane") scans."""
        return statistics.median(getattr(scan, attribute) for scan in getattr(self, which))

    @property
    def ratio(self) -> float:
        """Median WSD wall time / median direct wall time."""
        return self.median("wsd", "wall") / self.median("direct", "wall")

    @property
    def peak_over_idle(self) -> int:
        """The highest RSS of the service's tree in any round minus its idle RSS, in bytes:
        unlike the growth during a job, it also counts memory kept from earlier jobs."""
        return max(scan.rss_peak for scan in self.wsd) - self.idle_rss

    @property
    def airsane_ratio(self) -> float:
        """Median WSD wall time / median AirSane wall time (NaN without AirSane)."""
        if not self.airsane:
            return float("nan")
        return self.median("wsd", "wall") / self.median("airsane", "wall")


def run_mode(
    mode: str,
    dpis: list[int],
    rounds: int,
    work: Path,
    progress,
    service_env: dict[str, str] | None = None,
    airsaned: Path | None = None,
) -> list[Case]:
    """Run every case of ``mode`` ("unthrottled" / "device-bound") for ``rounds`` rounds.

    One SANE config dir for the mode; per client format, one service (PNG: default formats,
    JPEG: jfif only), one unmeasured 75 dpi warm-up scan, then per resolution ``rounds``
    x (direct scan, WSD scan[, AirSane scan]). With ``airsaned`` (an executable), one AirSane
    runs for the mode on the same SANE config dir, warmed up the same way. ``service_env``:
    extra environment variables of the service (experiments such as glibc malloc tunables).
    ``progress(str)`` gets one line per round. Raises :class:`BenchError` (and
    :class:`bench.airsane.AirSaneError` when AirSane does not start).
    """
    settings = dict(PICTURE, **(DEVICE_BOUND_SETTINGS if mode == "device-bound" else {}))
    sane_dir = write_sane_dir(work / mode / "sane", **settings)
    with contextlib.ExitStack() as stack:
        airsane = None
        if airsaned is not None:
            airsane = stack.enter_context(airsane_mod.running_airsane(airsaned, sane_dir, work / mode / "airsane"))
        return _run_formats(mode, dpis, rounds, work, progress, sane_dir, service_env, airsane)


def _run_formats(mode, dpis, rounds, work, progress, sane_dir, service_env, airsane) -> list[Case]:
    cases = []
    airsane_client = work / mode / "client-airsane"
    if airsane:
        airsane_mod.airscan_escl_dir(airsane_client, airsane.url)
    for fmt in ("png", "jpeg"):
        config = work / mode / f"{fmt}.toml"
        config.write_text(SERVICE_CONFIG[fmt])
        state = work / mode / f"state-{fmt}"
        with running_service(sane_dir, state, "--config", str(config), env=service_env) as service:
            client = airscan_dir(work / mode / f"client-{fmt}", service.url)
            out = work / f"out.{fmt}"
            wsd_scan(service, client, out, 75, fmt)  # warm-up, not measured
            if airsane:
                airsane_scan(airsane, airsane_client, out, 75, fmt)
            idle = tree_rss(process_tree(service.process.pid))
            for dpi in dpis:
                case = Case(mode, dpi, fmt, idle)
                variants = ["direct", "wsd"] + (["airsane"] if airsane else [])
                for number in range(rounds):
                    for index in range(len(variants)):  # the order rotates from round to round
                        which = variants[(number + index) % len(variants)]
                        if which == "direct":
                            case.direct.append(direct_scan(sane_dir, out, dpi, fmt))
                        elif which == "wsd":
                            case.wsd.append(wsd_scan(service, client, out, dpi, fmt))
                        else:
                            case.airsane.append(airsane_scan(airsane, airsane_client, out, dpi, fmt))
                    d, w = case.direct[-1], case.wsd[-1]
                    a = (
                        f", AirSane {case.airsane[-1].wall:.2f} s CPU {case.airsane[-1].service_cpu:.2f} s"
                        if airsane
                        else ""
                    )
                    progress(
                        f"{mode} {dpi} dpi {fmt} round {number + 1}/{rounds}: direct {d.wall:.2f} s, "
                        f"wsd {w.wall:.2f} s, service CPU {w.service_cpu:.2f} s, first byte {w.first_byte:.3f} s, "
                        f"client tail {w.client_tail:.2f} s, memory +{w.memory_growth / MIB:.1f} MiB{a}"
                    )
                    for other in [w] + ([case.airsane[-1]] if airsane else []):
                        if abs(d.size[0] - other.size[0]) > 1 or abs(d.size[1] - other.size[1]) > 1:
                            raise BenchError(f"image sizes differ: direct {d.size}, through a server {other.size}")
                cases.append(case)
    return cases


def _mark(ok: bool) -> str:
    return "met" if ok else "NOT met"


def format_table(cases: list[Case]) -> str:
    """The result tables (Markdown), one row per case; goals beside the device-bound figures.
    With AirSane scans, a second table compares the service with AirSane."""
    head = (
        "| mode | dpi | format | raw page MB | direct s | WSD s | ratio (goal) | client CPU s direct / WSD "
        "| service CPU s | RetrieveImage to 1st byte s | client tail s | memory growth MiB median / max (goal) "
        "| peak over idle MiB |"
    )
    lines = [head, "|" + "---|" * head.count(" | ") + "---|"]
    for case in cases:
        bound = case.mode == "device-bound"
        growth = case.median("wsd", "memory_growth")
        worst = max(scan.memory_growth for scan in case.wsd)
        ratio_goal = f" (<= {RATIO_GOAL[case.fmt]:.2f}: {_mark(case.ratio <= RATIO_GOAL[case.fmt])})" if bound else ""
        memory_goal = f" (<= {MEMORY_GOAL / MIB:.0f}: {_mark(worst <= MEMORY_GOAL)})" if bound else ""
        lines.append(
            f"| {case.mode} | {case.dpi} | {case.fmt} | {case.raw_size / MB:.1f} "
            f"| {case.median('direct', 'wall'):.2f} | {case.median('wsd', 'wall'):.2f} | {case.ratio:.3f}{ratio_goal} "
            f"| {case.median('direct', 'client_cpu'):.2f} / {case.median('wsd', 'client_cpu'):.2f} "
            f"| {case.median('wsd', 'service_cpu'):.2f} | {case.median('wsd', 'first_byte'):.3f} "
            f"| {case.median('wsd', 'client_tail'):.2f} "
            f"| {growth / MIB:.1f} / {worst / MIB:.1f}{memory_goal} | {case.peak_over_idle / MIB:.1f} |"
        )
    if any(case.airsane for case in cases):
        head = (
            "| mode | dpi | format | direct s | WSD s | AirSane s | AirSane / direct | WSD / AirSane (goal) "
            "| service CPU s WSD / AirSane | memory growth MiB median WSD / AirSane |"
        )
        lines += ["", head, "|" + "---|" * head.count(" | ") + "---|"]
        for case in (case for case in cases if case.airsane):
            bound = case.mode == "device-bound"
            goal = f" (<= {AIRSANE_RATIO_GOAL:.2f}: {_mark(case.airsane_ratio <= AIRSANE_RATIO_GOAL)})" if bound else ""
            lines.append(
                f"| {case.mode} | {case.dpi} | {case.fmt} | {case.median('direct', 'wall'):.2f} "
                f"| {case.median('wsd', 'wall'):.2f} | {case.median('airsane', 'wall'):.2f} "
                f"| {case.median('airsane', 'wall') / case.median('direct', 'wall'):.3f} "
                f"| {case.airsane_ratio:.3f}{goal} "
                f"| {case.median('wsd', 'service_cpu'):.2f} / {case.median('airsane', 'service_cpu'):.2f} "
                f"| {case.median('wsd', 'memory_growth') / MIB:.1f} / {case.median('airsane', 'memory_growth') / MIB:.1f} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, run the modes, print the table on stdout (progress on stderr).

    Returns 0 when every scan ran (goals missed or not), 1 when a scan failed.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds per case; medians are reported (default 5)")
    parser.add_argument("--quick", action="store_true", help="1 round at 300 dpi only")
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "--device-bound", action="store_true", help="only the device-bound mode (20 ms read delay per buffer)"
    )
    which.add_argument("--unthrottled", action="store_true", help="only the unthrottled mode")
    parser.add_argument(
        "--service-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment variable for the service (repeatable), e.g. MALLOC_MMAP_THRESHOLD_=1048576",
    )
    parser.add_argument(
        "--airsane",
        type=Path,
        metavar="PATH",
        help="also scan through AirSane: a built airsaned, or an AirSane source checkout to build (cmake) "
        "in a temporary directory; without it AirSane is not compared",
    )
    parser.add_argument(
        "--dpi", type=int, action="append", help="resolution to run (repeatable; default 300 and 600, --quick 300)"
    )
    args = parser.parse_args(argv)
    service_env = {}
    for item in args.service_env:
        name, sep, value = item.partition("=")
        if not sep or not name:
            parser.error(f"--service-env {item!r}: expected NAME=VALUE")
        service_env[name] = value
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    rounds, dpis = (1, [300]) if args.quick else (args.rounds, [300, 600])
    dpis = args.dpi or dpis
    modes = (
        ["device-bound"]
        if args.device_bound
        else ["unthrottled"]
        if args.unthrottled
        else ["unthrottled", "device-bound"]
    )

    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    started = time.monotonic()
    cases: list[Case] = []
    try:
        airsaned = airsane_mod.airsaned_binary(args.airsane) if args.airsane else None
        with tempfile.TemporaryDirectory(prefix="scan-bench-") as work:
            for mode in modes:
                cases += run_mode(mode, dpis, rounds, Path(work), progress, service_env, airsaned)
    except (BenchError, airsane_mod.AirSaneError) as exc:
        print(f"scan_bench: {exc}", file=sys.stderr)
        return 1
    extra = "".join(f"; service env {name}={value}" for name, value in service_env.items())
    extra += f"; AirSane {airsaned}" if airsaned else "; AirSane not compared (no --airsane PATH given)"
    print(f"{rounds} round(s), medians; 200 x 200 mm Color; MB = 10^6 bytes; goals apply to device-bound{extra}")
    print(format_table(cases))
    print(f"total {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
