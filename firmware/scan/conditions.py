"""Where a driver Condition becomes ScannerStatus, JobStateReasons and a SOAP fault.

One table, following REFERENCE.md section 7 (and what sane-airscan reads back
after a fault: it maps ScannerStateReasons MediaJam/MultipleFeedError to
"jammed", CoverOpen/InterlockOpen to "cover open", AttentionRequired to
"busy", and ClientErrorNoImagesAvailable to "no documents").
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
