"""The rules of destinations, DestinationTokens and ScanIdentifiers (firmware/pushscan/registry.py),
with a clock the test moves."""

from __future__ import annotations

import pytest

from firmware.model.pushscan import ScanDestination, ScanDestinations
from firmware.pushscan.registry import DestinationRegistry
from firmware.wire.faults import SoapFault

WINDOWS = ScanDestinations(
    (
        ScanDestination("Scan to PC1", "Scan"),
        ScanDestination("Scan for E-mail to PC1", "ScanToEmail"),
    )
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def subcode(info) -> str:
    return info.value.subcode[1]


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def registry(clock):
    return DestinationRegistry(60.0, clock)


def test_one_unguessable_token_per_destination(registry):
    responses = registry.register("urn:uuid:s1", "10.0.0.5", "10.0.0.5", WINDOWS).responses
    assert [r.client_context for r in responses] == ["Scan", "ScanToEmail"]
    tokens = [r.destination_token for r in responses]
    assert len(set(tokens)) == 2 and all(len(t) == 32 for t in tokens)
    again = registry.register("urn:uuid:s9", "10.0.0.9", "10.0.0.9", WINDOWS).responses
    assert not set(tokens) & {r.destination_token for r in again}


def test_choose_by_display_name_then_context_newest_first(registry):
    registry.register("urn:uuid:s1", "10.0.0.5", None, WINDOWS)
    pc2 = ScanDestinations((ScanDestination("Scan to PC2", "Scan"),))
    registry.register("urn:uuid:s2", "10.0.0.6", None, pc2)
    assert registry.choose("Scan").client_display_name == "Scan to PC2"  # most recently registered
    assert registry.choose("scan to pc1").subscription == "urn:uuid:s1"  # a display name picks one PC
    assert registry.choose("ScanToEmail").client == "10.0.0.5"
    assert registry.choose("ScanToFax") is None


def test_identifier_is_good_once_with_its_token_from_its_pc(registry):
    registry.register("urn:uuid:s1", "10.0.0.5", "10.0.0.5", WINDOWS)
    dest = registry.choose("Scan")
    pending = registry.issue(dest)
    with pytest.raises(SoapFault) as info:  # another destination's token
        registry.redeem(pending.scan_identifier, registry.choose("ScanToEmail").token, "10.0.0.5")
    assert subcode(info) == "ClientErrorInvalidDestinationToken"
    with pytest.raises(SoapFault) as info:  # no token
        registry.redeem(pending.scan_identifier, None, "10.0.0.5")
    assert subcode(info) == "ClientErrorInvalidDestinationToken"
    with pytest.raises(SoapFault) as info:  # the right pair from another host
        registry.redeem(pending.scan_identifier, dest.token, "10.0.0.77")
    assert subcode(info) == "ClientErrorInvalidDestinationToken"
    ok = registry.redeem(pending.scan_identifier, dest.token, "::ffff:10.0.0.5")  # IPv4-mapped is the same PC
    registry.commit(ok)
    with pytest.raises(SoapFault) as info:  # replayed
        registry.redeem(pending.scan_identifier, dest.token, "10.0.0.5")
    assert subcode(info) == "ClientErrorInvalidScanIdentifier"
    with pytest.raises(SoapFault) as info:  # never issued
        registry.redeem("0" * 32, dest.token, "10.0.0.5")
    assert subcode(info) == "ClientErrorInvalidScanIdentifier"


def test_identifier_expires(registry, clock):
    registry.register("urn:uuid:s1", "10.0.0.5", "10.0.0.5", WINDOWS)
    dest = registry.choose("Scan")
    fresh, stale = registry.issue(dest), None
    clock.now += 30
    stale, fresh = fresh, registry.issue(dest)
    clock.now += 31  # the first is 61 s old, the second 31 s
    with pytest.raises(SoapFault) as info:
        registry.redeem(stale.scan_identifier, dest.token, "10.0.0.5")
    assert subcode(info) == "ClientErrorInvalidScanIdentifier"
    assert registry.redeem(fresh.scan_identifier, dest.token, "10.0.0.5") is fresh


def test_resubscribing_replaces_the_same_pcs_tokens_only(registry):
    registry.register("urn:uuid:old", "10.0.0.5", "10.0.0.5", WINDOWS)
    other = registry.register("urn:uuid:pc2", "10.0.0.6", "10.0.0.6", WINDOWS)
    old = registry.choose("Scan to PC1")
    pending = registry.issue(old)
    registry.register("urn:uuid:new", "10.0.0.5", "10.0.0.5", WINDOWS)
    assert registry.choose("Scan to PC1").subscription == "urn:uuid:new"
    assert {d.subscription for d in registry.destinations()} == {"urn:uuid:new", "urn:uuid:pc2"}
    assert len(registry.destinations()) == 4
    with pytest.raises(SoapFault) as info:  # the event went to the replaced destination
        registry.redeem(pending.scan_identifier, old.token, "10.0.0.5")
    assert subcode(info) == "ClientErrorInvalidDestinationToken"
    assert other.responses[0].destination_token in {d.token for d in registry.destinations()}


def test_dropping_a_subscription_drops_its_tokens(registry):
    registry.register("urn:uuid:s1", "10.0.0.5", "10.0.0.5", WINDOWS)
    dest = registry.choose("Scan")
    pending = registry.issue(dest)
    assert registry.drop_subscription("urn:uuid:s1") == 2
    assert registry.destinations() == [] and registry.choose("Scan") is None
    with pytest.raises(SoapFault) as info:
        registry.redeem(pending.scan_identifier, dest.token, "10.0.0.5")
    assert subcode(info) == "ClientErrorInvalidDestinationToken"
