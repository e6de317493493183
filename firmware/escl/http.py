"""The eSCL HTTP resources of one scanner, under ``<prefix>`` (``/scanners/<name>/eSCL``, and
``/eSCL`` for the default scanner):

======  =======================================  ============================================
GET     ``ScannerCapabilities``                  scan:ScannerCapabilities
GET     ``ScannerStatus``                        scan:ScannerStatus
POST    ``ScanJobs``                             scan:ScanSettings in; 201 + Location
GET     ``ScanJobs/<uuid>/NextDocument``         the next document, streamed (chunked) as scanned
GET     ``ScanJobs/<uuid>/ScanImageInfo``        scan:ScanImageInfo of the last side
DELETE  ``ScanJobs/<uuid>``                      cancel
======  =======================================  ============================================

Status codes: see :mod:`firmware.escl.service`. A client's mistake gets 400/404/405/409 with a
short text, never a traceback. The allow-list applies as to every path (HTTP 403).
"""

from __future__ import annotations

import logging

import tornado.iostream
import tornado.web

from ..wire.handler import flushed
from ..wire.xml import XmlError, parse_xml, serialize
from .model import EsclModelError, ScanSettings
from .service import EsclError, EsclService

log = logging.getLogger(__name__)

MAX_SETTINGS_BYTES = 64 * 1024
"""The largest ScanSettings body accepted (real ones are below 2 KiB)."""


class EsclHandler(tornado.web.RequestHandler):
    """Every eSCL resource of one scanner; route it with ``dict(service=<EsclService>, prefix=<path>)``."""

    def initialize(self, service: EsclService, prefix: str) -> None:
        """Store the scanner's :class:`EsclService` and the URL prefix this route serves."""
        self.service = service
        self.prefix = prefix.rstrip("/")

    def _parts(self) -> list[str]:
        rest = self.request.path[len(self.prefix) :].strip("/")
        return rest.split("/") if rest else []

    def _xml(self, el) -> None:
        self.set_header("Content-Type", "text/xml; charset=utf-8")
        self.set_header("Cache-Control", "no-cache")
        self.finish(serialize(el))

    def _error(self, status: int, message: str) -> None:
        self.clear()
        self.set_status(status)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(message + "\n")

    def _root(self) -> str:
        return f"{self.request.protocol}://{self.request.host}"

    async def get(self) -> None:
        """ScannerCapabilities, ScannerStatus, NextDocument, ScanImageInfo."""
        parts = self._parts()
        try:
            if parts == ["ScannerCapabilities"]:
                self._xml(self.service.capabilities(self._root()).to_xml())
            elif parts == ["ScannerStatus"]:
                self._xml(self.service.status().to_xml())
            elif len(parts) == 3 and parts[0] == "ScanJobs" and parts[2] == "NextDocument":
                await self._next_document(parts[1])
            elif len(parts) == 3 and parts[0] == "ScanJobs" and parts[2] == "ScanImageInfo":
                self._xml(self.service.image_info(parts[1]).to_xml())
            else:
                self._error(404, "no such eSCL resource")
        except EsclError as exc:
            self._error(exc.status, str(exc))

    async def post(self) -> None:
        """ScanJobs: create a job from the ScanSettings body; 201 with its Location."""
        if self._parts() != ["ScanJobs"]:
            self._error(405 if self._parts() else 404, "POST is only for ScanJobs")
            return
        body = self.request.body or b""
        if len(body) > MAX_SETTINGS_BYTES:
            self._error(413, "the ScanSettings document is too large")
            return
        try:
            settings = ScanSettings.from_xml(parse_xml(body))
        except (XmlError, EsclModelError) as exc:
            self._error(400, f"bad ScanSettings: {exc}")
            return
        try:
            escl = await self.service.create(settings, self.request.remote_ip or "")
        except EsclError as exc:
            log.info("eSCL ScanJobs refused (%d): %s", exc.status, exc)
            self._error(exc.status, str(exc))
            return
        self.set_status(201)
        self.set_header("Location", f"{self._root()}{self.prefix}/ScanJobs/{escl.uuid}")
        self.finish()

    def delete(self) -> None:
        """Cancel the job ``ScanJobs/<uuid>``."""
        parts = self._parts()
        if len(parts) != 2 or parts[0] != "ScanJobs":
            self._error(405 if parts else 404, "DELETE is only for a job")
            return
        try:
            self.service.cancel(parts[1])
        except EsclError as exc:
            self._error(exc.status, str(exc))
            return
        self.finish()

    async def _next_document(self, job_uuid: str) -> None:
        document = await self.service.next_document(job_uuid)
        if document is None:
            self._error(404, "no more documents")
            return
        mime, chunks = document
        self.set_header("Content-Type", mime)
        stall = self.service.scan.settings.stall_timeout
        try:
            async for chunk in chunks:
                self.write(chunk)
                await flushed(self, stall)
            await self.finish()
        except Exception as exc:  # noqa: BLE001 - a broken stream closes the connection
            if not isinstance(exc, tornado.iostream.StreamClosedError):
                log.warning("eSCL document stream aborted: %s", exc)
            if self.request.connection is not None and not self._finished:
                self.request.connection.close()  # type: ignore[attr-defined]
        finally:
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                await aclose()

    def write_error(self, status_code: int, **kwargs: object) -> None:
        """Errors as short text (e.g. 405 for another method), never a traceback."""
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(f"{status_code} {self._reason}\n")
