"""The client allow-list (configuration key ``allow``): HTTP 403 for everyone outside it, on every
path, and no WS-Discovery answer."""

from __future__ import annotations

import http.client
import socket
import uuid

import pytest

from drivers.fake import FakeScanner
from firmware import model
from firmware.dpws.discovery import DiscoveryService
from firmware.dpws.identity import load_identity
from firmware.dpws.matching import DiscoveredDevice
from firmware.wire import namespaces as ns
from firmware.wire.access import AllowList
from tests.inprocess import serve
from tests.sane_env import write_sane_dir
from tests.servers import running_service
from tests.soap import SoapClient


def scanner_status(url: str):
    request = model.GetScannerElementsRequest((model.RequestedName(ns.SCAN, "ScannerStatus", "wscn:ScannerStatus"),))
    return SoapClient(url).call("GetScannerElements", request.to_xml())


def get(url_base: str, path: str) -> int:
    host, port = url_base.removeprefix("http://").split("/", 1)[0].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    finally:
        conn.close()


@pytest.mark.parametrize(
    "cidrs, address, allowed",
    [
        ((), "203.0.113.9", True),  # empty list: everyone
        (("10.0.0.0/8",), "10.200.1.2", True),
        (("10.0.0.0/8",), "11.0.0.1", False),
        (("192.168.1.7/24",), "192.168.1.200", True),  # host bits are ignored
        (("10.0.0.0/8",), "::ffff:10.1.2.3", True),  # IPv4 client on an IPv6 socket
        (("fd00::/8",), "fd12::1", True),
        (("fd00::/8",), "fe80::1%eth0", False),
        (("fe80::/10",), "fe80::1%eth0", True),  # the zone is ignored
        (("10.0.0.0/8", "fd00::/8"), "127.0.0.1", False),
        (("10.0.0.0/8",), "not-an-address", False),
        (("10.0.0.0/8",), None, False),
    ],
)
def test_allow_list_membership(cidrs, address, allowed):
    assert AllowList(cidrs).permits(address) is allowed


def test_outside_the_allow_list_gets_403_on_every_path(tmp_path):
    with serve(FakeScanner(), tmp_path / "state", allow=("10.0.0.0/8",)) as (app, url, _loop):
        answer = scanner_status(url)
        assert answer.status == 403
        assert answer.fault_subcode == "wsa:DestinationUnreachable"
        device = app.scanners[0].device.path
        assert scanner_status(url.replace(app.scanners[0].path, device)).status == 403
        base = url.replace(app.scanners[0].path, "")
        assert get(base, "/no/such/path") == 403  # not 404: a refused client learns nothing
        assert app.scanners[0].scanner.started == []


def test_inside_the_allow_list_is_served(tmp_path):
    with serve(FakeScanner(), tmp_path / "state", allow=("192.168.0.0/16", "127.0.0.0/8")) as (app, url, _loop):
        answer = scanner_status(url)
        assert answer.status == 200 and answer.fault_subcode is None
        base = url.replace(app.scanners[0].path, "")
        assert get(base, "/no/such/path") == 404


@pytest.mark.service
@pytest.mark.sane
def test_allow_list_from_the_configuration_file(tmp_path):
    sane = write_sane_dir(tmp_path / "sane", number_of_devices=1)
    refused = tmp_path / "refused.toml"
    refused.write_text('allow = ["10.0.0.0/8"]\n')
    with running_service(sane, tmp_path / "state", "--config", str(refused)) as service:
        assert scanner_status(service.url).status == 403
    allowed = tmp_path / "allowed.toml"
    allowed.write_text('allow = ["127.0.0.0/8"]\n')
    with running_service(sane, tmp_path / "state", "--config", str(allowed)) as service:
        assert scanner_status(service.url).status == 200


# --- discovery: no answer outside the list, in network namespaces created for the test -------------


@pytest.fixture
def allow_lab(netns_lab):
    return netns_lab, netns_lab.add_pair("L", "198.18.10")


@pytest.mark.netns
@pytest.mark.parametrize("allow, answered", [(("10.0.0.0/8",), False), (("198.18.10.0/24",), True), ((), True)])
def test_discovery_answers_only_allowed_senders(tmp_path, allow_lab, allow, answered):
    import asyncio

    from tests.dpws.netlab import UdpClient, probe
    from tests.netns import in_netns

    lab, pair = allow_lab
    identity = load_identity(tmp_path, "allow-test")
    identity.update_metadata("digest")
    device = DiscoveredDevice(identity, "/allow-test")
    client = UdpClient(lab, lab.cli_ns, pair.cli, socket.AF_INET)

    async def scenario():
        service = DiscoveryService(
            [device],
            5399,
            interfaces_allow=[pair.dev],
            families=(socket.AF_INET,),
            app_max_delay=0.05,
            peer_allowed=AllowList(allow).permits,
        )
        await service.start()
        try:
            await asyncio.sleep(0.2)  # past the start-up Hello
            message_id = "urn:uuid:" + str(uuid.uuid4())
            client.send(probe(message_id))
            await asyncio.sleep(0.5)
            return message_id
        finally:
            await service.stop()

    try:
        message_id = in_netns(lab.dev_ns, lambda: asyncio.run(scenario()))
        got = client.collect(0.2)
    finally:
        client.close()
    matches = [m for m in got if m.kind == "ProbeMatches" and m.relates_to == message_id]
    assert bool(matches) is answered
    if answered:
        assert matches[0].endpoint == identity.endpoint
