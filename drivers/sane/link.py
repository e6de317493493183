"""One SANE worker process and its pipes, seen from the service (blocking calls).

:class:`WorkerLink` starts the worker (``multiprocessing``, "spawn": a fresh
interpreter, so libsane is never loaded in the service), frames the messages
of :mod:`drivers.sane.protocol` and kills the worker by PID. Every receiving
method blocks and is meant to run in a thread; :mod:`drivers.sane.scanner`
adds the asyncio side and the watchdog. Sending never blocks: the command
pipe is non-blocking (commands are a few dozen bytes; a full pipe means a
stuck worker and raises :class:`WorkerGone`).

"spawn" runs the parent's main module again in the worker (as
``__mp_main__``), so a program that starts workers must keep its main code
under ``if __name__ == "__main__":`` (multiprocessing's rule; console-script
entry points and ``python -m`` packages do).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
import time
from typing import Any

from drivers.base import Condition, ScannerError
from drivers.sane import protocol, worker

POLL_SLICE = 0.05
"""Seconds between two looks at the abort flag while waiting for a message."""


class WorkerGone(Exception):
    """The worker process ended or its pipes broke (``killed`` tells if we killed it)."""


class WaitAborted(Exception):
    """A wait for the worker was given up because :attr:`WorkerLink.abort` was set."""


class WorkerLink:
    """A worker process for ``device_name`` (None: a device-listing worker).

    ``sane_options`` are applied by the worker after each ``sane_open``;
    ``sane_config_dir`` becomes its SANE_CONFIG_DIR (None: inherited).
    ``last_activity`` is the ``time.monotonic()`` of the last message received
    (or of :meth:`touch`), for the watchdog. ``pending_chunks`` counts raw page
    chunks announced but not yet received (:data:`~drivers.sane.protocol.STREAMED`,
    -1, while a page of unknown height streams); ``progress`` the last
    ``(line, lines)``: from PROGRESS, or the rows received of the page being read.
    """

    def __init__(
        self,
        device_name: str | None,
        sane_options: dict[str, object] | None = None,
        sane_config_dir: str | None = None,
    ) -> None:
        self.device_name = device_name
        self._sane_options = dict(sane_options or {})
        self._sane_config_dir = sane_config_dir
        self._process: Any = None
        self._commands: Any = None  # our (write) end of the command pipe
        self._replies: Any = None  # our (read) end of the reply pipe
        self._send_lock = threading.Lock()
        self.abort = threading.Event()
        self.last_activity = time.monotonic()
        self.pending_chunks = 0
        self._page_ended = False  # the page's trailer came: the remaining announced chunks are empty
        self._page_lines = 0  # rows per announced page (-1 unknown) and bytes per row, for progress
        self._page_stride = 1
        self._rows_received = 0
        self.progress: tuple[int, int] | None = None  # last PROGRESS (line, lines)
        self.killed = False
        self.sane_version: int | None = None

    # -- process ------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        """PID of the worker process, or None before :meth:`start`."""
        return None if self._process is None else self._process.pid

    @property
    def alive(self) -> bool:
        """True while the worker process runs and was not killed."""
        return self._process is not None and not self.killed and self._process.is_alive()

    def start(self) -> None:
        """Spawn the worker and wait (blocking) for its READY message.

        Raises :class:`ScannerError` if ``sane_init`` fails in the worker, and
        :class:`WorkerGone` if it dies first.
        """
        ctx = multiprocessing.get_context("spawn")
        cmd_read, cmd_write = ctx.Pipe(duplex=False)
        reply_read, reply_write = ctx.Pipe(duplex=False)
        process = ctx.Process(
            target=worker.run,
            args=(self.device_name, self._sane_options, self._sane_config_dir, cmd_read, reply_write),
            name=f"sane-worker {self.device_name or '(devices)'}",
            daemon=True,
        )
        self.touch()
        try:
            process.start()
        except OSError as exc:
            raise WorkerGone(f"cannot start a worker: {exc}") from exc
        # Only the worker keeps these ends, so its death shows as EOF here.
        cmd_read.close()
        reply_write.close()
        os.set_blocking(cmd_write.fileno(), False)
        self._process, self._commands, self._replies = process, cmd_write, reply_read
        message = self._receive()
        if message[0] == protocol.ERROR:
            raise ScannerError(Condition(message[1]), message[2])
        if message[0] != protocol.READY:
            raise WorkerGone(f"unexpected first message {message[0]!r}")
        self.sane_version = message[1]

    def kill(self) -> None:
        """Kill the worker at once (SIGKILL to its PID). Never raises."""
        self.killed = True
        pid = self.pid
        if pid is not None and self._process.exitcode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def reap(self, timeout: float = 5.0) -> None:
        """Wait (blocking) for the process to end and free its resources. Never raises."""
        if self._process is not None:
            self._process.join(timeout)
        for conn in (self._commands, self._replies):
            try:
                if conn is not None:
                    conn.close()
            except OSError:
                pass

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the worker to exit, wait up to ``timeout`` seconds, then kill it; reap it.
        Blocking; never raises."""
        if self._process is None:
            return
        if self.alive:
            with contextlib.suppress(WorkerGone):
                self.send((protocol.EXIT,))
            self._process.join(timeout)
        if self._process.exitcode is None:
            self.kill()
        self.reap()

    # -- messages -----------------------------------------------------------

    def touch(self) -> None:
        """Restart the watchdog clock (an operation begins now)."""
        self.last_activity = time.monotonic()

    def send(self, command: tuple) -> None:
        """Send one command (non-blocking). Raises :class:`WorkerGone` if the pipe
        is broken or full."""
        if self._commands is None:
            raise WorkerGone("the worker was not started")
        try:
            with self._send_lock:
                self._commands.send(command)
        except (OSError, ValueError) as exc:
            raise WorkerGone(f"cannot send {command[0]!r}: {exc}") from None

    def _wait_readable(self, abortable: bool) -> None:
        while not self._replies.poll(POLL_SLICE):
            if abortable and self.abort.is_set():
                raise WaitAborted()

    def _receive(self, abortable: bool = False) -> tuple:
        try:
            self._wait_readable(abortable)
            message = self._replies.recv()
        except (EOFError, OSError) as exc:
            raise WorkerGone(f"the worker ended ({self.exit_text()})") from exc
        self.last_activity = time.monotonic()
        if message[0] == protocol.PAGE:
            self.pending_chunks = message[2]
            self._page_ended = False
            self._page_lines, self._page_stride = message[1].lines, max(1, message[1].bytes_per_line)
            self.progress = (0, self._page_lines)
            self._rows_received = 0
        elif message[0] == protocol.PROGRESS:
            self.progress = (message[1], message[2])
        return message

    def exit_text(self, wait: float = 0.5) -> str:
        """How the worker ended, for messages: ``"signal 9"``, ``"exit status 1"``,
        ``"killed"`` (by us, not yet reaped), ``"still running"`` or
        ``"not started"``. Waits up to ``wait`` seconds for the process to end
        (0 never blocks)."""
        if self._process is None:
            return "not started"
        self._process.join(wait)
        code = self._process.exitcode
        if code is None:
            return "killed" if self.killed else "still running"
        return f"signal {-code}" if code < 0 else f"exit status {code}"

    def receive_reply(self) -> tuple:
        """Wait for the final reply of the current command, skipping PROGRESS.

        Returns the OK or PAGE tuple (after PAGE, read the chunks with
        :meth:`receive_chunk`). Raises :class:`ScannerError` for an ERROR reply,
        :class:`WaitAborted` when :attr:`abort` is set while waiting,
        :class:`WorkerGone` when the worker dies.
        """
        if self.pending_chunks:
            raise RuntimeError("page chunks are still pending")
        while True:
            message = self._receive(abortable=True)
            kind = message[0]
            if kind == protocol.PROGRESS:
                continue
            if kind == protocol.ERROR:
                raise ScannerError(Condition(message[1]), message[2])
            if kind in (protocol.OK, protocol.PAGE):
                return message
            raise WorkerGone(f"unexpected reply {kind!r}")

    def receive_chunk(self) -> bytes | None:
        """Receive the next raw chunk of the current page (whole rows, possibly empty).

        Returns None, once, at the end of a page of unknown height (PAGE_END after
        a :data:`~drivers.sane.protocol.STREAMED` announcement). A counted page
        that ended early gives empty chunks for the rest of its announced count.
        Raises :class:`ScannerError` when the worker reports a failure mid-page,
        :class:`WaitAborted` / :class:`WorkerGone` like :meth:`receive_reply`.
        """
        if not self.pending_chunks:
            raise RuntimeError("no page chunk is pending")
        if self._page_ended:
            self.pending_chunks -= 1
            return b""
        return self._receive_page_message(abortable=True)

    def _receive_page_message(self, abortable: bool) -> bytes | None:
        """Read the next chunk or trailer of the page stream (skipping framed PROGRESS);
        see :meth:`receive_chunk`."""
        while True:
            try:
                self._wait_readable(abortable)
                chunk = self._replies.recv_bytes()
                framed = None if chunk else self._replies.recv()
            except (EOFError, OSError) as exc:
                raise WorkerGone(f"the worker ended ({self.exit_text()})") from exc
            self.last_activity = time.monotonic()
            if framed is None:
                if self.pending_chunks > 0:
                    self.pending_chunks -= 1
                self._rows_received += len(chunk) // self._page_stride
                shown = self.progress[0] if self.progress is not None else 0  # PROGRESS counts rows not sent yet
                self.progress = (max(shown, self._rows_received), self._page_lines)
                return chunk
            if framed[0] == protocol.PROGRESS:
                self.progress = (framed[1], framed[2])
                continue
            streamed = self.pending_chunks == protocol.STREAMED
            if framed[0] == protocol.ERROR:
                self.pending_chunks = 0
                raise ScannerError(Condition(framed[1]), framed[2])
            if framed[0] != protocol.PAGE_END:
                raise WorkerGone(f"unexpected page trailer {framed[0]!r}")
            if streamed:
                self.pending_chunks = 0
                return None
            self._page_ended = True  # the rest of the announced chunks are empty, this one included
            self.pending_chunks -= 1
            return b""

    def discard_chunks(self) -> None:
        """Receive and drop the rest of the current page, if any (a failure reported
        mid-page is dropped too). Raises :class:`WorkerGone`."""
        while self.pending_chunks and not self._page_ended:
            try:
                self._receive_page_message(abortable=False)
            except ScannerError:
                break
        self.pending_chunks = 0

    def resynchronise(self, cancels: int) -> None:
        """Drop everything the worker sends until ``cancels`` CANCELLED answers
        have arrived, then clear :attr:`abort`. After it, the next message
        answers the next command. Raises :class:`WorkerGone`."""
        self.abort.clear()
        while cancels > 0:
            self.discard_chunks()
            message = self._receive()
            if message[0] == protocol.CANCELLED:
                cancels -= 1
