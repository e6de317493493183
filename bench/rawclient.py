"""A raw streaming WS-Scan client for the benchmarks: CreateScanJob, then RetrieveImage read as it comes.

Requests are built with the project's own model (:mod:`firmware.model`, the ScanTicket and the
CreateScanJob / RetrieveImage bodies) and envelopes (:func:`firmware.wire.envelope.build_envelope`),
sent with :mod:`http.client` on loopback. The RetrieveImage answer (MTOM, ``multipart/related``,
chunked) is read with ``read1`` as the bytes arrive and never kept whole: the client notes, on
the clock of :func:`bench.sanelog.clock` (seconds since local midnight, the clock of the SANE
``test`` backend's debug stamps):

* ``request``: just before RetrieveImage is sent;
* ``first_byte``: when the first byte of the image MIME part arrived (after the SOAP part and
  the image part's headers);
* ``last_byte``: when the answer's last byte arrived.

It keeps the image part's first :data:`HEAD_BYTES` (to read the image's size in pixels) and
counts its bytes (the closing MIME delimiter is not counted). Unlike sane-airscan, which keeps
the whole file and decodes it after the last byte, this client does no work of its own, so
``last_byte - request`` is the service's own wall for the side.
"""

from __future__ import annotations

import http.client
import io
import re
import urllib.parse
from dataclasses import dataclass, field

from PIL import Image, JpegImagePlugin

from bench.sanelog import clock
from firmware import model
from firmware.wire import namespaces as ns
from firmware.wire.envelope import BODY, build_envelope
from firmware.wire.xml import find, parse_xml, serialize

HEAD_BYTES = 65536
"""Bytes of the image kept, from its start (enough for the PNG, JPEG, TIFF and BMP headers)."""

READ_SIZE = 1 << 16
"""Largest piece asked of the socket at a time, bytes."""

WSD_FORMATS = ("png", "jfif", "tiff-single-uncompressed", "dib")
"""WS-Scan FormatValue values the service offers (exif is jfif with other tags)."""

SAMPLING = {0: "4:4:4", 1: "4:2:2", 2: "4:2:0"}
"""Pillow's ``JpegImagePlugin.get_sampling`` codes -> the usual names."""

_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)


class TransferError(RuntimeError):
    """A request was answered with an error status or a body the client cannot read; the message
    shows the status and the start of the body."""


@dataclass
class Transfer:
    """One image transfer as the client saw it: clock times (seconds since local midnight),
    ``image_bytes`` received, ``head`` (the image's first bytes), ``job`` (the service's JobId,
    0 when not WS-Scan)."""

    request: float = 0.0
    first_byte: float = 0.0
    last_byte: float = 0.0
    image_bytes: int = 0
    head: bytearray = field(default_factory=bytearray)
    job: int = 0

    def size(self) -> tuple[int, int] | None:
        """The image's (width, height) in pixels from its header, or None when Pillow cannot
        tell from :data:`HEAD_BYTES` (e.g. a TIFF whose directory comes after the pixels)."""
        try:
            with Image.open(io.BytesIO(bytes(self.head))) as image:
                return image.size
        except (OSError, ValueError, SyntaxError):
            return None

    def jpeg_sampling(self) -> str:
        """A JPEG's chroma subsampling ("4:4:4", "4:2:2", "4:2:0") from its header; "" for other images."""
        try:
            with Image.open(io.BytesIO(bytes(self.head))) as image:
                if not isinstance(image, JpegImagePlugin.JpegImageFile):
                    return ""
                return SAMPLING.get(JpegImagePlugin.get_sampling(image), "other")
        except (OSError, ValueError, SyntaxError):
            return ""

    def take(self, piece: bytes) -> None:
        """Count ``piece`` (image bytes, in order) and keep what :data:`HEAD_BYTES` allows."""
        self.image_bytes += len(piece)
        if len(self.head) < HEAD_BYTES:
            self.head += piece[: HEAD_BYTES - len(self.head)]


def connection(url: str, timeout: float = 120) -> tuple[http.client.HTTPConnection, str]:
    """An HTTP connection to ``url``'s host and port, and ``url``'s path."""
    parts = urllib.parse.urlsplit(url)
    return http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout), parts.path or "/"


def ticket(fmt: str, dpi: int, width_mm: float, height_mm: float) -> model.ScanTicket:
    """A Platen RGB24 ScanTicket for ``width_mm`` x ``height_mm`` from the top left, ``dpi``, FormatValue ``fmt``."""
    width, height = round(width_mm / 25.4 * 1000), round(height_mm / 25.4 * 1000)  # 1/1000 inch
    return model.ScanTicket(
        job_description=model.JobDescription("bench", "bench"),
        document_parameters=model.DocumentParameters(
            format=fmt,
            input_source="Platen",
            input_size=model.Size(width, height),
            media_front=model.MediaSide(
                scan_region=model.ScanRegion(width=width, height=height, x_offset=0, y_offset=0),
                color_processing="RGB24",
                resolution=model.Resolution(dpi, dpi),
            ),
        ),
    )


def _soap(url: str, operation: str, body) -> bytes:
    return serialize(build_envelope(ns.scan_action(operation), body.to_xml(), to=url))


def create_scan_job(url: str, scan_ticket: model.ScanTicket) -> model.CreateScanJobResponse:
    """CreateScanJob at the scan service ``url``. Raises :class:`TransferError` on a fault."""
    conn, path = connection(url)
    try:
        conn.request(
            "POST",
            path,
            _soap(url, "CreateScanJob", model.CreateScanJobRequest(scan_ticket)),
            {"Content-Type": "application/soap+xml"},
        )
        answer = conn.getresponse()
        data = answer.read()
    finally:
        conn.close()
    if answer.status != 200:
        raise TransferError(f"CreateScanJob: HTTP {answer.status}: {data[:2000]!r}")
    body = find(parse_xml(data), BODY)
    if body is None or len(body) == 0:
        raise TransferError(f"CreateScanJob: no Body: {data[:2000]!r}")
    return model.CreateScanJobResponse.from_xml(body[0])


def _image_start(prefix: bytes, delimiter: bytes) -> int | None:
    """Offset of the image part's first byte in the body's ``prefix`` (the second part of a
    multipart body delimited by ``delimiter``), or None while its headers have not all come."""
    second = prefix.find(b"\r\n" + delimiter, prefix.find(delimiter) + len(delimiter))
    if second < 0:
        return None
    end = prefix.find(b"\r\n\r\n", second + 2)
    return None if end < 0 else end + 4


def retrieve_image(url: str, job: model.CreateScanJobResponse, transfer: Transfer | None = None) -> Transfer:
    """RetrieveImage of ``job`` at ``url``, read as it streams (see the module docstring).
    Raises :class:`TransferError` for a non-200 answer or a body that is not two MIME parts."""
    transfer = transfer or Transfer()
    transfer.job = job.job_id
    body = _soap(url, "RetrieveImage", model.RetrieveImageRequest(job.job_id, job.job_token, "bench"))
    conn, path = connection(url)
    try:
        transfer.request = clock()
        conn.request("POST", path, body, {"Content-Type": "application/soap+xml"})
        answer = conn.getresponse()
        if answer.status != 200:
            raise TransferError(f"RetrieveImage: HTTP {answer.status}: {answer.read()[:2000]!r}")
        boundary = _BOUNDARY.search(answer.getheader("Content-Type", ""))
        if boundary is None:
            raise TransferError(f"RetrieveImage: not multipart: {answer.getheader('Content-Type')!r}")
        delimiter = b"--" + boundary.group(1).encode()
        closing = b"\r\n" + delimiter + b"--"
        prefix, start, tail = bytearray(), None, b""
        while piece := answer.read1(READ_SIZE):
            if start is None:
                prefix += piece
                start = _image_start(bytes(prefix), delimiter)
                if start is None:
                    continue
                piece = bytes(prefix[start:])
            if piece and not transfer.first_byte:
                transfer.first_byte = clock()
            # hold back what could be the closing delimiter until the next piece shows it is not
            data = tail + piece
            keep = len(closing) + 4
            transfer.take(data[:-keep] if len(data) > keep else b"")
            tail = data[-keep:] if len(data) > keep else data
        transfer.last_byte = clock()
    finally:
        conn.close()
    end = tail.rfind(closing)
    if start is None or end < 0:
        raise TransferError("RetrieveImage: the answer is not a complete two-part MTOM message")
    transfer.take(tail[:end])
    return transfer
