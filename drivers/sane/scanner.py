"""The SANE scanner as the service sees it: an asyncio proxy to a worker process.

:class:`SaneScanner` implements :class:`drivers.base.Scanner` by sending
commands to a worker (:mod:`drivers.sane.worker`, through
:class:`~drivers.sane.link.WorkerLink`). Every blocking pipe read runs on one
thread per scanner, never on the event loop; one asyncio lock lets one
exchange at a time use the pipes.

Watchdog: while the service waits for the worker, the worker must send
something (a reply, a chunk, a progress message) at least every
``unresponsive_timeout`` seconds; otherwise it is killed (SIGKILL, by PID) and
the wait fails with ``ScannerError(UNRESPONSIVE)``. A worker that dies fails
the wait with ``ScannerError(IO_ERROR)``. Either way the next operation starts
a fresh worker.

A session starts only on a worker that answers at once: :meth:`SaneScanner.start`
answers DEVICE_BUSY within about :data:`LOCK_WAIT` + :data:`PING_TIMEOUT` seconds when
the worker is held or silent, kills a silent one and starts its replacement in the
background, so a client asking for a scan is never kept waiting for the watchdog.

Cancel (:meth:`~drivers.sane.session.SaneSession.cancel`, or an asyncio cancellation of a pending
call) raises the worker's cancel flag, makes a pending wait give up at once,
and queues a CANCEL command; the answers still in the pipe are read and
dropped, up to that command's CANCELLED answer, before the next exchange.

Buttons (:meth:`SaneScanner.watch_buttons`): a task asks the worker for the
button sensors once (:mod:`drivers.sane.buttons`) and, when there are some,
polls them every :data:`BUTTON_POLL_INTERVAL` seconds while no session is
open, through the same lock (so a poll never runs during a job); a press
right after a job is not reported if the sensor was already down.

The session and its pages (:class:`~drivers.sane.session.SaneSession`,
:class:`~drivers.sane.session.SanePage`) are in :mod:`drivers.sane.session`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections.abc import Callable
from typing import Any

from drivers.base import (
    Button,
    ButtonCallback,
    ButtonPress,
    Capabilities,
    Condition,
    Scanner,
    ScannerError,
    ScannerInfo,
    ScanParameters,
)
from drivers.sane import protocol
from drivers.sane.buttons import PressDetector
from drivers.sane.link import WaitAborted, WorkerGone, WorkerLink
from drivers.sane.session import SaneSession

log = logging.getLogger(__name__)

STARTUP_TIMEOUT = 30.0
"""Seconds a new worker may take to start a Python interpreter and ``sane_init``
(at least; the unresponsive timeout applies if it is longer)."""

BUTTON_POLL_INTERVAL = 0.3
"""Seconds between two readings of the button sensors (scanbd polls about as often)."""

BUTTON_RETRY = 10.0
"""Seconds before the button sensors are tried again after a failure (device gone, busy...)."""

KILL_GRACE = 5.0
"""Seconds to wait for a blocked pipe read to end after its worker was killed."""

PING_TIMEOUT = 1.0
"""Seconds an idle worker has to answer PING before a session opens on it: it answers
between commands in well under a millisecond, so silence means it is frozen (in libsane,
or stopped) and it is killed at once, not after the unresponsive timeout."""

LOCK_WAIT = 1.5
"""Seconds :meth:`SaneScanner.start` waits for the worker to be free (a button poll or a
capability read holding it) before answering DEVICE_BUSY."""


def _retrieve(future: asyncio.Future) -> None:
    """Mark the outcome of an executor call as seen (it may have no awaiter any more)."""
    if not future.cancelled():
        future.exception()


class SaneScanner(Scanner):
    """One SANE device, run by a worker process.

    ``info``: the device (``info.name`` is the SANE device name, e.g.
    ``test:0``). ``sane_options``: option values the worker sets after every
    ``sane_open``, python-sane spelling (``{"test_picture": "Color pattern"}``).
    ``sane_config_dir``: SANE_CONFIG_DIR for the worker (None: inherited from
    this process's environment). ``unresponsive_timeout``: seconds of silence
    from a busy worker before it is killed (watchdog).

    Methods raise :class:`ScannerError`; ``start`` raises DEVICE_BUSY while a
    session is open and DEVICE_GONE after :meth:`shutdown`.
    """

    def __init__(
        self,
        info: ScannerInfo,
        *,
        sane_options: dict[str, object] | None = None,
        sane_config_dir: str | None = None,
        unresponsive_timeout: float = 10.0,
    ) -> None:
        self.info = info
        self._sane_options = dict(sane_options or {})
        self._sane_config_dir = sane_config_dir
        self._timeout = unresponsive_timeout
        self._executor = self._new_executor()
        self._lock = asyncio.Lock()
        self._link: WorkerLink | None = None
        self._cancels_due = 0  # CANCEL commands whose CANCELLED answer is still to be read
        self._capabilities: Capabilities | None = None
        self._session: SaneSession | None = None
        self._shut_down = False
        self._stale_link: WorkerLink | None = None  # runs with replaced sane_options; retired when idle
        self._buttons: tuple[Button, ...] | None = None
        self._button_callback: ButtonCallback | None = None
        self._button_task: asyncio.Task | None = None
        self._replacement: asyncio.Task | None = None  # a fresh worker starting after a frozen one

    def _new_executor(self) -> concurrent.futures.ThreadPoolExecutor:
        return concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"sane {self.info.name}")

    @property
    def worker_pid(self) -> int | None:
        """PID of the running worker process, or None when there is none."""
        link = self._link
        return link.pid if link is not None and link.alive else None

    @property
    def session_open(self) -> bool:
        """True from a successful :meth:`start` until its session has closed (or was cancelled)."""
        return self._session is not None

    # -- Scanner ------------------------------------------------------------

    async def capabilities(self) -> Capabilities:
        """Read the device's capabilities once (the worker opens and closes the
        device) and return them, cached until :meth:`apply_options` changes the
        options (and the session open then has ended). Raises :class:`ScannerError`."""
        if self._capabilities is None or self._options_pending():
            async with self._lock:
                if self._capabilities is None or self._options_pending():
                    self._check_usable()
                    reply = await self._command((protocol.CAPABILITIES,))
                    self._capabilities = reply[1]
        return self._capabilities

    async def start(self, params: ScanParameters) -> SaneSession:
        """Open the device and configure ``params`` (``sane_open`` + options; no
        ``sane_start``, nothing moves). Raises DEVICE_BUSY while a session is
        open, when the worker stays held by another operation for
        :data:`LOCK_WAIT` seconds, or when it does not answer a PING within
        :data:`PING_TIMEOUT` (it is then killed and replaced in the background);
        DEVICE_GONE when the device cannot be opened, IO_ERROR when it does not
        offer ``params.source`` / ``params.mode``."""
        self._check_usable()
        if self._session is not None:
            raise ScannerError(Condition.DEVICE_BUSY, f"{self.info.name}: a scan session is open")
        session = SaneSession(self, params)
        self._session = session
        try:
            await self.capabilities()  # cached before a job keeps the device open
            try:
                await asyncio.wait_for(self._lock.acquire(), LOCK_WAIT)
            except TimeoutError:
                raise ScannerError(
                    Condition.DEVICE_BUSY, f"{self.info.name}: the scanner is busy with another operation"
                ) from None
            try:
                before = self._link
                link = await self._ready_link()
                if link is before:  # a worker that ran before: is it still answering?
                    await self._ping(link)
                await self._command((protocol.OPEN, params))
                session._link = self._link
            finally:
                self._lock.release()
        except BaseException:
            self._session = None
            raise
        return session

    async def _ping(self, link: WorkerLink) -> None:
        """PING ``link`` (hold the lock); a silent worker is killed, its replacement started in
        the background, and DEVICE_BUSY raised within :data:`PING_TIMEOUT` seconds."""
        self._send(link, (protocol.PING,))
        try:
            await self._exchange(link, link.receive_reply, timeout=PING_TIMEOUT)
        except ScannerError as error:
            if error.condition is not Condition.UNRESPONSIVE:
                raise
            log.warning(
                "%s: worker %s frozen (no answer in %g s); starting a new one", self.info.name, link.pid, PING_TIMEOUT
            )
            self._replace_worker()
            raise ScannerError(
                Condition.DEVICE_BUSY, f"{self.info.name}: the scanner's worker was frozen and is being restarted"
            ) from None

    def _replace_worker(self) -> None:
        """Start a fresh worker in the background (after a frozen one was killed)."""
        if self._replacement is not None and not self._replacement.done():
            return

        async def replace() -> None:
            try:
                async with self._lock:
                    if not self._shut_down:
                        await self._ready_link()
            except ScannerError as error:
                log.warning("%s: the new worker did not start: %s", self.info.name, error.message)

        self._replacement = asyncio.get_running_loop().create_task(replace())

    async def buttons(self) -> tuple[Button, ...]:
        """The button sensors the backend exposes (read once from the worker, between jobs;
        the device then stays open in the worker for polling). Raises :class:`ScannerError`,
        DEVICE_BUSY while a session is open and they were never read."""
        if self._buttons is None:
            async with self._lock:
                if self._buttons is None:
                    self._check_usable()
                    if self._session is not None:
                        raise ScannerError(Condition.DEVICE_BUSY, f"{self.info.name}: a scan session is open")
                    reply = await self._command((protocol.BUTTONS,))
                    self._buttons = tuple(Button(name, title) for name, title in reply[1])
        return self._buttons

    def watch_buttons(self, callback: ButtonCallback | None) -> None:
        """Poll the button sensors between jobs and call ``callback`` for each press (None:
        stop). See the module docstring. Must be called on the event loop. Never raises."""
        self._button_callback = callback
        if callback is None:
            if self._button_task is not None:
                self._button_task.cancel()
                self._button_task = None
        elif self._button_task is None and not self._shut_down:
            self._button_task = asyncio.get_running_loop().create_task(self._watch_buttons())

    async def _watch_buttons(self) -> None:
        """The polling loop of :meth:`watch_buttons`."""
        detector = PressDetector()
        while not self._shut_down and self._button_callback is not None:
            try:
                if not await self.buttons():
                    log.debug("%s: no button sensors", self.info.name)
                    return
                await asyncio.sleep(BUTTON_POLL_INTERVAL)
                if self._session is not None or self._lock.locked():
                    detector.prime()  # a job: what is down after it is not a new press
                    continue
                async with self._lock:
                    if self._session is not None or self._shut_down:
                        detector.prime()
                        continue
                    reply = await self._command((protocol.POLL_BUTTONS,))
                pressed, feeder_loaded = reply[1]
                for name in detector.update(pressed):
                    log.info("%s: button %r pressed", self.info.name, name)
                    callback = self._button_callback
                    if callback is not None:
                        try:
                            callback(ButtonPress(name, feeder_loaded))
                        except Exception:
                            log.exception("%s: button callback failed", self.info.name)
            except ScannerError as error:
                log.info("%s: reading the buttons failed (%s); retrying later", self.info.name, error.message)
                detector.prime()
                await asyncio.sleep(BUTTON_RETRY)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s: reading the buttons failed", self.info.name)
                await asyncio.sleep(BUTTON_RETRY)

    async def shutdown(self) -> None:
        """End any session and stop the worker (asked to exit, killed after 5 s).
        Never raises; idempotent."""
        if self._shut_down:
            return
        self._shut_down = True
        self.watch_buttons(None)
        if self._replacement is not None:
            self._replacement.cancel()
        session = self._session
        if session is not None:
            await session.cancel()
            await session.close()
        link, self._link = self._link, None
        if link is not None:
            try:
                await asyncio.get_running_loop().run_in_executor(None, link.stop)
            except Exception:
                log.exception("stopping the worker of %s", self.info.name)
        self._executor.shutdown(wait=False)

    def apply_options(self, options: dict[str, object]) -> bool:
        """Set ``options`` (python-sane spelling) from the next ``sane_open`` on (see
        :meth:`Scanner.apply_options`). The worker applies its options at every
        ``sane_open``, so the one running now is retired: at once when the device is
        not open, else when the open session ends; the next command starts a fresh
        worker. The cached capabilities are dropped (re-read then). Never raises."""
        options = dict(options)
        if options == self._sane_options:
            return False
        self._sane_options = options
        if self._session is None or self._session._link is None:
            self._capabilities = None  # no capability read is under way: start() caches before opening
        self._stale_link = self._link
        log.info("%s: SANE options changed; the worker restarts before the next session", self.info.name)
        return True

    # -- the worker ---------------------------------------------------------

    def _check_usable(self) -> None:
        if self._shut_down:
            raise ScannerError(Condition.DEVICE_GONE, f"{self.info.name}: the scanner was shut down")

    async def _command(self, command: tuple) -> tuple:
        """Send ``command`` to a ready worker and return its final reply (OK or PAGE).
        Hold the lock."""
        link = await self._ready_link()
        self._send(link, command)
        return await self._exchange(link, link.receive_reply)

    async def _ready_link(self) -> WorkerLink:
        """The worker, started if needed and resynchronised after cancels. Hold the lock."""
        link = self._link
        if link is not None and link is self._stale_link and not self._device_open():
            await self._retire(link)
            link = None
        if link is not None and not link.alive:
            self._forget(link)
            link = None
        if link is None:
            link = WorkerLink(self.info.name, self._sane_options, self._sane_config_dir)
            self._link = link
            self._stale_link = None  # a stale worker that died meanwhile needs no retiring
            self._cancels_due = 0
            await self._exchange(link, link.start, timeout=max(self._timeout, STARTUP_TIMEOUT))
            log.info("%s: worker %s started", self.info.name, link.pid)
        await self._resynchronise(link)
        return link

    def _options_pending(self) -> bool:
        """True when new sane_options wait for the worker's restart and the device is not open
        (the cached capabilities are then those of the old options)."""
        return self._stale_link is not None and self._stale_link is self._link and not self._device_open()

    def _device_open(self) -> bool:
        """True while a session holds the device open in the worker (OPEN answered)."""
        return self._session is not None and self._session._link is not None

    async def _retire(self, link: WorkerLink) -> None:
        """Stop a worker whose options were replaced (asked to exit, killed after 5 s), on
        the pipe thread after any read still pending there. Hold the lock. Never raises."""
        self._stale_link = None
        if self._link is link:
            self._link = None
            self._cancels_due = 0
        self._capabilities = None
        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, link.stop)
        except Exception:
            log.exception("stopping the worker of %s", self.info.name)

    async def _resynchronise(self, link: WorkerLink) -> None:
        """Drop the answers to interrupted commands (up to the CANCELLED answers due)."""
        due = self._cancels_due
        if due:
            await self._exchange(link, link.resynchronise, due)
            self._cancels_due -= due

    def _send(self, link: WorkerLink, command: tuple) -> None:
        try:
            link.send(command)
        except WorkerGone as exc:
            link.kill()
            self._forget(link)
            raise ScannerError(Condition.IO_ERROR, f"{self.info.name}: {exc}") from None

    async def _exchange(
        self, link: WorkerLink, call: Callable[..., Any], *args: Any, timeout: float | None = None
    ) -> Any:
        """Run the blocking ``call(*args)`` on the pipe thread, under the watchdog.

        Raises UNRESPONSIVE (the worker was silent for the timeout and was
        killed), IO_ERROR (it died), CANCELLED (the wait was aborted by a
        cancel) or the ScannerError of an ERROR reply.
        """
        limit = self._timeout if timeout is None else timeout
        loop = asyncio.get_running_loop()
        link.touch()
        future = loop.run_in_executor(self._executor, call, *args)
        # A cancelled wait leaves the call running; its outcome (WaitAborted, most often) must be
        # taken, or asyncio logs "Future exception was never retrieved" when it is collected.
        future.add_done_callback(_retrieve)
        try:
            while not future.done():
                remaining = link.last_activity + limit - time.monotonic()
                if remaining <= 0:
                    log.warning("%s: worker %s silent for %.1f s: killing it", self.info.name, link.pid, limit)
                    link.kill()
                    self._forget(link)
                    await asyncio.wait({future}, timeout=KILL_GRACE)
                    if not future.done():  # the pipe thread is stuck: leave it behind
                        self._executor.shutdown(wait=False)
                        self._executor = self._new_executor()
                        raise WorkerGone("the pipe thread did not return")
                    break
                await asyncio.wait({future}, timeout=remaining)
            return future.result()
        except asyncio.CancelledError:
            self._interrupt(link)
            raise
        except WorkerGone as exc:
            self._forget(link)
            if link.killed:
                raise ScannerError(
                    Condition.UNRESPONSIVE,
                    f"{self.info.name}: the worker did not answer for {limit:g} s and was killed",
                ) from None
            raise ScannerError(Condition.IO_ERROR, f"{self.info.name}: {exc}") from None
        except WaitAborted:
            raise ScannerError(Condition.CANCELLED, f"{self.info.name}: cancelled") from None

    def _interrupt(self, link: WorkerLink | None) -> None:
        """Stop what the worker does now: abort the pending wait, queue CANCEL.
        Never raises."""
        if link is None or link is not self._link or not link.alive:
            return
        link.abort.set()
        try:
            link.send((protocol.CANCEL,))
        except WorkerGone:
            link.kill()
            self._forget(link)
            return
        self._cancels_due += 1

    def _forget(self, link: WorkerLink) -> None:
        """Drop a dead or killed worker; the next operation starts a new one."""
        if self._link is link:
            self._link = None
            self._cancels_due = 0
        try:  # on the pipe thread: after the call that may still read its pipe
            self._executor.submit(link.reap, 1.0)
        except RuntimeError:  # the executor was shut down
            pass
