"""Validate emitted WS-Scan XML against Microsoft's schema (shared/wsscan/xsd/WDPScan.xsd) with lxml.

:func:`validate` checks a SOAP Body child (a request, response or event
element, the XSD's global elements), as REFERENCE.md section 6.4 recommends.
:func:`validate_fragment` checks a model element that the XSD only defines as
a type (ScanTicket, ScannerStatus, DeviceCondition, ...): it uses a small
schema that includes WDPScan.xsd unchanged and declares one global element per
such type, so the element is checked against exactly the XSD's type.

The shared directory is ``<repo>/../shared`` unless ``WSD_SHARED_DIR`` says otherwise.
Schemas are compiled once per test session.
"""

from __future__ import annotations

import functools
import os
import xml.etree.ElementTree as ET
from pathlib import Path

from lxml import etree

from firmware.wire import namespaces as ns
from firmware.wire.xml import serialize

XS = "http://www.w3.org/2001/XMLSchema"

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


def shared_dir() -> Path:
    """The project's shared/ directory: ``$WSD_SHARED_DIR``, else ``<repo>/../shared``."""
    override = os.environ.get("WSD_SHARED_DIR")
    return Path(override) if override else Path(__file__).resolve().parents[2] / "shared"


def schema_path() -> Path:
    """Path of WDPScan.xsd."""
    return shared_dir() / "wsscan" / "xsd" / "WDPScan.xsd"


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
    """
    _check(body_schema(), element_or_bytes)


def validate_fragment(element_or_bytes: ET.Element | bytes) -> None:
    """Validate a model element named in :data:`FRAGMENT_TYPES` against its XSD type.

    Raises :class:`SchemaViolation` (an AssertionError) with the schema error log.
    """
    _check(fragment_schema(), element_or_bytes)
