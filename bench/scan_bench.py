"""Scan benchmark (issue 11): direct SANE scans against the same scans through the service, AirSane
and the bench's own raw clients, interleaved round by round.

    .venv/bin/python bench/scan_bench.py [--rounds N] [--unthrottled-rounds N] [--quick]
        [--device-bound | --unthrottled] [--dpi N ...] [--no-a4] [--no-raw] [--no-stamps] [--airsane PATH]
        [--service-env NAME=VALUE ...]

Every scan is Color on the SANE ``test`` backend ("Color pattern"; one project-owned SANE config
dir per bed, :mod:`tests.sane_env`, shared by the direct scans, the service and AirSane, so the
device is the same). Pages: 200 x 200 mm at 300 and 600 dpi on the backend's default 200 mm bed,
and A4 (210 x 297 mm, 4960 x 7015 px, 104.4 MB raw) at 600 dpi on a 297 x 297 mm bed
(``geometry_max``; the service offers no 750 dpi, so no 200 mm page of A4's size exists).
sane-airscan asks a WS-Scan server for the whole bed and crops the image itself, so it scans
only the 200 mm pages (on the 297 mm bed it would scan 297 x 297 mm, over the service's
``max_page_mib`` at 600 dpi); the A4 page is scanned by the raw clients.

Per mode and round, in an order that rotates from round to round:

* *through sane-airscan*, PNG and JPEG, the 200 mm pages: ``scanimage -d test:0`` (direct), the
  same through sane-airscan talking WS-Scan to ``python -m firmware`` (sane-airscan asks for PNG
  whenever offered, so the JPEG cases run a second service offering only ``jfif``), and, with
  ``--airsane``, through sane-airscan talking eSCL to AirSane (:mod:`bench.airsane`);
* *raw* (unless ``--no-raw``), on the A4 page (the smallest page with ``--quick`` or ``--no-a4``):
  direct PNG and JPEG scans (the references), the raw WS-Scan client (:mod:`bench.rawclient`) in
  every format the service offers (png, jfif, tiff-single-uncompressed, dib), and the raw eSCL
  client (:mod:`bench.escl_client`) asking ``image/jpeg`` of the service's eSCL endpoint and of
  AirSane.

Every service runs with ``jpeg_quality = 90``, AirSane's fixed JPEG quality (its
``server/scanjob.cpp`` sets 90 on its encoder), so JPEG CPU is compared at equal quality.
``SANE_DEBUG_TEST=2`` is set for the service and AirSane of the bed the raw clients scan: the
backend's wall-clock stamps of ``sane_start``, its reads and EOF give the device's first row and
device time (:mod:`bench.sanelog`) that the raw clients' figures need. Nothing else runs with
them: not the direct scans (a stamped line per ``sane_read`` made them 2-5 % slower, which
flattered the ratios to them), nor the servers of a bed only sane-airscan scans.
``--no-stamps`` leaves them out everywhere.

Modes: *unthrottled* (the backend as fast as it can) and *device-bound* (``read-delay`` 20 ms per
buffer, the pace of a USB scanner; issue 11's goals apply to it only). By default both run,
unthrottled first. Each service (and AirSane) first does one unmeasured 75 dpi scan. What is
measured per scan and the columns of the tables: :mod:`bench.scans` and :mod:`bench.report`.
The bench only reports: exit status 0 whether goals are met or not, 1 when a scan fails.
Loopback only; it stops only the processes it started, by PID.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import airsane as airsane_mod  # noqa: E402
from bench.rawclient import WSD_FORMATS  # noqa: E402
from bench.rawscans import raw_escl_scan, raw_wsd_scan  # noqa: E402
from bench.report import MIB, Case, format_tables, goals  # noqa: E402
from bench.scans import BenchError, Page, Scan, ScanHung, airsane_scan, direct_scan, unstamped, wsd_scan  # noqa: E402
from tests.airscan import airscan_dir  # noqa: E402
from tests.sane_env import write_sane_dir  # noqa: E402
from tests.servers import running_service  # noqa: E402

DEVICE_BOUND_SETTINGS = {"read-delay": True, "read-delay-duration": 20000}
"""test.conf settings of the device-bound mode: 20000 us (20 ms) per buffer the backend delivers."""

PICTURE = {"test-picture": '"Color pattern"', "number_of_devices": 1}
"""test.conf settings of both modes: one device (test:0, so the service runs one worker), the colour pattern."""

SQUARE_MM = 200
"""The 200 x 200 mm pages' bed (the test backend's default): sane-airscan asks a WS-Scan server for
the whole bed and crops itself, so its pages must be the whole bed."""

A4_BED_MM = 297
"""The A4 page's bed (test.conf ``geometry_max``; the backend's bed is square): 297 x 297 mm."""

JPEG_QUALITY = 90
"""AirSane's JPEG quality (fixed in its source); every service of the bench is configured with it."""

SERVICE_CONFIG = {
    "png": f"jpeg_quality = {JPEG_QUALITY}\n",
    "jpeg": f'formats = ["jfif"]\njpeg_quality = {JPEG_QUALITY}\n',
}
"""The service's TOML per client format: png offers every format (sane-airscan takes png; the
raw clients use this service too), jpeg only jfif (so sane-airscan has to take it)."""

A4 = Page("A4 600 dpi", 210, 297, 600)

HANGS: list[str] = []
"""Scans that hung and were run again (mode, page, format, variant), reported with the tables."""


def square(dpi: int) -> Page:
    """The 200 x 200 mm page at ``dpi``."""
    return Page(f"200 mm {dpi} dpi", 200, 200, dpi)


def _rotated(items: list, number: int) -> list:
    return [items[(number + index) % len(items)] for index in range(len(items))]


def _check_size(page: Page, scan: Scan) -> None:
    if scan.size is None:
        return
    expected = (round(page.width_mm / 25.4 * page.dpi), round(page.height_mm / 25.4 * page.dpi))
    if abs(scan.size[0] - expected[0]) > 2 or abs(scan.size[1] - expected[1]) > 2:
        raise BenchError(f"{page.name}: the image is {scan.size}, expected about {expected}")


def _line(mode: str, case: Case, number: int, rounds: int) -> str:
    parts = []
    for variant, scans in case.scans.items():
        s = scans[-1]
        parts.append(f"{variant} {s.wall:.2f} s")
        if variant != "direct":
            parts[-1] += f" CPU {s.service_cpu:.2f} mem +{s.memory_growth / MIB:.1f}"
        if variant in ("raw", "escl", "escl-airsane"):
            parts[-1] += f" row->byte {s.client_after_row:.3f}"
    return f"{mode} {case.page.name} {case.fmt} round {number + 1}/{rounds}: " + ", ".join(parts)


def run_mode(mode: str, pages: list[Page], raw_page: Page | None, rounds: int, work: Path, progress, **options):
    """Every case of ``mode`` ("unthrottled" / "device-bound") for ``rounds`` rounds (see the module
    docstring). ``options``: ``service_env`` (extra environment of the services), ``airsaned``
    (an executable, or None). ``progress(str)`` gets one line per case and round. Returns the
    cases. Raises :class:`BenchError` (:class:`bench.airsane.AirSaneError` when AirSane fails)."""
    settings = dict(PICTURE, **(DEVICE_BOUND_SETTINGS if mode == "device-bound" else {}))
    beds = [(SQUARE_MM, pages, raw_page if raw_page and raw_page.height_mm <= SQUARE_MM else None)]
    if raw_page is not None and raw_page.height_mm > SQUARE_MM:
        beds.append((A4_BED_MM, [], raw_page))
    cases: list[Case] = []
    for bed, bed_pages, bed_raw in beds:
        where = work / mode / f"bed-{bed}"
        sane_dir = write_sane_dir(where / "sane", **settings, geometry_max=f"{bed}.0")
        with contextlib.ExitStack() as stack:
            if bed_raw is None:  # no raw client here: nothing needs the stamps, nobody pays for them
                stack.enter_context(unstamped())
            airsane = None
            if options.get("airsaned") is not None:
                airsane = stack.enter_context(
                    airsane_mod.running_airsane(options["airsaned"], sane_dir, where / "airsane")
                )
            for fmt in ("png", "jpeg") if bed_pages else ("png",):
                config = where / f"{fmt}.toml"
                config.write_text(SERVICE_CONFIG[fmt])
                env = options.get("service_env")
                with running_service(sane_dir, where / f"state-{fmt}", "--config", str(config), env=env) as service:
                    run = _Run(mode, where, sane_dir, service, airsane, progress)
                    raw = fmt == "png" and bed_raw is not None
                    run.warm_up(fmt, raw=raw)
                    for page in bed_pages:
                        cases.append(run.through_airscan(page, fmt, rounds))
                    if raw:
                        assert bed_raw is not None
                        cases += run.raw(bed_raw, rounds)
    return cases


class _Run:
    """The scans of one service (and AirSane) in one mode."""

    def __init__(self, mode, work, sane_dir, service, airsane, progress) -> None:
        self.mode, self.sane_dir, self.service, self.airsane, self.progress = mode, sane_dir, service, airsane, progress
        self.out = work / "out"
        self.wsd_client = airscan_dir(work / f"client-{service.port}", service.url)
        self.airsane_client = work / "client-airsane"
        if airsane:
            airsane_mod.airscan_escl_dir(self.airsane_client, airsane.url)

    def warm_up(self, fmt: str, raw: bool) -> None:
        """Unmeasured 75 dpi scans (imports, codec set-up, thread pools): one through the service
        and AirSane with sane-airscan; with ``raw``, one per format of the raw clients too."""
        small = square(75)
        self.retried(self.airscan_scan, "wsd", small, fmt)
        if self.airsane:
            self.retried(self.airscan_scan, "airsane", small, fmt)
        if raw:
            for variant, wsd_format in self.raw_jobs()[2:]:
                self.retried(self.raw_scan, variant, small, wsd_format)

    def raw_jobs(self) -> list[tuple[str, str]]:
        """(variant, format) of one round of raw scans."""
        jobs = [("direct", "png"), ("direct", "jfif")] + [("raw", fmt) for fmt in WSD_FORMATS] + [("escl", "jfif")]
        return jobs + ([("escl-airsane", "jfif")] if self.airsane else [])

    def raw_scan(self, variant: str, page: Page, fmt: str) -> Scan:
        """One raw scan: ``variant`` raw (WS-Scan at the service), escl (the service's eSCL) or
        escl-airsane, or direct (scanimage, the raw scans' reference: png, or jpeg for jfif)."""
        if variant == "direct":
            return direct_scan(self.sane_dir, self.out, page, {"jfif": "jpeg"}.get(fmt, fmt))
        if variant == "raw":
            return raw_wsd_scan(self.service, page, fmt)
        if variant == "escl":
            root = f"http://127.0.0.1:{self.service.port}/eSCL"
            return raw_escl_scan(self.service.process.pid, root, page, fmt, service=self.service)
        assert self.airsane is not None
        return raw_escl_scan(self.airsane.process.pid, self.airsane.url, page, fmt, airsane_log=self.airsane.log)

    def airscan_scan(self, variant: str, page: Page, fmt: str) -> Scan:
        """One scanimage run: ``variant`` direct, wsd (the service) or airsane, through sane-airscan."""
        if variant == "direct":
            return direct_scan(self.sane_dir, self.out, page, fmt)
        if variant == "wsd":
            return wsd_scan(self.service, self.wsd_client, self.out, page, fmt)
        assert self.airsane is not None
        return airsane_scan(self.airsane, self.airsane_client, self.out, page, fmt)

    def retried(self, scan, variant: str, page: Page, fmt: str) -> Scan:
        """``scan(variant, page, fmt)``, once more when scanimage or the service's SANE worker hung
        (rare: the ``test`` backend's reader thread, see :class:`ScanHung`); the hang is reported on the progress stream and counted in
        :data:`HANGS`. Raises :class:`BenchError` when the second try fails too."""
        try:
            return scan(variant, page, fmt)
        except ScanHung as exc:
            HANGS.append(f"{self.mode} {page.name} {fmt} {variant}")
            self.progress(f"HUNG, retried once: {exc}")
            return scan(variant, page, fmt)

    def through_airscan(self, page: Page, fmt: str, rounds: int) -> Case:
        """``rounds`` x (direct, through the service[, through AirSane]) with scanimage."""
        case = Case(self.mode, page, fmt)
        variants = ["direct", "wsd"] + (["airsane"] if self.airsane else [])
        for number in range(rounds):
            for variant in _rotated(variants, number):
                scan = self.retried(self.airscan_scan, variant, page, fmt)
                _check_size(page, case.add(variant, scan))
            self.progress(_line(self.mode, case, number, rounds))
        return case

    def raw(self, page: Page, rounds: int) -> list[Case]:
        """``rounds`` x (the raw WS-Scan client in every format, the raw eSCL client asking JPEG of
        the service[ and of AirSane])."""
        cases = {fmt: Case(self.mode, page, fmt) for fmt in WSD_FORMATS}
        for number in range(rounds):
            for variant, fmt in _rotated(self.raw_jobs(), number):
                scan = self.retried(self.raw_scan, variant, page, fmt)
                _check_size(page, cases[fmt].add(variant, scan))
            for case in cases.values():
                self.progress(_line(self.mode, case, number, rounds))
        return list(cases.values())


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, run the modes, print the tables on stdout (progress on stderr).

    Returns 0 when every scan ran (goals missed or not), 1 when a scan failed.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="device-bound rounds per case (default 7)")
    parser.add_argument("--unthrottled-rounds", type=int, default=3, help="unthrottled rounds per case (default 3)")
    parser.add_argument("--quick", action="store_true", help="1 round, 200 mm at 300 dpi only (raw clients too)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--device-bound", action="store_true", help="only the device-bound mode (20 ms per buffer)")
    which.add_argument("--unthrottled", action="store_true", help="only the unthrottled mode")
    parser.add_argument(
        "--dpi", type=int, action="append", help="200 mm page resolution (repeatable; default 300, 600)"
    )
    parser.add_argument("--no-a4", action="store_true", help="leave the A4 600 dpi page out")
    parser.add_argument("--no-raw", action="store_true", help="leave the raw WS-Scan and eSCL clients out")
    parser.add_argument(
        "--no-stamps",
        action="store_true",
        help="without SANE_DEBUG_TEST (no device timeline, no first byte after the first row), as runs before it",
    )
    parser.add_argument(
        "--service-env", action="append", default=[], metavar="NAME=VALUE", help="extra environment of the service"
    )
    parser.add_argument(
        "--airsane",
        type=Path,
        metavar="PATH",
        help="also scan through AirSane: a built airsaned, or an AirSane source checkout to build (cmake) "
        "in a temporary directory; without it AirSane is not compared",
    )
    args = parser.parse_args(argv)
    service_env = {}
    for item in args.service_env:
        name, sep, value = item.partition("=")
        if not sep or not name:
            parser.error(f"--service-env {item!r}: expected NAME=VALUE")
        service_env[name] = value
    if min(args.rounds, args.unthrottled_rounds) < 1:
        parser.error("rounds must be at least 1")
    pages = [square(dpi) for dpi in (args.dpi or ([300] if args.quick else [300, 600]))]
    raw_page = None if args.no_raw else min(pages, key=lambda p: p.dpi) if args.quick or args.no_a4 else A4
    rounds = {"unthrottled": 1, "device-bound": 1} if args.quick else {}
    rounds = rounds or {"unthrottled": args.unthrottled_rounds, "device-bound": args.rounds}
    modes = ["device-bound"] if args.device_bound else ["unthrottled"] if args.unthrottled else list(rounds)
    if not args.no_stamps:
        os.environ["SANE_DEBUG_TEST"] = "2"

    started = time.monotonic()

    def progress(message: str) -> None:
        print(f"[{time.monotonic() - started:5.0f} s] {message}", file=sys.stderr, flush=True)

    cases: list[Case] = []
    try:
        airsaned = airsane_mod.airsaned_binary(args.airsane) if args.airsane else None
        with tempfile.TemporaryDirectory(prefix="scan-bench-") as work:
            for mode in modes:
                cases += run_mode(
                    mode,
                    pages,
                    raw_page,
                    rounds[mode],
                    Path(work),
                    progress,
                    service_env=service_env,
                    airsaned=airsaned,
                )
    except (BenchError, airsane_mod.AirSaneError) as exc:
        print(f"scan_bench: {exc}", file=sys.stderr)
        return 1
    extra = "".join(f"; service env {name}={value}" for name, value in service_env.items())
    extra += f"; AirSane {airsaned}" if airsaned else "; AirSane not compared (no --airsane PATH given)"
    counts = ", ".join(f"{mode} {rounds[mode]} round(s)" for mode in modes)
    print(f"{counts}, medians; Color; JPEG quality {JPEG_QUALITY}; goals apply to device-bound{extra}")
    if HANGS:
        print(
            f"{len(HANGS)} scan(s) hung (scanimage, or the test backend in the service's worker) and were run again: {', '.join(HANGS)}"
        )
    print(format_tables(cases))
    print()
    print(goals(cases))
    print(f"total {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
