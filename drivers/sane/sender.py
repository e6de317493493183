"""Sending a page's framed messages from a thread of the worker, so reading never waits for the pipe.

The SANE ``test`` backend (and a USB scanner's buffer alike) stalls when nobody
calls ``sane_read``: sending a band to the service over the worker's pipe in the
thread that reads made every send (about 0.5 ms per 128 KiB band, longer while the
service is busy) add to the device's time (docs/performance.md, 2026-12-03).
:class:`FrameSender` takes the framed messages of one page (bands and in-page
progress) and sends them in order from its own thread; at most
:data:`QUEUE_DEPTH` wait, so the worker still holds a bounded number of bands and a
stalled service still stops the reading (backpressure).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

QUEUE_DEPTH = 4
"""Messages waiting for the sender thread at most (bands of up to about 512 KiB each)."""

_STOP = None


class FrameSender:
    """Calls each queued ``send()`` in order on a thread of its own.

    :meth:`put` queues one message (a no-argument callable that sends it; blocks
    while :data:`QUEUE_DEPTH` wait) and re-raises the first failure of an earlier
    send; :meth:`close` waits until everything queued was sent, ends the thread and
    re-raises that failure (``OSError`` / ``EOFError`` from the connection, for
    example). After a failure, later messages are dropped, never sent out of order.
    """

    def __init__(self) -> None:
        self._queue: queue.Queue[Callable[[], object] | None] = queue.Queue(QUEUE_DEPTH)
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="page sender", daemon=True)
        self._thread.start()

    def put(self, send: Callable[[], object]) -> None:
        """Queue ``send`` (see the class docstring); raises an earlier send's exception."""
        if self._failure is not None:
            raise self._failure
        self._queue.put(send)

    def close(self) -> None:
        """Send what is queued, end the thread; raises the first send's exception, if any."""
        self._queue.put(_STOP)
        self._thread.join()
        if self._failure is not None:
            raise self._failure

    def _run(self) -> None:
        while True:
            send = self._queue.get()
            if send is _STOP:
                return
            if self._failure is None:
                try:
                    send()
                except BaseException as exc:  # noqa: BLE001 - handed to the reading thread
                    self._failure = exc
