"""The HTTP routes of the SOAP endpoints: exact URL paths, added and removed while serving.

Scanners come and go at run time (USB hotplug), so the paths are not Tornado's
fixed route list but a dictionary this router looks up on every request:

* a peer outside the allow-list gets HTTP 403 (:class:`~firmware.wire.access.ForbiddenHandler`)
  whatever the path, so it cannot learn which paths exist;
* a path in the table is served by :class:`~firmware.wire.handler.SoapHandler`
  with that path's operations;
* a path added with :meth:`SoapRouter.add_handler` is served by that plain Tornado
  handler (e.g. the scan-to-PC HTTP trigger);
* a path under a prefix added with :meth:`SoapRouter.add_prefix` is served by that plain
  Tornado handler (eSCL's ``.../eSCL/ScanJobs/<id>/NextDocument``);
* any other path (e.g. a scanner just unplugged) gets Tornado's HTTP 404.

A request already being served keeps its handler when its path is removed.
"""

from __future__ import annotations

from typing import Any

import tornado.httputil
import tornado.routing
import tornado.web

from .access import AllowList, ForbiddenHandler
from .accesslog import log_request
from .handler import Operation, SoapHandler


class SoapRouter(tornado.routing.Router):
    """URL path -> SOAP action table, with the allow-list checked first.

    ``allow``: the :class:`AllowList` (empty: everyone). Use :meth:`application`
    to get the Tornado application to serve.
    """

    def __init__(self, allow: AllowList | None = None) -> None:
        self.allow = allow or AllowList()
        self._paths: dict[str, dict[str, Operation]] = {}
        self._handlers: dict[str, tuple[type[tornado.web.RequestHandler], dict[str, Any]]] = {}
        self._prefixes: dict[str, tuple[type[tornado.web.RequestHandler], dict[str, Any]]] = {}
        self._application = tornado.web.Application(
            [tornado.routing.Rule(tornado.routing.AnyMatches(), self)], log_function=log_request
        )

    @property
    def application(self) -> tornado.web.Application:
        """The Tornado application routing through this router (hand it to the HTTP server)."""
        return self._application

    @property
    def paths(self) -> list[str]:
        """The paths served now."""
        return list(self._paths)

    def add(self, path: str, operations: dict[str, Operation]) -> None:
        """Serve ``path`` (exact, e.g. ``/scanners/test-0``) with ``operations`` (wsa:Action
        URI -> operation). Raises ``ValueError`` when the path is served already."""
        if path in self._paths or path in self._handlers:
            raise ValueError(f"path {path} is served already")
        self._paths[path] = operations

    def add_handler(
        self, path: str, handler: type[tornado.web.RequestHandler], kwargs: dict[str, Any] | None = None
    ) -> None:
        """Serve ``path`` (exact) with a plain Tornado ``handler`` initialized with ``kwargs``
        (behind the allow-list like every path). Raises ``ValueError`` when the path is served already."""
        if path in self._paths or path in self._handlers:
            raise ValueError(f"path {path} is served already")
        self._handlers[path] = (handler, dict(kwargs or {}))

    def add_prefix(
        self, prefix: str, handler: type[tornado.web.RequestHandler], kwargs: dict[str, Any] | None = None
    ) -> None:
        """Serve ``prefix`` and every path below it (``prefix + "/..."``) with a plain Tornado
        ``handler`` initialized with ``kwargs``; exact paths win. Raises ``ValueError`` when the
        prefix is served already. Remove it with :meth:`remove`."""
        if prefix in self._prefixes:
            raise ValueError(f"prefix {prefix} is served already")
        self._prefixes[prefix] = (handler, dict(kwargs or {}))

    def remove(self, path: str) -> None:
        """Stop serving ``path`` (or prefix): new requests get HTTP 404. Nothing happens for an unknown path."""
        self._paths.pop(path, None)
        self._handlers.pop(path, None)
        self._prefixes.pop(path, None)

    def find_handler(
        self, request: tornado.httputil.HTTPServerRequest, **kwargs: object
    ) -> tornado.httputil.HTTPMessageDelegate | None:
        """The handler for ``request``: 403 outside the allow-list, the path's SOAP handler,
        or None (Tornado then answers 404)."""
        if not self.allow.permits(request.remote_ip):
            return self._application.get_handler_delegate(request, ForbiddenHandler)
        operations = self._paths.get(request.path)
        if operations is None:
            plain = self._handlers.get(request.path)
            if plain is None:
                plain = self._prefixed(request.path)
            if plain is not None:
                return self._application.get_handler_delegate(request, plain[0], plain[1])
            return None
        return self._application.get_handler_delegate(request, SoapHandler, {"operations": operations})

    def _prefixed(self, path: str) -> tuple[type[tornado.web.RequestHandler], dict[str, Any]] | None:
        """The handler of the longest prefix ``path`` is at or below, or None."""
        best = None
        for prefix, entry in self._prefixes.items():
            if (path == prefix or path.startswith(prefix + "/")) and (best is None or len(prefix) > len(best[0])):
                best = (prefix, entry)
        return best[1] if best else None
