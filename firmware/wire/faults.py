"""SOAP 1.2 faults: the exception, the catalogue, and the wire form (REFERENCE.md section 1.3).

Raise a :class:`SoapFault` anywhere below the HTTP handler; the handler turns
it into a fault envelope with ``wsa:Action`` = the addressing fault action,
``wsa:RelatesTo`` = the request's MessageID, and HTTP 400 for ``soap:Sender``
or 500 for ``soap:Receiver`` (SOAP 1.2 HTTP binding).

The factory functions below are the catalogue: one per subcode the service
uses, so a subcode's Code and default reason are written once.
"""

from __future__ import annotations

from . import namespaces as ns
from .xml import Element, element, qname, sub

SENDER = "Sender"
RECEIVER = "Receiver"


class SoapFault(Exception):
    """A SOAP fault to send back.

    ``code`` is ``"Sender"`` or ``"Receiver"``; ``subcode`` is ``(namespace,
    local)``, e.g. ``(ns.SCAN, "ClientErrorJobIdNotFound")``; ``reason`` a short
    English text; ``detail`` an optional element placed in ``soap:Detail``;
    ``action`` the fault envelope's wsa:Action (default: the WS-Addressing fault
    action; DPWS faults use ``.../devprof/Fault``).
    """

    def __init__(
        self,
        code: str,
        subcode: tuple[str, str],
        reason: str,
        detail: Element | None = None,
        action: str = ns.ADDRESSING_FAULT_ACTION,
    ) -> None:
        super().__init__(f"{subcode[1]}: {reason}")
        self.code = code
        self.subcode = subcode
        self.reason = reason
        self.detail = detail
        self.action = action

    @property
    def http_status(self) -> int:
        """400 for Sender faults, 500 for Receiver faults."""
        return 400 if self.code == SENDER else 500

    def to_xml(self) -> Element:
        """Build the ``soap:Fault`` element (the Body child)."""
        fault = element(qname(ns.SOAP, "Fault"))
        code = sub(fault, qname(ns.SOAP, "Code"))
        sub(code, qname(ns.SOAP, "Value"), "soap:" + self.code)
        subcode = sub(code, qname(ns.SOAP, "Subcode"))
        prefix = _PREFIX_OF[self.subcode[0]]
        # the Subcode is a QName: declare its prefix right there, whatever else the envelope declares
        sub(subcode, qname(ns.SOAP, "Value"), f"{prefix}:{self.subcode[1]}", {f"xmlns:{prefix}": self.subcode[0]})
        reason = sub(fault, qname(ns.SOAP, "Reason"))
        sub(reason, qname(ns.SOAP, "Text"), self.reason, {qname(ns.XML, "lang"): "en"})
        if self.detail is not None:
            sub(fault, qname(ns.SOAP, "Detail")).append(self.detail)
        return fault


_PREFIX_OF = {uri: prefix for prefix, uri in ns.PREFIXES.items()}


def _scan(code: str, local: str, reason: str, detail: Element | None = None) -> SoapFault:
    return SoapFault(code, (ns.SCAN, local), reason, detail)


# --- WS-Addressing / DPWS faults -------------------------------------------------


def action_not_supported(action: str) -> SoapFault:
    """wsa:ActionNotSupported (Sender): the request's wsa:Action is not served here."""
    return SoapFault(
        SENDER,
        (ns.WSA, "ActionNotSupported"),
        f"The action is not supported: {action[:200]}",
        element(qname(ns.WSA, "Action"), action[:2048]),
    )


def invalid_message_information_header(reason: str) -> SoapFault:
    """wsa:InvalidMessageInformationHeader (Sender): a bad addressing header (DPWS R0031)."""
    return SoapFault(SENDER, (ns.WSA, "InvalidMessageInformationHeader"), reason)


def message_information_header_required(header: str) -> SoapFault:
    """wsa:MessageInformationHeaderRequired (Sender): a required addressing header is missing."""
    return SoapFault(SENDER, (ns.WSA, "MessageInformationHeaderRequired"), f"Missing addressing header {header}")


# --- WS-Scan faults (ScanServiceFaultValuesType in WDPScan.xsd) ----------------------


def invalid_args(reason: str) -> SoapFault:
    """wscn:InvalidArgs (Sender): a missing, extra or ill-typed argument."""
    return _scan(SENDER, "InvalidArgs", reason)


def operation_failed(reason: str) -> SoapFault:
    """wscn:OperationFailed (Receiver): the service's state prevents the action."""
    return _scan(RECEIVER, "OperationFailed", reason)


def server_error_temporary_error(reason: str = "A temporary error occurred; try again.") -> SoapFault:
    """wscn:ServerErrorTemporaryError (Receiver): transient, the client may retry unchanged."""
    return _scan(RECEIVER, "ServerErrorTemporaryError", reason)


def server_error_internal_error(reason: str = "The scanner failed.") -> SoapFault:
    """wscn:ServerErrorInternalError (Receiver): persistent internal error."""
    return _scan(RECEIVER, "ServerErrorInternalError", reason)


def server_error_not_accepting_jobs(reason: str = "The scanner is not accepting jobs now.") -> SoapFault:
    """wscn:ServerErrorNotAcceptingJobs (Receiver): busy or stopped; retry later (CreateScanJob)."""
    return _scan(RECEIVER, "ServerErrorNotAcceptingJobs", reason)


def client_error_format_not_supported(supported: list[str]) -> SoapFault:
    """wscn:ClientErrorFormatNotSupported (Sender), Detail lists the supported formats."""
    detail = element(qname(ns.SCAN, "FormatsSupported"))
    for value in supported:
        sub(detail, qname(ns.SCAN, "FormatValue"), value)
    return _scan(SENDER, "ClientErrorFormatNotSupported", "The document format is not supported.", detail)


def client_error_conflicting_required_parameters(reason: str) -> SoapFault:
    """wscn:ClientErrorConflictingRequiredParameters (Sender): MustHonor values that cannot be met."""
    return _scan(SENDER, "ClientErrorConflictingRequiredParameters", reason)


def client_error_invalid_scan_identifier() -> SoapFault:
    """wscn:ClientErrorInvalidScanIdentifier (Sender): unknown ScanIdentifier (device-initiated scans)."""
    return _scan(SENDER, "ClientErrorInvalidScanIdentifier", "The scan identifier is not valid.")


def client_error_invalid_destination_token() -> SoapFault:
    """wscn:ClientErrorInvalidDestinationToken (Sender): unknown DestinationToken."""
    return _scan(SENDER, "ClientErrorInvalidDestinationToken", "The destination token is not valid.")


def client_error_no_images_available(reason: str = "The server has no images available to acquire.") -> SoapFault:
    """wscn:ClientErrorNoImagesAvailable (Sender): no (more) images; the normal end of an ADF batch."""
    return _scan(SENDER, "ClientErrorNoImagesAvailable", reason)


def client_error_job_id_not_found(job_id: object = None) -> SoapFault:
    """wscn:ClientErrorJobIdNotFound (Sender): no such job, an ended job, or a JobId out of range."""
    suffix = f" ({str(job_id)[:40]})" if job_id is not None else ""
    return _scan(SENDER, "ClientErrorJobIdNotFound", "The job was not found" + suffix + ".")


def client_error_invalid_job_token() -> SoapFault:
    """wscn:ClientErrorInvalidJobToken (Sender): the JobToken does not match the JobId."""
    return _scan(SENDER, "ClientErrorInvalidJobToken", "The job token is not valid for this job.")


def client_error_job_cancelled(reason: str = "The job was canceled.") -> SoapFault:
    """wscn:ClientErrorJobCancelled (Sender, spelled as in the XSD): the job was canceled or aborted."""
    return _scan(SENDER, "ClientErrorJobCancelled", reason)
