"""The messages between the service and a SANE worker process.

Two one-way pipes (``multiprocessing.Pipe(duplex=False)``):

* commands, service -> worker, pickled tuples ``(NAME, *args)``;
* replies, worker -> service, pickled tuples, except page data, which follows a
  :data:`PAGE` reply as raw ``send_bytes`` messages (never pickled).

Every command but :data:`CANCEL` and :data:`EXIT` gets exactly one final reply:
:data:`OK` ``(payload)``, :data:`PAGE` ``(PageInfo, chunk_count)`` followed by
``chunk_count`` raw chunks of whole rows, or :data:`ERROR`
``(condition value, message)``. :data:`PROGRESS` ``(line, total)`` messages may
come before it (at most about two a second while a page is read); they also
tell the service the worker is alive. :data:`CANCEL` is also queued behind
the command being run and answered with :data:`CANCELLED` when its turn
comes, so the service can resynchronise by reading up to that answer.
The worker sends :data:`READY` ``(sane_version)`` once after ``sane_init``.
"""

from __future__ import annotations

# commands
DEVICES = "devices"  # () -> OK [(name, vendor, model, type), ...]   (sane_get_devices)
CAPABILITIES = "capabilities"  # () -> OK Capabilities
OPEN = "open"  # (ScanParameters) -> OK None: sane_open + options; no paper moves
NEXT_PAGE = "next_page"  # () -> PAGE | OK None (no more pages)
CANCEL = "cancel"  # () -> CANCELLED; also aborts a page being read (sane_cancel)
CLOSE = "close"  # () -> OK None: sane_cancel + sane_close
EXIT = "exit"  # () -> (none): the worker ends

# replies
READY = "ready"
PROGRESS = "progress"
OK = "ok"
PAGE = "page"
ERROR = "error"
CANCELLED = "cancelled"

CHUNK_BYTES = 4 << 20
"""Target size of one raw page chunk (whole rows, at least one row)."""

PROGRESS_INTERVAL = 0.5
"""Seconds between two PROGRESS messages."""

# buttons (drivers/sane/buttons.py); only between jobs, the device then stays open in the worker
BUTTONS = "buttons"  # () -> OK [(name, title), ...]: the button sensors (none: the device is closed again)
POLL_BUTTONS = "poll_buttons"  # () -> OK ((pressed names...), feeder loaded: bool | None)
