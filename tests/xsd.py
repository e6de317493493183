"""Validate emitted WS-Scan XML against Microsoft's schema (WDPScan.xsd) with lxml, and find the shared files.

:func:`validate` checks a SOAP Body child (a request, response or event
element, the XSD's global elements), as REFERENCE.md section 6.4 recommends.
:func:`validate_fragment` checks a model element that the XSD only defines as
a type (ScanTicket, ScannerStatus, DeviceCondition, ...): it uses a small
schema that includes WDPScan.xsd unchanged and declares one global element per
such type, so the element is checked against exactly the XSD's type.
:func:`assert_invalid` checks that the XSD rejects an element.

Microsoft's schemas and the captured client messages are not part of the
repository. One setting finds them: ``$WSD_SCAN_SCHEMAS``, default
``<repo>/../shared/wsscan`` (holding ``xsd/WDPScan.xsd``, ``REFERENCE.md``,
``SANE-AIRSCAN.md``; Microsoft's documentation pages are in ``../seeds`` beside it).

When the schemas are absent the three checks above do nothing but record
that they were skipped (:func:`take_skipped`); the root conftest then reports
the test as skipped after every other assertion of it ran. Tests that need a
shared file itself call :func:`require_schemas` or :func:`shared_file`, which skip at once.
Schemas are compiled once per test session.
"""

from __future__ import annotations

import functools
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from lxml import etree

from firmware.wire import namespaces as ns
from firmware.wire.xml import serialize

XS = "http://www.w3.org/2001/XMLSchema"
REPO = Path(__file__).resolve().parents[1]
ENV = "WSD_SCAN_SCHEMAS"
# Microsoft's Scan Service Definition package (WSDScanService.doc + WDPScan.xsd and the files it includes)
SCHEMA_DOWNLOAD = "https://download.microsoft.com/download/9/C/5/9C5B2167-8017-4BAE-9FDE-D599BAC8184A/ScanService.zip"
SCHEMA_DOCS = "https://learn.microsoft.com/windows-hardware/drivers/image/scan-service--ws-scan--schema"

# Model elements that are only types in the XSD: element name -> XSD type name.
FRAGMENT_TYPES = {
    "ScanTicket": "ScanTicketType",
    "DefaultScanTicket": "ScanTicketType",
    "JobDescription": "JobDescriptionType",
    "DocumentParameters": "DocumentParametersType",
    "DocumentFinalParameters": "ActualDocumentParametersType",
    "ScannerDescription": "ScannerDescriptionType",
    "ScannerConfiguration": "ScannerConfigurationType",
    "ScannerStatus": "ScannerStatusType",
    "DeviceSettings": "DeviceSettingsType",
    "Platen": "PlatenType",
    "ADF": "ADFType",
    "ADFFront": "ADFEntryType",
    "ADFBack": "ADFEntryType",
    "Film": "FilmType",
    "DeviceCondition": "DeviceConditionType",
    "ConditionHistoryEntry": "ConditionHistoryEntryType",
    "ImageInformation": "ImageInformationType",
    "JobStatus": "JobStatusType",
    "JobSummary": "JobSummaryType",
    "Documents": "DocumentsType",
    "JobEndState": "JobEndStateType",
    "Job": "JobType",
    "ElementData": "ScannerElementDataType",
}


class SchemaViolation(AssertionError):
    """The XML does not validate; the message holds lxml's error log and the XML."""


def schemas_dir() -> Path:
    """The shared WS-Scan directory: ``$WSD_SCAN_SCHEMAS``, else ``<repo>/../shared/wsscan``."""
    override = os.environ.get(ENV)
    return Path(override) if override else REPO.parent / "shared" / "wsscan"


def schema_path() -> Path:
    """Path of WDPScan.xsd (it includes Common.xsd, Job.xsd, ... from the same directory)."""
    return schemas_dir() / "xsd" / "WDPScan.xsd"


def missing_schemas() -> str | None:
    """None when WDPScan.xsd is there, else a one-line reason: what is missing, where Microsoft publishes it."""
    path = schema_path()
    if path.is_file():
        return None
    return (
        f"Microsoft's WS-Scan schema {path} is missing (set {ENV} to the directory holding xsd/WDPScan.xsd; "
        f"Microsoft publishes the schemas in {SCHEMA_DOWNLOAD}, documented at {SCHEMA_DOCS})"
    )


def require_schemas() -> Path:
    """The xsd/ directory; skips the calling test at once when WDPScan.xsd is missing."""
    reason = missing_schemas()
    if reason:
        pytest.skip(reason)
    return schema_path().parent


def shared_file(relative: str, published: str) -> Path:
    """``<WSD_SCAN_SCHEMAS>/<relative>`` (``..`` allowed); skips the calling test at once when it is missing.

    ``published`` says where the file's content comes from, for the skip reason.
    """
    path = schemas_dir() / relative
    if not path.exists():
        pytest.skip(f"{path} is missing (set {ENV}; the content is {published})")
    return path


# Reasons for validations skipped since the last take_skipped(): the root conftest reads them after each test.
_skipped: list[str] = []


def take_skipped() -> list[str]:
    """The reasons recorded by checks that did nothing since the last call; clears them."""
    reasons = list(_skipped)
    _skipped.clear()
    return reasons


def _record_skip() -> bool:
    """True (and a reason recorded) when the schemas are missing, so a check must do nothing."""
    reason = missing_schemas()
    if reason:
        _skipped.append(reason)
    return reason is not None


@functools.cache
def body_schema() -> etree.XMLSchema:
    """WDPScan.xsd compiled (with the files it includes)."""
    return etree.XMLSchema(etree.parse(str(schema_path())))


@functools.cache
def fragment_schema() -> etree.XMLSchema:
    """WDPScan.xsd plus a global element for each entry of :data:`FRAGMENT_TYPES`."""
    root = etree.Element(
        f"{{{XS}}}schema",
        nsmap={"xs": XS, "wscn": ns.SCAN},
        targetNamespace=ns.SCAN,
        elementFormDefault="qualified",
    )
    etree.SubElement(root, f"{{{XS}}}include", schemaLocation=schema_path().resolve().as_uri())
    for name, type_name in FRAGMENT_TYPES.items():
        etree.SubElement(root, f"{{{XS}}}element", name=name, type="wscn:" + type_name)
    return etree.XMLSchema(etree.ElementTree(root))


def _to_lxml(element_or_bytes: ET.Element | bytes) -> tuple[etree._Element, bytes]:
    data = element_or_bytes if isinstance(element_or_bytes, bytes) else serialize(element_or_bytes)
    return etree.fromstring(data), data


def _check(schema: etree.XMLSchema, element_or_bytes: ET.Element | bytes) -> None:
    doc, data = _to_lxml(element_or_bytes)
    if not schema.validate(doc):
        errors = "\n".join(f"  line {e.line}: {e.message}" for e in schema.error_log)
        raise SchemaViolation(f"not valid against WDPScan.xsd:\n{errors}\n{data.decode('utf-8', 'replace')}")


def validate(element_or_bytes: ET.Element | bytes) -> None:
    """Validate a Body child element (ElementTree element or serialized bytes) against WDPScan.xsd.

    Raises :class:`SchemaViolation` (an AssertionError) with the schema error log.
    Without the schemas, only records the skipped check (:func:`take_skipped`).
    """
    if not _record_skip():
        _check(body_schema(), element_or_bytes)


def validate_fragment(element_or_bytes: ET.Element | bytes) -> None:
    """Validate a model element named in :data:`FRAGMENT_TYPES` against its XSD type.

    Raises :class:`SchemaViolation` (an AssertionError) with the schema error log.
    Without the schemas, only records the skipped check (:func:`take_skipped`).
    """
    if not _record_skip():
        _check(fragment_schema(), element_or_bytes)


def assert_invalid(element_or_bytes: ET.Element | bytes) -> None:
    """Assert that a Body child element does NOT validate against WDPScan.xsd.

    Raises AssertionError when it validates. Without the schemas, only records the skipped check.
    """
    if _record_skip():
        return
    try:
        _check(body_schema(), element_or_bytes)
    except SchemaViolation:
        return
    raise AssertionError("expected a schema violation, but the XML is valid against WDPScan.xsd")
