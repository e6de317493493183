"""Give freed heap memory back to the system after a job (glibc ``malloc_trim``).

A scan job allocates and frees many band-sized buffers (128-512 KiB of rows, their
encoded output); glibc's allocator keeps freed memory in its arenas, and
thread arenas (the encoder runs in executor threads) are trimmed only by an
explicit ``malloc_trim``. :func:`release_memory` calls ``malloc_trim(0)``
through ctypes when the C library is glibc, and does nothing elsewhere (musl,
the other C library Buildroot offers, returns freed pages by itself).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import platform
from collections.abc import Callable

log = logging.getLogger(__name__)


def _find_malloc_trim() -> Callable[[int], int] | None:
    """``malloc_trim`` of the process's glibc, or None when the C library is not glibc."""
    if platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


_MALLOC_TRIM = _find_malloc_trim()


def release_memory() -> bool:
    """Return the heap's free memory to the system (``malloc_trim(0)``, every arena). Returns
    True when glibc released something, False when nothing was released or the C library is
    not glibc. Never raises. Takes milliseconds; call it when a job has ended."""
    if _MALLOC_TRIM is None:
        return False
    try:
        return bool(_MALLOC_TRIM(0))
    except Exception:  # best effort: a failed trim only keeps memory
        log.debug("malloc_trim failed", exc_info=True)
        return False
