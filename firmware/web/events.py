"""Live updates of the status page: server-sent events (``GET /events``), bounded.

Every open page holds one ``text/event-stream`` response. The :class:`Broadcaster` builds the
page's data (:func:`firmware.web.snapshot.snapshot`) when something changed (a job or a
scanner status changed: :meth:`Broadcaster.kick`) and every :data:`TICK` seconds while a page
is open (progress, subscriptions), and sends it as one ``state`` event to every page, only
when it differs from the last one sent (the uptime aside), with a comment line every
:data:`KEEPALIVE` seconds so a vanished client is noticed.

Bounded, whatever the clients do:

* at most ``max_streams`` streams are open at once; one more is answered HTTP 503 with a
  sentence saying so (each stream holds one of the server's ``max_connections``);
* a client that reads slowly or not at all gets no backlog: each stream holds at most the
  message being written and the newest one waiting (older ones are replaced, since each
  message is the whole state); a stream whose write has not completed within
  :data:`STALL_TIMEOUT` seconds is closed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import tornado.iostream
import tornado.web

log = logging.getLogger(__name__)

TICK = 1.0
"""Seconds between two looks at the state while a page is open."""

KEEPALIVE = 15.0
"""Seconds after which a comment line is sent when nothing else was."""

STALL_TIMEOUT = 60.0
"""Seconds a stream's write may stay unfinished before the stream is closed."""

RETRY_MS = 3000
"""How long a browser waits before reconnecting a broken stream (the ``retry:`` field)."""


def encode_event(document: dict[str, Any], event: str = "state") -> bytes:
    """One server-sent event: ``event: <event>`` and the JSON of ``document`` on one ``data:`` line."""
    return f"event: {event}\ndata: {json.dumps(document, separators=(',', ':'))}\n\n".encode()


class Broadcaster:
    """Sends the page's state to every open stream.

    ``build``: returns the state now (a JSON-ready dict with an ``uptime`` key);
    ``max_streams``: streams open at once. Use on the event loop.
    """

    def __init__(self, build: Callable[[], dict[str, Any]], max_streams: int = 8) -> None:
        self._build = build
        self.max_streams = max_streams
        self.streams: set[EventsHandler] = set()
        self._last_key: str | None = None
        self._last_sent = 0.0
        self._pending: asyncio.Handle | None = None
        self._ticker: asyncio.TimerHandle | None = None

    def state(self) -> bytes:
        """The state now as one event (what a new stream gets first)."""
        return encode_event(self._build())

    def add(self, stream: EventsHandler) -> bool:
        """Register ``stream``; False (not registered) when ``max_streams`` are open."""
        if len(self.streams) >= self.max_streams:
            return False
        self.streams.add(stream)
        if self._ticker is None:
            self._ticker = asyncio.get_running_loop().call_later(TICK, self._tick)
        return True

    def remove(self, stream: EventsHandler) -> None:
        """Forget ``stream`` (it closed)."""
        self.streams.discard(stream)

    def kick(self, *_ignored: object) -> None:
        """Something changed: send the state soon (several changes in one turn are sent once).
        Takes and ignores any arguments, so it can be registered as any listener."""
        if not self.streams or self._pending is not None:
            return
        try:
            self._pending = asyncio.get_running_loop().call_soon(self._publish)
        except RuntimeError:  # no loop running (a listener called from a test's own thread)
            self._pending = None

    def _tick(self) -> None:
        self._ticker = None
        if not self.streams:
            return
        now = time.monotonic()
        for stream in list(self.streams):
            if stream.stalled(now):
                log.info("status page stream from %s closed: it reads nothing", stream.request.remote_ip)
                stream.close()
        self._publish()
        self._ticker = asyncio.get_running_loop().call_later(TICK, self._tick)

    def _publish(self) -> None:
        self._pending = None
        if not self.streams:
            return
        document = self._build()
        key = json.dumps({k: v for k, v in document.items() if k != "uptime"}, sort_keys=True)
        now = time.monotonic()
        if key == self._last_key and now - self._last_sent < KEEPALIVE:
            return
        message = b": keepalive\n\n" if key == self._last_key else encode_event(document)
        self._last_key, self._last_sent = key, now
        for stream in list(self.streams):
            stream.offer(message)

    def close(self) -> None:
        """Close every stream (the service stops)."""
        for stream in list(self.streams):
            stream.close()
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None


class EventsHandler(tornado.web.RequestHandler):
    """``GET /events``: the page's state as server-sent events; route it with
    ``dict(broadcaster=<Broadcaster>)``."""

    def initialize(self, broadcaster: Broadcaster) -> None:
        """Store the :class:`Broadcaster`."""
        self.broadcaster = broadcaster
        self._waiting: bytes | None = None
        self._writing_since: float | None = None
        self._closed: asyncio.Future[None] | None = None

    async def get(self) -> None:
        """Open the stream: the current state at once, then every change until the client goes."""
        self._closed = asyncio.get_running_loop().create_future()
        if not self.broadcaster.add(self):
            self.set_status(503)
            self.set_header("Content-Type", "text/plain; charset=utf-8")
            self.set_header("Retry-After", "30")
            self.finish(
                f"Too many status pages are open (at most {self.broadcaster.max_streams}); close one and reload.\n"
            )
            return
        try:
            self.set_header("Content-Type", "text/event-stream; charset=utf-8")
            self.set_header("Cache-Control", "no-store")
            self.set_header("X-Accel-Buffering", "no")
            self.offer(f"retry: {RETRY_MS}\n\n".encode() + self.broadcaster.state())
            await self._closed
        finally:
            self.broadcaster.remove(self)

    def offer(self, message: bytes) -> None:
        """Send ``message`` when the previous one is written; a message still waiting is replaced."""
        if self._closed is None or self._closed.done():
            return
        self._waiting = message
        if self._writing_since is None:
            asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        while self._waiting is not None and self._closed is not None and not self._closed.done():
            message, self._waiting = self._waiting, None
            self._writing_since = time.monotonic()
            try:
                self.write(message)
                await self.flush()
            except tornado.iostream.StreamClosedError:
                self._done()
            finally:
                self._writing_since = None

    def stalled(self, now: float) -> bool:
        """True when a write has been unfinished for :data:`STALL_TIMEOUT` seconds."""
        return self._writing_since is not None and now - self._writing_since > STALL_TIMEOUT

    def close(self) -> None:
        """End the stream and close its connection."""
        self._done()
        if self.request.connection is not None:
            self.request.connection.close()  # type: ignore[attr-defined]

    def _done(self) -> None:
        if self._closed is not None and not self._closed.done():
            self._closed.set_result(None)

    def on_connection_close(self) -> None:
        """The client went away."""
        self._done()

    def write_error(self, status_code: int, **kwargs: object) -> None:
        """Errors as one line of text, never a traceback."""
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(f"{status_code} {self._reason}\n")
