"""JobId allocation (WS-Scan JobId element; REFERENCE.md section 2.7).

JobIds are integers 1..2147483647; a value handed out is not handed out again
(clients such as Windows cache them), across restarts too. The rule:

* After every allocation the last value is written to two documents in the
  state directory, ``job-ids.json`` and then ``job-ids.backup.json`` (each
  atomically). At start the counter resumes above the largest valid value of
  the two, so one corrupt or lost copy costs nothing.
* When neither copy is usable although one existed (both corrupt; the corrupt
  files are kept aside by :class:`firmware.state.StateStore`), or when the state
  directory cannot be written at all (nothing would survive this run either),
  the counter is seeded from the clock: the seconds since 2020-01-01 UTC. A
  device hands out far fewer than one JobId per second on average, so that is
  above every value a counter that started at 1 has reached, as long as the
  clock is right (a Pi without RTC gets it from NTP or systemd-timesyncd's
  saved clock). A clock before 2020 gives no such floor; this is logged.
* A write that fails (disk full) never fails the allocation: the counter goes
  on in memory and the state store logs the failure once.
* The counter wraps to 1 only after 2147483647.
"""

from __future__ import annotations

import logging
import threading
import time

from ..state import StateStore

log = logging.getLogger(__name__)

JOB_ID_MIN = 1
JOB_ID_MAX = 2147483647
DOCUMENTS = ("job-ids", "job-ids.backup")
CLOCK_EPOCH = 1_577_836_800  # 2020-01-01T00:00:00Z, the origin of the clock-seeded counter


def _validate(data: dict) -> None:
    last = data["last"]
    if not isinstance(last, int) or isinstance(last, bool) or not JOB_ID_MIN <= last <= JOB_ID_MAX:
        raise ValueError(f"last is not a JobId: {last!r}")


def clock_seed() -> int:
    """The clock-seeded counter start: seconds since 2020-01-01 UTC, within 0..JOB_ID_MAX-1 (0 for an unset clock)."""
    return min(max(int(time.time()) - CLOCK_EPOCH, 0), JOB_ID_MAX - 1)


class JobIdAllocator:
    """Hands out JobIds; thread-safe. ``store`` None keeps the counter in memory only,
    starting at 1 (tests); otherwise see the module docstring for what survives what."""

    def __init__(self, store: StateStore | None) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._last = self._resume(store) if store is not None else 0

    @staticmethod
    def _resume(store: StateStore) -> int:
        values, corrupt = [], []
        for name in DOCUMENTS:
            loaded = store.read(name, _validate)
            if loaded.data is not None:
                values.append(int(loaded.data["last"]))
            elif loaded.corrupt:
                corrupt.append(str(loaded.kept or store.path(name)))
        if values:
            return max(values)
        if not corrupt and store.writable():
            return 0  # a fresh state directory
        seed = clock_seed()
        why = f"the JobId files are corrupt ({', '.join(corrupt)})" if corrupt else "they cannot be stored"
        if seed == 0:
            log.error("%s and the clock is before 2020: JobIds restart at 1 and may repeat earlier ones", why)
        else:
            log.warning("%s: JobIds continue above the clock-seeded value %d, never reusing earlier ones", why, seed)
        return seed

    def next(self) -> int:
        """Return a fresh JobId in 1..2147483647 and persist it (best effort: never raises for I/O)."""
        with self._lock:
            value = self._last + 1 if self._last < JOB_ID_MAX else JOB_ID_MIN
            self._last = value
            if self._store is not None:
                for name in DOCUMENTS:
                    if not self._store.save(name, {"last": value}):
                        break
            return value
