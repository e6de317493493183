"""Driving the jobs of one scanner: each active job with its runner, timeout and end (REFERENCE.md sections 1.3-1.5).

:class:`JobRuns` is what the scan service (:mod:`firmware.scan.service`) calls
to start a job's driver session, to learn that a side went out, and to end a
job: completed, canceled, timed out (no RetrieveImage within ``job_timeout``
seconds), aborted when the transfer broke, or failed when the device failed.
The SOAP side (parsing, faults) stays in the service; what a device failure
means for the scanner status is the service's ``failure_reasons`` hook.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from drivers.base import Condition, Scanner, ScannerError, ScanParameters

from ..model.enums import JobStateReason
from .closing import ClosingSessions
from .job import COMPLETED, Job, JobEnded
from .memory import release_memory
from .runner import ScanRunner

log = logging.getLogger(__name__)

RUNS_KEPT = 16
"""Ended runs remembered (for the failure that ended them), besides the active one."""

T = TypeVar("T")


@dataclass(eq=False)
class JobRun(Generic[T]):
    """A job with its runner and bookkeeping while it is active.

    ``resolved``: what the service resolved the ticket to (carried for it, opaque here);
    ``started``: ``time.monotonic()`` seconds at creation; ``timer``: the armed
    timeout; ``retrieving``: a RetrieveImage is in progress; ``failure``: the device
    error that ended the job, if one did.
    """

    job: Job
    runner: ScanRunner
    resolved: T
    params: ScanParameters
    started: float = field(default_factory=time.monotonic)
    timer: asyncio.TimerHandle | None = None
    retrieving: bool = False
    failure: ScannerError | None = None


async def _then_release_memory(closing: Awaitable[None]) -> None:
    """Await a runner's ``close()``/``cancel()``, then give the job's freed memory back
    (:func:`~firmware.jobs.memory.release_memory`). Never raises."""
    try:
        await closing
    finally:
        await asyncio.sleep(0)  # let the job's last buffers go (the HTTP response finishing)
        release_memory()


class JobRuns(Generic[T]):
    """The runs of one scanner's jobs. Use on the event loop.

    ``job_timeout``: returns the seconds allowed before the first and between
    RetrieveImage calls, read each time a timeout is armed; ``on_active``: called
    with True when a job starts and False when it ends (ScannerState);
    ``on_page_delivered``: called when a side has gone out (conditions clear);
    ``failure_reasons(run, error)``: called when the device fails during a job,
    before it ends; returns the JobStateReasons the job is aborted with;
    ``name``: the scanner's name, for log lines.
    """

    def __init__(
        self,
        job_timeout: Callable[[], float],
        on_active: Callable[[bool], None],
        on_page_delivered: Callable[[], None],
        failure_reasons: Callable[[JobRun[T], ScannerError], tuple[str, ...]],
        name: str = "scanner",
    ) -> None:
        self._job_timeout = job_timeout
        self._on_active = on_active
        self._on_page_delivered = on_page_delivered
        self._failure_reasons = failure_reasons
        self._runs: dict[int, JobRun[T]] = {}
        self.ended_listeners: list[Callable[[JobRun[T]], None]] = []
        """Called with the run when its job ends (completed, canceled, aborted), before its session closes."""
        self.closing = ClosingSessions(name)
        """The driver sessions of ended jobs still closing (CreateScanJob waits for them)."""

    def get(self, job_id: int) -> JobRun[T] | None:
        """The run of job ``job_id``: active, or ended among the last :data:`RUNS_KEPT`; else None."""
        return self._runs.get(job_id)

    def add(self, job: Job, scanner: Scanner, params: ScanParameters, max_pages: int | None, resolved: T) -> JobRun[T]:
        """Register ``job`` with a :class:`ScanRunner` for ``scanner`` (``max_pages`` sides, None
        until the feeder is empty) and mark the scanner busy. Call :meth:`start` next."""
        runner = ScanRunner(
            scanner,
            params,
            max_pages,
            on_failure=lambda error: self.fail(job, error),
            on_empty=lambda: self.feeder_empty(job),
        )
        run = JobRun(job, runner, resolved, params)
        self._runs[job.job_id] = run
        for old in list(self._runs)[:-RUNS_KEPT]:  # ended runs are kept a while for their failure
            del self._runs[old]
        self._on_active(True)
        return run

    async def start(self, run: JobRun[T]) -> None:
        """Open the driver session and scan the first side; the job is then Processing with its
        timeout armed. Raises the driver's ScannerError, after ending the job with it."""
        try:
            await run.runner.start()
        except ScannerError as error:
            self.fail(run.job, error)
            raise
        run.job.scanning()
        self.arm_timeout(run)

    def page_sent(self, run: JobRun[T], document_name: str) -> None:
        """A side went out as ``document_name``: count it, then complete the job or scan the next side."""
        job = run.job
        if job.ended:
            return
        job.page_delivered(document_name)
        self._on_page_delivered()
        run.runner.page_sent()
        if run.runner.exhausted:
            self.finish(run, lambda: job.complete())
        else:
            job.scanning()
            self.arm_timeout(run)

    def transfer_broken(self, run: JobRun[T], exc: BaseException) -> None:
        """The image transfer broke (client gone): abort the job with JobCompletedWithErrors."""
        run.retrieving = False
        if not run.job.ended:
            log.warning("job %d: image transfer broke: %s", run.job.job_id, exc)
            self.finish(run, lambda: run.job.abort((JobStateReason.JOB_COMPLETED_WITH_ERRORS,)))

    def feeder_empty(self, job: Job) -> None:
        """A scan running ahead found no paper: the batch is over (or never started)."""
        run = self._runs.get(job.job_id)
        if run is None or job.ended:
            return
        if job.scans_completed == 0:
            self.fail(job, ScannerError(Condition.NO_DOCS, "Document feeder out of documents"))
        else:
            self.finish(run, lambda: job.complete())

    def cancel(self, run: JobRun[T]) -> None:
        """CancelJob: the job becomes Canceled and the hardware stops."""
        self.finish(run, lambda: run.job.cancel(), cancel=True)

    def fail(self, job: Job, error: ScannerError) -> None:
        """The device failed during ``job``: end it Canceled (the scan was cancelled) or Aborted
        with the reasons ``failure_reasons`` gives (REFERENCE.md section 7)."""
        run = self._runs.get(job.job_id)
        if run is None or job.ended:
            return
        run.failure = error
        reasons = self._failure_reasons(run, error)
        if error.condition is Condition.CANCELLED:
            self.finish(run, lambda: job.cancel())
        else:
            self.finish(run, lambda: job.abort(reasons))

    def finish(self, run: JobRun[T], transition: Callable[[], object], cancel: bool = False) -> None:
        """End ``run.job`` with ``transition`` and free the scanner (in the background)."""
        self.disarm_timeout(run)
        try:
            transition()
        except JobEnded:
            return
        job = run.job
        log.info(
            "job %d %s %s: %d image(s) in %.1f s",
            job.job_id,
            job.state,
            ",".join(job.reasons),
            job.scans_completed,
            time.monotonic() - run.started,
        )
        self._on_active(False)
        for listener in list(self.ended_listeners):
            try:
                listener(run)
            except Exception:
                log.exception("job end listener failed")
        closing = run.runner.cancel() if cancel or job.state != COMPLETED else run.runner.close()
        self.closing.add(_then_release_memory(closing))

    def arm_timeout(self, run: JobRun[T]) -> None:
        """(Re)start the ``job_timeout`` countdown to the next RetrieveImage."""
        self.disarm_timeout(run)
        loop = asyncio.get_running_loop()
        run.timer = loop.call_later(self._job_timeout(), self._timed_out, run)

    def disarm_timeout(self, run: JobRun[T]) -> None:
        """Stop the countdown (a RetrieveImage arrived, or the job ended)."""
        if run.timer is not None:
            run.timer.cancel()
            run.timer = None

    def _timed_out(self, run: JobRun[T]) -> None:
        run.timer = None
        if not run.job.ended and not run.retrieving:
            log.warning("job %d: no RetrieveImage within %.0f s", run.job.job_id, self._job_timeout())
            self.finish(run, lambda: run.job.abort((JobStateReason.JOB_TIMED_OUT,)), cancel=True)

    async def shutdown(self, error: ScannerError | None = None) -> None:
        """End every active job, then wait for their driver sessions to close. Never raises.

        With ``error`` (why the scanner goes away) a job ends as that failure
        would end it (:meth:`fail`); without, Aborted with JobCompletedWithErrors.
        """
        for run in list(self._runs.values()):
            if run.job.ended:
                continue
            if error is not None:
                self.fail(run.job, error)
            else:
                abort = functools.partial(run.job.abort, (JobStateReason.JOB_COMPLETED_WITH_ERRORS,))
                self.finish(run, abort, cancel=True)
        await self.closing.wait_all()
