"""A side encoded while its rows still come from the scanner: bands in, file bytes out.

:func:`encode_stream` is the one pipeline both RetrieveImage (:mod:`firmware.scan.service`)
and eSCL NextDocument (:mod:`firmware.escl.pages`) send sides through. It reads the
bands of a :class:`~firmware.jobs.runner.PageStream`, feeds each to the band encoder of
:func:`firmware.imaging.new_encoder` off the event loop and yields what the encoder wrote
for it at once. Everything in flight is bounded: at most :data:`PREFETCH_BANDS` bands read
ahead of the encoder (so the device keeps scanning while a band is encoded and sent), one
band in the encoder, and that band's output waiting for the consumer. The consumer (the HTTP
response) takes the next chunk only after the previous one was flushed to the socket, so a
slow client slows the encoder, which slows the reading of bands, which stops the driver
(the SANE worker blocks on its pipe): nothing page-sized builds up anywhere.

Pages of unknown height (SANE ``lines = -1``) are the exception the encoders document:
png keeps its compressed data, jpeg/tiff/dib the raw rows, until the page ends, because
their header carries the height.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import time
from collections.abc import AsyncGenerator

from drivers.base import PageInfo

from ..imaging import Raster, new_encoder
from ..jobs.runner import PageStream

log = logging.getLogger(__name__)

PREFETCH_BANDS = 2
"""Bands read from the driver ahead of the encoder, at most (up to about 512 KiB each on SANE)."""

_END = object()


def raster_of(info: PageInfo, *, quality: int, bilevel: bool) -> Raster:
    """The encoder's :class:`~firmware.imaging.Raster` of a side shaped ``info`` (height None
    when ``info.lines`` is -1), with JPEG ``quality`` 1..100 and ``bilevel`` (a lineart side,
    written 1-bit where the format allows). Raises ``ValueError`` for a shape no encoder takes
    (a depth other than 8 bits, rows shorter than their pixels)."""
    if info.depth != 8:
        raise ValueError(f"unsupported depth {info.depth}; the driver delivers 8-bit samples")
    if info.bytes_per_line < info.pixels_per_line * info.channels:
        raise ValueError(f"bad row geometry: {info.pixels_per_line} pixels, {info.bytes_per_line} bytes per line")
    return Raster(
        width=info.pixels_per_line,
        height=info.lines if info.lines >= 0 else None,
        channels=info.channels,
        dpi=info.resolution,
        bilevel=bilevel,
        quality=quality,
    )


def log_first_byte(job_id: int, request: str, requested: float, stream: PageStream) -> None:
    """Log (INFO) that the first image byte of ``stream`` goes to the client now: seconds since
    ``request`` (the operation's name, e.g. ``RetrieveImage``) was received at ``requested``
    and since the side's first rows reached the service (:attr:`PageStream.first_rows_at`;
    rows that came before the request count from their arrival). The line's format is
    parsed by ``bench/scan_bench.py``:
    ``job N: first image byte X s after RetrieveImage, Y s after the side's first row``."""
    now = time.monotonic()
    first_rows_at = stream.first_rows_at if stream.first_rows_at is not None else now
    log.info(
        "job %d: first image byte %.3f s after %s, %.3f s after the side's first row",
        job_id,
        now - requested,
        request,
        now - first_rows_at,
    )


def _packed(band: bytes, stride: int, row: int) -> bytes:
    """``band`` without the padding after each row (``stride`` bytes a row in, ``row`` out)."""
    if stride == row:
        return band
    view = memoryview(band)
    return b"".join(view[start : start + row] for start in range(0, len(view) - stride + 1, stride))


async def encode_stream(
    stream: PageStream,
    fmt: str,
    raster: Raster,
    executor: concurrent.futures.Executor | None = None,
) -> AsyncGenerator[bytes, None]:
    """Yield the file of FormatValue ``fmt`` for ``stream`` (shaped ``raster``, see
    :func:`raster_of`) piece by piece while its bands come in; encoding runs in ``executor``
    (None: the loop's default).

    Raises what the bands raise (:class:`~drivers.base.ScannerError` when the device fails
    mid-page), ``ValueError`` for an unknown format or a shape it cannot hold, ``OSError``
    when an encoder fails. Closing the iterator early stops the reading of bands (the task
    reading them is cancelled, which cancels the driver's read) and frees the encoder.
    """
    loop = asyncio.get_running_loop()
    out: list[bytes] = []
    encoder = new_encoder(fmt, raster, out.append)
    stride, row = stream.info.bytes_per_line, raster.row_bytes
    queue: asyncio.Queue[object] = asyncio.Queue(PREFETCH_BANDS)

    async def read() -> None:
        try:
            async for band in stream.bands:
                await queue.put(band)
            await queue.put(_END)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            await queue.put(exc)

    reader = loop.create_task(read())
    finished = False
    try:
        while True:
            item = await queue.get()
            if item is _END:
                break
            if isinstance(item, BaseException):
                raise item
            assert isinstance(item, bytes | bytearray | memoryview)
            band = _packed(bytes(item), stride, row) if stride != row else item
            del item
            await loop.run_in_executor(executor, encoder.feed, band)
            del band
            if out:
                chunk = b"".join(out)
                out.clear()
                yield chunk
        await loop.run_in_executor(executor, encoder.close)
        finished = True
        if out:
            chunk = b"".join(out)
            out.clear()
            yield chunk
    finally:
        if not finished:
            encoder.abort()
        if not reader.done():
            reader.cancel()
        with contextlib.suppress(BaseException):
            await reader
