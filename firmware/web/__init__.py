"""The status page: what a person sees at ``http://<appliance>:<port>/`` (issue 14).

Modules: :mod:`.snapshot` (the page's data, read from the running app; ``/health``),
:mod:`.events` (live updates as server-sent events, bounded), :mod:`.scan` (scan to the
browser through the scanner's job table) and :mod:`.handlers` (the HTTP handlers); the page
itself is package data (``templates/status.html``, ``static/status.css``, ``static/status.js``:
no build step, nothing from the internet).

Wiring, in :func:`firmware.app.build_app`::

    app.web = attach_web(app)      # routes /, /static/..., /health, /events, /scan
    ...
    app.web.watch(served)          # for every scanner added: its changes reach the page at once
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from .events import Broadcaster, EventsHandler
from .handlers import ASSETS, AssetHandler, HealthHandler, PageHandler, ScanHandler, asset, template
from .snapshot import health, snapshot

if TYPE_CHECKING:
    from ..app import App, ServedScanner

__all__ = ["MAX_STREAMS", "WebPage", "attach_web"]

MAX_STREAMS = 8
"""Status pages open at once (server-sent event streams), at most a quarter of ``max_connections``."""


class WebPage:
    """The status page of ``app``: its data, its live updates and its static files.
    ``started``: ``time.monotonic()`` when the service started (for the uptime)."""

    def __init__(self, app: App, started: float | None = None) -> None:
        self.app = app
        self.started = time.monotonic() if started is None else started
        self.assets = {name: asset(name) for name in ASSETS}
        self.template = template()
        streams = max(1, min(MAX_STREAMS, app.config.max_connections // 4))
        self.broadcaster = Broadcaster(self.snapshot, streams)

    def snapshot(self) -> dict[str, Any]:
        """The page's data now (:func:`firmware.web.snapshot.snapshot`)."""
        return snapshot(self.app, self.started)

    def health(self) -> dict[str, Any]:
        """``GET /health``'s document (:func:`firmware.web.snapshot.health`)."""
        return health(self.app, self.started)

    def scanner(self, scanner_id: str) -> ServedScanner | None:
        """The served scanner whose scan service path ends with ``/<scanner_id>``, or None."""
        return next((s for s in self.app.scanners if s.path.rsplit("/", 1)[-1] == scanner_id), None)

    def watch(self, served: ServedScanner) -> None:
        """Send the page's state when ``served``'s jobs or status change (and now: it was added)."""
        served.service.jobs.listeners.append(self.broadcaster.kick)
        served.service.status.listeners.append(self.broadcaster.kick)
        self.broadcaster.kick()

    def close(self) -> None:
        """Close every open page's stream (the service stops)."""
        self.broadcaster.close()


def attach_web(app: App) -> WebPage:
    """Serve the status page of ``app`` on its router: ``/``, ``/static/status.css``,
    ``/static/status.js``, ``/health``, ``/events`` and ``/scan`` (see :mod:`.handlers`).
    Returns the :class:`WebPage`; call :meth:`WebPage.watch` for each scanner added."""
    page = WebPage(app)
    router = app.router
    router.add_handler("/", PageHandler, {"page": page})
    for name in ASSETS:
        router.add_handler(f"/static/{name}", AssetHandler, {"page": page, "name": name})
    router.add_handler("/health", HealthHandler, {"page": page})
    router.add_handler("/events", EventsHandler, {"broadcaster": page.broadcaster})
    router.add_handler("/scan", ScanHandler, {"page": page})
    return page
