"""Where a driver Condition becomes ScannerStatus, JobStateReasons and a SOAP fault.

One table, following REFERENCE.md section 7 (and what sane-airscan reads back
after a fault: it maps ScannerStateReasons MediaJam/MultipleFeedError to
"jammed", CoverOpen/InterlockOpen to "cover open", AttentionRequired to
"busy", and ClientErrorNoImagesAvailable to "no documents").

Next to it, what a person should do about each condition (:data:`ADVICE`,
:func:`advice_for_name`): one sentence each, the same words in the log and on the
status page (:mod:`firmware.web`).
"""

from __future__ import annotations

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
    ``fault``: the SOAP fault for the operation that hit it, given a reason text.
    """

    device_condition: tuple[str, str] | None
    job_reasons: tuple[str, ...]
    fault: Callable[[str], SoapFault]
    attention: bool = False


_ERRORS = (JobStateReason.JOB_COMPLETED_WITH_ERRORS,)
_STOPPED = (JobStateReason.JOB_COMPLETED_WITH_ERRORS, JobStateReason.SCANNER_STOPPED)
_CRITICAL = ConditionSeverity.CRITICAL
_INFORMATIONAL = ConditionSeverity.INFORMATIONAL

EFFECTS: dict[Condition, Effect] = {
    Condition.JAMMED: Effect((ConditionName.MEDIA_JAM, _CRITICAL), _STOPPED, faults.client_error_job_cancelled),
    Condition.COVER_OPEN: Effect((ConditionName.COVER_OPEN, _CRITICAL), _STOPPED, faults.client_error_job_cancelled),
    Condition.NO_DOCS: Effect(
        (ConditionName.INPUT_TRAY_EMPTY, _INFORMATIONAL), _ERRORS, faults.client_error_no_images_available
    ),
    Condition.DEVICE_BUSY: Effect(None, _ERRORS, faults.server_error_not_accepting_jobs),
    Condition.WARMING_UP: Effect(
        (ConditionName.LAMP_WARNING, _INFORMATIONAL), _ERRORS, faults.server_error_not_accepting_jobs
    ),
    Condition.CALIBRATING: Effect(
        (ConditionName.CALIBRATING, _INFORMATIONAL), _ERRORS, faults.server_error_not_accepting_jobs
    ),
    Condition.DEVICE_GONE: Effect(None, _STOPPED, faults.server_error_internal_error, attention=True),
    Condition.UNRESPONSIVE: Effect(None, _ERRORS, faults.server_error_internal_error),
    Condition.IO_ERROR: Effect(None, _ERRORS, faults.server_error_internal_error),
    Condition.CANCELLED: Effect(None, (JobStateReason.NONE,), faults.client_error_job_cancelled),
}

ADVICE: dict[Condition, str] = {
    Condition.JAMMED: "Clear the paper jam (open the feeder, remove the stuck sheet), then scan again.",
    Condition.COVER_OPEN: "Close the scanner's cover or the feeder's door, then scan again.",
    Condition.NO_DOCS: "Load paper into the document feeder, or choose the flatbed.",
    Condition.DEVICE_BUSY: "Another program is using the scanner: wait for it to finish, then scan again.",
    Condition.WARMING_UP: "The lamp is warming up: wait a few seconds, then scan again.",
    Condition.CALIBRATING: "The scanner is calibrating: wait a few seconds, then scan again.",
    Condition.DEVICE_GONE: "The scanner stopped answering: check its cable and power, then unplug and re-plug it.",
    Condition.UNRESPONSIVE: "The scanner stopped answering: switch it off and on, or unplug and re-plug it.",
    Condition.IO_ERROR: "The scanner reported an error: scan again; if it persists, switch it off and on.",
    Condition.CANCELLED: "",
}
"""What to do about each :class:`~drivers.base.Condition`: one sentence for the log and the
status page ("" when nothing needs doing)."""

_ADVICE_OF_NAME: dict[str, str] = {
    ConditionName.MEDIA_JAM: ADVICE[Condition.JAMMED],
    ConditionName.MULTIPLE_FEED_ERROR: "Several sheets were pulled in at once: take them out, fan the stack, reload it.",
    ConditionName.COVER_OPEN: ADVICE[Condition.COVER_OPEN],
    ConditionName.INTERLOCK_OPEN: ADVICE[Condition.COVER_OPEN],
    ConditionName.INPUT_TRAY_EMPTY: ADVICE[Condition.NO_DOCS],
    ConditionName.LAMP_WARNING: ADVICE[Condition.WARMING_UP],
    ConditionName.LAMP_ERROR: "The lamp failed: switch the scanner off and on; if it persists, it needs service.",
    ConditionName.CALIBRATING: ADVICE[Condition.CALIBRATING],
    ConditionName.INTERNAL_STORAGE_FULL: "The scanner's memory is full: wait for the current job to end.",
}

ATTENTION_ADVICE = ADVICE[Condition.DEVICE_GONE]
"""What to do when the scanner needs attention without a named condition (ScannerStateReason
AttentionRequired: it stopped answering or was unplugged)."""


def advice_for(condition: Condition) -> str:
    """What a person should do about ``condition`` (one sentence; "" for a cancelled scan)."""
    return ADVICE.get(condition, ADVICE[Condition.IO_ERROR])


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
    ServerErrorNotAcceptingJobs for everything but an empty feeder
    (ClientErrorNoImagesAvailable)."""
    if condition is Condition.NO_DOCS:
        return faults.client_error_no_images_available(message)
    return faults.server_error_not_accepting_jobs(message)
