"""The local HTTP trigger of scan to PC, for scanners without buttons (and a future web page).

``POST /scanners/<name>/push?destination=<name>[&input_source=Platen|ADF|ADFDuplex|Film]``
sends ScanAvailableEvent to the PC that registered that destination
(:meth:`firmware.pushscan.push.PushScan.trigger`): ``destination`` is a
ClientDisplayName ("Scan to MYPC") or a ClientContext (``Scan``,
``ScanToEmail``...), default ``Scan``. ``GET`` on the same path lists the
registered destinations. The allow-list applies as to every path (HTTP 403).

Answers are JSON: 200 ``{"destination": ..., "client_context": ..., "pc": ...,
"scan_identifier": ...}`` on success; 404 ``{"error": ...}`` when no PC registered
that destination; 400 ``{"error": ...}`` for a bad ``input_source``.
"""

from __future__ import annotations

import json

import tornado.web

from .push import PushScan, UnknownDestination


class PushHandler(tornado.web.RequestHandler):
    """``GET``: the registered destinations; ``POST``: trigger one (see the module docstring).

    Route it with ``dict(push=<PushScan>)``.
    """

    def initialize(self, push: PushScan) -> None:
        """Store the scanner's :class:`PushScan`."""
        self.push = push

    def _json(self, status: int, document: object) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(document))

    def get(self) -> None:
        """List the destinations, the most recently registered first."""
        self._json(
            200,
            {
                "destinations": [
                    {"destination": d.client_display_name, "client_context": d.client_context, "pc": d.client}
                    for d in self.push.registry.destinations()
                ]
            },
        )

    def post(self) -> None:
        """Trigger the ``destination`` argument's ScanAvailableEvent."""
        destination = self.get_argument("destination", None) or None
        input_source = self.get_argument("input_source", None) or None
        try:
            sent = self.push.trigger(destination, input_source)
        except UnknownDestination as exc:
            self._json(404, {"error": str(exc)})
            return
        except ValueError as exc:
            self._json(400, {"error": str(exc)})
            return
        self._json(
            200,
            {
                "destination": sent.destination.client_display_name,
                "client_context": sent.destination.client_context,
                "pc": sent.destination.client,
                "scan_identifier": sent.scan_identifier,
                "input_source": sent.input_source,
            },
        )

    def write_error(self, status_code: int, **kwargs: object) -> None:
        """Errors as JSON too (e.g. 405 for another method), never a traceback."""
        self._json(status_code, {"error": self._reason})
