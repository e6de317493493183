"""The typed WS-Scan model: one frozen dataclass per element, each with ``to_xml`` and ``from_xml``.

``to_xml()`` builds an ``xml.etree.ElementTree.Element`` in the 2006/08 scan
namespace with the XSD's child order and attribute forms; ``from_xml(el)``
parses leniently and raises ``wscn:InvalidArgs`` (a
:class:`firmware.wire.faults.SoapFault`) for a missing required child or an
ill-typed value. Modules: :mod:`.common` (Size, Resolution, xs:dateTime),
:mod:`.ticket`, :mod:`.scanner`, :mod:`.job`, :mod:`.messages` (operation
bodies) and :mod:`.enums` (the XSD's well-known values).
"""

from .common import Resolution, Size, format_datetime, parse_datetime
from .document import Exposure, MediaSide, Scaling, ScanRegion
from .job import Documents, ImageInfo, ImageInformation, Job, JobEndState, JobStatus, JobSummary
from .messages import (
    CancelJobRequest,
    CancelJobResponse,
    CreateScanJobRequest,
    CreateScanJobResponse,
    ElementData,
    GetActiveJobsRequest,
    GetActiveJobsResponse,
    GetJobElementsRequest,
    GetJobElementsResponse,
    GetJobHistoryRequest,
    GetJobHistoryResponse,
    GetScannerElementsRequest,
    GetScannerElementsResponse,
    RequestedName,
    RetrieveImageRequest,
    RetrieveImageResponse,
    ValidateScanTicketRequest,
    ValidateScanTicketResponse,
)
from .scanner import (
    DeviceCondition,
    DeviceSettings,
    ScannerConfiguration,
    ScannerDescription,
    ScannerStatus,
    SourceSettings,
)
from .ticket import DocumentParameters, JobDescription, ScanTicket

__all__ = [
    "CancelJobRequest",
    "CancelJobResponse",
    "CreateScanJobRequest",
    "CreateScanJobResponse",
    "DeviceCondition",
    "DeviceSettings",
    "DocumentParameters",
    "Documents",
    "ElementData",
    "Exposure",
    "GetActiveJobsRequest",
    "GetActiveJobsResponse",
    "GetJobElementsRequest",
    "GetJobElementsResponse",
    "GetJobHistoryRequest",
    "GetJobHistoryResponse",
    "GetScannerElementsRequest",
    "GetScannerElementsResponse",
    "ImageInfo",
    "ImageInformation",
    "Job",
    "JobDescription",
    "JobEndState",
    "JobStatus",
    "JobSummary",
    "MediaSide",
    "RequestedName",
    "Resolution",
    "RetrieveImageRequest",
    "RetrieveImageResponse",
    "Scaling",
    "ScanRegion",
    "ScanTicket",
    "ScannerConfiguration",
    "ScannerDescription",
    "ScannerStatus",
    "Size",
    "SourceSettings",
    "ValidateScanTicketRequest",
    "ValidateScanTicketResponse",
    "format_datetime",
    "parse_datetime",
]
