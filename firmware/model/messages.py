"""The eight WS-Scan operations' request and response bodies (REFERENCE.md section 1.2; WDPScan.xsd).

Each class is the SOAP Body's only child. Requests are parsed with
``from_xml`` (leniently: unknown children and attributes are ignored) and
raise ``wscn:InvalidArgs`` for a wrong root element, a missing required child
or an ill-typed value; a JobId that is an integer outside 1..2147483647
raises ``wscn:ClientErrorJobIdNotFound`` instead. Responses are built with
``to_xml``; every class has both methods so messages round-trip.

``RetrieveImageResponse`` is the SOAP part of an MTOM message: its ScanData
holds an ``xop:Include`` pointing at the image part (REFERENCE.md 4.6), which
is why it does not validate against the XSD (base64Binary) as it stands.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Self
from urllib.parse import quote, unquote

from firmware.wire import faults
from firmware.wire import namespaces as ns
from firmware.wire.xml import (
    Element,
    element,
    find,
    find_all,
    local_name,
    namespace_of,
    qname,
    resolve_qname,
    scan,
    sub,
)

from .common import (
    INT_MAX,
    attribute,
    bool_value,
    child,
    declare_prefix,
    integer_or_none,
    parse_bool,
    required_child,
    string_value,
)
from .job import Documents, ImageInformation, JobStatus, JobSummary
from .scanner import ScannerConfiguration, ScannerDescription, ScannerStatus
from .ticket import DocumentParameters, ScanTicket

_PREFIX_OF_NAMESPACE = {uri: prefix for prefix, uri in ns.PREFIXES.items()}
_VENDOR_PREFIX = "vnd"


def _expect(el: Element, local: str) -> None:
    """Raise ``wscn:InvalidArgs`` unless ``el`` is ``wscn:<local>``."""
    if el.tag != scan(local):
        raise faults.invalid_args(f"expected {local}, got {local_name(el.tag)[:80]}")


def job_id_value(el: Element) -> int:
    """Parse a request's JobId (IntOneExtType).

    Raises ``wscn:InvalidArgs`` when the text is not an integer, and
    ``wscn:ClientErrorJobIdNotFound`` when it is one outside 1..2147483647
    (no such job can exist; REFERENCE.md 2.7).
    """
    text = (el.text or "").strip()
    value = integer_or_none(text)
    if value is None:
        raise faults.invalid_args(f"JobId is not an integer: {text[:40]!r}")
    if not 1 <= value <= INT_MAX:
        raise faults.client_error_job_id_not_found(text)
    return value


# --- ElementData ---------------------------------------------------------------------------

# Content classes by the tag they are written under (the ScanTicket's tag depends on the Name).
_CONTENT_PARSERS = {
    "ScannerDescription": ScannerDescription.from_xml,
    "ScannerConfiguration": ScannerConfiguration.from_xml,
    "ScannerStatus": ScannerStatus.from_xml,
    "DefaultScanTicket": ScanTicket.from_xml,
    "ScanTicket": ScanTicket.from_xml,
    "JobStatus": JobStatus.from_xml,
    "Documents": Documents.from_xml,
}


@dataclass(frozen=True)
class ElementData:
    """ElementData (ScannerElementDataType / JobElementDataType): one requested element.

    ``name`` is the QName text written to the unqualified ``Name`` attribute,
    e.g. ``"wscn:ScannerStatus"``; ``valid`` the unqualified ``Valid``
    attribute; ``content`` one of ScannerDescription, ScannerConfiguration,
    ScannerStatus, ScanTicket (written as DefaultScanTicket when the name's
    local part is DefaultScanTicket), JobStatus, Documents, a foreign
    ``Element``, or None (``Valid="false"`` entries carry no content).
    ``namespace`` is only needed when ``name`` uses a prefix that is not one
    of :data:`firmware.wire.namespaces.PREFIXES`: it is then declared on the
    element so the QName resolves (not compared; see
    :meth:`RequestedName.element_data`).
    """

    name: str
    valid: bool
    content: object | None = None
    namespace: str | None = field(default=None, compare=False)

    def to_xml(self) -> Element:
        """Build ``<wscn:ElementData Name=".." Valid="..">content?</wscn:ElementData>``.

        Raises ``ValueError`` for a content type it cannot write, or a prefix clash (:func:`.common.declare_prefix`).
        """
        el = element(scan("ElementData"), attrib={"Name": self.name, "Valid": "true" if self.valid else "false"})
        declare_prefix(el, self.name, self.namespace)
        if self.content is not None:
            el.append(self._content_xml())
        return el

    def _content_xml(self) -> Element:
        content = self.content
        if isinstance(content, ScanTicket):
            local = self.name.rsplit(":", 1)[-1]
            return content.to_xml(scan("DefaultScanTicket" if local == "DefaultScanTicket" else "ScanTicket"))
        if isinstance(content, (ScannerDescription, ScannerConfiguration, ScannerStatus, JobStatus, Documents)):
            return content.to_xml()
        if isinstance(content, Element):
            return content
        raise ValueError(f"cannot write {type(content).__name__} as ElementData content")

    @classmethod
    def from_xml(cls, el: Element) -> Self:
        """Parse an ElementData; ``Name``/``Valid`` are read unqualified or ``wscn:``-qualified.

        The first child becomes ``content``: a model object for the known
        elements, the raw ``Element`` for a foreign one.
        Raises ``wscn:InvalidArgs`` when Name or Valid is missing or ill-typed, or the content is.
        """
        name = attribute(el, "Name")
        valid = attribute(el, "Valid")
        if name is None or not name.strip():
            raise faults.invalid_args("ElementData lacks the Name attribute")
        if valid is None:
            raise faults.invalid_args("ElementData lacks the Valid attribute")
        content: object | None = None
        for item in el:
            if not isinstance(item.tag, str):  # comments, processing instructions
                continue
            parser = _CONTENT_PARSERS.get(local_name(item.tag)) if namespace_of(item.tag) == ns.SCAN else None
            content = item if parser is None else parser(item)
            break
        return cls(name.strip(), parse_bool(valid, "attribute Valid"), content)


def _element_data_list(parent: Element, local: str) -> tuple[ElementData, ...]:
    container = required_child(parent, local)
    items = tuple(ElementData.from_xml(item) for item in find_all(container, scan("ElementData")))
    if not items:
        raise faults.invalid_args(f"{local} needs at least one ElementData")
    return items


# --- GetScannerElements -------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestedName:
    """One GetScannerElementsRequest Name: the resolved QName and the text as written.

    ``namespace`` is '' when the prefix was unknown or absent with no default namespace.
    """

    namespace: str
    local: str
    text: str

    def element_data(self, valid: bool, content: object | None = None) -> ElementData:
        """Build the ElementData answering this name, with a Name that resolves in our reply.

        A namespace we have a prefix for is written with it (``sca:ScannerStatus``
        becomes ``wscn:ScannerStatus``); no namespace gives the bare local name;
        a vendor namespace keeps the client's prefix (or ``vnd``), declared on the element.
        """
        prefix = _PREFIX_OF_NAMESPACE.get(self.namespace)
        if prefix is not None:
            return ElementData(f"{prefix}:{self.local}", valid, content)
        if not self.namespace:
            return ElementData(self.local, valid, content)
        client_prefix = self.text.split(":", 1)[0] if ":" in self.text else ""
        prefix = client_prefix if client_prefix and client_prefix not in ns.PREFIXES else _VENDOR_PREFIX
        return ElementData(f"{prefix}:{self.local}", valid, content, self.namespace)


def _requested_names_xml(parent: Element, names: tuple[RequestedName, ...]) -> None:
    """Append ``RequestedElements{Name+}`` to ``parent``, declaring any non-registered prefix a name uses."""
    requested = sub(parent, scan("RequestedElements"))
    for name in names:
        declare_prefix(sub(requested, scan("Name"), name.text), name.text, name.namespace)


def _requested_names(parent: Element, prefixes: dict[str, str] | None) -> tuple[RequestedName, ...]:
    """Parse ``RequestedElements{Name+}`` of ``parent``, resolving each QName with ``prefixes``
    (prefix -> namespace, from :func:`firmware.wire.xml.parse_with_prefixes`; None means our
    registered prefixes). Raises ``wscn:InvalidArgs`` for no RequestedElements, no Name, or an
    empty Name or one over 255 characters."""
    scope = dict(ns.PREFIXES) if prefixes is None else prefixes
    names = []
    for name_el in find_all(required_child(parent, "RequestedElements"), scan("Name")):
        text = (name_el.text or "").strip()
        if not text:
            raise faults.invalid_args("RequestedElements has an empty Name")
        if len(text) > 255:
            raise faults.invalid_args("a requested Name is longer than 255 characters")
        namespace, local = resolve_qname(text, scope)
        names.append(RequestedName(namespace, local, text))
    if not names:
        raise faults.invalid_args("RequestedElements needs at least one Name")
    return tuple(names)


@dataclass(frozen=True)
class GetScannerElementsRequest:
    """GetScannerElementsRequest: RequestedElements{Name+}, QNames such as ``wscn:ScannerConfiguration``."""

    names: tuple[RequestedName, ...]

    def to_xml(self) -> Element:
        """Build the request, declaring any non-registered prefix a name uses."""
        el = element(scan("GetScannerElementsRequest"))
        _requested_names_xml(el, self.names)
        return el

    @classmethod
    def from_xml(cls, el: Element, prefixes: dict[str, str] | None = None) -> Self:
        """Parse the request, resolving each Name with ``prefixes`` (prefix -> namespace).

        ``prefixes`` comes from :func:`firmware.wire.xml.parse_with_prefixes`;
        None means our registered prefixes. Raises ``wscn:InvalidArgs`` for a
        wrong root, no RequestedElements, no Name or an empty Name.
        """
        _expect(el, "GetScannerElementsRequest")
        return cls(_requested_names(el, prefixes))


@dataclass(frozen=True)
class GetScannerElementsResponse:
    """GetScannerElementsResponse: ScannerElements{ElementData+}, one per requested name."""

    elements: tuple[ElementData, ...]

    def to_xml(self) -> Element:
        """Build the response."""
        el = element(scan("GetScannerElementsResponse"))
        container = sub(el, scan("ScannerElements"))
        for item in self.elements:
            container.append(item.to_xml())
        return el

    @classmethod
    def from_xml(cls, el: Element) -> Self:
        """Parse the response; raises ``wscn:InvalidArgs`` for a wrong root or no ElementData."""
        _expect(el, "GetScannerElementsResponse")
        return cls(_element_data_list(el, "ScannerElements"))


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


# --- CancelJob ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CancelJobRequest:
    """CancelJobRequest: JobId (sane-airscan sends no JobToken, and none is defined)."""

    job_id: int

    def to_xml(self) -> Element:
        """Build the request."""
        el = element(scan("CancelJobRequest"))
        sub(el, scan("JobId"), self.job_id)
        return el

    @classmethod
    def from_xml(cls, el: Element) -> Self:
        """Parse the request; JobId faults as in :func:`job_id_value`, a wrong root gives ``wscn:InvalidArgs``."""
        _expect(el, "CancelJobRequest")
        return cls(job_id_value(required_child(el, "JobId")))


@dataclass(frozen=True)
class CancelJobResponse:
    """CancelJobResponse: an empty element."""

    def to_xml(self) -> Element:
        """Build the empty response."""
        return element(scan("CancelJobResponse"))

    @classmethod
    def from_xml(cls, el: Element) -> Self:
        """Parse the response; raises ``wscn:InvalidArgs`` for a wrong root."""
        _expect(el, "CancelJobResponse")
        return cls()


# --- GetJobElements -----------------------------------------------------------------------------------

#: The job elements a GetJobElementsRequest name can resolve to (in the scan namespace).
JOB_ELEMENTS = ("JobStatus", "ScanTicket", "Documents")
#: JobElementsEntryWKVType spells Documents "Document"; [SPEC] prose says "Documents".
_JOB_ELEMENT_ALIASES = {
    "JobStatus": "JobStatus",
    "ScanTicket": "ScanTicket",
    "Document": "Documents",
    "Documents": "Documents",
}


def _job_element_name(name: RequestedName) -> RequestedName:
    """Resolve a GetJobElements Name: an unprefixed well-known value (JobStatus, ScanTicket,
    Document; the XSD's NMTOKENs, not QNames) means the scan namespace whatever the default
    namespace is, and the scan namespace's ``Document`` is the ``Documents`` element."""
    namespace = name.namespace
    if ":" not in name.text and name.local in _JOB_ELEMENT_ALIASES:
        namespace = ns.SCAN
    if namespace == ns.SCAN and name.local in _JOB_ELEMENT_ALIASES:
        return RequestedName(ns.SCAN, _JOB_ELEMENT_ALIASES[name.local], name.text)
    return RequestedName(namespace, name.local, name.text)


@dataclass(frozen=True)
class GetJobElementsRequest:
    """GetJobElementsRequest: JobId, RequestedElements{Name+}.

    ``names`` are resolved like GetScannerElementsRequest's (against the
    request's own prefixes); a well-known job element, however the client
    spelled it (``JobStatus``, ``wscn:JobStatus``, ``sca:JobStatus``,
    ``Document``, ``Documents``), has the scan namespace and its
    :data:`JOB_ELEMENTS` local name, with ``text`` as written.
    """

    job_id: int
    names: tuple[RequestedName, ...]

    @classmethod
    def of(cls, job_id: int, *locals_: str) -> Self:
        """A request for scan-namespace elements by local name, e.g. ``of(7, "JobStatus", "Documents")``;
        ``Documents`` is written as the XSD's well-known ``Document``."""
        return cls(
            job_id,
            tuple(RequestedName(ns.SCAN, local, "Document" if local == "Documents" else local) for local in locals_),
        )

    def to_xml(self) -> Element:
        """Build the request; each Name is written as ``text`` (its prefix declared when not registered)."""
        el = element(scan("GetJobElementsRequest"))
        sub(el, scan("JobId"), self.job_id)
        _requested_names_xml(el, self.names)
        return el

    @classmethod
    def from_xml(cls, el: Element, prefixes: dict[str, str] | None = None) -> Self:
        """Parse the request; ``prefixes`` (prefix -> namespace) resolves the Names (None: our
        registered prefixes). JobId faults as in :func:`job_id_value`; a wrong root, missing
        RequestedElements, no Name or an empty or overlong Name gives ``wscn:InvalidArgs``."""
        _expect(el, "GetJobElementsRequest")
        job_id = job_id_value(required_child(el, "JobId"))
        return cls(job_id, tuple(_job_element_name(name) for name in _requested_names(el, prefixes)))


@dataclass(frozen=True)
class GetJobElementsResponse:
    """GetJobElementsResponse: JobElements{ElementData+} with JobStatus, ScanTicket or Documents content."""

    elements: tuple[ElementData, ...]

    def to_xml(self) -> Element:
        """Build the response."""
        el = element(scan("GetJobElementsResponse"))
        container = sub(el, scan("JobElements"))
        for item in self.elements:
            container.append(item.to_xml())
        return el

    @classmethod
    def from_xml(cls, el: Element) -> Self:
        """Parse the response; raises ``wscn:InvalidArgs`` for a wrong root or no ElementData."""
        _expect(el, "GetJobElementsResponse")
        return cls(_element_data_list(el, "JobElements"))


# --- GetActiveJobs / GetJobHistory ------------------------------------------------------------------


@dataclass(frozen=True)
class GetActiveJobsRequest:
    """GetActiveJobsRequest: empty."""

    def to_xml(self) -> Element:
        """Build the empty request."""
        return element(scan("GetActiveJobsRequest"))

    @classmethod
    def from_xml(cls, el: Element) -> Self:
        """Parse the request (any content ignored); raises ``wscn:InvalidArgs`` for a wrong root."""
        _expect(el, "GetActiveJobsRequest")
        return cls()


def _summaries_xml(tag: str, container: str, summaries: tuple[JobSummary, ...]) -> Element:
    el = element(scan(tag))
    parent = sub(el, scan(container))
    for summary in summaries:
        parent.append(summary.to_xml())
    return el


def _summaries_from_xml(el: Element, container: str) -> tuple[JobSummary, ...]:
    return tuple(JobSummary.from_xml(s) for s in find_all(required_child(el, container), scan("JobSummary")))


@dataclass(frozen=True)
class GetActiveJobsResponse:
    """GetActiveJobsResponse: ActiveJobs{JobSummary*}."""

    summaries: tuple[JobSummary, ...] = ()

    def to_xml(self) -> Element:
        """Build the response."""
        return _summaries_xml("GetActiveJobsResponse", "ActiveJobs", self.summaries)

    @classmethod
    def from_xml(cls, el: Element) -> Self:
        """Parse the response; raises ``wscn:InvalidArgs`` for a wrong root, no ActiveJobs or a bad summary."""
        _expect(el, "GetActiveJobsResponse")
        return cls(_summaries_from_xml(el, "ActiveJobs"))


@dataclass(frozen=True)
class GetJobHistoryRequest:
    """GetJobHistoryRequest: empty."""

    def to_xml(self) -> Element:
        """Build the empty request."""
        return element(scan("GetJobHistoryRequest"))

    @classmethod
    def from_xml(cls, el: Element) -> Self:
        """Parse the request (any content ignored); raises ``wscn:InvalidArgs`` for a wrong root."""
        _expect(el, "GetJobHistoryRequest")
        return cls()


@dataclass(frozen=True)
class GetJobHistoryResponse:
    """GetJobHistoryResponse: JobHistory{JobSummary*}."""

    summaries: tuple[JobSummary, ...] = ()

    def to_xml(self) -> Element:
        """Build the response."""
        return _summaries_xml("GetJobHistoryResponse", "JobHistory", self.summaries)

    @classmethod
    def from_xml(cls, el: Element) -> Self:
        """Parse the response; raises ``wscn:InvalidArgs`` for a wrong root, no JobHistory or a bad summary."""
        _expect(el, "GetJobHistoryResponse")
        return cls(_summaries_from_xml(el, "JobHistory"))
