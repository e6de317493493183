"""Where the scanners' eSCL services are served: ``<scan path>/eSCL`` each, and ``/eSCL`` for one.

Clients that take the scanner's address from DNS-SD honour its ``rs`` key (the per-scanner
path); clients configured with a bare ``http://host:port`` (sane-backends' ``escl``, which
always asks for ``/eSCL/...``) reach the *default* scanner at ``/eSCL``: the first scanner
served with eSCL, then, when it goes away, the next one.
"""

from __future__ import annotations

from ..wire.router import SoapRouter
from .http import EsclHandler
from .service import EsclService

ROOT = "/eSCL"
"""The path of the default scanner's eSCL resources."""


class EsclRoutes:
    """The eSCL routes of every scanner on ``router``."""

    def __init__(self, router: SoapRouter) -> None:
        self._router = router
        self._services: list[EsclService] = []
        self._root: EsclService | None = None

    @property
    def default(self) -> EsclService | None:
        """The scanner served at ``/eSCL``, or None."""
        return self._root

    def add(self, service: EsclService) -> None:
        """Serve ``service`` at its base path (and at ``/eSCL`` when no scanner is there yet).
        Raises ``ValueError`` when its base path is served already."""
        self._router.add_prefix(service.base, EsclHandler, {"service": service, "prefix": service.base})
        self._services.append(service)
        if self._root is None:
            self._set_root(service)

    def remove(self, service: EsclService) -> None:
        """Stop serving ``service`` (its paths answer 404); ``/eSCL`` moves to the next scanner.
        Nothing happens for a service not served."""
        if service not in self._services:
            return
        self._services.remove(service)
        self._router.remove(service.base)
        if self._root is service:
            self._router.remove(ROOT)
            self._root = None
            if self._services:
                self._set_root(self._services[0])

    def _set_root(self, service: EsclService) -> None:
        self._router.add_prefix(ROOT, EsclHandler, {"service": service, "prefix": ROOT})
        self._root = service
