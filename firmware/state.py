"""The state directory: small JSON documents that must survive restarts.

Default location ``/var/lib/wsd-scan-server`` (systemd ``StateDirectory=``).
Each document is written atomically (write to a temporary file, fsync,
rename), so a power cut leaves either the old or the new content. The files
stay human-readable JSON.

State degrades, it never blocks serving:

* A directory that cannot be written (read-only, missing and uncreatable,
  full: EROFS, EACCES, ENOSPC, ...) is logged once, as an ERROR naming the
  directory, the reason and what to do; the callers keep their state in memory
  and serve on. The first write that succeeds again is logged once too.
* A document that is not a JSON object, or that its caller's validator
  refuses, is corrupt: it is renamed ``<name>.json.corrupt-<UTC timestamp>``
  (kept for the user, never deleted) and reported as absent, so the caller can
  fall back to a second copy (:mod:`firmware.jobs.ids`,
  :mod:`firmware.dpws.identity` keep two).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

_health_lock = threading.Lock()
_failing: dict[str, str] = {}  # directory -> the reason its writes fail (logged once)


@dataclass(frozen=True)
class Loaded:
    """What :meth:`StateStore.read` found: ``data`` (None when absent, unreadable or
    corrupt), ``corrupt`` (the file existed but its content was unusable) and ``kept``
    (where a corrupt file was moved, None if it could not be moved)."""

    data: dict | None
    corrupt: bool = False
    kept: Path | None = None


class StateStore:
    """JSON documents by name under ``directory`` (created on first write).

    Never raises for I/O: reads of broken files and failed writes are logged
    (see the module docstring) and reported in the return values.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def path(self, name: str) -> Path:
        """The file of document ``name``: ``<directory>/<name>.json``."""
        return self.directory / f"{name}.json"

    def read(self, name: str, validate: Callable[[dict], None] | None = None) -> Loaded:
        """Read document ``name``. ``validate`` raises ValueError, TypeError or KeyError for
        content the caller cannot use; such a document, like one that is not a JSON object,
        is moved aside (:meth:`quarantine`) and returned as ``Loaded(None, corrupt=True)``.
        A file that cannot be read (permissions, I/O error) is logged and returned as absent."""
        path = self.path(name)
        try:
            with path.open("r", encoding="utf-8") as handle:
                text = handle.read()
        except (FileNotFoundError, NotADirectoryError):
            return Loaded(None)
        except (OSError, UnicodeDecodeError) as exc:
            if isinstance(exc, UnicodeDecodeError):
                return Loaded(None, corrupt=True, kept=self.quarantine(name, "not UTF-8 text"))
            log.warning("cannot read the state file %s (%s); it is ignored", path, exc.strerror or exc)
            return Loaded(None)
        try:
            data = json.loads(text)
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            if validate is not None:
                validate(data)
        except (ValueError, TypeError, KeyError) as exc:
            return Loaded(None, corrupt=True, kept=self.quarantine(name, str(exc) or type(exc).__name__))
        return Loaded(data)

    def load(self, name: str) -> dict:
        """Return the document ``name``: ``{}`` if absent, unreadable or corrupt (see :meth:`read`)."""
        return self.read(name).data or {}

    def quarantine(self, name: str, reason: str) -> Path | None:
        """Move the corrupt document ``name`` aside to ``<name>.json.corrupt-<YYYYmmddTHHMMSSZ>``
        and log a WARNING saying where. Returns the new path, or None (logged) when it cannot
        be moved (the file then stays and is overwritten by the next successful save)."""
        path = self.path(name)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        kept = path.with_name(f"{path.name}.corrupt-{stamp}")
        number = 1
        while kept.exists():
            number += 1
            kept = path.with_name(f"{path.name}.corrupt-{stamp}-{number}")
        try:
            os.replace(path, kept)
        except OSError as exc:
            log.warning("the state file %s is corrupt (%s) and cannot be moved aside: %s", path, reason, exc)
            return None
        log.warning("the state file %s is corrupt (%s); kept as %s", path, reason, kept)
        return kept

    def save(self, name: str, data: dict) -> bool:
        """Write the document ``name`` atomically, as indented JSON. Returns True when it is on
        disk; False when the directory cannot be written (the first failure is logged as an
        ERROR, see the module docstring; the caller keeps its state in memory)."""
        try:
            self._write(name, data)
        except OSError as exc:
            self._failed(exc)
            return False
        self._succeeded()
        return True

    def writable(self) -> bool:
        """Probe whether documents can be written now (creates the directory if missing;
        a failure is logged once like a failed :meth:`save`)."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".probe.", suffix=".tmp")
            os.close(fd)
            os.unlink(tmp)
        except OSError as exc:
            self._failed(exc)
            return False
        return True

    def _write(self, name: str, data: dict) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=f".{name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle, sort_keys=True, indent=1)
                handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path(name))
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def _failed(self, exc: OSError) -> None:
        key = str(self.directory)
        reason = exc.strerror or str(exc)
        with _health_lock:
            first = key not in _failing
            _failing[key] = reason
        if first:
            log.error(
                "the state directory %s cannot be written (%s): serving on with state kept in memory only, "
                "so JobIds and scanner identities (urn:uuid) will not survive a restart; free disk space or make "
                "the directory writable for the service user (systemd StateDirectory=, option --state-dir)",
                key,
                reason,
            )
        else:
            log.debug("state directory %s still cannot be written: %s", key, reason)

    def _succeeded(self) -> None:
        key = str(self.directory)
        with _health_lock:
            recovered = _failing.pop(key, None)
        if recovered is not None:
            log.warning("the state directory %s can be written again; state is persisted from now on", key)
