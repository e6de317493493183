"""A raw eSCL client for the benchmarks: ``POST ScanJobs``, then ``GET NextDocument`` read as it comes.

It lets the bench ask any eSCL server (AirSane, or the service's own eSCL endpoint) for the
document format it wants: sane-airscan asks for PNG whenever a server offers it, so only a
client of our own compares the servers' JPEG encoders. The ScanSettings body is built with the
project's eSCL model (:class:`firmware.escl.model.ScanSettings`, regions in 1/300 inch); the
job's URL is the answer's ``Location``. The document is read with ``read1`` as it arrives and
never kept whole; the :class:`bench.rawclient.Transfer` gets, on the clock of
:func:`bench.sanelog.clock`: ``request`` (just before ``GET NextDocument``), ``first_byte``
(the first body byte: an eSCL document has no envelope) and ``last_byte``. A second
``NextDocument`` then asks for the next page, as sane-airscan does; a flatbed job has none
(404), which ends the job on both servers.
"""

from __future__ import annotations

import urllib.parse

from bench.rawclient import READ_SIZE, Transfer, TransferError, connection
from bench.sanelog import clock
from firmware.escl.model import ScanRegion, ScanSettings
from firmware.wire.xml import serialize

THREE_HUNDREDTHS_PER_MM = 300 / 25.4
"""eSCL lengths are in 1/300 inch."""


def scan_settings(mime: str, dpi: int, width_mm: float, height_mm: float) -> ScanSettings:
    """Platen RGB24 settings for ``width_mm`` x ``height_mm`` from the top left at ``dpi``, as ``mime``."""
    region = ScanRegion(round(width_mm * THREE_HUNDREDTHS_PER_MM), round(height_mm * THREE_HUNDREDTHS_PER_MM))
    return ScanSettings(
        intent="Document",
        regions=(region,),
        input_source="Platen",
        color_mode="RGB24",
        document_format=mime,
        document_format_ext=mime,
        x_resolution=dpi,
        y_resolution=dpi,
    )


def create_job(root: str, settings: ScanSettings) -> str:
    """``POST {root}/ScanJobs``; returns the job's absolute URL (from ``Location``).
    Raises :class:`bench.rawclient.TransferError` unless the answer is 201 with a Location."""
    conn, path = connection(root)
    try:
        conn.request("POST", path.rstrip("/") + "/ScanJobs", serialize(settings.to_xml()), {"Content-Type": "text/xml"})
        answer = conn.getresponse()
        data = answer.read()
    finally:
        conn.close()
    location = answer.getheader("Location")
    if answer.status != 201 or not location:
        raise TransferError(f"POST ScanJobs: HTTP {answer.status}: {data[:2000]!r}")
    return urllib.parse.urljoin(root, location)


def next_document(job_url: str, transfer: Transfer | None = None) -> Transfer | None:
    """``GET {job_url}/NextDocument`` read as it streams; None for a 404 (no more documents).
    Raises :class:`bench.rawclient.TransferError` for another error status."""
    transfer = transfer or Transfer()
    conn, path = connection(job_url)
    try:
        transfer.request = clock()
        conn.request("GET", path.rstrip("/") + "/NextDocument")
        answer = conn.getresponse()
        if answer.status == 404:
            answer.read()
            return None
        if answer.status != 200:
            raise TransferError(f"NextDocument: HTTP {answer.status}: {answer.read()[:2000]!r}")
        while piece := answer.read1(READ_SIZE):
            if not transfer.first_byte:
                transfer.first_byte = clock()
            transfer.take(piece)
        transfer.last_byte = clock()
    finally:
        conn.close()
    return transfer


def scan(root: str, mime: str, dpi: int, width_mm: float, height_mm: float) -> Transfer:
    """One flatbed page from the eSCL server at ``root`` (``http://host:port/eSCL``): the job, its
    document, then the 404 that ends it. Raises :class:`bench.rawclient.TransferError`."""
    job = create_job(root, scan_settings(mime, dpi, width_mm, height_mm))
    transfer = next_document(job)
    if transfer is None:
        raise TransferError(f"{job}: NextDocument answered 404 before the first page")
    if next_document(job) is not None:
        raise TransferError(f"{job}: a second document came from a flatbed job")
    return transfer
