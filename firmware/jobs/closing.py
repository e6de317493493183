"""The driver sessions of ended jobs that are still closing.

A job ends (and leaves the job table) at once when it completes, is canceled
or fails; its driver session closes in the background (``sane_cancel`` and
``sane_close`` in the SANE worker, which waits for the read under way). A
client that starts its next scan at once (sane-airscan's back-to-back scans,
``scanimage`` again right after Ctrl-C) sends CreateScanJob while the device
is still open, and the driver would refuse with DEVICE_BUSY.
:meth:`ClosingSessions.wait` lets CreateScanJob wait for that, bounded.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)

#: Seconds a CreateScanJob waits at most for the previous job's session to close.
CLOSE_WAIT = 5.0


class ClosingSessions:
    """The closing sessions of one scanner (``name`` is used in log lines)."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._tasks: set[asyncio.Task[Any]] = set()

    def add(self, closing: Coroutine[Any, Any, Any]) -> None:
        """Run ``closing`` (a session's ``close()`` or ``cancel()``, which never raise) in the background."""
        task = asyncio.get_running_loop().create_task(closing)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def __bool__(self) -> bool:
        """True while a session is still closing."""
        return bool(self._tasks)

    async def wait(self, timeout: float | None = None) -> bool:
        """Wait until no session is closing, ``timeout`` seconds at most (None:
        :data:`CLOSE_WAIT`; logged at INFO).

        Returns True when none is closing any more, False after the timeout. Never raises
        (a closing task's own failure is its business; it was logged there).
        """
        if not self._tasks:
            return True
        started = time.monotonic()
        log.info("%s: a new job waits for the previous session to close", self._name)
        _done, pending = await asyncio.wait(set(self._tasks), timeout=CLOSE_WAIT if timeout is None else timeout)
        waited = time.monotonic() - started
        if pending:
            log.warning("%s: the previous session is still closing after %.1f s", self._name, waited)
            return False
        log.info("%s: the previous session closed after %.3f s", self._name, waited)
        return True

    async def wait_all(self) -> None:
        """Wait for every closing session, however long it takes. Never raises."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
