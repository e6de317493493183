"""The XSD's well-known values, one tuple per enumeration (REFERENCE.md section 2.8).

Values are listed exactly as ``WellKnownValues.xsd``, ``Scanner.xsd`` and
``Job.xsd`` spell them, in their order, so the service can tell a known value
from an unknown one. The values the service itself writes on the wire (states,
reasons, condition names, ...) are ``enum.StrEnum`` members, which serialize as
exactly those strings; the tuples list the same values. Every enumeration except the DeviceCondition ones also accepts a
namespace-prefixed extension keyword (``pi:DeviceOffline``); see
:func:`is_extension`. The model parses these values as plain strings and never
rejects an unknown one: deciding what to do with it is the service's job.

The spellings the prose documents use instead (``Held``, ``JobTransferring``)
are mapped to the XSD ones by :func:`normalize_job_state` and
:func:`normalize_job_state_reason` (REFERENCE.md section 2.9).
"""

from __future__ import annotations

import enum
import re

#: DocumentFormatWKVType: Format / FormatValue.
FORMATS: tuple[str, ...] = (
    "dib",
    "exif",
    "jbig",
    "jfif",
    "jpeg2k",
    "pdf-a",
    "png",
    "tiff-single-uncompressed",
    "tiff-single-g4",
    "tiff-single-g3mh",
    "tiff-single-jpeg-tn2",
    "tiff-multi-uncompressed",
    "tiff-multi-g4",
    "tiff-multi-g3mh",
    "tiff-multi-jpeg-tn2",
    "xps",
)


class InputSource(enum.StrEnum):
    """DocumentInputSourceWKVType: InputSource."""

    ADF = "ADF"
    ADF_DUPLEX = "ADFDuplex"
    FILM = "Film"
    PLATEN = "Platen"


#: The InputSource values in the XSD's order.
INPUT_SOURCES: tuple[str, ...] = tuple(InputSource)


class ContentType(enum.StrEnum):
    """ContentTypeWKVType: ContentType / ContentTypeValue."""

    AUTO = "Auto"
    TEXT = "Text"
    PHOTO = "Photo"
    HALFTONE = "Halftone"
    MIXED = "Mixed"


#: The ContentType values in the XSD's order.
CONTENT_TYPES: tuple[str, ...] = tuple(ContentType)

#: ColorWKVType: ColorEntry / ColorProcessing.
COLOR_ENTRIES: tuple[str, ...] = (
    "BlackAndWhite1",
    "Grayscale4",
    "Grayscale8",
    "Grayscale16",
    "RGB24",
    "RGB48",
    "RGBa32",
    "RGBa64",
)

#: FilmScanModeWKVType: FilmScanMode / FilmScanModeValue (NotApplicable only in DefaultScanTicket).
FILM_SCAN_MODES: tuple[str, ...] = ("NotApplicable", "ColorSlideFilm", "ColorNegativeFilm", "BlackandWhiteNegativeFilm")

#: RotationWKVType: Rotation / RotationValue, degrees clockwise.
ROTATIONS: tuple[int, ...] = (0, 90, 180, 270)


class JobState(enum.StrEnum):
    """JobStateWKVType: JobState / JobCompletedState."""

    ABORTED = "Aborted"
    CANCELED = "Canceled"
    COMPLETED = "Completed"
    CREATING = "Creating"
    PENDING = "Pending"
    PENDING_HELD = "Pending-Held"
    PROCESSING = "Processing"
    STARTED = "Started"
    TERMINATING = "Terminating"


#: The JobState values in the XSD's order.
JOB_STATES: tuple[str, ...] = tuple(JobState)


class JobStateReason(enum.StrEnum):
    """JobStateReasonWKVType: JobStateReason (single "r" in the Transfering names, as in the XSD)."""

    INVALID_SCAN_TICKET = "InvalidScanTicket"
    COMPRESSION_ERROR = "CompressionError"
    DOCUMENT_FORMAT_ERROR = "DocumentFormatError"
    JOB_CANCELED_AT_DEVICE = "JobCanceledAtDevice"
    JOB_COMPLETED_SUCCESSFULLY = "JobCompletedSuccessfully"
    JOB_COMPLETED_WITH_ERRORS = "JobCompletedWithErrors"
    JOB_COMPLETED_WITH_WARNINGS = "JobCompletedWithWarnings"
    JOB_SCANNING = "JobScanning"
    JOB_SCANNING_AND_TRANSFERING = "JobScanningAndTransfering"
    JOB_TIMED_OUT = "JobTimedOut"
    JOB_TRANSFERING = "JobTransfering"
    NONE = "None"
    SCANNER_STOPPED = "ScannerStopped"


#: The JobStateReason values in the XSD's order.
JOB_STATE_REASONS: tuple[str, ...] = tuple(JobStateReason)


class ScannerState(enum.StrEnum):
    """ScannerStateWKVType: ScannerState."""

    IDLE = "Idle"
    PROCESSING = "Processing"
    STOPPED = "Stopped"


#: The ScannerState values in the XSD's order.
SCANNER_STATES: tuple[str, ...] = tuple(ScannerState)


class ScannerStateReason(enum.StrEnum):
    """ScannerStateReasonWKVType: ScannerStateReason (LampWarming; InputTrayEmpty is not one)."""

    ATTENTION_REQUIRED = "AttentionRequired"
    CALIBRATING = "Calibrating"
    COVER_OPEN = "CoverOpen"
    INTERLOCK_OPEN = "InterlockOpen"
    INTERNAL_STORAGE_FULL = "InternalStorageFull"
    LAMP_ERROR = "LampError"
    LAMP_WARMING = "LampWarming"
    MEDIA_JAM = "MediaJam"
    MULTIPLE_FEED_ERROR = "MultipleFeedError"
    NONE = "None"
    PAUSED = "Paused"


#: The ScannerStateReason values in the XSD's order.
SCANNER_STATE_REASONS: tuple[str, ...] = tuple(ScannerStateReason)


class ConditionName(enum.StrEnum):
    """ConditionNameBaseType: DeviceCondition / ConditionHistoryEntry Name (LampWarning, sic). No extensions."""

    CALIBRATING = "Calibrating"
    COVER_OPEN = "CoverOpen"
    INPUT_TRAY_EMPTY = "InputTrayEmpty"
    INTERLOCK_OPEN = "InterlockOpen"
    INTERNAL_STORAGE_FULL = "InternalStorageFull"
    MEDIA_JAM = "MediaJam"
    LAMP_ERROR = "LampError"
    LAMP_WARNING = "LampWarning"
    MULTIPLE_FEED_ERROR = "MultipleFeedError"


#: The ConditionName values in the XSD's order.
CONDITION_NAMES: tuple[str, ...] = tuple(ConditionName)


class ConditionComponent(enum.StrEnum):
    """ConditionComponentBaseType: DeviceCondition Component. No extensions."""

    ADF = "ADF"
    FILM = "Film"
    MEDIA_PATH = "MediaPath"
    PLATEN = "Platen"


#: The ConditionComponent values in the XSD's order.
CONDITION_COMPONENTS: tuple[str, ...] = tuple(ConditionComponent)


class ConditionSeverity(enum.StrEnum):
    """ConditionSeverityBaseType: DeviceCondition Severity. No extensions."""

    INFORMATIONAL = "Informational"
    WARNING = "Warning"
    CRITICAL = "Critical"


#: The ConditionSeverity values in the XSD's order.
CONDITION_SEVERITIES: tuple[str, ...] = tuple(ConditionSeverity)

#: JobElementsEntryWKVType: the unprefixed names GetJobElementsRequest may ask for.
JOB_ELEMENT_NAMES: tuple[str, ...] = ("JobStatus", "ScanTicket", "Document")

#: Prose spellings (SPEC / MSDOC) accepted on input, mapped to the XSD spelling.
JOB_STATE_ALIASES: dict[str, str] = {"Held": "Pending-Held"}
JOB_STATE_REASON_ALIASES: dict[str, str] = {
    "JobTransferring": "JobTransfering",
    "JobScanningAndTransferring": "JobScanningAndTransfering",
}

_EXTENSION = re.compile(r"\w+:[\w\-.]+")


def is_extension(value: str) -> bool:
    """True if ``value`` is a namespace-prefixed extension keyword (KeywordNsExtensionPatternType).

    Example: ``is_extension("pi:DeviceOffline")`` is True, ``is_extension("Idle")`` False.
    """
    return _EXTENSION.fullmatch(value) is not None


def normalize_job_state(value: str) -> str:
    """Map a JobState spelling to the XSD one (``Held`` -> ``Pending-Held``); others unchanged."""
    return JOB_STATE_ALIASES.get(value, value)


def normalize_job_state_reason(value: str) -> str:
    """Map a JobStateReason spelling to the XSD one (``JobTransferring`` -> ``JobTransfering``); others unchanged."""
    return JOB_STATE_REASON_ALIASES.get(value, value)
