"""The status page's HTTP handlers: the page, its two static files, ``/health`` and ``/scan``.

======  ====================  ===================================================================
GET     ``/``                 the page (HTML; its data arrives over ``/events``)
GET     ``/static/<file>``    ``status.css``, ``status.js`` (package data, cached by ETag)
GET     ``/health``           JSON for monitoring (:func:`firmware.web.snapshot.health`)
POST    ``/scan``             scan to the browser: form fields in, the file out as a download
======  ====================  ===================================================================

Every answer to a client's mistake is a 4xx with one sentence of plain text, never a traceback
or a 500; the allow-list applies as to every path (HTTP 403, :mod:`firmware.wire.router`). A
``POST /scan`` whose ``Origin`` (or, without one, ``Referer``) names another site is refused
with 403, so another web page cannot make a visitor's browser start scans.
"""

from __future__ import annotations

import json
import logging
import urllib.parse
from importlib import resources
from typing import TYPE_CHECKING, Any

import tornado.iostream
import tornado.template
import tornado.web

from drivers.base import ScannerError

from .. import __version__
from .scan import Busy, FormError, document, first_side, parse_form, start_job

if TYPE_CHECKING:
    from . import WebPage

log = logging.getLogger(__name__)

ASSETS = {"status.css": "text/css; charset=utf-8", "status.js": "text/javascript; charset=utf-8"}
"""The static files, by name, with their Content-Type."""

MAX_FORM_BYTES = 4096
"""The largest scan form body accepted (a real one is under 100 bytes)."""


def asset(name: str) -> bytes:
    """The bytes of static file ``name`` (package data ``firmware/web/static/<name>``)."""
    return resources.files(__package__).joinpath("static", name).read_bytes()


def template() -> tornado.template.Template:
    """The page's template (package data ``firmware/web/templates/status.html``)."""
    text = resources.files(__package__).joinpath("templates", "status.html").read_text(encoding="utf-8")
    return tornado.template.Template(text, name="status.html", autoescape="xhtml_escape")


class _WebHandler(tornado.web.RequestHandler):
    """Shared by the page's handlers: ``page`` (the :class:`~firmware.web.WebPage`) and
    plain-text errors."""

    def initialize(self, page: WebPage, **kwargs: Any) -> None:
        """Store the :class:`~firmware.web.WebPage`."""
        self.page = page

    def text(self, status: int, message: str, retry_after: int | None = None) -> None:
        """Answer ``status`` with ``message`` as one line of plain text (and ``Retry-After``
        seconds when given)."""
        self.clear()
        self.set_status(status)
        if retry_after is not None:
            self.set_header("Retry-After", str(retry_after))
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(message.rstrip("\n") + "\n")

    def write_error(self, status_code: int, **kwargs: object) -> None:
        """Errors (e.g. 405 for another method) as one line of text, never a traceback."""
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(f"{status_code} {self._reason}\n")


class PageHandler(_WebHandler):
    """``GET /``: the status page."""

    def get(self) -> None:
        """Render the page shell; the script fills it from ``/events``."""
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-cache")
        self.finish(self.page.template.generate(version=__version__))


class AssetHandler(_WebHandler):
    """``GET /static/<name>``: one static file; route it with ``dict(page=..., name=<name>)``."""

    def initialize(self, page: WebPage, **kwargs: Any) -> None:
        """Store the page and the file's ``name`` (a key of :data:`ASSETS`)."""
        super().initialize(page)
        self.name = str(kwargs["name"])

    def get(self) -> None:
        """The file, with an ETag (Tornado answers 304 to a matching If-None-Match)."""
        self.set_header("Content-Type", ASSETS[self.name])
        self.set_header("Cache-Control", "no-cache")
        self.finish(self.page.assets[self.name])


class HealthHandler(_WebHandler):
    """``GET /health``: JSON for monitoring, always HTTP 200 while the service answers; look at
    its ``status`` (``ok`` / ``degraded``)."""

    def get(self) -> None:
        """The health document."""
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(self.page.health()))


def _same_site(request: tornado.web.httputil.HTTPServerRequest) -> bool:
    """True unless the request's Origin (or Referer) names another host than the one it reached."""
    origin = request.headers.get("Origin") or request.headers.get("Referer")
    if not origin:
        return True  # not sent by a browser on behalf of a page (curl, a script)
    if origin == "null":
        return False  # an opaque origin: a sandboxed frame or a file
    return urllib.parse.urlsplit(origin).netloc.lower() == (request.host or "").lower()


class ScanHandler(_WebHandler):
    """``POST /scan``: scan to the browser. Form fields: ``scanner`` (its id, the last segment of
    its scan service path), ``source``, ``mode``, ``resolution``, ``format`` (see
    :func:`firmware.web.scan.parse_form`). Answers: 200 with the file as a download; 400 for a
    form the scanner cannot do; 404 for an unknown scanner; 403 from another site; 503 when the
    scanner is busy or the scan failed (the text says what to do)."""

    async def post(self) -> None:
        """Run the job and stream its file."""
        if not _same_site(self.request):
            self.text(403, "Scans can only be started from this appliance's own status page.")
            return
        if len(self.request.body or b"") > MAX_FORM_BYTES:
            self.text(413, "The scan form is too large.")
            return
        args = {
            name: self.get_body_argument(name, "") for name in ("scanner", "source", "mode", "resolution", "format")
        }
        served = self.page.scanner(args["scanner"])
        if served is None:
            self.text(404, f"There is no scanner {args['scanner'][:60]!r} (was it unplugged?). Reload the page.")
            return
        client = self.request.remote_ip or ""
        try:
            form = parse_form(args, served)
            run = await start_job(served, form, client)
            side = await first_side(served, run, form)
        except FormError as exc:
            self.text(400, f"Cannot scan: {exc}")
            return
        except Busy as exc:
            self.text(503, f"Cannot scan: {exc}", retry_after=10)
            return
        job = run.job
        self.set_header("Content-Type", form.mime)
        self.set_header("Content-Disposition", f'attachment; filename="scan-{job.job_id}.{form.format}"')
        self.set_header("Cache-Control", "no-store")
        chunks = document(served, run, form, side)
        try:
            async for chunk in chunks:
                self.write(chunk)
                await self.flush()
            await self.finish()
        except tornado.iostream.StreamClosedError:
            log.info("job %d: the browser went away during the download", job.job_id)
        except ScannerError as error:
            log.info("job %d: the download ends early: %s", job.job_id, error.message)
            self._cut()
        except Exception as exc:  # noqa: BLE001 - the headers are out: only closing the connection tells the browser
            log.warning("job %d: the download broke: %s", job.job_id, exc)
            self._cut()
        finally:
            await chunks.aclose()

    def _cut(self) -> None:
        if self.request.connection is not None and not self._finished:
            self.request.connection.close()  # type: ignore[attr-defined]
