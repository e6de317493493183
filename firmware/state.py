"""The state directory: small JSON documents that must survive restarts.

Default location ``/var/lib/wsd-scan-server`` (systemd ``StateDirectory=``).
Each document is written atomically (write to a temporary file, fsync,
rename), so a power cut leaves either the old or the new content.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)


class StateStore:
    """JSON documents by name under ``directory`` (created on first write)."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def load(self, name: str) -> dict:
        """Return the document ``name`` (``{}`` if absent or unreadable; a corrupt
        file is logged and treated as absent)."""
        path = self.directory / f"{name}.json"
        try:
            with path.open("r", encoding="utf-8") as handle:
                data = json.load(handle)
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable state file %s: %s", path, exc)
            return {}
        return data if isinstance(data, dict) else {}

    def save(self, name: str, data: dict) -> None:
        """Write the document ``name`` atomically. Raises OSError if the directory is not writable."""
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=f".{name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle, sort_keys=True)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.directory / f"{name}.json")
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
