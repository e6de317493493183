"""JobId allocation (WS-Scan JobId element; REFERENCE.md section 2.7).

JobIds are integers 1..2147483647. A recently assigned value is never handed
out again, across restarts too: the last assigned value is persisted in the
state directory after every allocation, and the counter wraps to 1 only after
2147483647.
"""

from __future__ import annotations

import threading

from ..state import StateStore

JOB_ID_MIN = 1
JOB_ID_MAX = 2147483647
_DOCUMENT = "job-ids"


class JobIdAllocator:
    """Hands out JobIds; thread-safe. ``store`` None keeps the counter in memory only (tests)."""

    def __init__(self, store: StateStore | None) -> None:
        self._store = store
        self._lock = threading.Lock()
        last = store.load(_DOCUMENT).get("last", 0) if store else 0
        self._last = last if isinstance(last, int) and JOB_ID_MIN <= last <= JOB_ID_MAX else 0

    def next(self) -> int:
        """Return a fresh JobId in 1..2147483647 and persist it (OSError if the store cannot be written)."""
        with self._lock:
            value = self._last + 1 if self._last < JOB_ID_MAX else JOB_ID_MIN
            if self._store is not None:
                self._store.save(_DOCUMENT, {"last": value})
            self._last = value
            return value
