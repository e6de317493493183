"""Fixtures for the namespace tests: one lab (device + client namespaces) per test session."""

from __future__ import annotations

import pytest

from tests import netns
from tests.netns import VethPair

from .netlab import Runner

HTTP_PORT = 5358


@pytest.fixture(scope="session")
def lab():
    """Device and client namespaces joined by pairs A (IPv4 + IPv6) and B (IPv4); torn down at the end."""
    with netns.lab() as made:
        made.add_pair("A", "198.18.7", "fd00:7")
        made.add_pair("B", "198.18.8")
        yield made


@pytest.fixture(scope="session")
def pair_a(lab) -> VethPair:
    return lab.pairs["A"]


@pytest.fixture(scope="session")
def pair_b(lab) -> VethPair:
    return lab.pairs["B"]


@pytest.fixture(scope="session")
def runner(lab, tmp_path_factory):
    """One responder with one scanner, serving every interface of the device namespace."""
    state = tmp_path_factory.mktemp("dpws-state")
    process = Runner(lab, state, ["test:0"], HTTP_PORT, friendly_name="Lab Scanner (netns)")
    try:
        yield process
    finally:
        process.terminate()
