"""ScannerStatus with its JobInfo entries (``GET ScannerStatus``), and ScanImageInfo (``GET .../ScanImageInfo``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Self

from firmware.wire.xml import Element, element, sub, text_of

from .base import (
    ESCL_VERSION,
    _child,
    _children,
    _int,
    _require,
    _root,
    _text,
    pwg,
    scan,
)

# --- ScannerStatus ------------------------------------------------------------------


@dataclass(frozen=True)
class JobInfo:
    """scan:JobInfo of ScannerStatus: ``job_uri`` (a path such as ``/eSCL/ScanJobs/<uuid>``),
    ``job_uuid``, ``age`` seconds since creation, ImagesCompleted, ImagesToTransfer (None:
    unknown, an ADF batch), pwg:JobState and its JobStateReasons."""

    job_uri: str
    job_uuid: str
    age: int
    images_completed: int
    job_state: str
    job_state_reasons: tuple[str, ...] = ()
    images_to_transfer: int | None = None

    def to_xml(self) -> Element:
        """The scan:JobInfo element."""
        el = element(scan("JobInfo"))
        sub(el, pwg("JobUri"), self.job_uri)
        sub(el, pwg("JobUuid"), self.job_uuid)
        sub(el, scan("Age"), self.age)
        sub(el, pwg("ImagesCompleted"), self.images_completed)
        if self.images_to_transfer is not None:
            sub(el, pwg("ImagesToTransfer"), self.images_to_transfer)
        sub(el, pwg("JobState"), self.job_state)
        if self.job_state_reasons:
            reasons = sub(el, pwg("JobStateReasons"))
            for reason in self.job_state_reasons:
                sub(reasons, pwg("JobStateReason"), reason)
        return el

    @classmethod
    def from_xml(cls, el: Element) -> Self:
        """Parse scan:JobInfo. Raises :class:`EsclModelError` for a missing JobUri or JobState."""
        uri, state = _text(el, "JobUri"), _text(el, "JobState")
        _require(uri, "JobUri")
        _require(state, "JobState")
        reasons_el = _child(el, "JobStateReasons")
        reasons = tuple(text_of(r) or "" for r in _children(reasons_el, "JobStateReason")) if reasons_el else ()
        return cls(
            job_uri=uri or "",
            job_uuid=_text(el, "JobUuid") or "",
            age=_int(el, "Age", 0, 2**31) or 0,
            images_completed=_int(el, "ImagesCompleted") or 0,
            job_state=state or "",
            job_state_reasons=reasons,
            images_to_transfer=_int(el, "ImagesToTransfer"),
        )


@dataclass(frozen=True)
class ScannerStatus:
    """scan:ScannerStatus (``GET ScannerStatus``): pwg:State, scan:AdfState (None: no feeder) and
    the jobs, newest first."""

    state: str
    adf_state: str | None = None
    jobs: tuple[JobInfo, ...] = field(default=())
    version: str = ESCL_VERSION

    def to_xml(self) -> Element:
        """The scan:ScannerStatus element."""
        el = element(scan("ScannerStatus"))
        sub(el, pwg("Version"), self.version)
        sub(el, pwg("State"), self.state)
        if self.adf_state is not None:
            sub(el, scan("AdfState"), self.adf_state)
        jobs = sub(el, scan("Jobs"))
        for job in self.jobs:
            jobs.append(job.to_xml())
        return el

    @classmethod
    def from_xml(cls, el: Element) -> Self:
        """Parse scan:ScannerStatus. Raises :class:`EsclModelError` when pwg:State is missing."""
        _root(el, "ScannerStatus")
        state = _text(el, "State")
        _require(state, "State")
        jobs_el = _child(el, "Jobs")
        jobs = tuple(JobInfo.from_xml(j) for j in _children(jobs_el, "JobInfo")) if jobs_el is not None else ()
        return cls(
            state=state or "",
            adf_state=_text(el, "AdfState"),
            jobs=jobs,
            version=_text(el, "Version") or ESCL_VERSION,
        )


@dataclass(frozen=True)
class ScanImageInfo:
    """scan:ScanImageInfo (``GET ScanJobs/<id>/ScanImageInfo``): the last delivered image's
    pixels per line, lines and bytes per line (of raw samples), for job ``job_uri``."""

    job_uri: str
    job_uuid: str
    actual_width: int
    actual_height: int
    actual_bytes_per_line: int

    def to_xml(self) -> Element:
        """The scan:ScanImageInfo element."""
        el = element(scan("ScanImageInfo"))
        sub(el, pwg("JobUri"), self.job_uri)
        sub(el, pwg("JobUuid"), self.job_uuid)
        sub(el, scan("ActualWidth"), self.actual_width)
        sub(el, scan("ActualHeight"), self.actual_height)
        sub(el, scan("ActualBytesPerLine"), self.actual_bytes_per_line)
        return el

    @classmethod
    def from_xml(cls, el: Element) -> Self:
        """Parse scan:ScanImageInfo. Raises :class:`EsclModelError`."""
        _root(el, "ScanImageInfo")
        return cls(
            job_uri=_text(el, "JobUri") or "",
            job_uuid=_text(el, "JobUuid") or "",
            actual_width=_int(el, "ActualWidth") or 0,
            actual_height=_int(el, "ActualHeight") or 0,
            actual_bytes_per_line=_int(el, "ActualBytesPerLine", 0, 2**31) or 0,
        )
