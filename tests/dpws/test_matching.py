"""Probe matching, discovery messages, interface selection and XAddr address choice (unit level)."""

from __future__ import annotations

import socket

import pytest

from firmware.dpws import envelope as wsd
from firmware.dpws.identity import load_identity
from firmware.dpws.interfaces import (
    DEFAULT_SKIP_PATTERNS,
    IFA_F_SECONDARY,
    IFF_LOOPBACK,
    IFF_MULTICAST,
    IFF_RUNNING,
    IFF_UP,
    Interface,
    InterfaceAddress,
    choose_address,
    interface_selected,
    read_interfaces,
)
from firmware.dpws.matching import DiscoveredDevice, directed_probe_response, match_probe, match_scope
from firmware.wire import namespaces as ns
from firmware.wire.envelope import parse_request
from firmware.wire.xml import find, parse_with_prefixes, qname, serialize, text_of

from .netlab import parse_message, probe

OLD_SCAN_NS = "http://schemas.microsoft.com/windows/2006/01/wdp/scan"
PRINT_NS = "http://schemas.microsoft.com/windows/2006/08/wdp/print"
UUID_A = "0a6dc791-2be6-4991-9af1-454778a1917a"


@pytest.fixture
def device(tmp_path):
    return DiscoveredDevice(load_identity(tmp_path, "test:0"), path="/dev0")


def probe_body(data: bytes):
    request = parse_request(data)
    return request.body, request.prefixes


def matches(data: bytes, device) -> bool:
    body, prefixes = probe_body(data)
    return match_probe(body, prefixes, device)


# --- Types -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "types, extra_ns, expected",
    [
        (None, "", True),  # no Types: any type
        ("", "", True),  # empty Types
        ("wsdp:Device", "", True),
        ("wscn:ScanDeviceType", "", True),
        ("wsdp:Device wscn:ScanDeviceType", "", True),
        ("scan:ScanDeviceType", f' xmlns:scan="{ns.SCAN}"', True),  # prefix is irrelevant
        ("wscn:ScannerServiceType", "", False),  # a hosted service type, not a device type
        ("wsdp:Device wprt:PrintDeviceType", f' xmlns:wprt="{PRINT_NS}"', False),
        ("old:ScanDeviceType", f' xmlns:old="{OLD_SCAN_NS}"', False),  # the 2006/01 namespace trap
        ("nope:Device", "", False),  # undeclared prefix
        ("Device", "", False),  # no default namespace
    ],
)
def test_types_match_on_namespace_and_local_name(device, types, extra_ns, expected):
    assert matches(probe("urn:uuid:1", types=types, extra_ns=extra_ns), device) is expected


# --- Scopes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "probe_scope, device_scope, rule, expected",
    [
        ("http://example.com/abc", "http://example.com/abc/def", wsd.MATCH_BY_RFC2396, True),
        ("http://example.com/a", "http://example.com/abc", wsd.MATCH_BY_RFC2396, False),  # not a string prefix
        ("HTTP://Example.COM/abc", "http://example.com/abc", wsd.MATCH_BY_RFC2396, True),
        ("http://example.com/ABC", "http://example.com/abc", wsd.MATCH_BY_RFC2396, False),
        ("http://example.com/a%20b", "http://example.com/a b/c", wsd.MATCH_BY_RFC2396, True),
        ("http://example.com/a/../b", "http://example.com/b", wsd.MATCH_BY_RFC2396, False),
        ("http://other.com/abc", "http://example.com/abc", wsd.MATCH_BY_RFC2396, False),
        ("http://example.com/abc?q=1", "http://example.com/abc/d#f", wsd.MATCH_BY_RFC2396, True),
        ("urn:room:42", "urn:room:42", wsd.MATCH_BY_STRCMP0, True),
        ("urn:room:42", "urn:Room:42", wsd.MATCH_BY_STRCMP0, False),
        ("uuid:" + UUID_A.upper(), "UUID:" + UUID_A, wsd.MATCH_BY_UUID, True),
        ("uuid:" + UUID_A, "uuid:" + UUID_A[:-1] + "b", wsd.MATCH_BY_UUID, False),
        ("ldap://h/ou=a", "ldap://h/ou=a", wsd.MATCH_BY_LDAP, False),  # unsupported rule matches nothing
    ],
)
def test_scope_matching_rules(probe_scope, device_scope, rule, expected):
    assert match_scope(probe_scope, device_scope, rule) is expected


def test_probe_scopes_all_must_match(device):
    scoped = DiscoveredDevice(device.identity, "/dev0", scopes=("http://example.com/floor1/room2", "urn:pi"))
    assert matches(probe("urn:uuid:1", scopes="http://example.com/floor1"), scoped)
    assert matches(probe("urn:uuid:1", scopes="http://example.com/floor1 urn:pi"), scoped)
    assert not matches(probe("urn:uuid:1", scopes="http://example.com/floor1 urn:other"), scoped)
    assert matches(probe("urn:uuid:1", scopes="urn:pi", match_by=wsd.MATCH_BY_STRCMP0), scoped)
    assert not matches(probe("urn:uuid:1", scopes="urn:p", match_by=wsd.MATCH_BY_STRCMP0), scoped)
    assert not matches(probe("urn:uuid:1", scopes="urn:pi", match_by="urn:unknown-rule"), scoped)


def test_a_device_without_scopes_is_in_the_adhoc_scope(device):
    assert matches(probe("urn:uuid:1", scopes=wsd.SCOPE_ADHOC), device)
    assert matches(probe("urn:uuid:1", scopes=""), device)
    assert not matches(probe("urn:uuid:1", scopes="http://example.com/x"), device)


def test_only_a_probe_element_matches(device):
    root, prefixes = parse_with_prefixes(b'<r xmlns="http://schemas.xmlsoap.org/ws/2005/04/discovery"/>')
    assert match_probe(root, prefixes, device) is False
    assert match_probe(None, {}, device) is False


# --- directed Probe over HTTP --------------------------------------------------------------


def test_directed_probe_gets_probe_matches_with_the_given_xaddr(device):
    request = parse_request(probe("urn:uuid:directed-1"))
    envelope = directed_probe_response(request, device, "http://198.18.7.2:5358/dev0")
    message = parse_message(serialize(envelope), ("", 0), 0.0)
    assert message.kind == "ProbeMatches"
    assert message.relates_to == "urn:uuid:directed-1"
    assert text_of(message.header(ns.WSA, "To")) == ns.ANONYMOUS
    assert message.endpoint == device.identity.endpoint
    assert message.xaddrs == "http://198.18.7.2:5358/dev0"
    assert message.app_sequence[0] == device.identity.instance_id
    types = find(message.target(), qname(ns.WSD, "Types"))
    assert set(wsd.parse_qname_list(types.text, message.prefixes)) == {(ns.WSDP, "Device"), (ns.SCAN, "ScanDeviceType")}


def test_directed_probe_that_does_not_match_gets_none(device):
    request = parse_request(probe("urn:uuid:directed-2", types="wscn:ScannerServiceType"))
    assert directed_probe_response(request, device, "http://198.18.7.2:5358/dev0") is None


# --- messages on the wire ------------------------------------------------------------------


def test_hello_bye_and_resolve_matches_are_well_formed(device):
    ident = device.identity
    hello = wsd.discovery_envelope(
        wsd.ACTION_HELLO,
        wsd.hello_body(ident.endpoint, device.types, (), ("http://198.18.7.2:5358/dev0",), 7),
        instance_id=ident.instance_id,
        message_number=5,
    )
    message = parse_message(wsd.serialize_message(hello), ("", 0), 0.0)
    assert message.kind == "Hello"
    assert text_of(message.header(ns.WSA, "To")) == wsd.DISCOVERY_URN
    assert message.relates_to is None
    assert message.app_sequence == (ident.instance_id, 5)
    assert text_of(find(message.body, qname(ns.WSD, "MetadataVersion"))) == "7"
    bye = parse_message(
        wsd.serialize_message(
            wsd.discovery_envelope(wsd.ACTION_BYE, wsd.bye_body(ident.endpoint), instance_id=1, message_number=6)
        ),
        ("", 0),
        0.0,
    )
    assert bye.kind == "Bye" and bye.endpoint == ident.endpoint and bye.xaddrs is None
    with pytest.raises(ValueError):
        wsd.resolve_matches_body(ident.endpoint, device.types, (), (), 1)


def test_qname_lists_declare_unknown_namespaces_locally():
    qnames = ((ns.WSDP, "Device"), ("urn:x", "A"), ("urn:x", "B"), ("urn:y", "C"))
    element = wsd.qname_list_element(qname(ns.WSD, "Types"), qnames)
    root, prefixes = parse_with_prefixes(serialize(element))
    assert wsd.parse_qname_list(root.text, prefixes) == qnames


def test_envelopes_stay_under_the_dpws_limit(device):
    ident = device.identity
    many_scopes = tuple(f"http://example.com/scope/{i:05d}" for i in range(1200))
    too_big = wsd.discovery_envelope(
        wsd.ACTION_HELLO,
        wsd.hello_body(ident.endpoint, device.types, many_scopes, (), 1),
        instance_id=1,
        message_number=1,
    )
    with pytest.raises(wsd.EnvelopeTooLarge):
        wsd.serialize_message(too_big)
    normal = wsd.discovery_envelope(
        wsd.ACTION_PROBE_MATCHES,
        wsd.probe_matches_body(ident.endpoint, device.types, (), ("http://[fe80::1]:5358/dev0",), 1),
        instance_id=1,
        message_number=1,
        relates_to="urn:uuid:p",
    )
    assert len(wsd.serialize_message(normal)) < 2000


# --- interfaces and XAddrs -------------------------------------------------------------------

UP = IFF_UP | IFF_RUNNING | IFF_MULTICAST


@pytest.mark.parametrize(
    "name, flags, allow, deny, expected",
    [
        ("eth0", UP, None, None, True),
        ("wlan0", UP, None, None, True),
        ("lo", IFF_UP | IFF_RUNNING | IFF_LOOPBACK, None, None, False),
        ("docker0", UP, None, None, False),
        ("br-3f2a1c", UP, None, None, False),
        ("veth12ab", UP, None, None, False),
        ("virbr0", UP, None, None, False),
        ("eth0", IFF_UP | IFF_MULTICAST, None, None, False),  # no carrier
        ("eth0", IFF_RUNNING | IFF_MULTICAST, None, None, False),  # down
        ("wg0", IFF_UP | IFF_RUNNING, None, None, False),  # no multicast
        ("eth0", UP, None, ["eth*"], False),
        ("eth0", UP, ["wlan0"], None, False),
        ("wlan0", UP, ["wlan0"], None, True),
        ("docker0", UP, ["docker0"], None, True),  # an explicit allow overrides the default skips
        ("lo", UP | IFF_LOOPBACK, ["lo"], None, True),
        ("eth0", UP, ["eth*"], ["eth0"], False),  # deny wins
    ],
)
def test_interface_selection(name, flags, allow, deny, expected):
    assert interface_selected(Interface(1, name, flags), allow, deny, DEFAULT_SKIP_PATTERNS) is expected


V4 = socket.AF_INET
V6 = socket.AF_INET6


def test_ipv4_xaddr_address_is_the_one_on_the_peers_subnet():
    addresses = Interface(
        2,
        "eth0",
        UP,
        (
            InterfaceAddress(V4, "198.18.9.2", 24, IFA_F_SECONDARY),
            InterfaceAddress(V4, "198.18.7.2", 24),
        ),
    ).usable_addresses(V4)
    assert addresses[0].address == "198.18.7.2"  # the primary first
    assert choose_address(addresses, "198.18.9.77").address == "198.18.9.2"
    assert choose_address(addresses, "198.18.7.1").address == "198.18.7.2"
    assert choose_address(addresses, "203.0.113.5").address == "198.18.7.2"


def test_ipv6_xaddr_address_follows_the_peers_scope():
    interface = Interface(
        2,
        "eth0",
        UP,
        (
            InterfaceAddress(V6, "fd00:7::2", 64),
            InterfaceAddress(V6, "fe80::2", 64),
            InterfaceAddress(V6, "fe80::99", 64, 0x40),  # tentative: not usable
        ),
    )
    addresses = interface.usable_addresses(V6)
    assert [a.address for a in addresses] == ["fe80::2", "fd00:7::2"]
    assert choose_address(addresses, "fe80::1%eth0").address == "fe80::2"
    assert choose_address(addresses, "fd00:7::1").address == "fd00:7::2"
    assert choose_address(addresses, "2001:db8::1").address == "fd00:7::2"


def test_xaddr_formatting_brackets_ipv6_and_drops_zone(device):
    assert device.xaddr("198.18.7.2", 5358) == "http://198.18.7.2:5358/dev0"
    assert device.xaddr("fe80::2%eth0", 5358) == "http://[fe80::2]:5358/dev0"


def test_read_interfaces_agrees_with_the_kernel():
    interfaces = read_interfaces()
    assert {(i.index, i.name) for i in interfaces} == set(socket.if_nameindex())
    loopback = next(i for i in interfaces if i.flags & IFF_LOOPBACK)
    assert "127.0.0.1" in {a.address for a in loopback.addresses}
