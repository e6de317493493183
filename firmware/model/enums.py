"""The XSD's well-known values, one tuple per enumeration (REFERENCE.md section 2.8).

Values are listed exactly as ``WellKnownValues.xsd``, ``Scanner.xsd`` and
``Job.xsd`` spell them, so the service can tell a known value from an unknown
one. Every enumeration except the DeviceCondition ones also accepts a
namespace-prefixed extension keyword (``pi:DeviceOffline``); see
:func:`is_extension`. The model parses these values as plain strings and never
rejects an unknown one: deciding what to do with it is the service's job.

The spellings the prose documents use instead (``Held``, ``JobTransferring``)
are mapped to the XSD ones by :func:`normalize_job_state` and
:func:`normalize_job_state_reason` (REFERENCE.md section 2.9).
"""

from __future__ import annotations

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

#: DocumentInputSourceWKVType: InputSource.
INPUT_SOURCES: tuple[str, ...] = ("ADF", "ADFDuplex", "Film", "Platen")

#: ContentTypeWKVType: ContentType / ContentTypeValue.
CONTENT_TYPES: tuple[str, ...] = ("Auto", "Text", "Photo", "Halftone", "Mixed")

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

#: JobStateWKVType: JobState / JobCompletedState.
JOB_STATES: tuple[str, ...] = (
    "Aborted",
    "Canceled",
    "Completed",
    "Creating",
    "Pending",
    "Pending-Held",
    "Processing",
    "Started",
    "Terminating",
)

#: JobStateReasonWKVType: JobStateReason (single "r" in the Transfering names, as in the XSD).
JOB_STATE_REASONS: tuple[str, ...] = (
    "InvalidScanTicket",
    "CompressionError",
    "DocumentFormatError",
    "JobCanceledAtDevice",
    "JobCompletedSuccessfully",
    "JobCompletedWithErrors",
    "JobCompletedWithWarnings",
    "JobScanning",
    "JobScanningAndTransfering",
    "JobTimedOut",
    "JobTransfering",
    "None",
    "ScannerStopped",
)

#: ScannerStateWKVType: ScannerState.
SCANNER_STATES: tuple[str, ...] = ("Idle", "Processing", "Stopped")

#: ScannerStateReasonWKVType: ScannerStateReason (LampWarming; InputTrayEmpty is not one).
SCANNER_STATE_REASONS: tuple[str, ...] = (
    "AttentionRequired",
    "Calibrating",
    "CoverOpen",
    "InterlockOpen",
    "InternalStorageFull",
    "LampError",
    "LampWarming",
    "MediaJam",
    "MultipleFeedError",
    "None",
    "Paused",
)

#: ConditionNameBaseType: DeviceCondition / ConditionHistoryEntry Name (LampWarning, sic). No extensions.
CONDITION_NAMES: tuple[str, ...] = (
    "Calibrating",
    "CoverOpen",
    "InputTrayEmpty",
    "InterlockOpen",
    "InternalStorageFull",
    "MediaJam",
    "LampError",
    "LampWarning",
    "MultipleFeedError",
)

#: ConditionComponentBaseType: DeviceCondition Component. No extensions.
CONDITION_COMPONENTS: tuple[str, ...] = ("ADF", "Film", "MediaPath", "Platen")

#: ConditionSeverityBaseType: DeviceCondition Severity. No extensions.
CONDITION_SEVERITIES: tuple[str, ...] = ("Informational", "Warning", "Critical")

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
