"""The eight WS-Scan operations' request and response bodies (REFERENCE.md section 1.2; WDPScan.xsd).

Each class is the SOAP Body's only child. Requests are parsed with
``from_xml`` (leniently: unknown children and attributes are ignored) and
raise ``wscn:InvalidArgs`` for a wrong root element, a missing required child
or an ill-typed value; a JobId that is an integer outside 1..2147483647
raises ``wscn:ClientErrorJobIdNotFound`` instead. Responses are built with
``to_xml``; every class has both methods so messages round-trip.

Modules: :mod:`.elements` (GetScannerElements, ElementData, RequestedName),
:mod:`.scanjob` (ValidateScanTicket, CreateScanJob, RetrieveImage),
:mod:`.jobs` (CancelJob, GetJobElements, GetActiveJobs, GetJobHistory) and
:mod:`.base` (the root check and the JobId parser they share).
"""

from .base import job_id_value
from .elements import ElementData, GetScannerElementsRequest, GetScannerElementsResponse, RequestedName
from .jobs import (
    JOB_ELEMENTS,
    CancelJobRequest,
    CancelJobResponse,
    GetActiveJobsRequest,
    GetActiveJobsResponse,
    GetJobElementsRequest,
    GetJobElementsResponse,
    GetJobHistoryRequest,
    GetJobHistoryResponse,
)
from .scanjob import (
    CreateScanJobRequest,
    CreateScanJobResponse,
    RetrieveImageRequest,
    RetrieveImageResponse,
    ValidateScanTicketRequest,
    ValidateScanTicketResponse,
)

__all__ = [
    "JOB_ELEMENTS",
    "CancelJobRequest",
    "CancelJobResponse",
    "CreateScanJobRequest",
    "CreateScanJobResponse",
    "ElementData",
    "GetActiveJobsRequest",
    "GetActiveJobsResponse",
    "GetJobElementsRequest",
    "GetJobElementsResponse",
    "GetJobHistoryRequest",
    "GetJobHistoryResponse",
    "GetScannerElementsRequest",
    "GetScannerElementsResponse",
    "RequestedName",
    "RetrieveImageRequest",
    "RetrieveImageResponse",
    "ValidateScanTicketRequest",
    "ValidateScanTicketResponse",
    "job_id_value",
]
