"""Job elements: ImageInformation, JobStatus, JobSummary, Documents, JobEndState, Job.

XSD: ``Common.xsd`` (ImageInformationType, RegionImageInformationBaseType),
``Job.xsd`` (JobStatusType, JobSummaryType, JobType), ``Document.xsd``
(DocumentsType) and ``WDPScan.xsd`` (JobEndStateType). REFERENCE.md sections
2.6 and 2.7.

JobState and JobStateReason values are strings; on input the prose spellings
``Held``, ``JobTransferring`` and ``JobScanningAndTransferring`` become the XSD
ones (:mod:`.enums`). Times are timezone-aware UTC datetimes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Self

from firmware.wire import faults
from firmware.wire.xml import Element, element, find_all, scan, sub

from .common import (
    child,
    datetime_value,
    format_datetime,
    int_value,
    required_child,
    string_value,
    token_value,
)
from .enums import normalize_job_state, normalize_job_state_reason
from .ticket import DocumentParameters, ScanTicket


def _job_state(el: Element) -> str:
    return normalize_job_state(token_value(el))


def _reasons_xml(parent: Element, tag: str, reasons: tuple[str, ...]) -> None:
    el = sub(parent, scan(tag))
    for reason in reasons:
        sub(el, scan("JobStateReason"), reason)


def _reasons_from_xml(el: Element | None) -> tuple[str, ...]:
    if el is None:
        return ()
    return tuple(normalize_job_state_reason(token_value(r)) for r in find_all(el, scan("JobStateReason")))


# --- ImageInformation ---------------------------------------------------------------------


@dataclass(frozen=True)
class ImageInfo:
    """One side's image geometry (RegionImageInformationBaseType), after scaling and rotation.

    ``pixels_per_line`` and ``number_of_lines`` >= 1; ``bytes_per_line`` >= 0
    in bytes, padding included (0 for compressed formats). REFERENCE.md 2.6.
    """

    pixels_per_line: int
    number_of_lines: int
    bytes_per_line: int

    def to_xml(self, tag: str = scan("MediaFrontImageInfo")) -> Element:
        """Build ``tag``: PixelsPerLine, NumberOfLines, BytesPerLine."""
        el = element(tag)
        sub(el, scan("PixelsPerLine"), self.pixels_per_line)
        sub(el, scan("NumberOfLines"), self.number_of_lines)
        sub(el, scan("BytesPerLine"), self.bytes_per_line)
        return el

    @classmethod
    def from_xml(cls, el: Element) -> Self:
        """Parse a MediaFront/BackImageInfo; raises ``wscn:InvalidArgs`` for a missing or ill-typed value."""
        return cls(
            int_value(required_child(el, "PixelsPerLine"), 1),
            int_value(required_child(el, "NumberOfLines"), 1),
            int_value(required_child(el, "BytesPerLine"), 0),
        )


@dataclass(frozen=True)
class ImageInformation:
    """ImageInformation: the front side's image geometry and, for duplex, the back's."""

    front: ImageInfo
    back: ImageInfo | None = None

    def to_xml(self) -> Element:
        """Build ImageInformation: MediaFrontImageInfo, MediaBackImageInfo?."""
        el = element(scan("ImageInformation"))
        el.append(self.front.to_xml(scan("MediaFrontImageInfo")))
        if self.back is not None:
            el.append(self.back.to_xml(scan("MediaBackImageInfo")))
        return el

    @classmethod
    def from_xml(cls, el: Element) -> Self:
        """Parse ImageInformation; raises ``wscn:InvalidArgs`` if MediaFrontImageInfo is missing or ill-typed."""
        back = child(el, "MediaBackImageInfo")
        return cls(
            ImageInfo.from_xml(required_child(el, "MediaFrontImageInfo")),
            None if back is None else ImageInfo.from_xml(back),
        )


# --- JobStatus / JobSummary / JobEndState ---------------------------------------------------


@dataclass(frozen=True)
class JobStatus:
    """JobStatus (JobStatusType): the job's state as GetJobElements and JobStatusEvent report it.

    ``job_id`` 1..2^31-1; ``job_state`` a JobState value; ``job_state_reasons``
    JobStateReason values (element omitted when empty); ``scans_completed``
    >= 0, counting scanned sides; times timezone-aware.
    """

    job_id: int
    job_state: str
    job_state_reasons: tuple[str, ...]
    scans_completed: int
    job_created_time: datetime | None = None
    job_completed_time: datetime | None = None

    def to_xml(self) -> Element:
        """Build JobStatus: JobId, JobState, JobStateReasons?, ScansCompleted, JobCreatedTime?, JobCompletedTime?."""
        el = element(scan("JobStatus"))
        sub(el, scan("JobId"), self.job_id)
        sub(el, scan("JobState"), self.job_state)
        if self.job_state_reasons:
            _reasons_xml(el, "JobStateReasons", self.job_state_reasons)
        sub(el, scan("ScansCompleted"), self.scans_completed)
        if self.job_created_time is not None:
            sub(el, scan("JobCreatedTime"), format_datetime(self.job_created_time))
        if self.job_completed_time is not None:
            sub(el, scan("JobCompletedTime"), format_datetime(self.job_completed_time))
        return el

    @classmethod
    def from_xml(cls, el: Element) -> Self:
        """Parse a JobStatus; raises ``wscn:InvalidArgs`` for a missing or ill-typed required part."""
        created = child(el, "JobCreatedTime")
        completed = child(el, "JobCompletedTime")
        return cls(
            job_id=int_value(required_child(el, "JobId"), 1),
            job_state=_job_state(required_child(el, "JobState")),
            job_state_reasons=_reasons_from_xml(child(el, "JobStateReasons")),
            scans_completed=int_value(required_child(el, "ScansCompleted"), 0),
            job_created_time=None if created is None else datetime_value(created),
            job_completed_time=None if completed is None else datetime_value(completed),
        )


@dataclass(frozen=True)
class JobSummary:
    """JobSummary (JobSummaryType): one line of GetActiveJobs / GetJobHistory.

    Fields as in :class:`JobStatus`; names are String255.
    """

    job_id: int
    job_name: str
    job_originating_user_name: str
    job_state: str
    job_state_reasons: tuple[str, ...]
    scans_completed: int

    def to_xml(self) -> Element:
        """Build JobSummary: JobId, JobName, JobOriginatingUserName, JobState, JobStateReasons?, ScansCompleted."""
        el = element(scan("JobSummary"))
        sub(el, scan("JobId"), self.job_id)
        sub(el, scan("JobName"), self.job_name)
        sub(el, scan("JobOriginatingUserName"), self.job_originating_user_name)
        sub(el, scan("JobState"), self.job_state)
        if self.job_state_reasons:
            _reasons_xml(el, "JobStateReasons", self.job_state_reasons)
        sub(el, scan("ScansCompleted"), self.scans_completed)
        return el

    @classmethod
    def from_xml(cls, el: Element) -> Self:
        """Parse a JobSummary; raises ``wscn:InvalidArgs`` for a missing or ill-typed required part."""
        return cls(
            job_id=int_value(required_child(el, "JobId"), 1),
            job_name=string_value(required_child(el, "JobName")),
            job_originating_user_name=string_value(required_child(el, "JobOriginatingUserName")),
            job_state=_job_state(required_child(el, "JobState")),
            job_state_reasons=_reasons_from_xml(child(el, "JobStateReasons")),
            scans_completed=int_value(required_child(el, "ScansCompleted"), 0),
        )


@dataclass(frozen=True)
class JobEndState:
    """JobEndState (JobEndStateType), the body of a JobEndStateEvent sent once per finished job.

    ``job_completed_state`` is Completed, Aborted or Canceled; at least one
    ``job_completed_state_reasons`` entry is required (REFERENCE.md 7).
    """

    job_id: int
    job_completed_state: str
    job_completed_state_reasons: tuple[str, ...]
    job_name: str
    job_originating_user_name: str
    scans_completed: int
    job_completed_time: datetime | None = None

    def to_xml(self) -> Element:
        """Build JobEndState: JobId, JobCompletedState, JobCompletedStateReasons, JobName,
        JobOriginatingUserName, ScansCompleted, JobCompletedTime?.

        Raises ``ValueError`` when ``job_completed_state_reasons`` is empty.
        """
        if not self.job_completed_state_reasons:
            raise ValueError("JobEndState needs at least one JobCompletedStateReason")
        el = element(scan("JobEndState"))
        sub(el, scan("JobId"), self.job_id)
        sub(el, scan("JobCompletedState"), self.job_completed_state)
        _reasons_xml(el, "JobCompletedStateReasons", self.job_completed_state_reasons)
        sub(el, scan("JobName"), self.job_name)
        sub(el, scan("JobOriginatingUserName"), self.job_originating_user_name)
        sub(el, scan("ScansCompleted"), self.scans_completed)
        if self.job_completed_time is not None:
            sub(el, scan("JobCompletedTime"), format_datetime(self.job_completed_time))
        return el

    @classmethod
    def from_xml(cls, el: Element) -> Self:
        """Parse a JobEndState; raises ``wscn:InvalidArgs`` for a missing or ill-typed required part."""
        reasons = _reasons_from_xml(required_child(el, "JobCompletedStateReasons"))
        if not reasons:
            raise faults.invalid_args("JobCompletedStateReasons is empty")
        completed = child(el, "JobCompletedTime")
        return cls(
            job_id=int_value(required_child(el, "JobId"), 1),
            job_completed_state=_job_state(required_child(el, "JobCompletedState")),
            job_completed_state_reasons=reasons,
            job_name=string_value(required_child(el, "JobName")),
            job_originating_user_name=string_value(required_child(el, "JobOriginatingUserName")),
            scans_completed=int_value(required_child(el, "ScansCompleted"), 0),
            job_completed_time=None if completed is None else datetime_value(completed),
        )


# --- Documents / Job ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Documents:
    """Documents (DocumentsType): the parameters actually used and the documents' names.

    ``final_parameters`` is written as DocumentFinalParameters (so it must be
    complete, see :meth:`DocumentParameters.missing_final_fields`);
    ``document_names`` String255, at least one.
    """

    final_parameters: DocumentParameters
    document_names: tuple[str, ...]

    def to_xml(self) -> Element:
        """Build Documents: DocumentFinalParameters, Document+{DocumentDescription{DocumentName}}.

        Raises ``ValueError`` when ``document_names`` is empty or the parameters are incomplete.
        """
        if not self.document_names:
            raise ValueError("Documents needs at least one document name")
        el = element(scan("Documents"))
        el.append(self.final_parameters.to_xml(scan("DocumentFinalParameters")))
        for name in self.document_names:
            description = sub(sub(el, scan("Document")), scan("DocumentDescription"))
            sub(description, scan("DocumentName"), name)
        return el

    @classmethod
    def from_xml(cls, el: Element) -> Self:
        """Parse Documents; raises ``wscn:InvalidArgs`` if DocumentFinalParameters or every Document is missing."""
        names = tuple(
            string_value(required_child(required_child(doc, "DocumentDescription"), "DocumentName"))
            for doc in find_all(el, scan("Document"))
        )
        if not names:
            raise faults.invalid_args("Documents needs at least one Document")
        return cls(DocumentParameters.from_xml(required_child(el, "DocumentFinalParameters")), names)


@dataclass(frozen=True)
class Job:
    """Job (JobType): status, ticket and, once known, the documents."""

    status: JobStatus
    ticket: ScanTicket
    documents: Documents | None = None

    def to_xml(self) -> Element:
        """Build Job: JobStatus, ScanTicket, Documents?."""
        el = element(scan("Job"))
        el.append(self.status.to_xml())
        el.append(self.ticket.to_xml())
        if self.documents is not None:
            el.append(self.documents.to_xml())
        return el

    @classmethod
    def from_xml(cls, el: Element) -> Self:
        """Parse a Job; raises ``wscn:InvalidArgs`` if JobStatus or ScanTicket is missing or ill-typed."""
        documents = child(el, "Documents")
        return cls(
            JobStatus.from_xml(required_child(el, "JobStatus")),
            ScanTicket.from_xml(required_child(el, "ScanTicket")),
            None if documents is None else Documents.from_xml(documents),
        )
