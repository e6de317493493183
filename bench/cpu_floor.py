"""The CPU floor of a JPEG page without a process boundary: what reading and encoding cost alone.

    .venv/bin/python bench/cpu_floor.py [--rounds 3] [--unthrottled]

Issue 11 asks for the service's JPEG CPU (service and SANE worker) to be at most 1.2x AirSane's at
equal quality. AirSane reads the rows with ``sane_read`` and encodes them with libjpeg in one C++
process. This script measures, in one Python process, the two parts every server has:

* ``read``: ``sane_start``, then the page's rows with ``sane_read`` in the SANE worker's bands
  (:class:`drivers.sane.reader.PageReader`: 128 KiB first, then 512 KiB; ``sane_read`` is reached
  through ctypes on python-sane's own handle), rows thrown away;
* ``read + jpeg``: the same, each band fed at once to the service's JPEG encoder
  (:class:`firmware.imaging.jpeg.JpegEncoder`, 16-row strips, quality 90, 4:2:0), the file
  written to ``/dev/null``.

The page is A4 (210 x 297 mm) at 600 dpi colour from libsane's ``test`` backend ("Color
pattern", a 297 mm bed), device-bound like ``bench/scan_bench.py`` (``read-delay`` 20 ms a
buffer) unless ``--unthrottled``. Printed per case: CPU seconds (user + system of this process,
every thread, the backend's reader thread included) and wall seconds, per round and their median.
Compare the ``read + jpeg`` median with the service's and AirSane's "server CPU s" of
``bench/scan_bench.py``'s eSCL JPEG table: the difference between the service and this floor is
what the process boundary (104 MB of rows through the worker's pipe) and the event loop cost.
Figures only: exit status 0 unless a scan fails (1).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.scan_bench import A4, A4_BED_MM, DEVICE_BOUND_SETTINGS, JPEG_QUALITY, PICTURE
from drivers.sane import protocol
from drivers.sane import reader as reader_mod
from firmware.imaging.base import Raster
from firmware.imaging.jpeg import JpegEncoder
from tests.sane_env import write_sane_dir


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def scan_once(dev, encode: bool) -> tuple[float, float, int]:
    """One page from ``dev`` (python-sane's low-level ``SaneDev``), rows read in the worker's bands
    and, with ``encode``, JPEG-encoded as they come. Returns (CPU seconds, wall seconds, bytes of
    rows). Raises :class:`drivers.base.ScannerError` when the backend fails."""
    import _sane

    cpu, wall = _cpu_seconds(), time.monotonic()
    dev.start()
    page = reader_mod.PageReader(reader_mod.LibSane(_sane), dev, threading.Event())
    info = page.start_page(A4.dpi)
    first, later = protocol.chunk_rows(info.bytes_per_line)
    rows = 0
    with open(os.devnull, "wb") as sink:

        def write(data: bytes) -> None:
            sink.write(data)

        encoder = None
        if encode:
            raster = Raster(
                width=info.pixels_per_line,
                height=info.lines,
                channels=3,
                dpi=A4.dpi,
                bilevel=False,
                quality=JPEG_QUALITY,
            )
            encoder = JpegEncoder(raster, write, exif=False)
        for band in page.bands(later, first_rows=first):
            rows += len(band)
            if encoder is not None:
                encoder.feed(band)
        if encoder is not None:
            encoder.close()
    dev.cancel()
    return _cpu_seconds() - cpu, time.monotonic() - wall, rows


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, scan ``--rounds`` pages per case (interleaved) and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="pages per case (default 3)")
    parser.add_argument("--unthrottled", action="store_true", help="the backend as fast as it can")
    args = parser.parse_args(argv)
    settings = dict(PICTURE, **({} if args.unthrottled else DEVICE_BOUND_SETTINGS))
    with tempfile.TemporaryDirectory(prefix="cpu-floor-") as work:
        os.environ["SANE_CONFIG_DIR"] = str(
            write_sane_dir(Path(work) / "sane", **settings, geometry_max=f"{A4_BED_MM}.0")
        )
        import sane

        sane.init()
        try:
            device = sane.open("test:0")
        except sane._sane.error as exc:
            print(f"cpu_floor: cannot open the SANE test backend: {exc}", file=sys.stderr)
            return 1
        device.mode, device.resolution = "Color", A4.dpi
        device.tl_x, device.tl_y, device.br_x, device.br_y = 0, 0, A4.width_mm, A4.height_mm
        figures: dict[str, list[tuple[float, float]]] = {"read": [], "read + jpeg": []}
        try:
            scan_once(device.dev, encode=False)  # warm-up: imports, the backend's picture buffer
            for number in range(args.rounds):
                for case in figures:
                    cpu, wall, size = scan_once(device.dev, encode=case != "read")
                    figures[case].append((cpu, wall))
                    print(
                        f"round {number + 1}: {case}: CPU {cpu:.3f} s, wall {wall:.2f} s, {size / 1e6:.1f} MB of rows"
                    )
        except Exception as exc:  # noqa: BLE001 - a failed scan ends the bench with its reason
            print(f"cpu_floor: the scan failed: {exc}", file=sys.stderr)
            return 1
        finally:
            device.close()
    mode = "unthrottled" if args.unthrottled else "device-bound (20 ms a buffer)"
    print(f"A4 {A4.dpi} dpi colour, {mode}, JPEG quality {JPEG_QUALITY}, one process, medians of {args.rounds}:")
    for case, values in figures.items():
        cpu = statistics.median(v[0] for v in values)
        wall = statistics.median(v[1] for v in values)
        print(
            f"  {case:12} CPU {cpu:.3f} s (range {min(v[0] for v in values):.3f}-{max(v[0] for v in values):.3f}), wall {wall:.2f} s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
