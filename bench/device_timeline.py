"""Where a device-bound scan's wall time goes: the SANE ``test`` backend's own timestamps.

    .venv/bin/python bench/device_timeline.py [--format png|jpeg] [--dpi N] [--rounds N]

Runs, alternately, a direct ``scanimage -d test:0`` and the same scan through the
service and sane-airscan (the whole 200 x 200 mm bed, Color, device-bound: 20 ms per
buffer, as in :mod:`bench.scan_bench`), both with ``SANE_DEBUG_TEST=2``: the backend
then logs ``sane_start`` and ``EOF reached`` with wall-clock timestamps (the service's
workers pass their stderr to the service log). Per scan it prints, in seconds from the
start of ``scanimage``: when the device started, when it reached EOF, the device time
between the two (longer than the direct scan's when the reader does not keep up with the
backend, whose reader stalls once its 64 KiB pipe is full), and what came after EOF
(for the service: sane-airscan decoding the received file and scanimage writing its own,
which no server can overlap). Loopback only; the bench stops only what it started.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.sanelog import clock as _clock  # noqa: E402
from bench.sanelog import device_events  # noqa: E402
from bench.scan_bench import DEVICE_BOUND_SETTINGS, PICTURE, SERVICE_CONFIG, square  # noqa: E402
from tests.airscan import DEVICE as AIRSCAN_DEVICE  # noqa: E402
from tests.airscan import airscan_dir  # noqa: E402
from tests.sane_env import write_sane_dir  # noqa: E402
from tests.servers import running_service  # noqa: E402


def _line(name: str, began: float, ended: float, events: dict[str, float]) -> str:
    if "start" not in events or "eof" not in events:
        return f"{name}: wall {ended - began:.3f} s (no device timestamps)"
    return (
        f"{name}: wall {ended - began:.3f} s, device start {events['start'] - began:.3f}, "
        f"EOF {events['eof'] - began:.3f}, device time {events['eof'] - events['start']:.3f}, "
        f"after EOF {ended - events['eof']:.3f}"
    )


def main(argv: list[str] | None = None) -> int:
    """Print one line per scan (see the module docstring); 1 when a scan fails, else 0."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--format", choices=["png", "jpeg"], default="png")
    parser.add_argument("--dpi", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="device-timeline-") as name:
        work = Path(name)
        sane = write_sane_dir(work / "sane", **PICTURE, **DEVICE_BOUND_SETTINGS)
        config = work / "service.toml"
        config.write_text(SERVICE_CONFIG[args.format])
        debug = {"SANE_DEBUG_TEST": "2"}
        with running_service(sane, work / "state", "--config", str(config), env=debug) as service:
            client = airscan_dir(work / "client", service.url)
            scan = square(args.dpi).geometry(args.format)
            for _ in range(args.rounds):
                began = _clock()
                direct = subprocess.run(
                    ["scanimage", "-d", "test:0", *scan, "-o", str(work / "direct")],
                    env={**os.environ, "SANE_CONFIG_DIR": str(sane), **debug},
                    capture_output=True,
                    text=True,
                    stdin=subprocess.DEVNULL,
                )
                print(_line("direct ", began, _clock(), device_events(direct.stderr.splitlines())), flush=True)
                logged = len(service.log)
                began = _clock()
                wsd = subprocess.run(
                    ["scanimage", "-d", AIRSCAN_DEVICE, *scan, "-o", str(work / "wsd")],
                    env={**os.environ, "SANE_CONFIG_DIR": str(client)},
                    capture_output=True,
                    text=True,
                    stdin=subprocess.DEVNULL,
                )
                ended = _clock()
                time.sleep(0.3)  # the service's log lines arrive through a pipe
                print(_line("service", began, ended, device_events(service.log[logged:])), flush=True)
                if direct.returncode or wsd.returncode:
                    print(direct.stderr[-2000:], wsd.stderr[-2000:], file=sys.stderr)
                    return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
