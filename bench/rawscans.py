"""Scans by the bench's own clients, measured like :mod:`bench.scans` measures scanimage runs.

* :func:`raw_wsd_scan`: CreateScanJob + RetrieveImage at the service (:mod:`bench.rawclient`),
  any format the service offers (sane-airscan cannot ask for TIFF or DIB);
* :func:`raw_escl_scan`: ``POST ScanJobs`` + ``NextDocument`` (:mod:`bench.escl_client`) at any
  eSCL server: AirSane, or the service's own eSCL endpoint (``http://host:port/eSCL``).

Both return a :class:`bench.scans.Scan` whose ``wall`` runs from just before the job is created
to the last byte (the server's own wall: the raw client decodes nothing), whose
``client_after_row`` is the client's first image byte minus the device's first row (both on the
clock of :func:`bench.sanelog.clock`; the backend's stamps come from the service's log or
airsaned's), and with the server's CPU, memory peak and idle RSS as in :mod:`bench.scans`.
"""

from __future__ import annotations

import http.client
import time
from pathlib import Path

from bench import escl_client, rawclient
from bench.proctree import RssSampler, process_tree, tree_cpu_seconds, tree_rss
from bench.rawclient import Transfer, TransferError
from bench.sanelog import clock, device_events, first_byte_line
from bench.scans import CREATED, NAN, BenchError, Page, Scan, failed_scan, settle, wait_completed

MIME = {"png": "image/png", "jfif": "image/jpeg", "jpeg": "image/jpeg"}
"""Format name -> eSCL DocumentFormat."""


def _scan(transfer: Transfer, started: float, lines: list[str], page: Page) -> dict:
    """The figures a raw transfer gives: wall, size, device time and first byte after the first row."""
    events = device_events(lines)
    size = transfer.size()
    if size is not None and (abs(size[0] - round(page.width_mm / 25.4 * page.dpi)) > 2):
        raise BenchError(f"{page.name}: the image is {size[0]} px wide")
    return {
        "wall": transfer.last_byte - started,
        "size": size,
        "client_after_row": transfer.first_byte - events.get("first_row", NAN),
        "device_time": events.get("eof", NAN) - events.get("start", NAN),
        "image_bytes": transfer.image_bytes,
        "sampling": transfer.jpeg_sampling(),
    }


def _check_created(lines: list[str], page: Page, fmt: str) -> None:
    created = next((m for m in map(CREATED.search, lines) if m), None)
    if created is None or (created.group(2), int(created.group(3)), created.group(4)) != ("Color", page.dpi, fmt):
        raise BenchError(f"asked Color {page.dpi} dpi {fmt}, the service logged: {created and created.group(0)}")


def raw_wsd_scan(service, page: Page, fmt: str) -> Scan:
    """``page`` as WS-Scan FormatValue ``fmt`` from ``service`` (a ``tests.servers.Service``).
    Raises :class:`BenchError` when a request fails or the service scanned something else."""
    pid, logged = service.process.pid, len(service.log)
    before_rss, before_cpu = tree_rss(process_tree(pid)), tree_cpu_seconds(pid)
    try:
        with RssSampler(pid) as sampler:
            started = clock()
            job = rawclient.create_scan_job(service.url, rawclient.ticket(fmt, page.dpi, page.width_mm, page.height_mm))
            transfer = rawclient.retrieve_image(service.url, job)
    except (TransferError, OSError, http.client.HTTPException) as exc:
        raise failed_scan(f"raw WS-Scan {fmt}: {exc}", service.log[logged:]) from None
    idle = settle(pid, wait_completed(service, logged))
    service_cpu = tree_cpu_seconds(pid) - before_cpu
    lines = service.log[logged:]
    _check_created(lines, page, fmt)
    first = first_byte_line(lines, job.job_id)
    return Scan(
        **_scan(transfer, started, lines, page),
        service_cpu=service_cpu,
        first_byte=NAN if first is None else first.after_request,
        log_after_row=NAN if first is None or first.after_first_row is None else first.after_first_row,
        rss_before=before_rss,
        rss_peak=sampler.peak,
        rss_idle=idle,
    )


def raw_escl_scan(pid: int, root: str, page: Page, fmt: str, service=None, airsane_log: Path | None = None) -> Scan:
    """``page`` as ``fmt`` (png / jfif) from the eSCL server at ``root`` whose process is ``pid``:
    the service (``service``: its log gives the job's end and the device's stamps) or AirSane
    (``airsane_log``: airsaned's log file, read for the stamps; its job ends with the 404).
    Raises :class:`BenchError` when a request fails."""
    logged = len(service.log) if service is not None else 0
    offset = airsane_log.stat().st_size if airsane_log is not None else 0
    before_rss, before_cpu = tree_rss(process_tree(pid)), tree_cpu_seconds(pid)
    try:
        with RssSampler(pid) as sampler:
            started = clock()
            transfer = escl_client.scan(root, MIME[fmt], page.dpi, page.width_mm, page.height_mm)
    except (TransferError, OSError, http.client.HTTPException) as exc:
        if service is not None:
            raise failed_scan(f"raw eSCL {fmt} at {root}: {exc}", service.log[logged:]) from None
        raise BenchError(f"raw eSCL {fmt} at {root}: {exc}") from None
    if service is not None:
        idle = settle(pid, wait_completed(service, logged))
        lines = service.log[logged:]
        _check_created(lines, page, MIME[fmt])
    else:
        idle = settle(pid, time.monotonic())
        lines = []
        if airsane_log is not None:
            with open(airsane_log, "rb") as handle:
                handle.seek(offset)
                lines = handle.read().decode(errors="replace").splitlines()
    service_cpu = tree_cpu_seconds(pid) - before_cpu
    return Scan(
        **_scan(transfer, started, lines, page),
        service_cpu=service_cpu,
        rss_before=before_rss,
        rss_peak=sampler.peak,
        rss_idle=idle,
    )
