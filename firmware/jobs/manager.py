"""The job table of one scanner: at most one active job, and a bounded history.

``create`` refuses a second job while one is active (the service answers
ServerErrorNotAcceptingJobs: refuse, don't queue). Ended jobs move to the
history (newest first, ``history_size`` entries, default 50) as soon as they
reach an end state.
"""

from __future__ import annotations

import asyncio
import collections
import secrets
from collections.abc import Callable

from ..model import DocumentParameters, ImageInformation, ScanTicket
from .ids import JobIdAllocator
from .job import Job


class ScannerBusy(Exception):
    """A job is already active on this scanner."""


class JobTable:
    """Jobs of one scanner; JobIds come from the shared ``ids`` allocator."""

    def __init__(self, ids: JobIdAllocator, history_size: int = 50) -> None:
        self._ids = ids
        self._history: collections.deque[Job] = collections.deque(maxlen=history_size)
        self.active: Job | None = None
        self.listeners: list[Callable[[Job], None]] = []

    def create(self, ticket: ScanTicket, final: DocumentParameters, image_information: ImageInformation) -> Job:
        """Create the active job in state Pending with a fresh JobId and an unguessable JobToken.

        Raises :class:`ScannerBusy` if a job is active.
        """
        if self.active is not None:
            raise ScannerBusy(f"job {self.active.job_id} is active")
        job = Job(
            job_id=self._ids.next(),
            job_token="urn:uuid:" + secrets.token_hex(16),
            ticket=ticket,
            final_parameters=final,
            image_information=image_information,
        )
        job.listeners.append(self._on_change)
        job.listeners.extend(self.listeners)
        self.active = job
        return job

    async def wait_idle(self) -> None:
        """Return once no job is active (at once when none is)."""
        while self.active is not None:
            ended = asyncio.get_running_loop().create_future()
            job = self.active

            def on_change(changed: Job, ended=ended) -> None:
                if changed.ended and not ended.done():
                    ended.set_result(None)

            job.listeners.append(on_change)
            try:
                if not job.ended:
                    await ended
            finally:
                if on_change in job.listeners:
                    job.listeners.remove(on_change)

    def resize_history(self, history_size: int) -> None:
        """Remember at most ``history_size`` (>= 1) ended jobs from now on, dropping the oldest."""
        self._history = collections.deque(self._history, maxlen=history_size)

    def get(self, job_id: int) -> Job | None:
        """The active or remembered job with ``job_id``, or None."""
        if self.active is not None and self.active.job_id == job_id:
            return self.active
        return next((job for job in self._history if job.job_id == job_id), None)

    def active_jobs(self) -> list[Job]:
        """Jobs not yet ended (zero or one)."""
        return [self.active] if self.active is not None else []

    def history(self) -> list[Job]:
        """Ended jobs, newest first."""
        return list(self._history)

    def _on_change(self, job: Job) -> None:
        if job.ended and job is self.active:
            self.active = None
            self._history.appendleft(job)
