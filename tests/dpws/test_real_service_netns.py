"""The real service (``python -m firmware``) found by real WS-Discovery clients, across a veth pair.

Two network namespaces of our own (not the session lab of the other netns
tests) are joined by one veth pair: device ``198.18.20.2`` / ``fd00:20::2``,
client ``198.18.20.1`` / ``fd00:20::1``. The service runs in the device
namespace on ``--host 0.0.0.0`` with the SANE ``test`` backend (one scanner);
the clients run in the client namespace:

* sane-airscan with discovery on (a private D-Bus system bus, ``ws-discovery
  = full``, no manual devices) lists the scanner and scans a PNG through it;
* Debian's ``wsdd -D`` logs the configured FriendlyName;
* plain UDP sockets check the endpoint and AppSequence across restarts;
* an HTTP WS-Transfer Get checks the metadata Windows needs.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from PIL import Image

from firmware.dpws.discovery import APP_MAX_DELAY, UDP_MAX_DELAY
from firmware.wire import namespaces as ns
from firmware.wire.xml import find, find_all, parse_with_prefixes, parse_xml, qname, resolve_qname, text_of
from tests import netns
from tests.netns import Lab, VethPair, in_netns, netns_argv, run
from tests.private_daemons import PrivateSystemBus
from tests.sane_env import sane_environment, write_sane_dir
from tests.xmlfind import child, text

from .discovery_clients import airscan_discovery_dir
from .netlab import Message, Process, UdpClient, http_post, probe

pytestmark = [pytest.mark.netns, pytest.mark.e2e, pytest.mark.service, pytest.mark.sane]

NET4, NET6 = "198.18.20", "fd00:20"
NET4_EXTRA = "198.18.21"  # a second subnet on the same link, added by one test
DEVICE_V4 = f"{NET4}.2"
HTTP_PORT = 5371  # not the session lab's ports; each namespace has its own anyway
FRIENDLY_NAME = "Lab Scanner (real service)"
SCAN_PATH = "/scanners/test-0"  # the SANE device test:0
SLACK = 0.5  # seconds of scheduling slack on a loaded 2-core machine
REPLY_WAIT = APP_MAX_DELAY + UDP_MAX_DELAY + 2 * SLACK


def new_id() -> str:
    return "urn:uuid:" + str(uuid.uuid4())


class RealService:
    """``python -m firmware --host 0.0.0.0`` in the device namespace, started and stopped by PID.

    ``config`` is the TOML file given with ``--config`` (always one, so the
    host's /etc/wsd-scan-server is never read).
    """

    def __init__(self, lab: Lab, sane_dir: Path, state_dir: Path) -> None:
        self.lab = lab
        self.sane_dir = sane_dir
        self.state_dir = state_dir
        self.process: Process | None = None

    def start(self, config: Path, timeout: float = 20.0) -> None:
        """Start the service; return once it logged its scan service URL (discovery is open by then)."""
        argv = [
            "env",
            f"SANE_CONFIG_DIR={self.sane_dir}",
            sys.executable,
            "-m",
            "firmware",
            "--host",
            "0.0.0.0",
            "--port",
            str(HTTP_PORT),
            "--state-dir",
            str(self.state_dir),
            "--config",
            str(config),
            "--trace-soap",
        ]
        self.process = Process(self.lab.dev_ns, argv)
        if not self.process.wait_stderr(f"scan service http://127.0.0.1:{HTTP_PORT}{SCAN_PATH}", timeout):
            log = self.process.stderr()
            self.stop()
            raise RuntimeError(f"the service did not start; log:\n{log}")

    def stop(self) -> None:
        """SIGTERM the service (it sends Bye), SIGKILL it after 5 s."""
        if self.process is not None:
            self.process.terminate()
            self.process = None

    def log(self) -> str:
        """The running service's stderr (with --trace-soap), for assertion messages."""
        return self.process.stderr()[-6000:] if self.process is not None else ""


@pytest.fixture(scope="module")
def net():
    """Our two namespaces (beside the session lab's) and their veth pair; deleted (with everything in them) afterwards."""
    with netns.lab() as lab:
        lab.add_pair("S", NET4, NET6)
        yield lab


@pytest.fixture(scope="module")
def pair(net) -> VethPair:
    return net.pairs["S"]


@pytest.fixture(scope="module")
def sane_dir(tmp_path_factory) -> Path:
    """The SANE test backend with one scanner, test:0."""
    return write_sane_dir(tmp_path_factory.mktemp("sane"), number_of_devices=1)


@pytest.fixture(scope="module")
def sane_model(sane_dir) -> tuple[str, str]:
    """(vendor, model) of test:0 as SANE's own frontend reports them."""
    listed = subprocess.run(
        ["scanimage", "-f", "%d|%v|%m%n"],
        env=sane_environment(sane_dir),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    rows = [line.split("|") for line in listed.splitlines()]
    return next((vendor, model) for device, vendor, model in rows if device == "test:0")


@pytest.fixture(scope="module")
def configs(tmp_path_factory) -> dict[str, Path]:
    """TOML files: ``named`` sets friendly_name, ``default`` leaves it to "<model> on <hostname>"."""
    directory = tmp_path_factory.mktemp("config")
    named, default = directory / "named.toml", directory / "default.toml"
    named.write_text(f'friendly_name = "{FRIENDLY_NAME}"\n')
    default.write_text("discovery = true\n")
    return {"named": named, "default": default}


@pytest.fixture(scope="module")
def service(net, sane_dir, configs, tmp_path_factory):
    """The real service with ``friendly_name`` configured; tests that restart it leave it so configured."""
    served = RealService(net, sane_dir, tmp_path_factory.mktemp("state"))
    served.start(configs["named"])
    try:
        yield served
    finally:
        served.stop()


@pytest.fixture(scope="module")
def system_bus(tmp_path_factory):
    bus = PrivateSystemBus(tmp_path_factory.mktemp("dbus"))
    try:
        yield bus
    finally:
        bus.stop()


def probe_match(lab: Lab, pair: VethPair, family: int = socket.AF_INET) -> Message | None:
    """Multicast a Probe for wsdp:Device from the client namespace; the first ProbeMatches answering it."""
    client = UdpClient(lab, lab.cli_ns, pair.cli, family)
    try:
        message_id = new_id()
        client.send(probe(message_id))
        got = client.collect(REPLY_WAIT, stop_when=lambda ms: any(m.relates_to == message_id for m in ms))
    finally:
        client.close()
    return next((m for m in got if m.relates_to == message_id and m.kind == "ProbeMatches"), None)


def metadata_version(message: Message) -> int:
    return int(text(find(message.target(), qname(ns.WSD, "MetadataVersion"))))


def transfer_get(endpoint: str) -> bytes:
    """A WS-Transfer Get as sane-airscan and wsdd send it: To = the endpoint, empty Body (test data)."""
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"'
        ' xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing">'
        "<soap:Header>"
        f"<wsa:To>{endpoint}</wsa:To>"
        "<wsa:Action>http://schemas.xmlsoap.org/ws/2004/09/transfer/Get</wsa:Action>"
        f"<wsa:MessageID>{new_id()}</wsa:MessageID>"
        "<wsa:ReplyTo><wsa:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
        "</wsa:Address></wsa:ReplyTo>"
        "</soap:Header><soap:Body/></soap:Envelope>"
    ).encode()


def fetch_metadata(lab: Lab, xaddr: str, endpoint: str) -> tuple[bytes, dict, dict[str, str]]:
    """POST a WS-Transfer Get to ``xaddr`` from the client namespace.

    Returns the response body, its MetadataSection children keyed by Dialect
    (parsed with defusedxml through ``parse_xml``), and the document's prefix
    declarations (for QName-valued texts such as Types).
    """
    url = urlsplit(xaddr)
    assert url.hostname is not None and url.port is not None, xaddr
    status, body = http_post(lab, url.hostname, url.port, url.path, transfer_get(endpoint))
    assert status == 200, body[:2000]
    root = parse_xml(body)
    _, prefixes = parse_with_prefixes(body)
    metadata = find(child(root, qname(ns.SOAP, "Body")), qname(ns.MEX, "Metadata"))
    assert metadata is not None, body[:2000]
    sections = {s.get("Dialect"): next(iter(s)) for s in find_all(metadata, qname(ns.MEX, "MetadataSection"))}
    return body, sections, prefixes


def test_sane_airscan_discovers_lists_and_scans_through_the_service(net, service, system_bus, sane_model, tmp_path):
    sane_dir = airscan_discovery_dir(tmp_path / "airscan", tmp_path / "airscan-trace")
    env = {**os.environ, "SANE_CONFIG_DIR": str(sane_dir), "DBUS_SYSTEM_BUS_ADDRESS": system_bus.address}

    def scanimage(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            netns_argv(net.cli_ns, "scanimage", *args),
            env=env,
            capture_output=True,
            text=True,
            timeout=40,
            stdin=subprocess.DEVNULL,
        )

    listed = scanimage("-L")
    vendor, model = sane_model
    name = f"{vendor} {model}"  # airscan names a WSD device after ThisModel Manufacturer + ModelName
    devices = re.findall(r"device `(airscan:w\d+:[^']*)' is a WSD (.*) ip=(\S+)", listed.stdout)
    ours = [(device, ip) for device, described, ip in devices if device.endswith(":" + name)]
    assert len(ours) == 1, f"{listed.stdout}\n{listed.stderr[-4000:]}\nservice log:\n{service.log()}"
    device, ip = ours[0]
    assert ip == DEVICE_V4

    out = tmp_path / "out.png"
    scanned = scanimage("-d", device, "--resolution", "75", "--format=png", "-o", str(out))
    assert scanned.returncode == 0, f"{scanned.stderr[-4000:]}\nservice log:\n{service.log()}"
    with Image.open(out) as image:
        image.verify()
    with Image.open(out) as image:
        assert image.format == "PNG" and image.mode == "RGB"
        # airscan always scans the whole area: the test backend's 200 mm x 200 mm at 75 dpi
        # (590.55 px; the backend sends 590 and airscan pads to 591, SANE-AIRSCAN.md section 6).
        side = 200 / 25.4 * 75
        assert all(abs(length - side) <= 1 for length in image.size), image.size
        colours = image.getcolors(maxcolors=1 << 16)
        assert colours is None or len(colours) > 2, "the colour test pattern, not a blank page"


def test_debian_wsdd_logs_the_configured_friendly_name(net, pair, service):
    wsdd = Process(net.cli_ns, ["wsdd", "-D", "-o", "-4", "-i", pair.cli, "-v"])
    try:
        # wsdd probes after up to 3 s, then fetches ThisDevice over HTTP and logs its FriendlyName.
        found = wsdd.wait_stderr(f"discovered {FRIENDLY_NAME} on {DEVICE_V4}", 12.0)
        assert found, f"wsdd log:\n{wsdd.stderr()}\nservice log:\n{service.log()}"
    finally:
        wsdd.terminate()


def test_restarts_keep_the_endpoint_and_grow_the_instance_id(net, pair, service, configs, sane_model):
    first = probe_match(net, pair)
    assert first is not None, service.log()
    endpoint, instance = first.endpoint, first.app_sequence[0]
    assert endpoint.startswith("urn:uuid:")
    assert urlsplit(first.xaddrs).path == "/" + endpoint.removeprefix("urn:uuid:")

    listener = UdpClient(net, net.cli_ns, pair.cli, socket.AF_INET, listen_group=True)
    try:
        service.stop()  # Bye
        service.start(configs["default"])  # Hello; the FriendlyName changes to the default
        heard = listener.collect(REPLY_WAIT, stop_when=lambda ms: any(m.kind == "Hello" for m in ms))
    finally:
        listener.close()
    announced = [(m.kind, m.endpoint, m.app_sequence[0]) for m in heard if m.kind in ("Hello", "Bye")]
    assert ("Bye", endpoint, instance) in announced, announced
    hellos = [m for m in heard if m.kind == "Hello"]
    assert hellos and hellos[0].endpoint == endpoint and hellos[0].app_sequence[0] > instance, announced

    second = probe_match(net, pair)
    assert second is not None, service.log()
    assert second.endpoint == endpoint, "the device UUID survives a restart"
    assert second.xaddrs == first.xaddrs
    assert second.app_sequence[0] > instance
    assert metadata_version(second) > metadata_version(first), "the FriendlyName changed"
    _, sections, _ = fetch_metadata(net, second.xaddrs, endpoint)
    this_device = sections[ns.WSDP + "/ThisDevice"]
    hostname = socket.gethostname().split(".", 1)[0]  # the namespaces share this host's UTS name
    assert text_of(find(this_device, qname(ns.WSDP, "FriendlyName"))) == f"{sane_model[1]} on {hostname}"

    service.stop()
    service.start(configs["named"])  # back to the configured name, for the other tests
    third = probe_match(net, pair)
    assert third is not None, service.log()
    assert third.endpoint == endpoint
    assert third.app_sequence[0] > second.app_sequence[0]
    assert metadata_version(third) > metadata_version(second)


def test_get_response_metadata_from_the_real_device_endpoint(net, pair, service, sane_model):
    extra = NET4_EXTRA
    run("ip", "-n", net.dev_ns, "addr", "add", f"{extra}.2/24", "dev", pair.dev)
    run("ip", "-n", net.cli_ns, "addr", "add", f"{extra}.1/24", "dev", pair.cli)
    try:
        match = probe_match(net, pair)
        assert match is not None, service.log()
        endpoint = match.endpoint
        device_path = "/" + endpoint.removeprefix("urn:uuid:")
        for address in (DEVICE_V4, f"{extra}.2"):  # the URLs in the answer follow the address used
            body, sections, prefixes = fetch_metadata(net, f"http://{address}:{HTTP_PORT}{device_path}", endpoint)
            assert len(body) < 32767, "DPWS MAX_ENVELOPE_SIZE"

            this_model = sections[ns.WSDP + "/ThisModel"]
            assert text_of(find(this_model, qname(ns.WSDP, "Manufacturer"))) == sane_model[0]
            assert text_of(find(this_model, qname(ns.WSDP, "ModelName"))) == sane_model[1]
            assert text_of(find(this_model, qname(ns.PNPX, "DeviceCategory"))) == "Scanners"
            this_device = sections[ns.WSDP + "/ThisDevice"]
            assert text_of(find(this_device, qname(ns.WSDP, "FriendlyName"))) == FRIENDLY_NAME

            relationship = sections[ns.WSDP + "/Relationship"]
            assert relationship.get("Type") == ns.WSDP + "/host"
            hosted = list(find_all(relationship, qname(ns.WSDP, "Hosted")))
            assert len(hosted) == 1
            service_el = hosted[0]
            types = {resolve_qname(t, prefixes) for t in text_of(find(service_el, qname(ns.WSDP, "Types"))).split()}
            assert (ns.SCAN, "ScannerServiceType") in types
            address_el = find(find(service_el, qname(ns.WSA, "EndpointReference")), qname(ns.WSA, "Address"))
            assert text_of(address_el) == f"http://{address}:{HTTP_PORT}{SCAN_PATH}"
            assert (
                text_of(find(service_el, qname(ns.PNPX, "CompatibleId")))
                == "http://schemas.microsoft.com/windows/2006/08/wdp/scan/ScannerServiceType"
            )
            assert text_of(find(service_el, qname(ns.PNPX, "HardwareId")))
    finally:
        run("ip", "-n", net.dev_ns, "addr", "del", f"{extra}.2/24", "dev", pair.dev, check=False)
        run("ip", "-n", net.cli_ns, "addr", "del", f"{extra}.1/24", "dev", pair.cli, check=False)


def test_no_ipv6_xaddrs_while_http_listens_on_ipv4_only(net, pair, service):
    """With --host 0.0.0.0 the HTTP server refuses IPv6, so discovery must not hand out IPv6 XAddrs
    (sane-airscan would try them, fail, and wait for them before listing the device)."""

    def connect_v6():
        with socket.create_connection((f"{NET6}::2", HTTP_PORT), timeout=2):
            pass

    with pytest.raises(ConnectionRefusedError):
        in_netns(net.cli_ns, connect_v6)
    assert probe_match(net, pair, socket.AF_INET6) is None, "no ProbeMatches over IPv6"
    answered = probe_match(net, pair, socket.AF_INET)
    assert answered is not None, "IPv4 is answered"
    hosts = [urlsplit(xaddr).hostname for xaddr in (answered.xaddrs or "").split()]
    assert hosts == [DEVICE_V4], answered.xaddrs
