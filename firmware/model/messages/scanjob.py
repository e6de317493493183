"""The operations that take a ScanTicket to images: ValidateScanTicket, CreateScanJob, RetrieveImage.

``RetrieveImageResponse`` is the SOAP part of an MTOM message: its ScanData
holds an ``xop:Include`` pointing at the image part (REFERENCE.md 4.6), which
is why it does not validate against the XSD (base64Binary) as it stands.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self
from urllib.parse import quote, unquote

from firmware.wire import faults
from firmware.wire import namespaces as ns
from firmware.wire.xml import Element, element, find, qname, scan, sub

from ..common import bool_value, child, required_child, string_value
from ..job import ImageInformation
from ..ticket import DocumentParameters, ScanTicket
from .base import _expect, job_id_value

# --- ValidateScanTicket ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ValidateScanTicketRequest:
    """ValidateScanTicketRequest: ScanTicket."""

    ticket: ScanTicket

    def to_xml(self) -> Element:
        """Build the request."""
        el = element(scan("ValidateScanTicketRequest"))
        el.append(self.ticket.to_xml())
        return el

    @classmethod
    def from_xml(cls, el: Element) -> Self:
        """Parse the request; raises ``wscn:InvalidArgs`` for a wrong root, no ScanTicket or a bad ticket."""
        _expect(el, "ValidateScanTicketRequest")
        return cls(ScanTicket.from_xml(required_child(el, "ScanTicket")))


@dataclass(frozen=True)
class ValidateScanTicketResponse:
    """ValidateScanTicketResponse: ValidationInfo{ValidTicket, ImageInformation, ValidScanTicket?}.

    ``valid_scan_ticket`` is the corrected ticket, sent when ``valid`` is False.
    """

    valid: bool
    image_information: ImageInformation
    valid_scan_ticket: ScanTicket | None = None

    def to_xml(self) -> Element:
        """Build the response."""
        el = element(scan("ValidateScanTicketResponse"))
        info = sub(el, scan("ValidationInfo"))
        sub(info, scan("ValidTicket"), self.valid)
        info.append(self.image_information.to_xml())
        if self.valid_scan_ticket is not None:
            info.append(self.valid_scan_ticket.to_xml(scan("ValidScanTicket")))
        return el

    @classmethod
    def from_xml(cls, el: Element) -> Self:
        """Parse the response; raises ``wscn:InvalidArgs`` for a wrong root or a missing/ill-typed part."""
        _expect(el, "ValidateScanTicketResponse")
        info = required_child(el, "ValidationInfo")
        ticket = child(info, "ValidScanTicket")
        return cls(
            bool_value(required_child(info, "ValidTicket")),
            ImageInformation.from_xml(required_child(info, "ImageInformation")),
            None if ticket is None else ScanTicket.from_xml(ticket),
        )


# --- CreateScanJob --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreateScanJobRequest:
    """CreateScanJobRequest: ScanIdentifier?, DestinationToken?, ScanTicket.

    The two strings (String255) come only with device-initiated scans (REFERENCE.md 3.3).
    """

    ticket: ScanTicket
    scan_identifier: str | None = None
    destination_token: str | None = None

    def to_xml(self) -> Element:
        """Build the request."""
        el = element(scan("CreateScanJobRequest"))
        if self.scan_identifier is not None:
            sub(el, scan("ScanIdentifier"), self.scan_identifier)
        if self.destination_token is not None:
            sub(el, scan("DestinationToken"), self.destination_token)
        el.append(self.ticket.to_xml())
        return el

    @classmethod
    def from_xml(cls, el: Element) -> Self:
        """Parse the request; raises ``wscn:InvalidArgs`` for a wrong root, no ScanTicket, a bad ticket
        or a string over 255 characters."""
        _expect(el, "CreateScanJobRequest")
        identifier = child(el, "ScanIdentifier")
        token = child(el, "DestinationToken")
        return cls(
            ScanTicket.from_xml(required_child(el, "ScanTicket")),
            None if identifier is None else string_value(identifier),
            None if token is None else string_value(token),
        )


@dataclass(frozen=True)
class CreateScanJobResponse:
    """CreateScanJobResponse: JobId (1..2^31-1), JobToken (String255), ImageInformation,
    DocumentFinalParameters (a complete :class:`DocumentParameters`)."""

    job_id: int
    job_token: str
    image_information: ImageInformation
    document_final_parameters: DocumentParameters

    def to_xml(self) -> Element:
        """Build the response; raises ``ValueError`` if the final parameters are incomplete."""
        el = element(scan("CreateScanJobResponse"))
        sub(el, scan("JobId"), self.job_id)
        sub(el, scan("JobToken"), self.job_token)
        el.append(self.image_information.to_xml())
        el.append(self.document_final_parameters.to_xml(scan("DocumentFinalParameters")))
        return el

    @classmethod
    def from_xml(cls, el: Element) -> Self:
        """Parse the response; raises ``wscn:InvalidArgs`` for a wrong root or a missing/ill-typed part."""
        _expect(el, "CreateScanJobResponse")
        return cls(
            job_id_value(required_child(el, "JobId")),
            string_value(required_child(el, "JobToken")),
            ImageInformation.from_xml(required_child(el, "ImageInformation")),
            DocumentParameters.from_xml(required_child(el, "DocumentFinalParameters")),
        )


# --- RetrieveImage --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetrieveImageRequest:
    """RetrieveImageRequest: JobId, JobToken, DocumentDescription{DocumentName}.

    ``document_name`` is None when the client left DocumentDescription out (tolerated).
    """

    job_id: int
    job_token: str
    document_name: str | None = None

    def to_xml(self) -> Element:
        """Build the request (DocumentDescription only when ``document_name`` is set)."""
        el = element(scan("RetrieveImageRequest"))
        sub(el, scan("JobId"), self.job_id)
        sub(el, scan("JobToken"), self.job_token)
        if self.document_name is not None:
            sub(sub(el, scan("DocumentDescription")), scan("DocumentName"), self.document_name)
        return el

    @classmethod
    def from_xml(cls, el: Element) -> Self:
        """Parse the request.

        Raises ``wscn:InvalidArgs`` for a wrong root, a missing JobId or JobToken
        or a non-integer JobId; ``wscn:ClientErrorJobIdNotFound`` for an integer
        JobId outside 1..2147483647.
        """
        _expect(el, "RetrieveImageRequest")
        job_id = job_id_value(required_child(el, "JobId"))
        token = string_value(required_child(el, "JobToken"))
        description = child(el, "DocumentDescription")
        name = None if description is None else child(description, "DocumentName")
        return cls(job_id, token, None if name is None else string_value(name))


@dataclass(frozen=True)
class RetrieveImageResponse:
    """RetrieveImageResponse: ScanData{xop:Include href="cid:<content_id>"} (MTOM, REFERENCE.md 4.6).

    ``content_id`` is the image part's Content-ID without angle brackets;
    it is percent-encoded in the ``cid:`` URL as RFC 2392 requires.
    """

    content_id: str

    def to_xml(self) -> Element:
        """Build the response with its xop:Include."""
        el = element(scan("RetrieveImageResponse"))
        data = sub(el, scan("ScanData"))
        sub(data, qname(ns.XOP, "Include"), attrib={"href": "cid:" + quote(self.content_id, safe="@!$&'()*+,;=:~._-")})
        return el

    @classmethod
    def from_xml(cls, el: Element) -> Self:
        """Parse the response; raises ``wscn:InvalidArgs`` without ScanData/xop:Include or a ``cid:`` href."""
        _expect(el, "RetrieveImageResponse")
        include = find(required_child(el, "ScanData"), qname(ns.XOP, "Include"))
        href = None if include is None else include.get("href")
        if href is None or not href.startswith("cid:"):
            raise faults.invalid_args("ScanData lacks an xop:Include with a cid: href")
        return cls(unquote(href[4:]))
