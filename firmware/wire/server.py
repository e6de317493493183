"""The HTTP server with limits a Raspberry Pi can live with (issue 12).

:class:`LimitedHTTPServer` is Tornado's ``HTTPServer`` plus:

* **A cap on connections** (``max_connections``). A connection is *idle* while
  it waits for a request's headers (a new connection, or a kept-alive one
  between requests) and *busy* from its request's headers until its response
  is written. At the cap, a new connection first closes the connection that has
  been idle longest; when every connection is busy, the new one is closed at
  once. Closing at once rather than answering 503: a 503 needs the request,
  which an idle client never sends, and one written before the request is read
  is lost to the TCP reset the close then causes; clients retry a closed
  connection anyway. Evicting idle connections means a flood of idle
  connections cannot lock real clients out, and a scan in progress (busy) is
  never cut.
* **Timeouts**: ``idle_timeout`` for a request's headers (also the keep-alive
  wait, Tornado's ``idle_connection_timeout``) and ``body_timeout`` for its
  whole body, so a client trickling bytes is cut off.
* **Accept errors without spinning**: Tornado's own accept handler lets
  ``accept()`` failing with EMFILE/ENFILE escape on every turn of the event
  loop (the listening socket stays readable): full CPU and one traceback per
  turn. Here such a failure closes idle connections to free descriptors, or
  when there is none pauses accepting for :data:`ACCEPT_PAUSE` seconds; it is
  logged at most once per :data:`LOG_INTERVAL` seconds, with counts.
"""

from __future__ import annotations

import errno
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import tornado.httpserver
import tornado.httputil
import tornado.iostream
from tornado.http1connection import HTTP1ServerConnection
from tornado.ioloop import IOLoop

log = logging.getLogger(__name__)

ACCEPT_BATCH = 128  # connections accepted per readiness event (as Tornado does)
ACCEPT_PAUSE = 1.0  # seconds accepting pauses when descriptors run out and nothing can be freed
LOG_INTERVAL = 60.0  # seconds between two log lines about refused connections or accept errors
EVICT_ON_EMFILE = 8  # idle connections closed to free descriptors when accept() fails with EMFILE
_OUT_OF_RESOURCES = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}


@dataclass(frozen=True)
class ServerLimits:
    """Connection limits: ``max_connections`` (open at once), ``idle_timeout`` (seconds a
    connection may wait for a request's headers) and ``body_timeout`` (seconds for a
    request's whole body). See :mod:`firmware.config` (keys of the same names)."""

    max_connections: int = 64
    idle_timeout: float = 60.0
    body_timeout: float = 30.0


class ThrottledLog:
    """Counts events by kind and logs at most one WARNING per ``interval`` seconds:
    the first event at once, later ones summed up in the next line due."""

    def __init__(self, interval: float = LOG_INTERVAL, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = interval
        self._clock = clock
        self._next = 0.0
        self._counts: dict[str, int] = {}

    def note(self, kind: str, hint: str) -> None:
        """Count one event ``kind`` (e.g. "connections refused"); log the counts when due, with ``hint``."""
        self._counts[kind] = self._counts.get(kind, 0) + 1
        now = self._clock()
        if now < self._next:
            return
        summary = ", ".join(f"{what}: {count}" for what, count in sorted(self._counts.items()))
        log.warning("HTTP server under pressure (%s); %s", summary, hint)
        self._counts.clear()
        self._next = now + self._interval


@dataclass(eq=False)
class _Connection:
    """What the server knows of one connection: busy with a request, and since when idle."""

    server_conn: HTTP1ServerConnection
    busy: bool = False
    idle_since: float = field(default_factory=time.monotonic)


class _Tracked(tornado.httputil.HTTPMessageDelegate):
    """Passes a request through to ``inner``, marking its connection busy once the headers are in."""

    def __init__(self, inner: tornado.httputil.HTTPMessageDelegate, record: _Connection) -> None:
        self._inner = inner
        self._record = record

    def headers_received(
        self,
        start_line: tornado.httputil.RequestStartLine | tornado.httputil.ResponseStartLine,
        headers: tornado.httputil.HTTPHeaders,
    ) -> Awaitable[None] | None:
        self._record.busy = True
        return self._inner.headers_received(start_line, headers)

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        return self._inner.data_received(chunk)

    def finish(self) -> None:
        self._inner.finish()

    def on_connection_close(self) -> None:
        self._inner.on_connection_close()


class LimitedHTTPServer(tornado.httpserver.HTTPServer):
    """Tornado's HTTPServer with a connection cap, timeouts and EMFILE handling (see the module
    docstring). Construct it as ``LimitedHTTPServer(application, limits=ServerLimits(...), **options)``;
    ``options`` are HTTPServer's (e.g. ``max_body_size``)."""

    def initialize(  # type: ignore[override]
        self, request_callback: Any, limits: ServerLimits = ServerLimits(), **options: Any
    ) -> None:
        """Tornado's initializer, with ``idle_connection_timeout`` and ``body_timeout`` from ``limits``."""
        super().initialize(
            request_callback,
            idle_connection_timeout=limits.idle_timeout,
            body_timeout=limits.body_timeout,
            **options,
        )
        self.limits = limits
        self._live: dict[HTTP1ServerConnection, _Connection] = {}
        self._pressure = ThrottledLog()

    @property
    def open_connections(self) -> int:
        """The connections open now (idle and busy)."""
        return len(self._live)

    # -- connections ---------------------------------------------------------------------------------

    def handle_stream(self, stream: tornado.iostream.IOStream, address: tuple) -> None:
        """Serve a new connection, within ``max_connections`` (closing the longest idle one, or this one)."""
        if len(self._live) >= self.limits.max_connections and not self._evict_idle(1):
            stream.close()
            self._pressure.note(
                "connections refused",
                f"all {self.limits.max_connections} connections are busy (max_connections)",
            )
            return
        super().handle_stream(stream, address)
        # Tornado starts the connection's request loop as a task: record it now, so that
        # the next connection accepted in this same turn counts it.
        conn = next((c for c in self._connections if c.stream is stream), None)
        if conn is not None:
            self._live[conn] = _Connection(conn)

    def start_request(
        self, server_conn: object, request_conn: tornado.httputil.HTTPConnection
    ) -> tornado.httputil.HTTPMessageDelegate:
        """A connection waits for its next request: it is idle until the headers arrive."""
        conn = server_conn if isinstance(server_conn, HTTP1ServerConnection) else None
        delegate = super().start_request(server_conn, request_conn)
        if conn is None:
            return delegate
        record = self._live.get(conn)
        if record is None:
            record = self._live[conn] = _Connection(conn)
        record.busy = False
        record.idle_since = time.monotonic()
        return _Tracked(delegate, record)

    def on_close(self, server_conn: object) -> None:
        """Forget a closed connection."""
        self._live.pop(server_conn, None)  # type: ignore[call-overload]
        super().on_close(server_conn)

    def _evict_idle(self, count: int) -> int:
        """Close up to ``count`` idle connections, longest idle first; return how many (their
        descriptors are free at once)."""
        idle = sorted((r for r in self._live.values() if not r.busy), key=lambda r: r.idle_since)[:count]
        for record in idle:
            self._live.pop(record.server_conn, None)
            record.server_conn.stream.close()
        if idle:
            self._pressure.note(
                "idle connections closed",
                f"at most {self.limits.max_connections} connections are kept (max_connections)",
            )
        return len(idle)

    # -- accepting -----------------------------------------------------------------------------------

    def add_sockets(self, sockets: Iterable[socket.socket]) -> None:
        """Accept connections on ``sockets`` with :meth:`_accept_handler` instead of Tornado's."""
        for sock in sockets:
            self._sockets[sock.fileno()] = sock
            self._handlers[sock.fileno()] = self._add_accept_handler(sock)

    def _add_accept_handler(self, sock: socket.socket) -> Callable[[], None]:
        io_loop = IOLoop.current()
        state = {"removed": False, "paused": False}

        def resume() -> None:
            if not state["removed"] and state["paused"]:
                state["paused"] = False
                io_loop.add_handler(sock, handler, IOLoop.READ)

        def handler(_fd: Any, _events: int) -> None:
            for _ in range(ACCEPT_BATCH):
                if state["removed"] or state["paused"]:
                    return
                try:
                    connection, address = sock.accept()
                except BlockingIOError:
                    return
                except ConnectionAbortedError:
                    continue
                except OSError as exc:
                    self._accept_failed(exc, sock, io_loop, state, resume)
                    return
                self._handle_connection(connection, address)

        def remove() -> None:
            if not state["paused"]:
                io_loop.remove_handler(sock)
            state["removed"] = True

        io_loop.add_handler(sock, handler, IOLoop.READ)
        return remove

    def _accept_failed(
        self, exc: OSError, sock: socket.socket, io_loop: IOLoop, state: dict, resume: Callable[[], None]
    ) -> None:
        """accept() failed: free descriptors by closing idle connections, else pause accepting."""
        reason = exc.strerror or str(exc)
        if exc.errno in _OUT_OF_RESOURCES and self._evict_idle(EVICT_ON_EMFILE):
            self._pressure.note(f"accept failed ({reason}), idle connections closed", _NOFILE_HINT)
            return  # the socket is still readable: the next turn accepts
        state["paused"] = True
        io_loop.remove_handler(sock)
        io_loop.call_later(ACCEPT_PAUSE, resume)
        self._pressure.note(f"accept failed ({reason}), accepting paused {ACCEPT_PAUSE:g} s", _NOFILE_HINT)


_NOFILE_HINT = "lower max_connections or raise the open files limit (systemd LimitNOFILE=)"
