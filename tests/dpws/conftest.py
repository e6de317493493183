"""Fixtures for the namespace tests: one lab (device + client namespaces) per test session."""

from __future__ import annotations

import os
import shutil

import pytest

from .netlab import Lab, Runner, VethPair

HTTP_PORT = 5358


def _lab_unavailable() -> str | None:
    if os.geteuid() != 0:
        return "network namespaces need root (ip netns add)"
    if shutil.which("ip") is None:
        return "iproute2 'ip' is not installed"
    return None


@pytest.fixture(scope="session")
def lab():
    """Device and client namespaces; torn down (with every veth in them) at the end."""
    reason = _lab_unavailable()
    if reason:
        pytest.skip(reason)
    lab = Lab()
    lab.destroy()
    lab.create()
    try:
        lab.pair_a = lab.add_pair("A", "198.18.7", "fd00:7")
        lab.pair_b = lab.add_pair("B", "198.18.8")
        yield lab
    finally:
        lab.destroy()


@pytest.fixture(scope="session")
def pair_a(lab) -> VethPair:
    return lab.pair_a


@pytest.fixture(scope="session")
def pair_b(lab) -> VethPair:
    return lab.pair_b


@pytest.fixture(scope="session")
def runner(lab, tmp_path_factory):
    """One responder with one scanner, serving every interface of the device namespace."""
    state = tmp_path_factory.mktemp("dpws-state")
    process = Runner(lab, state, ["test:0"], HTTP_PORT, friendly_name="Lab Scanner (netns)")
    try:
        yield process
    finally:
        process.terminate()
