"""The job operations' bodies: CancelJob, GetJobElements, GetActiveJobs, GetJobHistory."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from firmware.wire import namespaces as ns
from firmware.wire.xml import Element, element, find_all, scan, sub

from ..common import required_child
from ..job import JobSummary
from .base import _expect, job_id_value
from .elements import ElementData, RequestedName, _element_data_list, _requested_names, _requested_names_xml

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
