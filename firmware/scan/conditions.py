"""Where a driver Condition becomes ScannerStatus, JobStateReasons, a SOAP fault, a log level
and the advice a person reads.

One table, following REFERENCE.md section 7 and what sane-airscan reads back
after a fault (its ``wsd_status_decode``): ScannerStateReasons
MediaJam/MultipleFeedError become "jammed", CoverOpen/InterlockOpen "cover
open", AttentionRequired "busy"; ClientErrorNoImagesAvailable on an ADF job
"out of documents"; ServerErrorNotAcceptingJobs "busy" (on an Idle ADF "out of
documents"); any other fault with no reason it knows "error during device I/O".
So a scanner that is unplugged or failing answers ServerErrorInternalError and
is Stopped *without* AttentionRequired (``offline``): the client says "I/O
error", not "Device busy", which would make a person wait instead of re-plug.

:func:`advice_for` (from each :class:`Effect`'s ``advice``) is the one place for what a person
should do about each condition; the log lines and the status page (:mod:`firmware.web`) use
the same words (:func:`advice_for_name` for a DeviceCondition Name).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from drivers.base import Condition, Source

from ..model.enums import ConditionComponent, ConditionName, ConditionSeverity, JobStateReason, ScannerStateReason
from ..wire import faults
from ..wire.faults import SoapFault


@dataclass(frozen=True)
class Effect:
    """What one :class:`~drivers.base.Condition` does.

    ``device_condition``: the DeviceCondition Name and Severity raised on the
    scanner (None: no condition); ``attention``: the scanner needs an operator
    (ScannerState Stopped / AttentionRequired) without a standard condition
    name; ``job_reasons``: JobStateReasons of the job it aborts;
    ``fault``: the SOAP fault for the operation that hit it, given a reason text;
    ``offline``: the device cannot be reached (ScannerState Stopped, no state reason
    a client would read as "busy"); ``level``: the :mod:`logging` level of the line
    that reports it; ``advice``: what a person should do (:func:`advice_for`).
    """

    device_condition: tuple[str, str] | None
    job_reasons: tuple[str, ...]
    fault: Callable[[str], SoapFault]
    attention: bool = False
    offline: bool = False
    level: int = logging.WARNING
    advice: str = ""


_ERRORS = (JobStateReason.JOB_COMPLETED_WITH_ERRORS,)
_STOPPED = (JobStateReason.JOB_COMPLETED_WITH_ERRORS, JobStateReason.SCANNER_STOPPED)
_CRITICAL = ConditionSeverity.CRITICAL
_INFORMATIONAL = ConditionSeverity.INFORMATIONAL

EFFECTS: dict[Condition, Effect] = {
    Condition.JAMMED: Effect(
        (ConditionName.MEDIA_JAM, _CRITICAL),
        _STOPPED,
        faults.client_error_job_cancelled,
        advice="clear the paper jam (open the feeder, remove the sheets), then scan again",
    ),
    Condition.COVER_OPEN: Effect(
        (ConditionName.COVER_OPEN, _CRITICAL),
        _STOPPED,
        faults.client_error_job_cancelled,
        advice="close the scanner's cover or feeder hatch, then scan again",
    ),
    Condition.NO_DOCS: Effect(
        (ConditionName.INPUT_TRAY_EMPTY, _INFORMATIONAL),
        _ERRORS,
        faults.client_error_no_images_available,
        level=logging.INFO,
        advice="load paper into the document feeder, or scan from the flatbed",
    ),
    Condition.DEVICE_BUSY: Effect(
        None,
        _ERRORS,
        faults.server_error_not_accepting_jobs,
        advice="another program is using the scanner (a local scan, another server such as saned); "
        "wait for it to finish or stop it",
    ),
    Condition.WARMING_UP: Effect(
        (ConditionName.LAMP_WARNING, _INFORMATIONAL),
        _ERRORS,
        faults.server_error_not_accepting_jobs,
        level=logging.INFO,
        advice="the lamp is warming up; scan again in a moment",
    ),
    Condition.CALIBRATING: Effect(
        (ConditionName.CALIBRATING, _INFORMATIONAL),
        _ERRORS,
        faults.server_error_not_accepting_jobs,
        level=logging.INFO,
        advice="the scanner is calibrating; scan again in a moment",
    ),
    Condition.DEVICE_GONE: Effect(
        None,
        _STOPPED,
        faults.server_error_internal_error,
        offline=True,
        advice="check that the scanner is switched on and plugged in (re-plug its USB cable); if it is, "
        "check that the service's user may open it: `sudo -u wsd-scan scanimage -L` must list it "
        "(the user is in group scanner; udev rules 60-wsd-scan-server.rules)",
    ),
    Condition.UNRESPONSIVE: Effect(
        None,
        _ERRORS,
        faults.server_error_internal_error,
        advice="the scanner's driver stopped answering and was restarted; if it happens again, "
        "re-plug or switch the scanner off and on",
    ),
    Condition.IO_ERROR: Effect(
        None,
        _ERRORS,
        faults.server_error_internal_error,
        advice="the scanner reported an error; re-plug it or switch it off and on, and check the cable",
    ),
    Condition.CANCELLED: Effect(
        None, (JobStateReason.NONE,), faults.client_error_job_cancelled, level=logging.INFO, advice=""
    ),
}

ADVICE: dict[Condition, str] = {condition: effect.advice for condition, effect in EFFECTS.items()}
"""What to do about each :class:`~drivers.base.Condition` (from :data:`EFFECTS`): the words of the
log lines and the status page ("" when nothing needs doing)."""

_ADVICE_OF_NAME: dict[str, str] = {
    ConditionName.MEDIA_JAM: ADVICE[Condition.JAMMED],
    ConditionName.MULTIPLE_FEED_ERROR: "several sheets were pulled in at once: take them out, fan the stack and reload it",
    ConditionName.COVER_OPEN: ADVICE[Condition.COVER_OPEN],
    ConditionName.INTERLOCK_OPEN: ADVICE[Condition.COVER_OPEN],
    ConditionName.INPUT_TRAY_EMPTY: ADVICE[Condition.NO_DOCS],
    ConditionName.LAMP_WARNING: ADVICE[Condition.WARMING_UP],
    ConditionName.LAMP_ERROR: "the lamp failed: switch the scanner off and on; if it persists, it needs service",
    ConditionName.CALIBRATING: ADVICE[Condition.CALIBRATING],
    ConditionName.INTERNAL_STORAGE_FULL: "the scanner's memory is full: wait for the current job to end",
}

ATTENTION_ADVICE = ADVICE[Condition.DEVICE_GONE]
"""What to do when the scanner needs attention without a named condition (ScannerStateReason
AttentionRequired: it stopped answering or was unplugged)."""


def advice_for_name(name: str) -> str:
    """What a person should do about DeviceCondition Name ``name`` (``MediaJam``...); an unknown
    name gets the general advice of an I/O error."""
    return _ADVICE_OF_NAME.get(name, ADVICE[Condition.IO_ERROR])


# ScannerStateReason for each DeviceCondition Name (LampWarning is the condition,
# LampWarming the state reason: the XSD spells them differently).
STATE_REASON_OF_CONDITION: dict[str, ScannerStateReason] = {
    ConditionName.MEDIA_JAM: ScannerStateReason.MEDIA_JAM,
    ConditionName.MULTIPLE_FEED_ERROR: ScannerStateReason.MULTIPLE_FEED_ERROR,
    ConditionName.COVER_OPEN: ScannerStateReason.COVER_OPEN,
    ConditionName.INTERLOCK_OPEN: ScannerStateReason.INTERLOCK_OPEN,
    ConditionName.LAMP_WARNING: ScannerStateReason.LAMP_WARMING,
    ConditionName.LAMP_ERROR: ScannerStateReason.LAMP_ERROR,
    ConditionName.CALIBRATING: ScannerStateReason.CALIBRATING,
    ConditionName.INTERNAL_STORAGE_FULL: ScannerStateReason.INTERNAL_STORAGE_FULL,
}


# DeviceConditions during which the device prepares itself: ScannerState is
# Processing, and clients retry CreateScanJob (sane-airscan does, up to 30 s).
PREPARING_CONDITIONS = frozenset({ConditionName.LAMP_WARNING, ConditionName.CALIBRATING})


def effect_of(condition: Condition) -> Effect:
    """The :class:`Effect` of ``condition``."""
    return EFFECTS[condition]


def advice_for(condition: Condition) -> str:
    """What a person should do about ``condition``, one English sentence without a final stop
    ("clear the paper jam ..."); "" when nothing is to be done (a cancelled scan)."""
    return EFFECTS[condition].advice


def describe(error_condition: Condition, message: str) -> str:
    """A log line's text for a condition: the driver's message, then the advice, e.g.
    ``"sane_start: Document feeder jammed -- clear the paper jam ..."``."""
    advice = advice_for(error_condition)
    return f"{message} -- {advice}" if advice else message


def component_for(condition_name: str, source: Source) -> ConditionComponent:
    """The DeviceCondition Component for a condition on ``source``: the feeder for
    ADF sources, else the platen (MediaPath for a flatbed jam)."""
    if source in (Source.ADF, Source.ADF_DUPLEX):
        return ConditionComponent.ADF
    if condition_name in (ConditionName.MEDIA_JAM, ConditionName.MULTIPLE_FEED_ERROR):
        return ConditionComponent.MEDIA_PATH
    return ConditionComponent.PLATEN


def fault_for_create(condition: Condition, message: str) -> SoapFault:
    """The fault CreateScanJob answers when the device cannot start a job:
    ClientErrorNoImagesAvailable for an empty feeder (sane-airscan: "out of
    documents" at sane_start), ServerErrorInternalError for a device that is gone
    or failing (its offline ScannerStatus has no reason: "I/O error"), else
    ServerErrorNotAcceptingJobs (the client reads the state reasons: jammed,
    cover open; or busy)."""
    if condition is Condition.NO_DOCS:
        return faults.client_error_no_images_available(message)
    if condition in (Condition.DEVICE_GONE, Condition.UNRESPONSIVE, Condition.IO_ERROR):
        return faults.server_error_internal_error(message)
    return faults.server_error_not_accepting_jobs(message)
