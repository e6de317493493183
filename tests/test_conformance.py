"""What independent WS-Scan clients need from our answers (issue 10 item 2).

Requests are shaped like the ones Windows, sane-airscan and PyWSD send (their own
namespace prefixes, ``sca:`` rather than our ``wscn:``); every answer is validated
against WDPScan.xsd, and checked for the children that strict peers' decoders
insist on even where the XSD makes them optional:

* OpenPrinting go-mfp (``proto/wsscan``, ``proto/wsd``) rejects a whole
  ScannerConfiguration when an optical resolution lacks Height, every
  DeviceSettings child is required there, a ScannerStatus needs
  ScannerStateReasons and ActiveConditions, an ElementData Name must have a local
  part it knows, and DPWS ThisModel must carry ModelNumber and ThisDevice
  FirmwareVersion and SerialNumber.
* PyWSD (roncapat/WSD-python) reads Width and Height of every optical resolution,
  minimum and maximum size, the compression quality and scaling ranges, and for
  GetJobElements the JobStatus (JobId, JobState, ScansCompleted), the ScanTicket
  and the Documents' DocumentFinalParameters.

These lists are written from reading those decoders; no peer code runs here.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import uuid
from contextlib import contextmanager

import pytest
from lxml import etree

from drivers.base import Condition, ScannerInfo
from drivers.fake import FakeScanner
from firmware import model
from firmware.app import build_app
from firmware.config import Config, ScannerOverrides
from firmware.dpws.metadata import ACTION_GET, Metadata
from firmware.wire import namespaces as ns
from firmware.wire.xml import Element, find, parse_with_prefixes, qname, resolve_qname, scan
from tests.servers import free_port
from tests.soap import Answer, SoapClient
from tests.test_service import CheckedClient, create, image_of, retrieve, ticket
from tests.xsd import validate

# --- requests as peers write them ----------------------------------------------------------------

WINDOWS_GET_JOB_ELEMENTS = """<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"
 xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing"
 xmlns:sca="http://schemas.microsoft.com/windows/2006/08/wdp/scan"
 xmlns:ihv="urn:example:ihv">
<soap:Header>
<wsa:To>{to}</wsa:To>
<wsa:Action>http://schemas.microsoft.com/windows/2006/08/wdp/scan/GetJobElements</wsa:Action>
<wsa:MessageID>urn:uuid:{message_id}</wsa:MessageID>
<wsa:ReplyTo><wsa:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</wsa:Address></wsa:ReplyTo>
</soap:Header>
<soap:Body><sca:GetJobElementsRequest><sca:JobId>{job_id}</sca:JobId><sca:RequestedElements>{names}
</sca:RequestedElements></sca:GetJobElementsRequest></soap:Body></soap:Envelope>"""


def get_job_elements(client: SoapClient, job_id: int, *names: str) -> Answer:
    """GetJobElements written the way Windows writes it (``sca:`` prefix, names as given)."""
    data = WINDOWS_GET_JOB_ELEMENTS.format(
        to=client.url,
        message_id=uuid.uuid4(),
        job_id=job_id,
        names="".join(f"<sca:Name>{name}</sca:Name>" for name in names),
    )
    return client.post(data.encode())


def body_bytes(envelope: bytes) -> bytes:
    """The Body's child as sent, with every namespace declaration in scope (lxml keeps them;
    ElementTree would drop the ``xmlns:vnd`` a vendor-namespace Name needs)."""
    root = etree.fromstring(envelope)
    return etree.tostring(next(iter(root.find(qname(ns.SOAP, "Body")))))


def soap_body_child(envelope: Element) -> Element:
    """The one child of the envelope's Body."""
    body = find(envelope, qname(ns.SOAP, "Body"))
    assert body is not None and len(body) == 1
    return body[0]


def reply_elements(answer: Answer) -> list[tuple[tuple[str, str], bool, Element | None]]:
    """Each ElementData of a reply as ((namespace, local) of its Name resolved in the reply, Valid, content)."""
    assert answer.status == 200, answer.data[:800]
    validate(body_bytes(answer.data))
    root, prefixes = parse_with_prefixes(answer.data)
    body = soap_body_child(root)
    found = []
    for item in body.iter(scan("ElementData")):
        name = item.get("Name", "")
        resolved = resolve_qname(name, prefixes)  # the prefix map is document-wide
        found.append((resolved, item.get("Valid") == "true", next(iter(item), None)))
    return found


# --- what peers' decoders require ------------------------------------------------------------------


def missing(el: Element, paths: list[str]) -> list[str]:
    """The ``paths`` (slash-separated scan-namespace local names below ``el``) that ``el`` lacks."""
    absent = []
    for path in paths:
        node: Element | None = el
        for local in path.split("/"):
            node = None if node is None else find(node, scan(local))
        if node is None or (len(node) == 0 and not (node.text or "").strip() and local not in EMPTY_ALLOWED):
            absent.append(path)
    return absent


EMPTY_ALLOWED = {"ActiveConditions"}

SOURCE_NEEDS = [
    "{p}OpticalResolution/Width",
    "{p}OpticalResolution/Height",
    "{p}Resolutions/Widths/Width",
    "{p}Resolutions/Heights/Height",
    "{p}Color/ColorEntry",
    "{p}MinimumSize/Width",
    "{p}MinimumSize/Height",
    "{p}MaximumSize/Width",
    "{p}MaximumSize/Height",
]
DEVICE_SETTINGS_NEEDS = [
    "DeviceSettings/FormatsSupported/FormatValue",
    "DeviceSettings/CompressionQualityFactorSupported/MinValue",
    "DeviceSettings/CompressionQualityFactorSupported/MaxValue",
    "DeviceSettings/ContentTypesSupported/ContentTypeValue",
    "DeviceSettings/DocumentSizeAutoDetectSupported",
    "DeviceSettings/AutoExposureSupported",
    "DeviceSettings/BrightnessSupported",
    "DeviceSettings/ContrastSupported",
    "DeviceSettings/ScalingRangeSupported/ScalingWidth/MinValue",
    "DeviceSettings/ScalingRangeSupported/ScalingWidth/MaxValue",
    "DeviceSettings/ScalingRangeSupported/ScalingHeight/MinValue",
    "DeviceSettings/ScalingRangeSupported/ScalingHeight/MaxValue",
    "DeviceSettings/RotationsSupported/RotationValue",
]
STATUS_NEEDS = ["ScannerCurrentTime", "ScannerState", "ScannerStateReasons/ScannerStateReason", "ActiveConditions"]
JOB_STATUS_NEEDS = ["JobId", "JobState", "JobStateReasons/JobStateReason", "ScansCompleted"]
TICKET_NEEDS = [
    "JobDescription/JobName",
    "JobDescription/JobOriginatingUserName",
    "DocumentParameters",
]
DOCUMENTS_NEEDS = ["DocumentFinalParameters", "Document/DocumentDescription/DocumentName"]
#: the ElementData Name local parts go-mfp's decoders accept
KNOWN_SCANNER_NAMES = {"ScannerDescription", "ScannerConfiguration", "ScannerStatus", "DefaultScanTicket"}
KNOWN_JOB_NAMES = {"JobStatus", "ScanTicket", "Documents"}


@pytest.fixture
def fake():
    return FakeScanner()


@pytest.fixture
def client(fake, tmp_path):
    from tests.inprocess import serve

    with serve(fake, tmp_path / "state") as (_app, url, _loop):
        yield CheckedClient(url)


# --- GetJobElements ------------------------------------------------------------------------------------


def test_get_job_elements_resolves_names_against_the_requests_own_prefixes(client):
    job = create(client)
    answer = get_job_elements(client, job.job_id, "sca:JobStatus", "sca:ScanTicket", "ihv:JobStatus", "sca:Bogus")
    found = reply_elements(answer)
    assert [(name, valid) for name, valid, _ in found] == [
        ((ns.SCAN, "JobStatus"), True),
        ((ns.SCAN, "ScanTicket"), True),
        (("urn:example:ihv", "JobStatus"), False),
        ((ns.SCAN, "Bogus"), False),
    ]
    assert found[0][2].tag == scan("JobStatus") and found[1][2].tag == scan("ScanTicket")


def test_documents_before_the_first_image_is_marked_invalid_not_a_server_error(client):
    job = create(client)
    found = reply_elements(get_job_elements(client, job.job_id, "sca:Documents", "Document", "JobStatus"))
    assert [(name, valid) for name, valid, _ in found] == [
        ((ns.SCAN, "Documents"), False),
        ((ns.SCAN, "Documents"), False),
        ((ns.SCAN, "JobStatus"), True),
    ]
    image_of(retrieve(client, job.job_id, job.job_token, "IMAGE000.PNG"))
    found = reply_elements(get_job_elements(client, job.job_id, "sca:Documents"))
    assert found[0][1] and not missing(found[0][2], DOCUMENTS_NEEDS)


ALL_JOB_NAMES = ("JobStatus", "ScanTicket", "Document", "sca:Documents", "sca:JobStatus", "sca:Nope", "ihv:Thing", "X")


def check_job_elements(client, job_id: int, documents_expected: bool) -> None:
    found = reply_elements(get_job_elements(client, job_id, *ALL_JOB_NAMES))
    assert len(found) == len(ALL_JOB_NAMES)
    for (namespace, local), valid, content in found:
        known = namespace == ns.SCAN and local in KNOWN_JOB_NAMES
        expected = known and (local != "Documents" or documents_expected)
        assert valid == expected, (local, valid)
        if valid:
            assert content is not None
            needs = {"JobStatus": JOB_STATUS_NEEDS, "ScanTicket": TICKET_NEEDS, "Documents": DOCUMENTS_NEEDS}[local]
            assert not missing(content, needs), (local, missing(content, needs))


def test_every_job_element_at_every_point_of_a_job(fake, client):
    fake.adf_pages = 1  # two sides: front and back
    job = create(client, ticket(source="ADFDuplex", dpi=75))
    check_job_elements(client, job.job_id, documents_expected=False)  # Processing, nothing delivered
    image_of(retrieve(client, job.job_id, job.job_token))
    check_job_elements(client, job.job_id, documents_expected=True)  # one side delivered, one to come
    image_of(retrieve(client, job.job_id, job.job_token))
    assert retrieve(client, job.job_id, job.job_token).fault_subcode == "wscn:ClientErrorNoImagesAvailable"
    check_job_elements(client, job.job_id, documents_expected=True)  # Completed

    canceled = create(client)
    assert client.call("CancelJob", model.CancelJobRequest(canceled.job_id).to_xml()).status == 200
    check_job_elements(client, canceled.job_id, documents_expected=False)  # Canceled before any image

    fake.fail_with, fake.fail_at_page = Condition.JAMMED, 1
    # a jam at the feeder's first sheet is CreateScanJob's answer (the service waits for the first side)
    refused = client.call("CreateScanJob", model.CreateScanJobRequest(ticket(source="ADF", dpi=75)).to_xml())
    assert refused.fault_subcode == "wscn:ServerErrorNotAcceptingJobs"
    aborted = client.job_history()[0]
    assert aborted.job_state == "Aborted"
    check_job_elements(client, aborted.job_id, documents_expected=False)  # Aborted by a jam


# --- GetScannerElements and CreateScanJob: what strict decoders insist on ----------------------------------


def test_scanner_elements_carry_what_strict_decoders_require(client):
    names = tuple(
        model.RequestedName(ns.SCAN, local, "wscn:" + local)
        for local in ("ScannerDescription", "ScannerConfiguration", "ScannerStatus", "DefaultScanTicket")
    )
    found = reply_elements(client.call("GetScannerElements", model.GetScannerElementsRequest(names).to_xml()))
    assert all(
        valid and namespace == ns.SCAN and local in KNOWN_SCANNER_NAMES for (namespace, local), valid, _ in found
    )
    description, configuration, status, default_ticket = (content for _, _, content in found)
    assert not missing(description, ["ScannerName"])
    needs = [*DEVICE_SETTINGS_NEEDS, "ADF/ADFSupportsDuplex"]
    needs += [f"Platen/{path.format(p='Platen')}" for path in SOURCE_NEEDS]
    for side in ("ADFFront", "ADFBack"):
        needs += [f"ADF/{side}/{path.format(p='ADF')}" for path in SOURCE_NEEDS]
    assert not missing(configuration, needs)
    assert not missing(status, STATUS_NEEDS)
    assert not missing(default_ticket, TICKET_NEEDS)


def test_optical_resolution_is_sent_with_width_and_height():
    """A driver that reports one optical resolution: both Width and Height go on the wire."""
    from drivers.fake import DEFAULT_CAPABILITIES
    from firmware.scan.capabilities import scanner_configuration

    config = scanner_configuration(DEFAULT_CAPABILITIES, ("png",))
    el = config.to_xml()
    for path in (
        "Platen/PlatenOpticalResolution",
        "ADF/ADFFront/ADFOpticalResolution",
        "ADF/ADFBack/ADFOpticalResolution",
    ):
        assert not missing(el, [path + "/Width", path + "/Height"]), path


def test_create_scan_job_answer_carries_the_image_information_peers_read(client):
    answer = client.call("CreateScanJob", model.CreateScanJobRequest(ticket()).to_xml())
    assert answer.status == 200
    needs = [
        "JobId",
        "JobToken",
        "ImageInformation/MediaFrontImageInfo/PixelsPerLine",
        "ImageInformation/MediaFrontImageInfo/NumberOfLines",
        "ImageInformation/MediaFrontImageInfo/BytesPerLine",
        "DocumentFinalParameters/MediaSides/MediaFront/Resolution/Width",
        "DocumentFinalParameters/MediaSides/MediaFront/Resolution/Height",
    ]
    assert not missing(answer.body, needs)


# --- DPWS metadata -------------------------------------------------------------------------------------------


@contextmanager
def app_serving(drivers, state_dir, **config):
    """Run one App for ``drivers`` on 127.0.0.1; yields ``(app, base URL, loop)``."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    cfg = dataclasses.replace(Config(), host="127.0.0.1", http_port=free_port(), state_dir=state_dir, **config)
    app = asyncio.run_coroutine_threadsafe(build_app(cfg, drivers), loop).result(10)
    try:
        yield app, f"http://127.0.0.1:{cfg.http_port}", loop
    finally:
        asyncio.run_coroutine_threadsafe(app.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def metadata_answer(base: str, served) -> tuple[Element, Metadata]:
    answer = SoapClient(base + served.device.path).call("Get", None, action=ACTION_GET)
    assert answer.status == 200, answer.data[:500]
    root, prefixes = parse_with_prefixes(answer.data)
    body = soap_body_child(root)
    return body, Metadata.from_xml(body, prefixes)


def scanner_name(base: str, served) -> str:
    request = model.GetScannerElementsRequest(
        (model.RequestedName(ns.SCAN, "ScannerDescription", "wscn:ScannerDescription"),)
    )
    answer = SoapClient(base + served.path).call("GetScannerElements", request.to_xml())
    description = model.GetScannerElementsResponse.from_xml(answer.body).elements[0].content
    assert isinstance(description, model.ScannerDescription)
    return description.name


def test_metadata_carries_what_real_devices_and_go_mfp_carry(tmp_path):
    with app_serving([FakeScanner()], tmp_path / "state") as (app, base, _loop):
        served = app.scanners[0]
        body, metadata = metadata_answer(base, served)
        model_, device = metadata.this_model, metadata.this_device
        assert model_.model_number == "Scanner 1"
        assert (
            model_.presentation_url == base + "/#" + served.path.rsplit("/", 1)[-1]
        )  # the status page, at this scanner
        assert model_.manufacturer_url == base + "/" and model_.model_url == base + "/"
        assert device.firmware_version and device.serial_number == "fake:0"
        container_id = device.container_id
        endpoint_uuid = uuid.UUID(served.device.identity.endpoint.removeprefix("urn:uuid:"))
        assert container_id == "{" + str(uuid.uuid5(endpoint_uuid, "df:ContainerId")) + "}"
        this_device = next(el for el in body.iter(qname(ns.WSDP, "ThisDevice")))
        assert find(this_device, qname(ns.DF, "ContainerId")) is not None
    # the same scanner after a restart: the same container
    with app_serving([FakeScanner()], tmp_path / "state") as (app, base, _loop):
        assert metadata_answer(base, app.scanners[0])[1].this_device.container_id == container_id


# --- friendly names of identical scanners -----------------------------------------------------------------


def twin(name: str) -> FakeScanner:
    return FakeScanner(info=ScannerInfo(name=name, vendor="Fake", model="Scanner 1"))


def names_of(app, base) -> dict[str, tuple[str, str]]:
    """SANE name -> (DPWS FriendlyName, ScannerDescription ScannerName)."""
    return {
        served.name: (metadata_answer(base, served)[1].this_device.friendly_name, scanner_name(base, served))
        for served in app.scanners
    }


def test_identical_scanners_get_distinct_stable_default_names(tmp_path, monkeypatch):
    monkeypatch.setattr("firmware.dpws.metadata.socket.gethostname", lambda: "pi")
    state = tmp_path / "state"
    with app_serving([twin("fake:0"), twin("fake:1")], state) as (app, base, _loop):
        first = names_of(app, base)
    assert first == {
        "fake:0": ("Scanner 1 on pi", "Fake Scanner 1"),
        "fake:1": ("Scanner 1 on pi (2)", "Fake Scanner 1 (2)"),
    }
    # found in the other order after a restart: each keeps its name
    with app_serving([twin("fake:1"), twin("fake:0")], state) as (app, base, _loop):
        assert names_of(app, base) == first
    # a third one joins with the next free number; a lone scanner of another model has no number
    other = FakeScanner(info=ScannerInfo(name="fake:9", vendor="Fake", model="Other"))
    with app_serving([twin("fake:2"), twin("fake:0"), other], state) as (app, base, _loop):
        names = names_of(app, base)
    assert names["fake:2"] == ("Scanner 1 on pi (3)", "Fake Scanner 1 (3)")
    assert names["fake:0"] == first["fake:0"]
    assert names["fake:9"] == ("Other on pi", "Fake Other")


def test_a_configured_friendly_name_is_kept_as_written(tmp_path):
    overrides = {"fake:1": ScannerOverrides(friendly_name="Front desk")}
    with app_serving([twin("fake:0"), twin("fake:1")], tmp_path / "state", scanners=overrides) as (app, base, _):
        assert names_of(app, base)["fake:1"] == ("Front desk", "Front desk")
