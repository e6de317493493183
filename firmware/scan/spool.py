"""A bounded on-disk copy of the side being sent, so a RetrieveImage broken mid-page can be retried.

A side streams from the scanner to the client as it is scanned (:mod:`firmware.scan.imagestream`):
once rows have left, the scanner cannot give them again (an ADF sheet is out of the feeder).
While a side is sent, its encoded bytes are also appended to a file in the spool directory
(the ``cache_dir`` setting). If the client goes away mid-page, the rest of the side is still
read from the scanner and encoded into that file, and the job waits (its RetrieveImage timeout
armed) for the client to ask again: the retried RetrieveImage is answered from the file.

The spool is capped (``spool_mib``, all scanners together): a side that would take it past the
cap is no longer copied (the file is dropped); a break then ends the job as before (Aborted,
JobCompletedWithErrors). Files live only while their side is on its way; leftovers from an
earlier run are removed when the spool opens. Writes are plain appends off the event loop;
a directory that cannot be written disables the spool with one warning.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Generator
from pathlib import Path

log = logging.getLogger(__name__)

READ_BYTES = 256 * 1024
"""Bytes read from a spool file at a time when a retried RetrieveImage is answered from it."""


class Spool:
    """The spool directory ``directory``, holding at most ``limit`` bytes (0 disables it).

    Thread-safe: files are written from executor threads. Never raises for a directory or
    file that cannot be written (the spool or that file is then off, logged once).
    """

    def __init__(self, directory: Path, limit: int) -> None:
        self.directory = directory
        self.limit = limit
        self._lock = threading.Lock()
        self._used = 0
        self._counter = 0
        self.enabled = limit > 0 and self._prepare()

    def _prepare(self) -> bool:
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            for leftover in self.directory.glob("*.side"):
                leftover.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("spool directory %s unusable (%s): broken transfers cannot be retried", self.directory, exc)
            return False
        return True

    def open(self, label: str) -> SpoolFile | None:
        """A new spool file for one side (``label`` names it, e.g. ``job12-1``); None when the
        spool is off or the file cannot be created."""
        if not self.enabled:
            return None
        with self._lock:
            self._counter += 1
            path = self.directory / f"{label}-{os.getpid()}-{self._counter}.side"
        try:
            handle = open(path, "xb")  # noqa: SIM115 - kept open while the side is written
        except OSError as exc:
            log.warning("cannot create spool file %s: %s", path, exc)
            return None
        return SpoolFile(self, path, handle)

    def _reserve(self, size: int) -> bool:
        with self._lock:
            if self._used + size > self.limit:
                return False
            self._used += size
            return True

    def _release(self, size: int) -> None:
        with self._lock:
            self._used -= size

    @property
    def used(self) -> int:
        """Bytes held by spool files now."""
        return self._used


class SpoolFile:
    """One side's encoded bytes on disk. ``size``: bytes written; ``usable``: every byte so far
    is in the file (False once a write failed or the cap was reached: the file is then gone);
    ``complete``: the side ended and the file holds all of it."""

    def __init__(self, spool: Spool, path: Path, handle) -> None:
        self.path = path
        self.size = 0
        self.usable = True
        self.complete = False
        self._spool = spool
        self._handle = handle

    def write(self, chunk: bytes) -> None:
        """Append ``chunk`` (blocking: call it off the event loop). Past the cap, or when the disk
        fails, the file is dropped and ``usable`` becomes False. Never raises."""
        if not self.usable:
            return
        if not self._spool._reserve(len(chunk)):
            log.info("spool full (%d MiB): side %s is not kept", self._spool.limit >> 20, self.path.name)
            self.discard()
            return
        try:
            self._handle.write(chunk)
        except (OSError, ValueError) as exc:
            self._spool._release(len(chunk))
            log.warning("spool file %s: %s; the side is not kept", self.path, exc)
            self.discard()
            return
        self.size += len(chunk)

    def finish(self) -> None:
        """The side ended: flush the file; it now holds the whole side (blocking). Never raises."""
        if not self.usable:
            return
        try:
            self._handle.close()
        except OSError as exc:
            log.warning("spool file %s: %s; the side is not kept", self.path, exc)
            self.discard()
            return
        self.complete = True

    def chunks(self) -> Generator[bytes, None, None]:
        """The file's bytes, :data:`READ_BYTES` at a time (blocking reads: pull it off the event
        loop). Raises ``OSError`` when the file cannot be read."""
        with open(self.path, "rb") as handle:
            while chunk := handle.read(READ_BYTES):
                yield chunk

    def discard(self) -> None:
        """Remove the file and give its bytes back to the cap. Never raises; idempotent."""
        if self.usable:
            self.usable = False
            self._spool._release(self.size)
        self.complete = False
        with contextlib.suppress(OSError, ValueError):
            self._handle.close()
        with contextlib.suppress(OSError):
            self.path.unlink(missing_ok=True)
