"""The SANE worker process: the only code that imports python-sane and runs libsane.

The service starts one worker per scanner (``multiprocessing``, "spawn") and
talks to it with the messages of :mod:`drivers.sane.protocol`; it can kill it
at any time (a hung libsane call cannot block the service). A short-lived
worker without a device lists the devices (``sane_get_devices``).

Threads: a listener thread receives commands, raises the cancel flag at once
for :data:`~drivers.sane.protocol.CANCEL` and queues every command; the main
thread runs them one at a time. Pages are read with ``sane_read`` as the rows
come (:mod:`drivers.sane.reader`, on python-sane's own handle) and sent over
the pipe in bands of whole rows (a small first one, then about
:data:`~drivers.sane.protocol.CHUNK_BYTES`; from a sender thread,
:mod:`drivers.sane.sender`, so reading never waits for the pipe), so the first rows reach the
service while the device still scans and the worker holds a few bands (at
most :data:`~drivers.sane.sender.QUEUE_DEPTH` waiting), never a page. The worker scans a page only when asked (NEXT_PAGE). The page is read
without sane_cancel at its end: the worker calls ``sane_cancel`` itself once
the flatbed page was handed over, at CLOSE (job end) and on CANCEL (the
reader calls it between two ``sane_read`` calls when the cancel flag is up),
never in the instant a read fails (the `test` backend can deadlock when
cancelled just as its reader thread starts or ends).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import itertools
import os
import queue
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from drivers.base import Condition, PageInfo, ScannerError, ScanParameters, Source
from drivers.sane import buttons, options, protocol
from drivers.sane import reader as reader_mod
from drivers.sane.errors import error_from_sane
from drivers.sane.sender import FrameSender

EXIT_GRACE_SECONDS = 10
"""How long a worker whose service went away may take to end on its own."""

EXIT_SECONDS = 4
"""How long closing the device and ``sane_exit`` may take when the worker ends
(then SIGALRM ends it; the service kills it after ``WorkerLink.stop``'s 5 s)."""


def run(
    device_name: str | None,
    sane_options: dict[str, object],
    sane_config_dir: str | None,
    commands: Any,
    replies: Any,
) -> None:
    """Entry point of the worker process (the ``multiprocessing`` target).

    ``device_name``: the SANE device to serve, or None for a worker that only
    answers DEVICES. ``sane_options``: option values applied after each
    ``sane_open`` (python-sane spelling, e.g. ``{"test_picture": "Grid"}``).
    ``sane_config_dir``: SANE_CONFIG_DIR for libsane, or None to inherit the
    environment's. ``commands`` / ``replies``: the two pipe ends.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the service decides when we end
    signal.signal(signal.SIGALRM, signal.SIG_DFL)  # an alarm ends a worker that cannot leave
    if sane_config_dir is not None:
        os.environ["SANE_CONFIG_DIR"] = sane_config_dir
    _preload_unwinder()
    import _sane
    import sane

    try:
        version = sane.init()
    except _sane.error as exc:
        replies.send((protocol.ERROR, Condition.IO_ERROR.value, f"sane_init: {exc}"))
        return
    pending: queue.Queue = queue.Queue()
    worker = _Worker(sane, _sane.error, device_name, sane_options, replies, reader_mod.LibSane(_sane))
    listener = threading.Thread(
        target=_listen, args=(commands, pending, worker.cancel_requested), name="commands", daemon=True
    )
    listener.start()
    try:
        replies.send((protocol.READY, version))
        worker.serve(pending)
    except (BrokenPipeError, EOFError, OSError):
        pass  # the service went away
    finally:
        signal.alarm(EXIT_SECONDS)  # from here on, SIGALRM ends a worker that hangs
        worker.end_job()
        _leave(sane.exit)


def _preload_unwinder() -> None:
    """Load libgcc_s now, not inside a cancelled thread.

    glibc loads libgcc_s (``dlopen``) the first time a thread is cancelled.
    Backends built on sanei_thread cancel their reader thread asynchronously
    (``sane_cancel``, end of page); a ``dlopen`` in a thread cancelled that way
    can leave the loader lock taken and hang the worker. Measured with the
    `test` backend: 8 hangs in 360 failed reads without this, 1 with it.
    """
    try:
        ctypes.CDLL("libgcc_s.so.1")
    except OSError:
        pass  # not glibc, or a static libgcc: nothing to preload


def _leave(sane_exit: Callable[[], None]) -> None:
    """Call ``sane_exit`` and end the process at once (the caller armed SIGALRM
    in case it hangs).

    A backend whose reader thread was cancelled at a bad moment can leave a
    loader lock taken (seen with the `test` backend: ``sane_exit`` then waits
    forever in ``dlclose``, and so would starting a thread); the device is
    already closed, so the worker just goes.
    """
    try:
        sane_exit()
    except Exception:  # noqa: BLE001 - leaving anyway
        pass
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            stream.flush()
    os._exit(0)


def _listen(commands: Any, pending: queue.Queue, cancel_requested: threading.Event) -> None:
    """Receive commands; raise the cancel flag at once for CANCEL; queue them all."""
    while True:
        try:
            command = commands.recv()
        except (EOFError, OSError):
            # The service is gone: stop what runs and leave, by force if libsane hangs.
            cancel_requested.set()
            pending.put((protocol.EXIT,))
            signal.alarm(EXIT_GRACE_SECONDS)
            return
        if command[0] == protocol.CANCEL:
            cancel_requested.set()
        pending.put(command)
        if command[0] == protocol.EXIT:
            return


@dataclass
class _Job:
    """The open scan job: its parameters, resolution in effect (dpi), and
    whether no page may follow (flatbed done, feeder empty, cancelled)."""

    params: ScanParameters
    resolution: int
    done: bool = False


class _Worker:
    """Runs the commands of one worker (main thread)."""

    def __init__(
        self,
        sane_module: Any,
        sane_error: type[Exception],
        device_name: str | None,
        sane_options: dict[str, object],
        replies: Any,
        lib: reader_mod.LibSane,
    ) -> None:
        self._sane = sane_module
        self._lib = lib
        self._error = sane_error
        self._device_name = device_name
        self._sane_options = dict(sane_options)
        self._unknown_reported: set[str] = set()
        self._replies = replies
        self._handle: Any = None  # python-sane's low-level _sane.SaneDev
        self._job: _Job | None = None
        self.cancel_requested = threading.Event()

    # -- the loop -----------------------------------------------------------

    def serve(self, pending: queue.Queue) -> None:
        """Run queued commands until EXIT. Raises OSError when the service is gone."""
        handlers: dict[str, Callable[..., None]] = {
            protocol.DEVICES: self._devices,
            protocol.CAPABILITIES: self._capabilities,
            protocol.OPEN: self._open,
            protocol.NEXT_PAGE: self._next_page,
            protocol.CLOSE: self._close,
            protocol.BUTTONS: self._buttons,
            protocol.POLL_BUTTONS: self._poll_buttons,
            protocol.PING: self._ping,
        }
        while True:
            command = pending.get()
            name, args = command[0], command[1:]
            if name == protocol.EXIT:
                return
            if name == protocol.CANCEL:
                self._cancel()
                continue
            handler = handlers.get(name)
            try:
                if handler is None:
                    raise ScannerError(Condition.IO_ERROR, f"unknown worker command {name!r}")
                handler(*args)
            except ScannerError as exc:
                self._replies.send((protocol.ERROR, exc.condition.value, exc.message))
            except self._error as exc:
                err = error_from_sane(str(exc), context=name)
                self._replies.send((protocol.ERROR, err.condition.value, err.message))
            except (BrokenPipeError, EOFError):
                raise
            except Exception as exc:  # noqa: BLE001 - reported to the service, the worker lives on
                self._replies.send((protocol.ERROR, Condition.IO_ERROR.value, f"{name}: {exc!r}"))

    # -- commands -------------------------------------------------------------

    def _ping(self) -> None:
        self._replies.send((protocol.OK, None))

    def _devices(self) -> None:
        self._replies.send((protocol.OK, [tuple(d) for d in self._sane.get_devices()]))

    def _capabilities(self) -> None:
        if self._job is not None:
            raise ScannerError(Condition.DEVICE_BUSY, "a scan job is open")
        self._open_device()
        try:
            per_source = {}
            for source, value in options.source_values(self._descriptors()).items():
                if value is not None:
                    try:
                        self._set(self._descriptors(), "source", value)
                    except ScannerError:
                        continue  # listed but refused: not offered
                per_source[source] = options.source_capabilities(self._descriptors())
            if not per_source:
                raise ScannerError(Condition.IO_ERROR, "no usable source")
            caps = options.build_capabilities(per_source, self._descriptors())
        finally:
            self._close_device()
        self._replies.send((protocol.OK, caps))

    def _open(self, params: ScanParameters) -> None:
        self.end_job()  # a job left open by an interrupted session
        self._open_device()
        try:
            for step in options.SETTING_STEPS:
                descs = self._descriptors()
                for name, value in step(params, descs):
                    self._set(descs, name, value)
                    descs = self._descriptors()
            self._job = _Job(params, self._resolution_in_effect(params))
        except BaseException:
            self._close_device()
            raise
        self._replies.send((protocol.OK, None))

    def _next_page(self) -> None:
        job = self._job
        if job is None:
            raise ScannerError(Condition.IO_ERROR, "no scan job is open")
        if job.done:
            self._replies.send((protocol.OK, None))
            return
        if self.cancel_requested.is_set():
            job.done = True
            raise ScannerError(Condition.CANCELLED, "cancelled")
        try:
            self._handle.start()
        except self._error as exc:
            err = error_from_sane(str(exc), context="sane_start")
            if err.condition is Condition.NO_DOCS:  # the feeder is empty: no more pages
                job.done = True
                self._replies.send((protocol.OK, None))
                return
            raise err from None
        if job.params.source is Source.FLATBED:
            job.done = True  # a flatbed gives one page
        reader = reader_mod.PageReader(self._lib, self._handle, self.cancel_requested)
        info = reader.start_page(job.resolution)
        self._stream_page(reader, info)
        if job.done:
            self._handle.cancel()  # the flatbed's one page is over

    def _buttons(self) -> None:
        """List the button sensors; the device stays open only when there are some (to poll)."""
        if self._job is not None:
            raise ScannerError(Condition.DEVICE_BUSY, "a scan job is open")
        self._open_device()
        found: list[tuple[str, str]] = []
        try:
            found = [(d.name, d.title) for d in buttons.button_options(self._descriptors())]
        finally:
            if not found:
                self._close_device()
        self._replies.send((protocol.OK, found))

    def _poll_buttons(self) -> None:
        """Read the button sensors and the feeder sensor (between jobs only)."""
        if self._job is not None:
            raise ScannerError(Condition.DEVICE_BUSY, "a scan job is open")
        self._open_device()
        handle = self._handle
        reading = buttons.read_sensors(self._descriptors(), handle.get_option)
        self._replies.send((protocol.OK, reading))

    def _cancel(self) -> None:
        if self._handle is not None:
            with contextlib.suppress(self._error):
                self._handle.cancel()
        if self._job is not None:
            self._job.done = True
        self.cancel_requested.clear()
        self._replies.send((protocol.CANCELLED,))

    def _close(self) -> None:
        self.end_job()
        self._replies.send((protocol.OK, None))

    def end_job(self) -> None:
        """End the job, if any: sane_cancel and sane_close. Never raises."""
        self._job = None
        self._close_device()

    # -- helpers ------------------------------------------------------------

    def _open_device(self) -> None:
        if self._device_name is None:
            raise ScannerError(Condition.IO_ERROR, "this worker serves no device")
        if self._handle is not None:
            return
        try:
            self._handle = self._sane.open(self._device_name).dev
        except self._error as exc:
            raise error_from_sane(str(exc), opening=True, context=f"sane_open {self._device_name}") from None
        try:
            self._apply_sane_options()
        except BaseException:
            self._close_device()
            raise

    def _close_device(self) -> None:
        handle, self._handle = self._handle, None
        if handle is None:
            return
        for call in (handle.cancel, handle.close):
            try:
                call()
            except Exception:  # noqa: BLE001 - closing is best effort
                pass

    def _descriptors(self) -> dict[str, options.OptionDescriptor]:
        return options.descriptor_map(self._handle.get_options())

    def _set(self, descs: dict[str, options.OptionDescriptor], name: str, value: object) -> None:
        desc = descs.get(name)
        if desc is None:
            raise ScannerError(Condition.IO_ERROR, f"the device has no option {name!r}")
        if not desc.settable:
            raise ScannerError(Condition.IO_ERROR, f"option {name!r} cannot be set now")
        try:
            value = options.typed(desc, value)
        except (TypeError, ValueError) as exc:
            raise ScannerError(Condition.IO_ERROR, f"option {name!r}: {exc}") from None
        try:
            self._handle.set_option(desc.index, value)
        except self._error as exc:
            raise error_from_sane(str(exc), context=f"setting {name}={value!r}") from None

    def _apply_sane_options(self) -> None:
        """Set the configured ``sane_options``. A name the device does not have (a typo) is
        skipped, and reported once on stderr (the service's log) with the names it has; the
        scanner is served without it. Raises ScannerError for a value the device refuses."""
        for key, value in self._sane_options.items():
            descs = self._descriptors()
            name = options.sane_name(key)
            if name not in descs:
                if name not in self._unknown_reported:
                    self._unknown_reported.add(name)
                    known = ", ".join(sorted(n for n, d in descs.items() if n and d.settable))
                    print(
                        f"WARNING drivers.sane.worker: {self._device_name}: sane_options has {key!r}, "
                        f"which this device has no option for; served without it. Fix the name in "
                        f"config.toml; the options it has: {known}",
                        file=sys.stderr,
                        flush=True,
                    )
                continue
            self._set(descs, name, value)

    def _resolution_in_effect(self, params: ScanParameters) -> int:
        desc = options.resolution_option(self._descriptors())
        if desc is None:
            return params.resolution
        try:
            return round(float(self._handle.get_option(desc.index)))
        except (self._error, TypeError, ValueError):
            return params.resolution

    def _stream_page(self, reader: reader_mod.PageReader, info: PageInfo) -> None:
        """Send PAGE, then the rows as they come, framed as :mod:`~drivers.sane.protocol` says.

        The first band is read before PAGE is sent. A page of known height is
        announced with its exact chunk count (bands of a fixed number of rows;
        the last one is sent at SANE_STATUS_EOF and takes any rows beyond
        ``info.lines``); fewer rows than announced end with the PAGE_END trailer.
        A page of unknown height is announced with
        :data:`~drivers.sane.protocol.STREAMED` chunks and always ends with the
        trailer. A failure after PAGE is sent as the ERROR trailer, never as a
        plain reply (the service is reading raw chunks then). While a band is
        slow to fill, PROGRESS goes out (plain before PAGE, framed after it).
        """
        first_rows, rows_per_band = protocol.chunk_rows(info.bytes_per_line)
        count = protocol.chunk_count(info.lines, first_rows, rows_per_band) if info.lines >= 0 else protocol.STREAMED
        if count == 0:
            raise ScannerError(Condition.IO_ERROR, "the device announced an empty page")
        sender: FrameSender | None = None  # after PAGE: bands and progress go out from its thread

        def progress(rows: int) -> None:
            message = (protocol.PROGRESS, rows, info.lines)
            if sender is None:
                self._replies.send(message)
                return

            def framed() -> None:
                self._replies.send_bytes(b"")
                self._replies.send(message)

            sender.put(framed)

        bands = reader.bands(rows_per_band, progress, first_rows=first_rows)
        # The first band is read before PAGE: a device that fails at once (jam, cover
        # open, no paper) answers NEXT_PAGE with a plain ERROR, as before streaming.
        first = next(bands, None)
        if first is None:
            raise ScannerError(Condition.IO_ERROR, "the device returned an empty page")
        self._replies.send((protocol.PAGE, info, count))
        sender = FrameSender()
        sent = 0
        held = bytearray()  # the last announced chunk, sent at EOF
        try:
            for band in itertools.chain((first,), bands):
                if count == protocol.STREAMED or sent < count - 1:
                    sender.put(functools.partial(self._replies.send_bytes, band))
                    sent += 1
                else:
                    held += band
                del band
        except (ScannerError, self._error) as exc:
            err = exc if isinstance(exc, ScannerError) else error_from_sane(str(exc), context="sane_read")
            sender.close()
            self._replies.send_bytes(b"")
            self._replies.send((protocol.ERROR, err.condition.value, err.message))
            return
        except BaseException:
            with contextlib.suppress(BaseException):
                sender.close()
            raise
        sender.close()
        if held:
            self._replies.send_bytes(held)
            sent += 1
        if count == protocol.STREAMED or sent < count:
            self._replies.send_bytes(b"")
            self._replies.send((protocol.PAGE_END, reader.rows))
