"""The HTTP side of SOAP: one Tornado handler class that receives, dispatches and answers.

SOAP 1.2 over HTTP/1.1 POST (DPWS section 3, REFERENCE.md section 4.5):

* the Content-Type must be ``application/soap+xml`` (else HTTP 415 with a fault);
* the body may be chunked and is limited to :data:`MAX_REQUEST_BYTES` (else
  HTTP 413 with a fault, without reading the rest);
* the operation is chosen by ``wsa:Action`` (else ``wsa:ActionNotSupported``);
* a :class:`~firmware.wire.faults.SoapFault` becomes a fault envelope with HTTP
  400/500; any other exception is logged and becomes
  ``wscn:ServerErrorInternalError``: never a stack trace on the wire.

An operation is an ``async`` callable taking the :class:`Request` (with
``http_host`` set to the HTTP Host header) and returning a :class:`Reply` (an
envelope body), an :class:`EnvelopeReply` (a whole envelope, or 202 Accepted)
or a :class:`StreamedReply` (MTOM with a streamed attachment).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import tornado.iostream
import tornado.web

from . import faults
from .envelope import Request, build_envelope, build_fault_envelope, parse_request
from .mtom import MtomWriter
from .xml import Element, serialize

log = logging.getLogger(__name__)
trace = logging.getLogger("firmware.trace")
trace.setLevel(logging.INFO)  # off until set_soap_tracing(True), whatever the log level


def set_soap_tracing(enabled: bool) -> None:
    """Log every SOAP message in and out (logger ``firmware.trace``, DEBUG records) or stop."""
    trace.setLevel(logging.DEBUG if enabled else logging.INFO)


MAX_REQUEST_BYTES = 65536
"""Largest accepted request body in bytes. DPWS caps envelopes at 32,767 bytes
(MAX_ENVELOPE_SIZE); twice that leaves room for clients that pretty-print."""

MAX_RESPONSE_BYTES = 32767
"""DPWS MAX_ENVELOPE_SIZE: WSDAPI rejects larger text envelopes."""

MAX_HOST_CHARS = 300
"""Longest HTTP Host header accepted: answers (metadata, directed ProbeMatches) build URLs from it."""

SOAP_CONTENT_TYPE = "application/soap+xml; charset=utf-8"


@dataclass
class Reply:
    """A plain SOAP answer: ``body`` is the Body child, ``action`` the reply's wsa:Action."""

    action: str
    body: Element | None


@dataclass
class StreamedReply:
    """An MTOM answer (RetrieveImageResponse): ``body`` must contain an
    ``xop:Include href="cid:<writer.content_id>"``; ``data`` yields the
    attachment's bytes as they are produced. The headers and the SOAP part
    leave at once; each chunk of ``data`` is written and flushed to the socket
    before the next is taken (backpressure: a slow client slows ``data``). If
    ``data`` raises, or a flush waits more than ``stall_timeout`` seconds (the
    client stopped reading; None: no limit), the connection is closed
    mid-stream (a fault can no longer be sent); ``on_abort`` is called with the
    exception (:class:`TransferStalled` for a stall)."""

    action: str
    writer: MtomWriter
    body: Element
    data: AsyncIterator[bytes]
    on_abort: Callable[[BaseException], None] | None = None
    stall_timeout: float | None = None


class TransferStalled(Exception):
    """The client read nothing of a streamed answer for the reply's ``stall_timeout`` seconds."""


@dataclass
class EnvelopeReply:
    """A complete envelope the operation built itself (discovery messages carry their own
    headers), or None: HTTP 202 Accepted with an empty body (DPWS R0030: nothing to answer)."""

    envelope: Element | None


Operation = Callable[[Request], Awaitable[Reply | StreamedReply | EnvelopeReply]]


@tornado.web.stream_request_body
class SoapHandler(tornado.web.RequestHandler):
    """Tornado handler for one SOAP endpoint.

    Route it with ``dict(operations={action_uri: operation, ...})`` as the
    handler's initialize arguments.
    """

    def initialize(self, operations: dict[str, Operation]) -> None:
        """Store the action table: wsa:Action URI -> operation."""
        self.operations = operations
        # named in the access line (firmware.wire.accesslog)
        self.access_operation: str | None = None
        self.access_fault: str | None = None
        self._chunks: list[bytes] = []
        self._size = 0
        self._too_large = False

    def prepare(self) -> None:
        """Reject early what can be judged from the headers: a wrong content
        type (415) and a declared body over :data:`MAX_REQUEST_BYTES` (413)."""
        if self.request.method != "POST":
            return
        content_type = self.request.headers.get("Content-Type", "")
        if content_type.split(";", 1)[0].strip().lower() != "application/soap+xml":
            self._send_fault(
                faults.invalid_args(f"Content-Type must be application/soap+xml, not {content_type[:80]!r}."),
                status=415,
            )
            return
        declared = self.request.headers.get("Content-Length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_REQUEST_BYTES:
            self._send_fault(faults.invalid_args("The request is too large."), status=413)

    def data_received(self, chunk: bytes) -> None:
        """Collect the body, stopping at :data:`MAX_REQUEST_BYTES` (chunked bodies included)."""
        self._size += len(chunk)
        if self._size > MAX_REQUEST_BYTES:
            self._too_large = True
            self._chunks.clear()
        elif not self._too_large:
            self._chunks.append(chunk)

    async def post(self) -> None:
        """Parse, dispatch on wsa:Action and answer (see the module docstring)."""
        if self._too_large:
            self._send_fault(faults.invalid_args("The request is too large."), status=413)
            return
        data = b"".join(self._chunks)
        trace.debug("<<< %s %s", self.request.path, data.decode("utf-8", "replace"))
        request: Request | None = None
        if len(self.request.host) > MAX_HOST_CHARS:  # answers name URLs under the Host the client used
            self._send_fault(faults.invalid_args("The HTTP Host header is too long."))
            return
        try:
            request = dataclasses.replace(
                parse_request(data), http_host=self.request.host, remote_ip=self.request.remote_ip
            )
            self.access_operation = request.action.rsplit("/", 1)[-1][:64]
            operation = self.operations.get(request.action)
            if operation is None:
                raise faults.action_not_supported(request.action)
            reply = await operation(request)
        except faults.SoapFault as fault:
            log.debug("fault %s to %s: %s", fault.subcode[1], request.action if request else "unparsed request", fault)
            self._send_fault(fault, relates_to=request.message_id if request else None)
            return
        except Exception:
            log.exception("operation %s failed", request.action if request else "?")
            self._send_fault(faults.server_error_internal_error(), relates_to=request.message_id if request else None)
            return
        if isinstance(reply, StreamedReply):
            await self._send_streamed(reply, request)
        elif isinstance(reply, EnvelopeReply):
            if reply.envelope is None:
                self.set_status(202)
                self.finish()
            else:
                self._send_envelope(reply.envelope)
        else:
            self._send_envelope(build_envelope(reply.action, reply.body, relates_to=request.message_id))

    def _send_envelope(self, envelope: Element, status: int = 200) -> None:
        data = serialize(envelope)
        if len(data) > MAX_RESPONSE_BYTES:
            log.error("response of %d bytes exceeds the DPWS envelope limit", len(data))
        trace.debug(">>> %s %s", status, data.decode("utf-8", "replace"))
        self.set_status(status)
        self.set_header("Content-Type", SOAP_CONTENT_TYPE)
        self.finish(data)

    def _send_fault(self, fault: faults.SoapFault, relates_to: str | None = None, status: int | None = None) -> None:
        if self._finished:
            return
        self.access_fault = fault.subcode[1]
        self._send_envelope(build_fault_envelope(fault, relates_to), status or fault.http_status)

    async def _send_streamed(self, reply: StreamedReply, request: Request) -> None:
        envelope = serialize(build_envelope(reply.action, reply.body, relates_to=request.message_id))
        trace.debug(">>> 200 (MTOM) %s", envelope.decode("utf-8", "replace"))
        self.set_header("Content-Type", reply.writer.content_type)
        try:
            self.write(reply.writer.head(envelope))
            await flushed(self, reply.stall_timeout)
            async for chunk in reply.data:
                self.write(chunk)
                await flushed(self, reply.stall_timeout)
            self.write(reply.writer.tail())
            await self.finish()
        except Exception as exc:  # noqa: BLE001 - a broken stream closes the connection
            if not isinstance(exc, tornado.iostream.StreamClosedError):
                log.warning("image stream aborted: %s", exc)
            if reply.on_abort is not None:
                reply.on_abort(exc)
            if self.request.connection is not None and not self._finished:
                self.request.connection.close()  # type: ignore[attr-defined]
            await _aclose(reply.data)


async def flushed(handler: tornado.web.RequestHandler, stall_timeout: float | None) -> None:
    """Flush what ``handler`` wrote to the socket and wait until the kernel took it, at most
    ``stall_timeout`` seconds (None: as long as it takes). Raises :class:`TransferStalled`
    after the timeout, ``tornado.iostream.StreamClosedError`` when the client is gone."""
    future = handler.flush()
    if stall_timeout is None:
        await future
        return
    try:
        await asyncio.wait_for(asyncio.ensure_future(future), stall_timeout)
    except TimeoutError:
        raise TransferStalled(f"the client read nothing for {stall_timeout:g} s") from None


async def _aclose(iterator: AsyncIterator[bytes]) -> None:
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        try:
            await aclose()
        except Exception:
            log.debug("closing the image stream failed", exc_info=True)
