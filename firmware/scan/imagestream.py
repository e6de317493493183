"""Run the image encoder in a thread and hand its output to the event loop as it comes.

The encoder (Pillow, blocking) writes into a small bounded queue, in chunks of
about :data:`CHUNK_BYTES`; the async side yields the chunks to the HTTP
response. At most :data:`QUEUE_CHUNKS` chunks (2 MiB) wait in memory, so a slow client slows the encoder instead of
filling memory. When the consumer stops early (client gone, job canceled),
the encoder's next write raises and the thread ends.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import AsyncIterator, Callable

QUEUE_CHUNKS = 8
CHUNK_BYTES = 256 * 1024
_DONE = object()


class _Stopped(Exception):
    """The consumer went away; the encoder must stop."""


async def threaded_chunks(
    produce: Callable[[Callable[[bytes], None]], object],
    executor: concurrent.futures.Executor | None = None,
) -> AsyncIterator[bytes]:
    """Yield what ``produce(write)`` writes, while it runs in ``executor``.

    ``produce`` is a blocking callable that calls ``write(chunk)`` with bytes-like
    chunks. Exceptions raised by ``produce`` are re-raised here after the
    chunks written before them.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[object] = asyncio.Queue()
    slots = threading.Semaphore(QUEUE_CHUNKS)
    stopped = threading.Event()

    pending = bytearray()

    def send(chunk: bytes) -> None:
        while not slots.acquire(timeout=0.5):
            if stopped.is_set():
                raise _Stopped()
        if stopped.is_set():
            raise _Stopped()
        loop.call_soon_threadsafe(queue.put_nowait, chunk)

    def write(chunk: bytes) -> None:
        # encoders write many tiny pieces (PNG chunk headers, CRCs): coalesce them
        pending.extend(chunk)
        if len(pending) >= CHUNK_BYTES:
            send(bytes(pending))
            pending.clear()

    def work() -> None:
        try:
            produce(write)
            if pending:
                send(bytes(pending))
        finally:
            loop.call_soon_threadsafe(queue.put_nowait, _DONE)

    future = loop.run_in_executor(executor, work)
    try:
        while True:
            item = await queue.get()
            if item is _DONE:
                break
            slots.release()
            yield item  # type: ignore[misc]
        await future
    finally:
        stopped.set()
        slots.release()
        if not future.done():
            with contextlib.suppress(_Stopped):
                await future
