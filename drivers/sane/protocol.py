"""The messages between the service and a SANE worker process.

Two one-way pipes (``multiprocessing.Pipe(duplex=False)``):

* commands, service -> worker, pickled tuples ``(NAME, *args)``;
* replies, worker -> service, pickled tuples, except page data, which follows a
  :data:`PAGE` reply as raw ``send_bytes`` messages (never pickled).

Every command but :data:`CANCEL` and :data:`EXIT` gets exactly one final reply:
:data:`OK` ``(payload)``, :data:`PAGE` ``(PageInfo, chunk_count)`` followed by
the page's rows, or :data:`ERROR` ``(condition value, message)``.
:data:`PROGRESS` ``(line, total)`` messages may come before it and tell the
service the worker is alive; the worker sends one when a band of rows is slow
to fill (at most every 0.5 s).

A page is streamed while the device scans. After PAGE come raw ``send_bytes``
chunks, each non-empty and a whole number of rows (the first about
:data:`FIRST_CHUNK_BYTES`, the others about :data:`CHUNK_BYTES`: see
:func:`chunk_rows`). ``chunk_count`` is the exact number of chunks for a page
of known height, or :data:`STREAMED` (-1) when the height is unknown. A
zero-length raw message introduces a pickled trailer that ends the page:
:data:`PAGE_END` ``(rows)`` (always after a STREAMED page; after a counted
page only when fewer chunks than announced were sent: the service then takes
the missing ones as empty), or :data:`ERROR` ``(condition value, message)``
when the scan fails mid-page (this is then the command's final reply). A
zero-length message followed by PROGRESS is not a trailer: the page goes on. :data:`CANCEL` is also queued behind
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
PING = "ping"  # () -> OK None, answered between commands: a worker frozen in libsane is silent

# replies
READY = "ready"
PROGRESS = "progress"
OK = "ok"
PAGE = "page"
ERROR = "error"
CANCELLED = "cancelled"
PAGE_END = "page_end"  # trailer of a page stream: (rows delivered)

STREAMED = -1
"""``chunk_count`` of a page whose height is unknown: chunks until the PAGE_END trailer."""

# buttons (drivers/sane/buttons.py); only between jobs, the device then stays open in the worker
BUTTONS = "buttons"  # () -> OK [(name, title), ...]: the button sensors (none: the device is closed again)
POLL_BUTTONS = "poll_buttons"  # () -> OK ((pressed names...), feeder loaded: bool | None)

FIRST_CHUNK_BYTES = 128 << 10
"""Target size of a page's first raw chunk (a band of whole rows, at least one row), in bytes:
128 KiB is about 7 ms of a 20 MB/s device, so the first rows leave at once."""

CHUNK_BYTES = 512 << 10
"""Target size of every later raw chunk, in bytes: about 25 ms of a 20 MB/s device and about 200
chunks for a 600 dpi A4 colour page. Each chunk costs the worker and the service a fixed amount
of work (pipe messages, thread hand-overs, event-loop turns): 512 KiB chunks take about a third
less CPU for a page than 128 KiB ones, while the few chunks in flight stay a few MiB
(docs/performance.md)."""


def chunk_rows(bytes_per_line: int) -> tuple[int, int]:
    """``(first, later)``: rows of a page's first chunk and of each later one, for rows of
    ``bytes_per_line`` bytes (at least one row each)."""
    line = max(1, bytes_per_line)
    return max(1, FIRST_CHUNK_BYTES // line), max(1, CHUNK_BYTES // line)


def chunk_count(lines: int, first: int, later: int) -> int:
    """The number of chunks of a page of ``lines`` rows (>= 0) sent as one chunk of ``first``
    rows, then chunks of ``later`` rows (the last one shorter)."""
    if lines <= 0:
        return 0
    return 1 + -(-max(0, lines - first) // later)
