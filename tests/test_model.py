"""The typed WS-Scan model (firmware/model): round trips, XSD validity, lenient parsing, faults.

Every emitted body element is validated with lxml against Microsoft's
WDPScan.xsd (tests/xsd.py); elements the XSD defines only as types are checked
against exactly those types. Real client messages come from the shared
reference documents (sane-airscan's and Windows' CreateScanJob tickets, the
MSDOC GetActiveJobsResponse example).
"""

from __future__ import annotations

import html
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Protocol, Self

import pytest
from lxml import etree

from firmware.model import (
    CancelJobRequest,
    CancelJobResponse,
    CreateScanJobRequest,
    CreateScanJobResponse,
    DeviceCondition,
    DeviceSettings,
    DocumentParameters,
    Documents,
    ElementData,
    Exposure,
    GetActiveJobsRequest,
    GetActiveJobsResponse,
    GetJobElementsRequest,
    GetJobElementsResponse,
    GetJobHistoryRequest,
    GetJobHistoryResponse,
    GetScannerElementsRequest,
    GetScannerElementsResponse,
    ImageInfo,
    ImageInformation,
    Job,
    JobDescription,
    JobEndState,
    JobStatus,
    JobSummary,
    MediaSide,
    RequestedName,
    Resolution,
    RetrieveImageRequest,
    RetrieveImageResponse,
    Scaling,
    ScannerConfiguration,
    ScannerDescription,
    ScannerStatus,
    ScanRegion,
    ScanTicket,
    Size,
    SourceSettings,
    ValidateScanTicketRequest,
    ValidateScanTicketResponse,
    enums,
    format_datetime,
    parse_datetime,
)
from firmware.wire import namespaces as ns
from firmware.wire.faults import SoapFault
from firmware.wire.xml import Element, element, parse_with_prefixes, parse_xml, qname, scan, serialize, sub
from tests.xmlfind import child
from tests.xsd import assert_invalid, require_schemas, shared_file, validate, validate_fragment

UTC = UTC
T0 = datetime(2024, 5, 1, 12, 30, 0, tzinfo=UTC)
INVALID_ARGS = (ns.SCAN, "InvalidArgs")
JOB_ID_NOT_FOUND = (ns.SCAN, "ClientErrorJobIdNotFound")


# --- samples ----------------------------------------------------------------------------


def request_parameters() -> DocumentParameters:
    """A ticket's DocumentParameters using every element, MustHonor on most of them."""
    side = MediaSide(ScanRegion(8500, 11000, 10, 20), "RGB24", Resolution(300, 300))
    return DocumentParameters(
        format="exif",
        compression_quality_factor=50,
        images_to_transfer=1,
        input_source="ADFDuplex",
        film_scan_mode="NotApplicable",
        content_type="Photo",
        input_size=Size(8500, 11700),
        exposure=Exposure(contrast=-10, brightness=20, sharpness=5),
        scaling=Scaling(100, 50),
        rotation=90,
        media_front=side,
        media_back=MediaSide(color_processing="Grayscale8", resolution=Resolution(150)),
        must_honor=frozenset(
            {"Format", "InputSize", "Exposure", "Scaling", "Rotation", "ScanRegion", "ColorProcessing", "Resolution"}
        ),
    )


def final_parameters() -> DocumentParameters:
    """A complete DocumentFinalParameters with Override and UsedDefault marks."""
    side = MediaSide(ScanRegion(8268, 11692, 0, 0), "RGB24", Resolution(300, 300))
    return DocumentParameters(
        format="jfif",
        compression_quality_factor=85,
        images_to_transfer=0,
        input_source="Platen",
        content_type="Auto",
        input_size=Size(8268, 11692),
        exposure=Exposure(contrast=0, brightness=0, sharpness=0),
        scaling=Scaling(),
        rotation=0,
        media_front=side,
        override=frozenset({"InputSize", "ScanRegionWidth", "ScanRegionHeight"}),
        used_default=frozenset({"CompressionQualityFactor", "ContentType", "Exposure", "Scaling", "Rotation"}),
    )


def ticket() -> ScanTicket:
    return ScanTicket(JobDescription("Scan 1", "alice", "from the test"), request_parameters())


def source(colors: tuple[str, ...] = ("BlackAndWhite1", "Grayscale8", "RGB24"), **extra: object) -> SourceSettings:
    return SourceSettings(
        optical_resolution=Resolution(600, 1200),
        widths=(75, 150, 300, 600),
        heights=(75, 150, 300, 600),
        colors=colors,
        minimum_size=Size(100, 100),
        maximum_size=Size(8504, 11693),
        **extra,  # type: ignore[arg-type]
    )


def configuration() -> ScannerConfiguration:
    return ScannerConfiguration(
        DeviceSettings(
            formats=("jfif", "exif", "png", "dib", "pdf-a"),
            content_types=("Auto", "Text", "Photo"),
            brightness=True,
            contrast=True,
            scaling_width=(1, 1000),
            rotations=(0, 90, 180, 270),
        ),
        platen=source(),
        adf_front=source(("Grayscale8", "RGB24")),
        adf_back=source(("RGB24",)),
        adf_supports_duplex=True,
        film=source(("RGB24",), film_scan_modes=("ColorSlideFilm", "ColorNegativeFilm")),
    )


def conditions() -> tuple[DeviceCondition, DeviceCondition]:
    active = DeviceCondition(7, T0, "MediaJam", "ADF", "Critical")
    cleared = DeviceCondition(
        3, T0 - timedelta(hours=1), "CoverOpen", "Platen", "Critical", clear_time=T0 - timedelta(minutes=5)
    )
    return active, cleared


def status() -> ScannerStatus:
    active, cleared = conditions()
    return ScannerStatus(T0, "Stopped", ("MediaJam",), (active,), (cleared,))


def image_information() -> ImageInformation:
    return ImageInformation(ImageInfo(2480, 3508, 7440), ImageInfo(2480, 3508, 7440))


def job_status() -> JobStatus:
    return JobStatus(42, "Processing", ("JobScanningAndTransfering",), 3, T0, None)


def summaries() -> tuple[JobSummary, ...]:
    return (
        JobSummary(41, "Scan 0", "bob", "Completed", ("JobCompletedSuccessfully",), 1),
        JobSummary(42, "Scan 1", "alice", "Pending", (), 0),
    )


def documents() -> Documents:
    return Documents(final_parameters(), ("Scan001.jpg", "Scan002.jpg"))


class ModelElement(Protocol):
    """A model class of the round-trip tables: one serializer and one parser."""

    def to_xml(self) -> Element: ...

    @classmethod
    def from_xml(cls, el: Element) -> Self: ...


def round_trip(obj, parse=None):
    """to_xml -> serialize -> parse_xml -> from_xml."""
    el = parse_xml(serialize(obj.to_xml()))
    return (parse or type(obj).from_xml)(el)


def fault_of(call) -> SoapFault:
    with pytest.raises(SoapFault) as info:
        call()
    return info.value


# --- round trips and XSD validity --------------------------------------------------------

MESSAGES: dict[str, ModelElement] = {
    "GetScannerElementsRequest": GetScannerElementsRequest(
        (
            RequestedName(ns.SCAN, "ScannerConfiguration", "wscn:ScannerConfiguration"),
            RequestedName(ns.SCAN, "ScannerStatus", "sca:ScannerStatus"),
            RequestedName("urn:example:ihv", "InvalidRequestEntry", "ihv:InvalidRequestEntry"),
        )
    ),
    "GetScannerElementsResponse": GetScannerElementsResponse(
        (
            ElementData("wscn:ScannerDescription", True, ScannerDescription("Pi Scanner", "Flatbed", "Office 2", "en")),
            ElementData("wscn:ScannerConfiguration", True, configuration()),
            ElementData("wscn:ScannerStatus", True, status()),
            ElementData(
                "wscn:DefaultScanTicket",
                True,
                ScanTicket(
                    JobDescription("Default", "device"),
                    replace(final_parameters(), override=frozenset(), used_default=frozenset()),
                ),
            ),
            ElementData("ihv:InvalidRequestEntry", False, None, "urn:example:ihv"),
        )
    ),
    "ValidateScanTicketRequest": ValidateScanTicketRequest(ticket()),
    "ValidateScanTicketResponse": ValidateScanTicketResponse(False, image_information(), ticket()),
    "CreateScanJobRequest": CreateScanJobRequest(ticket(), "scan-id-1", "Client_2297848483138"),
    "CreateScanJobResponse": CreateScanJobResponse(
        2147483647, "f3c1e2d4-token", image_information(), final_parameters()
    ),
    "RetrieveImageRequest": RetrieveImageRequest(7, "tok", "IMAGE000.JPG"),
    "CancelJobRequest": CancelJobRequest(1),
    "CancelJobResponse": CancelJobResponse(),
    "GetJobElementsRequest": GetJobElementsRequest.of(9, "JobStatus", "ScanTicket", "Documents"),
    "GetJobElementsResponse": GetJobElementsResponse(
        (
            ElementData("wscn:JobStatus", True, job_status()),
            ElementData("wscn:ScanTicket", True, ticket()),
            ElementData("wscn:Documents", True, documents()),
            ElementData("wscn:Unknown", False),
        )
    ),
    "GetActiveJobsRequest": GetActiveJobsRequest(),
    "GetActiveJobsResponse": GetActiveJobsResponse(summaries()),
    "GetJobHistoryRequest": GetJobHistoryRequest(),
    "GetJobHistoryResponse": GetJobHistoryResponse(summaries()),
}


@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_message_round_trips_and_validates(name: str) -> None:
    message = MESSAGES[name]
    el = message.to_xml()
    assert el.tag == scan(name)
    validate(el)
    data = serialize(el)
    parsed_el, prefixes = parse_with_prefixes(data)
    parsed: ModelElement
    if isinstance(message, (GetScannerElementsRequest, GetJobElementsRequest)):
        parsed = type(message).from_xml(parsed_el, prefixes)
    else:
        parsed = type(message).from_xml(parsed_el)
    assert parsed == message


def test_empty_job_lists_validate() -> None:
    for message in (GetActiveJobsResponse(), GetJobHistoryResponse()):
        validate(message.to_xml())
        assert round_trip(message) == message


FRAGMENTS: dict[str, ModelElement] = {
    "ScanTicket": ticket(),
    "ScanTicket without parameters": ScanTicket(JobDescription("n", "u")),
    "ScannerDescription": ScannerDescription("Pi Scanner", "Flatbed", "Office 2", "de"),
    "ScannerDescription name only": ScannerDescription("Pi Scanner"),
    "ScannerConfiguration": configuration(),
    "ScannerConfiguration platen only": ScannerConfiguration(DeviceSettings(formats=("png",)), platen=source()),
    "ScannerStatus": status(),
    "ScannerStatus idle": ScannerStatus(T0, "Idle"),
    "DeviceCondition": conditions()[0],
    "ImageInformation": image_information(),
    "ImageInformation front only": ImageInformation(ImageInfo(1, 1, 0)),
    "JobStatus": job_status(),
    "JobStatus completed": JobStatus(1, "Completed", ("JobCompletedSuccessfully",), 2, T0, T0 + timedelta(seconds=9)),
    "JobSummary": summaries()[0],
    "Documents": documents(),
    "JobEndState": JobEndState(42, "Aborted", ("JobCompletedWithErrors", "ScannerStopped"), "Scan 1", "alice", 2, T0),
    "Job": Job(job_status(), ticket(), documents()),
    "Job without documents": Job(job_status(), ticket()),
    "ElementData": ElementData("wscn:ScannerStatus", True, status()),
}


@pytest.mark.parametrize("name", sorted(FRAGMENTS))
def test_element_round_trips_and_validates(name: str) -> None:
    obj = FRAGMENTS[name]
    el = obj.to_xml()
    validate_fragment(el)
    assert round_trip(obj) == obj


def test_document_final_parameters_round_trip_and_validate() -> None:
    final = final_parameters()
    el = final.to_xml(scan("DocumentFinalParameters"))
    validate_fragment(el)
    parsed = DocumentParameters.from_xml(parse_xml(serialize(el)))
    assert parsed == final
    assert parsed.override == {"InputSize", "ScanRegionWidth", "ScanRegionHeight"}
    assert parsed.used_default >= {"Contrast", "Brightness", "Sharpness", "ScalingWidth", "ScalingHeight"}


def test_condition_history_entry_validates_and_round_trips() -> None:
    _, cleared = conditions()
    el = cleared.to_history_xml()
    assert el.tag == scan("ConditionHistoryEntry")
    validate_fragment(el)
    assert DeviceCondition.from_xml(parse_xml(serialize(el))) == cleared


def test_events_built_from_model_elements_validate() -> None:
    """DeviceCondition, JobStatus and JobEndState inside the XSD's global event elements."""
    active, _ = conditions()
    event = element(scan("ScannerStatusConditionEvent"))
    event.append(active.to_xml())
    validate(event)
    event = element(scan("JobStatusEvent"))
    event.append(job_status().to_xml())
    validate(event)
    event = element(scan("JobEndStateEvent"))
    event.append(FRAGMENTS["JobEndState"].to_xml())
    validate(event)


@pytest.mark.parametrize("prefix", ["Platen", "ADFFront", "ADFBack", "Film"])
def test_source_settings_use_the_xsd_element_names(prefix: str) -> None:
    settings = source(film_scan_modes=("ColorSlideFilm",))
    el = settings.to_xml(prefix)
    name = {"Platen": "Platen", "ADFFront": "ADF", "ADFBack": "ADF", "Film": "Film"}[prefix]
    expected = [name + suffix for suffix in ("OpticalResolution", "Resolutions", "Color", "MinimumSize", "MaximumSize")]
    if prefix == "Film":
        expected.insert(0, "FilmScanModesSupported")
    assert el.tag == scan(prefix)
    assert [c.tag for c in el] == [scan(x) for x in expected]
    validate_fragment(el)
    assert SourceSettings.from_xml(parse_xml(serialize(el))) == (settings if prefix == "Film" else source())


def test_missing_optical_resolution_is_written_as_the_largest_resolution() -> None:
    settings = SourceSettings(None, (100, 300), (100, 600), ("RGB24",), Size(1, 1), Size(8500, 11690))
    el = settings.to_xml("Platen")
    validate_fragment(el)
    assert SourceSettings.from_xml(el).optical_resolution == Resolution(300, 600)


def test_optical_resolution_is_written_with_width_and_height() -> None:
    """ResolutionPairType's Height is optional, but real devices send it and go-mfp and PyWSD need it."""
    settings = SourceSettings(Resolution(600), (100, 600), (100, 600), ("RGB24",), Size(1, 1), Size(8500, 11690))
    optical = settings.to_xml("ADFFront").find(scan("ADFOpticalResolution"))
    assert optical is not None
    assert [(c.tag, c.text) for c in optical] == [(scan("Width"), "600"), (scan("Height"), "600")]


# --- what is emitted exactly ------------------------------------------------------------------


def test_document_parameters_children_follow_the_xsd_sequence() -> None:
    el = request_parameters().to_xml()
    assert [c.tag for c in el] == [
        scan(x)
        for x in (
            "Format",
            "CompressionQualityFactor",
            "ImagesToTransfer",
            "InputSource",
            "FilmScanMode",
            "ContentType",
            "InputSize",
            "Exposure",
            "Scaling",
            "Rotation",
            "MediaSides",
        )
    ]
    region = child(el, f"{scan('MediaSides')}/{scan('MediaFront')}/{scan('ScanRegion')}")
    assert [c.tag for c in region] == [
        scan(x) for x in ("ScanRegionXOffset", "ScanRegionYOffset", "ScanRegionWidth", "ScanRegionHeight")
    ]


def test_attribute_forms_on_the_wire() -> None:
    """Name/Valid/Id unqualified; MustHonor/Override/UsedDefault qualified (REFERENCE.md 2.0)."""
    data = serialize(MESSAGES["GetScannerElementsResponse"].to_xml()).decode()
    assert '<wscn:ElementData Name="wscn:ScannerStatus" Valid="true">' in data
    assert '<wscn:DeviceCondition Id="7">' in data
    assert '<wscn:ConditionHistoryEntry Id="3">' in data
    assert "wscn:Name=" not in data and "wscn:Valid=" not in data and "wscn:Id=" not in data

    ticket_xml = serialize(ticket().to_xml()).decode()
    assert '<wscn:Format wscn:MustHonor="true">exif</wscn:Format>' in ticket_xml
    assert "<wscn:CompressionQualityFactor>50</wscn:CompressionQualityFactor>" in ticket_xml
    assert "Override" not in ticket_xml and "UsedDefault" not in ticket_xml

    final_xml = serialize(final_parameters().to_xml(scan("DocumentFinalParameters"))).decode()
    assert "MustHonor" not in final_xml
    assert '<wscn:ScanRegionWidth wscn:Override="true">8268</wscn:ScanRegionWidth>' in final_xml
    assert '<wscn:Contrast wscn:UsedDefault="true">0</wscn:Contrast>' in final_xml
    assert '<wscn:InputMediaSize><wscn:Width wscn:Override="true">8268</wscn:Width>' in final_xml


def test_final_form_fills_what_the_request_form_may_omit() -> None:
    side = MediaSide(ScanRegion(1000, 2000), "Grayscale8", Resolution(200))
    final = DocumentParameters(
        format="png",
        compression_quality_factor=100,
        images_to_transfer=1,
        input_source="Platen",
        content_type="Text",
        input_size=Size(1000, 2000),
        document_size_auto_detect=False,
        exposure=Exposure(contrast=0, brightness=0, sharpness=0),
        scaling=Scaling(),
        rotation=0,
        media_front=side,
    )
    el = final.to_xml(scan("DocumentFinalParameters"))
    validate_fragment(el)
    parsed = DocumentParameters.from_xml(el)
    assert parsed.media_front == MediaSide(ScanRegion(1000, 2000, 0, 0), "Grayscale8", Resolution(200, 200))
    assert parsed.document_size_auto_detect is None and parsed.input_size == Size(1000, 2000)


def test_incomplete_final_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="format"):
        DocumentParameters(input_source="Platen").to_xml(scan("DocumentFinalParameters"))
    auto = replace(final_parameters(), exposure=Exposure(auto=True))
    with pytest.raises(ValueError, match="exposure"):
        auto.to_xml(scan("DocumentFinalParameters"))


def test_mark_groups_expand_and_unknown_marks_are_refused() -> None:
    params = DocumentParameters(must_honor=frozenset({"ScanRegion"}), override=frozenset({"Exposure", "Scaling"}))
    assert params.must_honor == {"ScanRegionXOffset", "ScanRegionYOffset", "ScanRegionWidth", "ScanRegionHeight"}
    assert params.override == {"Contrast", "Brightness", "Sharpness", "ScalingWidth", "ScalingHeight"}
    with pytest.raises(ValueError):
        DocumentParameters(must_honor=frozenset({"MediaFront"}))
    with pytest.raises(ValueError):
        DocumentParameters(override=frozenset({"Width"}))


def test_auto_choices_round_trip() -> None:
    params = DocumentParameters(
        document_size_auto_detect=True, exposure=Exposure(auto=True), must_honor=frozenset({"InputSize"})
    )
    el = ScanTicket(JobDescription("j", "u"), params).to_xml()
    validate_fragment(el)
    assert ScanTicket.from_xml(el).document_parameters == params


def test_datetime_format_and_parse() -> None:
    cest = timezone(timedelta(hours=2))
    assert format_datetime(datetime(2024, 5, 1, 14, 30, tzinfo=cest)) == "2024-05-01T12:30:00Z"
    assert format_datetime(datetime(2024, 5, 1, 12, 30, 0, 250000, tzinfo=UTC)) == "2024-05-01T12:30:00.25Z"
    assert format_datetime(datetime(1, 1, 1, tzinfo=UTC)) == "0001-01-01T00:00:00Z"
    with pytest.raises(ValueError):
        format_datetime(datetime(2024, 5, 1))
    assert parse_datetime("2024-05-01T14:30:00+02:00") == T0
    assert parse_datetime(" 2024-05-01T12:30:00 ") == T0
    assert parse_datetime("2024-05-01T12:30:00.123456789Z") == T0.replace(microsecond=123456)
    assert parse_datetime("2024-05-01T12:30:00.123456789Z").tzinfo is UTC
    for bad in ("2024-05-01", "2024-13-01T00:00:00Z", "yesterday", "2024-05-01T12:30:00+25:00"):
        assert fault_of(lambda bad=bad: parse_datetime(bad)).subcode == INVALID_ARGS


# --- ElementData names and prefixes ------------------------------------------------------------


def test_standalone_element_data_has_its_name_prefix_in_scope() -> None:
    el = ElementData("wscn:ScannerConfiguration", False).to_xml()
    data = serialize(el)
    assert b'xmlns:wscn="http://schemas.microsoft.com/windows/2006/08/wdp/scan"' in data
    validate_fragment(data)


def test_vendor_element_name_needs_and_gets_its_declaration() -> None:
    undeclared = GetScannerElementsResponse((ElementData("ihv:Thing", False),)).to_xml()
    assert_invalid(undeclared)
    declared = GetScannerElementsResponse((ElementData("ihv:Thing", False, None, "urn:example:ihv"),)).to_xml()
    validate(declared)
    _root, prefixes = parse_with_prefixes(serialize(declared))
    assert prefixes["ihv"] == "urn:example:ihv"


def test_requested_names_resolve_with_the_clients_prefixes() -> None:
    body = (
        b'<sca:GetScannerElementsRequest xmlns:sca="http://schemas.microsoft.com/windows/2006/08/wdp/scan"'
        b' xmlns:ihv="urn:example:ihv"><sca:RequestedElements>'
        b"<sca:Name> sca:ScannerConfiguration </sca:Name><sca:Name>ihv:Extra</sca:Name>"
        b"<sca:Name>wscn:DefaultScanTicket</sca:Name><sca:Name>Plain</sca:Name>"
        b"</sca:RequestedElements></sca:GetScannerElementsRequest>"
    )
    request = GetScannerElementsRequest.from_xml(*parse_with_prefixes(body))
    assert request.names == (
        RequestedName(ns.SCAN, "ScannerConfiguration", "sca:ScannerConfiguration"),
        RequestedName("urn:example:ihv", "Extra", "ihv:Extra"),
        RequestedName("", "DefaultScanTicket", "wscn:DefaultScanTicket"),  # wscn not declared by this client
        RequestedName("", "Plain", "Plain"),
    )
    replies = tuple(name.element_data(False) for name in request.names)
    assert [r.name for r in replies] == ["wscn:ScannerConfiguration", "ihv:Extra", "DefaultScanTicket", "Plain"]
    validate(GetScannerElementsResponse(replies).to_xml())


def test_requested_name_with_a_reserved_prefix_for_a_vendor_namespace() -> None:
    reply = RequestedName("urn:example:other", "Thing", "wscn:Thing").element_data(False)
    assert reply.name == "vnd:Thing" and reply.namespace == "urn:example:other"
    validate(GetScannerElementsResponse((reply,)).to_xml())


def test_job_element_names_resolve_against_the_requests_prefixes() -> None:
    body = (
        b'<sca:GetJobElementsRequest xmlns:sca="http://schemas.microsoft.com/windows/2006/08/wdp/scan"'
        b' xmlns:ihv="urn:example:ihv"><sca:JobId> 12 </sca:JobId><sca:RequestedElements>'
        b"<sca:Name>JobStatus</sca:Name><sca:Name>sca:ScanTicket</sca:Name><sca:Name>Document</sca:Name>"
        b"<sca:Name>sca:Documents</sca:Name><sca:Name>ihv:JobStatus</sca:Name><sca:Name>Bogus</sca:Name>"
        b"</sca:RequestedElements></sca:GetJobElementsRequest>"
    )
    request = GetJobElementsRequest.from_xml(*parse_with_prefixes(body))
    assert request.job_id == 12
    assert [(n.namespace, n.local) for n in request.names] == [
        (ns.SCAN, "JobStatus"),
        (ns.SCAN, "ScanTicket"),
        (ns.SCAN, "Documents"),
        (ns.SCAN, "Documents"),
        ("urn:example:ihv", "JobStatus"),
        ("", "Bogus"),
    ]
    # the reply names resolve in our reply: the scan namespace is written wscn:, a vendor one keeps its prefix
    replies = [name.element_data(False) for name in request.names]
    assert [r.name for r in replies] == [
        "wscn:JobStatus",
        "wscn:ScanTicket",
        "wscn:Documents",
        "wscn:Documents",
        "ihv:JobStatus",
        "Bogus",
    ]
    validate(GetJobElementsResponse(tuple(replies)).to_xml())
    # written back as the client wrote them, and parsed to the same names
    assert [n.text for n in request.to_xml().iter(scan("Name"))] == [n.text for n in request.names]
    assert GetJobElementsRequest.from_xml(*parse_with_prefixes(serialize(request.to_xml()))) == request
    # without a prefix map only our registered prefixes are known: sca: is then no scan prefix
    without_prefix_map = GetJobElementsRequest.from_xml(parse_xml(body))
    assert without_prefix_map.names[1] == RequestedName("", "ScanTicket", "sca:ScanTicket")


def test_an_unprefixed_well_known_job_element_is_the_scan_one_whatever_the_default_namespace() -> None:
    body = (
        b'<GetJobElementsRequest xmlns="http://schemas.microsoft.com/windows/2006/08/wdp/scan">'
        b"<JobId>3</JobId><RequestedElements><Name>Document</Name><Name>Thing</Name></RequestedElements>"
        b"</GetJobElementsRequest>"
    )
    request = GetJobElementsRequest.from_xml(*parse_with_prefixes(body))
    assert request.names == (RequestedName(ns.SCAN, "Documents", "Document"), RequestedName(ns.SCAN, "Thing", "Thing"))
    other_default = (
        b'<s:GetJobElementsRequest xmlns:s="http://schemas.microsoft.com/windows/2006/08/wdp/scan"'
        b' xmlns="urn:example:other"><s:JobId>3</s:JobId><s:RequestedElements><s:Name>Document</s:Name>'
        b"<s:Name>Thing</s:Name></s:RequestedElements></s:GetJobElementsRequest>"
    )
    request = GetJobElementsRequest.from_xml(*parse_with_prefixes(other_default))
    assert request.names == (
        RequestedName(ns.SCAN, "Documents", "Document"),
        RequestedName("urn:example:other", "Thing", "Thing"),
    )


def test_retrieve_image_response_structure() -> None:
    response = RetrieveImageResponse("image 1@pi")
    el = response.to_xml()
    (data,) = list(el)
    assert data.tag == scan("ScanData")
    (include,) = list(data)
    assert include.tag == qname(ns.XOP, "Include")
    assert include.attrib == {"href": "cid:image%201@pi"}
    assert b'xmlns:xop="http://www.w3.org/2004/08/xop/include"' in serialize(el)
    assert round_trip(response) == response
    assert_invalid(el)  # ScanData is base64Binary in the XSD: XOP form is not schema-valid


# --- lenient parsing --------------------------------------------------------------------------------


def test_unknown_children_and_attributes_are_ignored() -> None:
    el = ticket().to_xml()
    el.set("{urn:example:x}flag", "1")
    sub(el, "{urn:example:x}Extension", "ignored")
    params = child(el, scan("DocumentParameters"))
    params.insert(0, element("{urn:example:x}VendorSetting", "7"))
    child(params, scan("Format")).set("{urn:example:x}note", "n")
    sub(child(params, f"{scan('MediaSides')}/{scan('MediaFront')}"), "{urn:example:x}Gamma", "2.2")
    assert ScanTicket.from_xml(parse_xml(serialize(el))) == ticket()


def test_unqualified_and_qualified_attribute_forms_are_read() -> None:
    body = f"""<s:GetScannerElementsResponse xmlns:s="{ns.SCAN}"><s:ScannerElements>
      <s:ElementData s:Name="s:ScannerStatus" s:Valid="1"><s:ScannerStatus>
        <s:ScannerCurrentTime>2024-05-01T12:30:00Z</s:ScannerCurrentTime><s:ScannerState>Stopped</s:ScannerState>
        <s:ActiveConditions><s:DeviceCondition s:Id="5"><s:Time>2024-05-01T12:30:00Z</s:Time><s:Name>CoverOpen</s:Name>
          <s:Component>Platen</s:Component><s:Severity>Critical</s:Severity></s:DeviceCondition></s:ActiveConditions>
      </s:ScannerStatus></s:ElementData></s:ScannerElements></s:GetScannerElementsResponse>""".encode()
    (data,) = GetScannerElementsResponse.from_xml(parse_xml(body)).elements
    assert data.name == "s:ScannerStatus" and data.valid is True
    assert isinstance(data.content, ScannerStatus)
    assert data.content.active_conditions == (DeviceCondition(5, T0, "CoverOpen", "Platen", "Critical"),)

    params = f"""<w:DocumentParameters xmlns:w="{ns.SCAN}"><w:Format MustHonor="1">png</w:Format>
      <w:InputSource w:MustHonor="false">Platen</w:InputSource>
      <w:Rotation w:Override="true" UsedDefault="1">180</w:Rotation></w:DocumentParameters>""".encode()
    parsed = DocumentParameters.from_xml(parse_xml(params))
    assert parsed.must_honor == {"Format"}
    assert parsed.override == {"Rotation"} and parsed.used_default == {"Rotation"}


def test_prose_spellings_of_job_states_and_reasons_are_normalized() -> None:
    body = f"""<w:JobStatus xmlns:w="{ns.SCAN}"><w:JobId>3</w:JobId><w:JobState> Held </w:JobState>
      <w:JobStateReasons><w:JobStateReason>JobTransferring</w:JobStateReason>
      <w:JobStateReason>JobScanningAndTransferring</w:JobStateReason><w:JobStateReason>pi:Custom</w:JobStateReason>
      </w:JobStateReasons><w:ScansCompleted>0</w:ScansCompleted></w:JobStatus>""".encode()
    parsed = JobStatus.from_xml(parse_xml(body))
    assert parsed.job_state == "Pending-Held"
    assert parsed.job_state_reasons == ("JobTransfering", "JobScanningAndTransfering", "pi:Custom")
    validate_fragment(parsed.to_xml())


# --- bad input --------------------------------------------------------------------------------------

RETRIEVE = "<w:RetrieveImageRequest xmlns:w='" + ns.SCAN + "'>{}</w:RetrieveImageRequest>"
DESCRIPTION = "<w:DocumentDescription><w:DocumentName>a.jpg</w:DocumentName></w:DocumentDescription>"


@pytest.mark.parametrize(
    ("children", "subcode"),
    [
        ("<w:JobId>abc</w:JobId><w:JobToken>t</w:JobToken>" + DESCRIPTION, INVALID_ARGS),
        ("<w:JobId>1.5</w:JobId><w:JobToken>t</w:JobToken>" + DESCRIPTION, INVALID_ARGS),
        ("<w:JobId></w:JobId><w:JobToken>t</w:JobToken>" + DESCRIPTION, INVALID_ARGS),
        ("<w:JobId>0</w:JobId><w:JobToken>t</w:JobToken>" + DESCRIPTION, JOB_ID_NOT_FOUND),
        ("<w:JobId>-4</w:JobId><w:JobToken>t</w:JobToken>" + DESCRIPTION, JOB_ID_NOT_FOUND),
        ("<w:JobId>2147483648</w:JobId><w:JobToken>t</w:JobToken>" + DESCRIPTION, JOB_ID_NOT_FOUND),
        ("<w:JobId>" + "9" * 5000 + "</w:JobId><w:JobToken>t</w:JobToken>" + DESCRIPTION, JOB_ID_NOT_FOUND),
        ("<w:JobId>5</w:JobId>" + DESCRIPTION, INVALID_ARGS),
        ("<w:JobToken>t</w:JobToken>" + DESCRIPTION, INVALID_ARGS),
    ],
)
def test_retrieve_image_request_faults(children: str, subcode: tuple[str, str]) -> None:
    body = RETRIEVE.format(children).encode()
    fault = fault_of(lambda: RetrieveImageRequest.from_xml(parse_xml(body)))
    assert fault.subcode == subcode
    assert fault.code == "Sender"


def test_retrieve_image_request_accepts_the_limits() -> None:
    body = RETRIEVE.format("<w:JobId> 2147483647 </w:JobId><w:JobToken>t</w:JobToken>" + DESCRIPTION).encode()
    assert RetrieveImageRequest.from_xml(parse_xml(body)) == RetrieveImageRequest(2147483647, "t", "a.jpg")
    body = RETRIEVE.format("<w:JobId>+1</w:JobId><w:JobToken></w:JobToken>").encode()
    assert RetrieveImageRequest.from_xml(parse_xml(body)) == RetrieveImageRequest(1, "", None)


@pytest.mark.parametrize(
    ("cls", "body", "subcode"),
    [
        (CancelJobRequest, "<w:CancelJobRequest {ns}><w:JobId>x</w:JobId></w:CancelJobRequest>", INVALID_ARGS),
        (CancelJobRequest, "<w:CancelJobRequest {ns}><w:JobId>0</w:JobId></w:CancelJobRequest>", JOB_ID_NOT_FOUND),
        (CancelJobRequest, "<w:CancelJobRequest {ns}/>", INVALID_ARGS),
        (CancelJobRequest, "<w:RetrieveImageRequest {ns}><w:JobId>1</w:JobId></w:RetrieveImageRequest>", INVALID_ARGS),
        (
            GetJobElementsRequest,
            "<w:GetJobElementsRequest {ns}><w:JobId>2147483648</w:JobId><w:RequestedElements>"
            "<w:Name>JobStatus</w:Name></w:RequestedElements></w:GetJobElementsRequest>",
            JOB_ID_NOT_FOUND,
        ),
        (
            GetJobElementsRequest,
            "<w:GetJobElementsRequest {ns}><w:JobId>1</w:JobId><w:RequestedElements/></w:GetJobElementsRequest>",
            INVALID_ARGS,
        ),
        (GetScannerElementsRequest, "<w:GetScannerElementsRequest {ns}/>", INVALID_ARGS),
        (
            GetScannerElementsRequest,
            "<w:GetScannerElementsRequest {ns}><w:RequestedElements><w:Name> </w:Name></w:RequestedElements>"
            "</w:GetScannerElementsRequest>",
            INVALID_ARGS,
        ),
        (CreateScanJobRequest, "<w:CreateScanJobRequest {ns}/>", INVALID_ARGS),
        (
            ValidateScanTicketRequest,
            "<w:ValidateScanTicketRequest {ns}><w:ScanTicket/></w:ValidateScanTicketRequest>",
            INVALID_ARGS,
        ),
    ],
)
def test_request_faults(cls, body: str, subcode: tuple[str, str]) -> None:
    data = body.format(ns=f"xmlns:w='{ns.SCAN}'").encode()
    assert fault_of(lambda: cls.from_xml(parse_xml(data))).subcode == subcode


def _ticket_body(
    parameters: str, description: str = "<w:JobName>n</w:JobName><w:JobOriginatingUserName>u</w:JobOriginatingUserName>"
) -> bytes:
    return (
        f"<w:ScanTicket xmlns:w='{ns.SCAN}'><w:JobDescription>{description}</w:JobDescription>"
        f"<w:DocumentParameters>{parameters}</w:DocumentParameters></w:ScanTicket>"
    ).encode()


@pytest.mark.parametrize(
    "parameters",
    [
        "<w:CompressionQualityFactor>101</w:CompressionQualityFactor>",
        "<w:CompressionQualityFactor>high</w:CompressionQualityFactor>",
        "<w:ImagesToTransfer>-1</w:ImagesToTransfer>",
        "<w:ImagesToTransfer>1_000</w:ImagesToTransfer>",
        "<w:Rotation>45</w:Rotation>",
        "<w:Format></w:Format>",
        "<w:Format w:MustHonor='yes'>png</w:Format>",
        "<w:InputSize><w:InputMediaSize><w:Width>0</w:Width><w:Height>5</w:Height></w:InputMediaSize></w:InputSize>",
        "<w:InputSize/>",
        "<w:InputSize><w:DocumentSizeAutoDetect>maybe</w:DocumentSizeAutoDetect></w:InputSize>",
        "<w:Exposure/>",
        "<w:Exposure><w:ExposureSettings><w:Brightness>1001</w:Brightness></w:ExposureSettings></w:Exposure>",
        "<w:Exposure><w:ExposureSettings><w:Sharpness>-101</w:Sharpness></w:ExposureSettings></w:Exposure>",
        "<w:Scaling><w:ScalingWidth>100</w:ScalingWidth></w:Scaling>",
        "<w:Scaling><w:ScalingWidth>0</w:ScalingWidth><w:ScalingHeight>100</w:ScalingHeight></w:Scaling>",
        "<w:MediaSides/>",
        "<w:MediaSides><w:MediaFront><w:ScanRegion><w:ScanRegionWidth>5</w:ScanRegionWidth></w:ScanRegion></w:MediaFront></w:MediaSides>",
        "<w:MediaSides><w:MediaFront><w:ScanRegion><w:ScanRegionXOffset>-1</w:ScanRegionXOffset>"
        "<w:ScanRegionWidth>5</w:ScanRegionWidth><w:ScanRegionHeight>5</w:ScanRegionHeight></w:ScanRegion></w:MediaFront></w:MediaSides>",
        "<w:MediaSides><w:MediaFront><w:Resolution><w:Width>300dpi</w:Width></w:Resolution></w:MediaFront></w:MediaSides>",
        "<w:MediaSides><w:MediaFront><w:Resolution><w:Height>300</w:Height></w:Resolution></w:MediaFront></w:MediaSides>",
    ],
)
def test_ill_typed_ticket_values_are_invalid_args(parameters: str) -> None:
    body = _ticket_body(parameters)
    assert fault_of(lambda: ScanTicket.from_xml(parse_xml(body))).subcode == INVALID_ARGS


@pytest.mark.parametrize(
    "description",
    [
        "<w:JobOriginatingUserName>u</w:JobOriginatingUserName>",
        "<w:JobName>n</w:JobName>",
        "<w:JobName>" + "x" * 256 + "</w:JobName><w:JobOriginatingUserName>u</w:JobOriginatingUserName>",
    ],
)
def test_bad_job_descriptions_are_invalid_args(description: str) -> None:
    body = _ticket_body("", description)
    assert fault_of(lambda: ScanTicket.from_xml(parse_xml(body))).subcode == INVALID_ARGS


def test_unknown_keyword_values_are_kept_for_the_service_to_judge() -> None:
    body = _ticket_body(
        "<w:Format>image/heic</w:Format><w:InputSource>pi:Tray2</w:InputSource>"
        "<w:MediaSides><w:MediaFront><w:ColorProcessing>CMYK32</w:ColorProcessing></w:MediaFront></w:MediaSides>"
    )
    params = ScanTicket.from_xml(parse_xml(body)).document_parameters
    assert params is not None and params.media_front is not None and params.input_source is not None
    assert (params.format, params.input_source, params.media_front.color_processing) == (
        "image/heic",
        "pi:Tray2",
        "CMYK32",
    )
    assert params.format not in enums.FORMATS and enums.is_extension(params.input_source)


def test_programming_errors_raise_value_error() -> None:
    with pytest.raises(ValueError):
        conditions()[0].to_history_xml()
    with pytest.raises(ValueError):
        JobEndState(1, "Completed", (), "n", "u", 0).to_xml()
    with pytest.raises(ValueError):
        Documents(final_parameters(), ()).to_xml()
    with pytest.raises(ValueError):
        source().to_xml("Tray")
    with pytest.raises(ValueError):
        ScannerConfiguration(DeviceSettings(("png",)), adf_back=source()).to_xml()
    with pytest.raises(ValueError):
        ElementData("x:Y", True, object()).to_xml()


# --- real client messages --------------------------------------------------------------------------


SANE_AIRSCAN_NOTES = "the project's notes on what sane-airscan sends (its CreateScanJob ticket, as captured)"
WINDOWS_TICKET = "the project's WS-Scan reference (Windows' CreateScanJob ticket, as captured)"
MSDOC_ACTIVE_JOBS = (
    "Microsoft's GetActiveJobsResponse page, "
    "https://learn.microsoft.com/windows-hardware/drivers/image/getactivejobsresponse"
)


def _xml_block_after(path: Path, heading: str) -> str:
    """The first ```xml fenced block after the line containing ``heading``."""
    text = path.read_text(encoding="utf-8")
    start = text.index(heading)
    match = re.compile(r"```xml\n(.*?)```", re.S).search(text, start)
    assert match, f"no xml block after {heading!r} in {path}"
    return match.group(1)


def _declare_root_prefix(snippet: str, prefix: str) -> bytes:
    """The reference documents trim namespace declarations: put the scan one back on the root."""
    return re.sub(r"<([\w]+:[\w]+)", rf'<\1 xmlns:{prefix}="{ns.SCAN}"', snippet.strip(), count=1).encode()


def test_sane_airscan_create_scan_job_request() -> None:
    snippet = _xml_block_after(
        shared_file("SANE-AIRSCAN.md", SANE_AIRSCAN_NOTES), "CreateScanJob ScanTicket, exactly as sent"
    )
    request = CreateScanJobRequest.from_xml(parse_xml(_declare_root_prefix(snippet, "sca")))
    assert request.scan_identifier is None and request.destination_token is None
    assert request.ticket.job_description == JobDescription("sane-airscan request", "sane-airscan", "sane-airscan")
    params = request.ticket.document_parameters
    assert params == DocumentParameters(
        format="jfif",
        images_to_transfer=0,
        input_size=Size(8500, 11690),
        input_source="Platen",
        media_front=MediaSide(ScanRegion(8500, 11690, 0, 0), "RGB24", Resolution(100, 100)),
    )
    validate(request.to_xml())


def test_windows_create_scan_job_request_with_must_honor() -> None:
    snippet = _xml_block_after(shared_file("REFERENCE.md", WINDOWS_TICKET), "### 2.4 ScanTicket")
    request = CreateScanJobRequest.from_xml(parse_xml(_declare_root_prefix(snippet, "wscn")))
    assert request.scan_identifier and request.destination_token
    assert request.ticket.job_description.job_name == "Validating scan ticket for current WIA item properties"
    assert request.ticket.job_description.job_information == "Scanning from platen.."
    params = request.ticket.document_parameters
    assert params is not None
    assert (params.format, params.images_to_transfer, params.input_source, params.rotation) == ("exif", 1, "Platen", 0)
    assert params.input_size == Size(8500, 11700)
    assert params.exposure == Exposure(contrast=0, brightness=0)
    assert params.scaling == Scaling(100, 100)
    assert params.media_front == MediaSide(ScanRegion(8500, 11700, 0, 0), "RGB24", Resolution(300, 300))
    assert params.content_type is None and params.compression_quality_factor is None
    assert params.must_honor == {
        "Format",
        "ImagesToTransfer",
        "InputSource",
        "InputSize",
        "Exposure",
        "Scaling",
        "Rotation",
        "ScanRegionXOffset",
        "ScanRegionYOffset",
        "ColorProcessing",
        "Resolution",
    }
    validate(request.to_xml())
    assert round_trip(request) == request


def test_msdoc_get_active_jobs_response_on_the_2006_08_namespace() -> None:
    (seed,) = shared_file("../seeds", MSDOC_ACTIVE_JOBS).glob("003_*.txt")
    blocks = re.findall(r"```[^\n]*\n(.*?)```", seed.read_text(encoding="utf-8"), re.S)
    snippet = next(b for b in blocks if "JobSummary" in b)
    snippet = html.unescape(snippet).replace("/windows/2006/01/wdp/scan", "/windows/2006/08/wdp/scan")
    envelope = parse_xml(snippet.strip().encode())
    (body_child,) = list(child(envelope, qname(ns.SOAP, "Body")))
    response = GetActiveJobsResponse.from_xml(body_child)
    assert response == GetActiveJobsResponse(
        (
            JobSummary(1, "SampleJob 1", "Joe.Smith", "Processing", ("JobScanning",), 2),
            JobSummary(2, "Sample Job 2", "JaneSmith", "Pending", ("None",), 0),
        )
    )
    validate(response.to_xml())


# --- enumerations match the XSD ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("constant", "xsd_file", "type_name"),
    [
        ("FORMATS", "WellKnownValues.xsd", "DocumentFormatWKVType"),
        ("INPUT_SOURCES", "WellKnownValues.xsd", "DocumentInputSourceWKVType"),
        ("CONTENT_TYPES", "WellKnownValues.xsd", "ContentTypeWKVType"),
        ("COLOR_ENTRIES", "WellKnownValues.xsd", "ColorWKVType"),
        ("FILM_SCAN_MODES", "WellKnownValues.xsd", "FilmScanModeWKVType"),
        ("ROTATIONS", "WellKnownValues.xsd", "RotationWKVType"),
        ("JOB_STATES", "WellKnownValues.xsd", "JobStateWKVType"),
        ("JOB_STATE_REASONS", "WellKnownValues.xsd", "JobStateReasonWKVType"),
        ("SCANNER_STATES", "WellKnownValues.xsd", "ScannerStateWKVType"),
        ("SCANNER_STATE_REASONS", "WellKnownValues.xsd", "ScannerStateReasonWKVType"),
        ("CONDITION_NAMES", "Scanner.xsd", "ConditionNameBaseType"),
        ("CONDITION_COMPONENTS", "Scanner.xsd", "ConditionComponentBaseType"),
        ("CONDITION_SEVERITIES", "Scanner.xsd", "ConditionSeverityBaseType"),
        ("JOB_ELEMENT_NAMES", "Job.xsd", "JobElementsEntryWKVType"),
    ],
)
def test_enumerations_match_the_xsd(constant: str, xsd_file: str, type_name: str) -> None:
    tree = etree.parse(str(require_schemas() / xsd_file))
    xs = "{http://www.w3.org/2001/XMLSchema}"
    (simple,) = [t for t in tree.iter(xs + "simpleType") if t.get("name") == type_name]
    values = [e.get("value") for e in simple.iter(xs + "enumeration")]
    ours = getattr(enums, constant)
    assert [str(v) for v in ours] == values
    assert all(enums.is_extension(v) is False for v in values)
