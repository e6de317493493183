"""The SANE implementation of :mod:`drivers.base`.

libsane runs only in worker processes (:mod:`drivers.sane.worker`), one per
scanner, which the service can kill and restart; this package's other modules
never import python-sane.

* :class:`SaneScanner` (:mod:`drivers.sane.scanner`): the scanner, an asyncio proxy to its worker.
* :mod:`drivers.sane.session`: its scan job and pages (``SaneSession``, ``SanePage``).
* :func:`list_scanners` (:mod:`drivers.sane.discovery`): ``sane_get_devices`` through a short-lived worker.
* :mod:`drivers.sane.options`: SANE options <-> capabilities and scan settings.
* :mod:`drivers.sane.errors`: SANE status text -> :class:`~drivers.base.Condition`.

The two names are imported lazily, so a worker process importing this package
does not load the asyncio side.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from drivers.sane.discovery import list_scanners
    from drivers.sane.scanner import SaneScanner

__all__ = ["SaneScanner", "list_scanners"]


def __getattr__(name: str) -> Any:
    """Import :class:`SaneScanner` / :func:`list_scanners` on first use."""
    if name == "SaneScanner":
        from drivers.sane.scanner import SaneScanner

        return SaneScanner
    if name == "list_scanners":
        from drivers.sane.discovery import list_scanners

        return list_scanners
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
