"""The job automaton: the one place where JobState, JobStateReasons, ScansCompleted change.

WS-Scan job lifecycle ([SPEC] Fig. 13, REFERENCE.md section 2.7)::

    Pending --scanning()--> Processing[JobScanning]
            --transferring()--> Processing[JobScanningAndTransfering]
            --page_delivered()--> ScansCompleted += 1
    any non-terminal --complete()--> Completed[JobCompletedSuccessfully]
                     --abort(reasons)--> Aborted[reasons]
                     --cancel()--> Canceled

Every change of a JobStatus child calls the registered listeners with the job
(the seed documents require a JobStatusEvent for every change).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from ..model import (
    DocumentParameters,
    Documents,
    ImageInformation,
    JobEndState,
    JobStatus,
    JobSummary,
    ScanTicket,
)
from ..model import (
    Job as JobElement,
)
from ..model.enums import JobState, JobStateReason

PENDING = JobState.PENDING
PROCESSING = JobState.PROCESSING
COMPLETED = JobState.COMPLETED
ABORTED = JobState.ABORTED
CANCELED = JobState.CANCELED
END_STATES = frozenset({COMPLETED, ABORTED, CANCELED})


class JobEnded(Exception):
    """A transition was asked of a job that already reached an end state."""


def utc_now() -> dt.datetime:
    """The current time, UTC, to the millisecond (for JobCreatedTime and friends)."""
    now = dt.datetime.now(dt.UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


@dataclass(eq=False)
class Job:
    """One scan job and its JobStatus.

    ``job_id`` 1..2147483647; ``job_token`` the opaque token RetrieveImage must
    present; ``ticket`` the client's ScanTicket; ``final_parameters`` the
    DocumentFinalParameters the service will actually use; ``image_information``
    the predicted ImageInformation.
    """

    job_id: int
    job_token: str
    ticket: ScanTicket
    final_parameters: DocumentParameters
    image_information: ImageInformation
    created_time: dt.datetime = field(default_factory=utc_now)
    state: str = PENDING
    reasons: tuple[str, ...] = (JobStateReason.NONE,)
    scans_completed: int = 0
    completed_time: dt.datetime | None = None
    document_names: list[str] = field(default_factory=list)
    listeners: list[Callable[[Job], None]] = field(default_factory=list)

    # --- queries ---------------------------------------------------------------

    @property
    def ended(self) -> bool:
        """True once the job is Completed, Aborted or Canceled."""
        return self.state in END_STATES

    @property
    def job_name(self) -> str:
        """JobName from the ticket's JobDescription."""
        return self.ticket.job_description.job_name

    @property
    def job_originating_user_name(self) -> str:
        """JobOriginatingUserName from the ticket's JobDescription."""
        return self.ticket.job_description.job_originating_user_name

    def status(self) -> JobStatus:
        """The JobStatus element as of now."""
        return JobStatus(
            job_id=self.job_id,
            job_state=self.state,
            job_state_reasons=self.reasons,
            scans_completed=self.scans_completed,
            job_created_time=self.created_time,
            job_completed_time=self.completed_time,
        )

    def summary(self) -> JobSummary:
        """The JobSummary element (GetActiveJobs, GetJobHistory)."""
        return JobSummary(
            job_id=self.job_id,
            job_name=self.job_name,
            job_originating_user_name=self.job_originating_user_name,
            job_state=self.state,
            job_state_reasons=self.reasons,
            scans_completed=self.scans_completed,
        )

    def documents(self) -> Documents | None:
        """The Documents element: final parameters and the names of delivered documents; None
        until the first document was delivered (DocumentsType needs at least one Document)."""
        if not self.document_names:
            return None
        return Documents(final_parameters=self.final_parameters, document_names=tuple(self.document_names))

    def element_content(self, local: str) -> JobStatus | ScanTicket | Documents | None:
        """What GetJobElements answers for the scan-namespace element ``local`` (JobStatus,
        ScanTicket, Documents: Job.xsd JobElementDataType), or None when it has no schema-valid
        value now (Documents before a document exists) or is no job element (Valid="false")."""
        if local == "JobStatus":
            return self.status()
        if local == "ScanTicket":
            return self.ticket
        if local == "Documents":
            return self.documents()
        return None

    def element(self) -> JobElement:
        """The whole Job element (JobStatus, ScanTicket, Documents)."""
        return JobElement(status=self.status(), ticket=self.ticket, documents=self.documents())

    def end_state(self) -> JobEndState:
        """The JobEndState element of an ended job (JobEndStateEvent)."""
        return JobEndState(
            job_id=self.job_id,
            job_completed_state=self.state,
            job_completed_state_reasons=self.reasons,
            job_name=self.job_name,
            job_originating_user_name=self.job_originating_user_name,
            scans_completed=self.scans_completed,
            job_completed_time=self.completed_time,
        )

    # --- transitions -----------------------------------------------------------

    def scanning(self) -> None:
        """The device is digitising: Processing / JobScanning."""
        self._set(PROCESSING, (JobStateReason.JOB_SCANNING,))

    def transferring(self) -> None:
        """Image data is being sent: Processing / JobScanningAndTransfering (XSD spelling)."""
        self._set(PROCESSING, (JobStateReason.JOB_SCANNING_AND_TRANSFERING,))

    def page_delivered(self, document_name: str) -> None:
        """One side was delivered to the client: ScansCompleted += 1."""
        self._require_active()
        self.document_names.append(document_name)
        self.scans_completed += 1
        self._notify()

    def complete(self, reasons: tuple[str, ...] = (JobStateReason.JOB_COMPLETED_SUCCESSFULLY,)) -> None:
        """All images were delivered: Completed."""
        self._set(COMPLETED, reasons)

    def abort(self, reasons: tuple[str, ...]) -> None:
        """The system gave up on the job: Aborted with ``reasons`` (at least one)."""
        self._set(ABORTED, reasons or (JobStateReason.JOB_COMPLETED_WITH_ERRORS,))

    def cancel(self, reasons: tuple[str, ...] = (JobStateReason.NONE,)) -> None:
        """CancelJob (or a front-panel cancel with JobCanceledAtDevice): Canceled."""
        self._set(CANCELED, reasons)

    def _require_active(self) -> None:
        if self.ended:
            raise JobEnded(f"job {self.job_id} already ended {self.state}")

    def _set(self, state: str, reasons: tuple[str, ...]) -> None:
        self._require_active()
        if (state, reasons) == (self.state, self.reasons):
            return
        self.state = state
        self.reasons = reasons
        if state in END_STATES:
            self.completed_time = utc_now()
        self._notify()

    def _notify(self) -> None:
        for listener in list(self.listeners):
            listener(self)
