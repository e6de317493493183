"""The HTTP access log: one line per request, naming the SOAP operation, at a level that
matches what happened.

Tornado's own access log (``tornado.access``) logs every 4xx as WARNING and
every 5xx as ERROR. For SOAP that misleads: SOAP 1.2 sends a Sender fault
with HTTP 400 and a Receiver fault with 500, so the normal end of an ADF batch
(RetrieveImage answered ClientErrorNoImagesAvailable) would be a warning and a
scanner whose cover is open an error. :func:`log_request` (the Application's
``log_function``) logs instead:

* INFO for successes (2xx, 3xx) and for faults that are a normal outcome
  (:data:`NORMAL_FAULTS`);
* WARNING for other SOAP faults and HTTP errors: the client's request failed
  for a reason the log line names (the fault code);
* ERROR only for a 500 that is not a SOAP fault the service chose to send
  (an unexpected exception, already logged with its traceback).

The line: ``200 POST /scanners/test-0 RetrieveImage (192.0.2.7) 12.3 ms``, with
``-> ClientErrorNoImagesAvailable`` after the operation for a fault. Handlers
name the operation and the fault by setting :data:`OPERATION_ATTR` and
:data:`FAULT_ATTR` on themselves.
"""

from __future__ import annotations

import logging

import tornado.web

log = logging.getLogger("tornado.access")

OPERATION_ATTR = "access_operation"
"""Handler attribute: the operation's name (the wsa:Action's last segment, e.g. ``CreateScanJob``)."""
FAULT_ATTR = "access_fault"
"""Handler attribute: the subcode local name of the SOAP fault sent (e.g. ``ServerErrorNotAcceptingJobs``)."""

NORMAL_FAULTS = frozenset({"ClientErrorNoImagesAvailable"})
"""Faults that are a normal outcome, logged at INFO: no more pages (the end of every ADF batch,
or an empty feeder, which the user fixes by loading paper)."""


def level_of(status: int, fault: str | None) -> int:
    """The log level of a request answered ``status`` with SOAP fault ``fault`` (None: no fault)."""
    if fault is not None:
        return logging.INFO if fault in NORMAL_FAULTS else logging.WARNING
    if status < 400:
        return logging.INFO
    if status < 500:
        return logging.WARNING
    return logging.ERROR


def log_request(handler: tornado.web.RequestHandler) -> None:
    """Log one finished request (Tornado's ``log_function`` setting). Never raises."""
    request = handler.request
    status = handler.get_status()
    operation = getattr(handler, OPERATION_ATTR, None)
    fault = getattr(handler, FAULT_ATTR, None)
    what = ""
    if operation:
        what = f" {operation}"
    if fault:
        what += f" -> {fault}"
    log.log(
        level_of(status, fault),
        "%d %s %s%s (%s) %.1f ms",
        status,
        request.method,
        request.path,
        what,
        request.remote_ip,
        1000.0 * request.request_time(),
    )
