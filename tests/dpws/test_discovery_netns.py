"""WS-Discovery over real sockets, between two network namespaces joined by veth pairs.

The responder runs as ``tests.dpws.runner`` in the device namespace; probes come
from plain UDP sockets (and Debian's wsdd) in the client namespace. Addresses:
198.18.7.0/24 + fd00:7::/64 on pair A, 198.18.8.0/24 on pair B.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import time
import uuid

import pytest

from firmware.dpws.discovery import APP_MAX_DELAY, UDP_MAX_DELAY, DiscoveryService
from firmware.dpws.identity import load_identity
from firmware.dpws.matching import DiscoveredDevice
from firmware.dpws.metadata import ACTION_GET, Metadata
from firmware.wire import namespaces as ns
from firmware.wire.xml import find, parse_with_prefixes, qname, text_of
from tests.netns import in_netns, run

from .conftest import HTTP_PORT
from .netlab import Process, Runner, UdpClient, http_post, probe, resolve

pytestmark = pytest.mark.netns

SLACK = 0.35  # seconds of scheduling slack on a loaded 2-core machine


def new_id() -> str:
    return "urn:uuid:" + str(uuid.uuid4())


def replies(messages, endpoint, relates_to=None):
    return [m for m in messages if m.endpoint == endpoint and (relates_to is None or m.relates_to == relates_to)]


@pytest.fixture
def client_v4(lab, pair_a):
    client = UdpClient(lab, lab.cli_ns, pair_a.cli, socket.AF_INET)
    yield client
    client.close()


def test_ipv4_probe_gets_probe_matches_with_the_receiving_interface_address(lab, runner, pair_a, pair_b):
    for pair, device_address in ((pair_a, "198.18.7.2"), (pair_b, "198.18.8.2")):
        client = UdpClient(lab, lab.cli_ns, pair.cli, socket.AF_INET)
        try:
            message_id = new_id()
            sent = client.send(probe(message_id))
            got = client.collect(
                APP_MAX_DELAY + UDP_MAX_DELAY + 2 * SLACK, stop_when=lambda ms: len(replies(ms, runner.endpoint)) >= 2
            )
        finally:
            client.close()
        answers = replies(got, runner.endpoint, message_id)
        assert len(answers) == 2, "ProbeMatches is sent twice (UNICAST_UDP_REPEAT)"
        first, second = answers
        assert first.kind == "ProbeMatches"
        assert first.data == second.data, "a retransmission repeats MessageID and AppSequence"
        assert first.received - sent <= APP_MAX_DELAY + SLACK
        assert second.received - first.received <= UDP_MAX_DELAY + SLACK
        assert first.source[0] == device_address
        assert first.xaddrs == f"http://{device_address}:{HTTP_PORT}{runner.path}"
        assert first.app_sequence[0] == runner.devices[0]["instance_id"]


def test_ipv6_probe_gets_the_link_local_xaddr_of_the_receiving_interface(lab, runner, pair_a):
    client = UdpClient(lab, lab.cli_ns, pair_a.cli, socket.AF_INET6)
    try:
        message_id = new_id()
        sent = client.send(probe(message_id, types="wscn:ScanDeviceType"))
        got = client.collect(APP_MAX_DELAY + 2 * SLACK, stop_when=lambda ms: replies(ms, runner.endpoint))
    finally:
        client.close()
    answer = replies(got, runner.endpoint, message_id)[0]
    assert answer.received - sent <= APP_MAX_DELAY + SLACK
    link_local = lab.link_local(lab.dev_ns, pair_a.dev)
    assert answer.source[0].split("%")[0] == link_local
    assert answer.xaddrs == f"http://[{link_local}]:{HTTP_PORT}{runner.path}"


def test_probe_for_another_type_gets_no_answer(runner, client_v4):
    unmatched, matched = new_id(), new_id()
    client_v4.send(probe(unmatched, types="wscn:ScannerServiceType"))
    client_v4.send(probe(matched, types="other:ScanDeviceType", extra_ns=f' xmlns:other="{ns.SCAN}"'))
    got = client_v4.collect(APP_MAX_DELAY + UDP_MAX_DELAY + 2 * SLACK)
    assert not replies(got, runner.endpoint, unmatched)
    assert replies(got, runner.endpoint, matched)


def test_resolve_is_answered_for_our_endpoint_only(runner, client_v4):
    ours, theirs = new_id(), new_id()
    client_v4.send(resolve(theirs, "urn:uuid:" + str(uuid.uuid4())))
    sent = client_v4.send(resolve(ours, runner.endpoint))
    got = client_v4.collect(UDP_MAX_DELAY + 3 * SLACK)
    assert not [m for m in got if m.relates_to == theirs]
    answers = replies(got, runner.endpoint, ours)
    assert [m.kind for m in answers] == ["ResolveMatches", "ResolveMatches"]
    assert answers[0].received - sent <= SLACK  # Resolve Match without the application delay
    assert answers[0].xaddrs == f"http://198.18.7.2:{HTTP_PORT}{runner.path}"


def test_a_repeated_message_id_is_answered_once(runner, client_v4):
    message_id = new_id()
    data = probe(message_id)
    for _ in range(3):  # a client repeating its Probe, as WS-Discovery 5.2 allows
        client_v4.send(data)
        time.sleep(0.05)
    got = client_v4.collect(APP_MAX_DELAY + UDP_MAX_DELAY + 3 * SLACK)
    answers = replies(got, runner.endpoint, message_id)
    assert len({m.message_id for m in answers}) == 1
    assert len(answers) == 2  # one message, transmitted twice


def test_malformed_or_oversized_datagrams_get_no_answer(runner, client_v4):
    oversized = new_id()
    entity = new_id()
    client_v4.send(b"\x00\x01 not xml at all")
    client_v4.send(b"<soap:Envelope xmlns:soap='http://www.w3.org/2003/05/soap-envelope'><soap:Body>")
    client_v4.send(probe(oversized, padding=33_000))
    client_v4.send(
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "urn:uuid:boom">]>' + probe(entity).split(b"?>", 1)[1]
    )
    foreign_reply_to = new_id()  # WS-Discovery 7 / DPWS R1018: no reply to a non-anonymous ReplyTo
    client_v4.send(
        probe(foreign_reply_to).replace(
            b"</soap:Header>",
            b"<wsa:ReplyTo><wsa:Address>http://198.18.7.1:9/</wsa:Address></wsa:ReplyTo></soap:Header>",
        )
    )
    wrong_version = new_id()
    soap11 = probe(wrong_version).replace(
        b"http://www.w3.org/2003/05/soap-envelope", b"http://schemas.xmlsoap.org/soap/envelope/"
    )
    client_v4.send(soap11)
    alive = new_id()
    client_v4.send(probe(alive))
    got = client_v4.collect(APP_MAX_DELAY + UDP_MAX_DELAY + 2 * SLACK)
    ours = replies(got, runner.endpoint)
    assert {m.relates_to for m in ours} == {alive}, "only the well-formed Probe is answered"
    assert len(probe(oversized, padding=33_000)) > 32767


def test_directed_probe_and_metadata_over_http(lab, runner):
    status, body = http_post(lab, "198.18.7.2", HTTP_PORT, runner.path, probe(new_id()))
    assert status == 200
    root, _ = parse_with_prefixes(body)
    assert find(find(root, qname(ns.SOAP, "Body")), qname(ns.WSD, "ProbeMatches")) is not None
    status, body = http_post(
        lab, "198.18.7.2", HTTP_PORT, runner.path, probe(new_id(), types="wscn:ScannerServiceType")
    )
    assert (status, body) == (202, b"")

    get = probe(new_id()).replace(b"http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe", ACTION_GET.encode())
    status, body = http_post(lab, "198.18.7.2", HTTP_PORT, runner.path, get)
    assert status == 200 and len(body) < 32767
    root, prefixes = parse_with_prefixes(body)
    metadata = Metadata.from_xml(next(iter(find(root, qname(ns.SOAP, "Body")))), prefixes)
    assert metadata.this_device.friendly_name == "Lab Scanner (netns)"
    assert metadata.relationship.hosted[0].compatible_id == ns.SCAN + "/ScannerServiceType"


def test_hello_on_start_bye_on_stop_and_sequence_grows_across_restart(lab, pair_a, pair_b, tmp_path):
    listener = UdpClient(lab, lab.cli_ns, pair_a.cli, socket.AF_INET, listen_group=True)
    listener6 = UdpClient(lab, lab.cli_ns, pair_a.cli, socket.AF_INET6, listen_group=True)
    listener_b = UdpClient(lab, lab.cli_ns, pair_b.cli, socket.AF_INET, listen_group=True)
    keys = ["restart:a", "restart:b"]
    started = []
    try:
        first = Runner(lab, tmp_path, keys, HTTP_PORT + 1, deny=[pair_b.dev])
        started.append(first)
        endpoints = {d["endpoint"]: d for d in first.devices}
        assert len(endpoints) == 2
        assert all(link[0] != pair_b.dev for link in first.info["links"])
        hellos = listener.collect(
            APP_MAX_DELAY + UDP_MAX_DELAY + 2 * SLACK,
            stop_when=lambda ms: len([m for m in ms if m.endpoint in endpoints]) >= 4,
        )
        ours = [m for m in hellos if m.endpoint in endpoints and m.kind == "Hello"]
        assert {m.endpoint for m in ours} == set(endpoints)
        for message in ours:
            device = endpoints[message.endpoint]
            assert message.app_sequence[0] == device["instance_id"]
            assert message.xaddrs == f"http://198.18.7.2:{HTTP_PORT + 1}{device['path']}"
        assert not [m for m in listener_b.collect(0.05) if m.endpoint in endpoints], "pair B is denied"
        link_local = lab.link_local(lab.dev_ns, pair_a.dev)
        hellos6 = [
            m
            for m in listener6.collect(
                APP_MAX_DELAY + UDP_MAX_DELAY + 2 * SLACK,
                stop_when=lambda ms: {m.endpoint for m in ms if m.kind == "Hello"} >= set(endpoints),
            )
            if m.endpoint in endpoints
        ]
        assert {m.kind for m in hellos6} == {"Hello"} and {m.endpoint for m in hellos6} == set(endpoints)
        expected6 = {f"http://[{link_local}]:{HTTP_PORT + 1}{d['path']}" for d in endpoints.values()}
        assert {m.xaddrs for m in hellos6} == expected6

        first.stop()
        byes = [m for m in listener.collect(UDP_MAX_DELAY + SLACK) if m.endpoint in endpoints]
        assert {m.kind for m in byes} == {"Bye"} and {m.endpoint for m in byes} == set(endpoints)
        last_number = {}
        for message in ours + byes:
            last_number[message.endpoint] = max(message.app_sequence[1], last_number.get(message.endpoint, 0))
        for message in byes:
            hello = next(h for h in ours if h.endpoint == message.endpoint)
            assert message.app_sequence[0] == hello.app_sequence[0]
            assert message.app_sequence[1] > hello.app_sequence[1]

        second = Runner(lab, tmp_path, keys, HTTP_PORT + 1, deny=[pair_b.dev])
        started.append(second)
        assert {d["endpoint"] for d in second.devices} == set(endpoints), "the identity persisted"
        again = listener.collect(
            APP_MAX_DELAY + SLACK * 2, stop_when=lambda ms: {m.endpoint for m in ms} >= set(endpoints)
        )
        assert {m.endpoint for m in again} >= set(endpoints)
        for message in [m for m in again if m.endpoint in endpoints]:
            instance, number = message.app_sequence
            assert message.kind == "Hello"
            assert instance > endpoints[message.endpoint]["instance_id"]
            assert number > last_number[message.endpoint]
    finally:
        for process in started:
            process.terminate()
        listener.close()
        listener6.close()
        listener_b.close()


def test_hello_when_an_interface_address_appears(lab, runner):
    pair_c = lab.add_pair("C", None)  # up, but no IPv4 address yet
    listener = UdpClient(lab, lab.cli_ns, pair_c.cli, socket.AF_INET, listen_group=True)
    try:
        assert not replies(listener.collect(APP_MAX_DELAY + SLACK), runner.endpoint)
        run("ip", "-n", lab.dev_ns, "addr", "add", "198.18.9.2/24", "dev", pair_c.dev)
        run("ip", "-n", lab.cli_ns, "addr", "add", "198.18.9.1/24", "dev", pair_c.cli)
        got = listener.collect(2.0, stop_when=lambda ms: replies(ms, runner.endpoint))
        hello = replies(got, runner.endpoint)[0]
        assert hello.kind == "Hello"
        assert hello.xaddrs == f"http://198.18.9.2:{HTTP_PORT}{runner.path}"
    finally:
        listener.close()
        lab.remove_pair(pair_c)


def test_announce_and_stop_in_process(lab, pair_a, tmp_path):
    """The service run in-process (its event loop in a thread inside the device namespace)."""
    listener = UdpClient(lab, lab.cli_ns, pair_a.cli, socket.AF_INET, listen_group=True)
    identity = load_identity(tmp_path, "in-process")
    identity.update_metadata("first")
    device = DiscoveredDevice(identity, "/in-process")

    async def scenario():
        service = DiscoveryService(
            [device], HTTP_PORT + 3, interfaces_allow=[pair_a.dev], families=(socket.AF_INET,), app_max_delay=0.05
        )
        await service.start()
        links = service.links
        await asyncio.sleep(0.4)  # the start-up Hello and its retransmission
        assert identity.update_metadata("second") is True
        await service.announce()
        await asyncio.sleep(0.4)
        await service.stop()
        await service.stop()  # idempotent
        return links

    try:
        links = in_netns(lab.dev_ns, lambda: asyncio.run(scenario()))
        got = [m for m in listener.collect(0.2) if m.endpoint == identity.endpoint]
    finally:
        listener.close()
    assert links == [(pair_a.dev, socket.AF_INET, ("198.18.7.2",))]
    versions = [text_of(find(m.body, qname(ns.WSD, "MetadataVersion"))) for m in got if m.kind == "Hello"]
    assert versions == ["1", "1", "2", "2"]
    assert [m.kind for m in got][-2:] == ["Bye", "Bye"]
    numbers = [m.app_sequence[1] for m in got]
    assert numbers == sorted(numbers) and len(set(numbers)) == 3  # Hello, Hello, Bye; each sent twice


needs_wsdd = pytest.mark.skipif(
    shutil.which("wsdd") is None,
    reason="needs Debian's wsdd as a client (apt-get install wsdd; ./scripts/setup --test installs it)",
)


@needs_wsdd
def test_debian_wsdd_discovers_the_scanner_by_friendly_name(lab, runner, pair_a):
    wsdd = Process(lab.cli_ns, ["wsdd", "-D", "-o", "-4", "-i", pair_a.cli, "-v"])
    try:
        # wsdd waits up to 3 s before its first Probe, then fetches the metadata over HTTP.
        found = wsdd.wait_stderr("discovered Lab Scanner (netns) on 198.18.7.2", 10.0)
        assert found, wsdd.stderr()
    finally:
        wsdd.terminate()


@needs_wsdd
def test_coexists_with_another_responder_on_udp_3702(lab, runner, pair_a, tmp_path, client_v4):
    samba_wsdd = Process(lab.dev_ns, ["wsdd", "-i", pair_a.dev, "-n", "wsdtesthost", "-v"])
    late = None
    try:
        assert samba_wsdd.wait_stderr("joined multicast group ('239.255.255.250', 3702)", 5.0), samba_wsdd.stderr()
        late = Runner(lab, tmp_path, ["late:0"], HTTP_PORT + 2)  # binds after wsdd
        for _ in range(2):
            message_id = new_id()
            client_v4.send(probe(message_id))
            got = [
                m for m in client_v4.collect(APP_MAX_DELAY + UDP_MAX_DELAY + 2 * SLACK) if m.relates_to == message_id
            ]
            responders = {m.endpoint for m in got}
            assert runner.endpoint in responders
            assert late.endpoint in responders
            assert len(responders) == 3, "wsdd answers as well"
    finally:
        samba_wsdd.terminate()
        if late is not None:
            late.terminate()
