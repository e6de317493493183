"""Fuzzing the discovery responder (issue 12): mutated Probes and Resolves and garbage, handed to
the real :class:`DiscoveryService` as its socket would. No datagram may raise, log an ERROR or
a traceback; a datagram that still matches is answered, anything else is dropped quietly.
Seeded (``derandomize``); the ``slow`` tier sends 5,000."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware.dpws.ratelimit import SourceRateLimiter
from tests.dpws.netlab import probe, resolve
from tests.fuzzing import Problems, mutated

from .loopback import LoopbackResponder

PEER = ("127.0.0.2", 9)  # the discard port: replies go nowhere


@pytest.fixture(scope="module")
def responder(tmp_path_factory):
    # no rate limit: every fuzzed datagram must reach the parser
    r = LoopbackResponder(tmp_path_factory.mktemp("state"), limiter=SourceRateLimiter(rate=1e9, burst=1e9))
    try:
        yield r
    finally:
        r.close()


def datagrams(endpoint: str):
    seeds = [
        probe("urn:uuid:00000000-0000-4000-8000-000000000001"),
        probe("urn:uuid:00000000-0000-4000-8000-000000000002", scopes="http://example.com/a", match_by="strcmp0"),
        resolve("urn:uuid:00000000-0000-4000-8000-000000000003", endpoint),
    ]
    return st.one_of(*(mutated(seed) for seed in seeds), st.binary(max_size=600))


def fuzz(responder: LoopbackResponder, examples: int) -> int:
    sent = 0

    @settings(
        max_examples=examples,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(data=datagrams(responder.device.identity.endpoint))
    def run(data: bytes) -> None:
        nonlocal sent
        sent += 1
        responder.feed(data, PEER)

    with Problems() as problems:
        run()
    assert not [f"{r.name}: {r.getMessage()[:200]}" for r in problems.records]
    return sent


def test_fuzzed_datagrams_are_answered_or_dropped_quietly(responder):
    assert fuzz(responder, 300) > 250


@pytest.mark.slow
def test_five_thousand_fuzzed_datagrams(responder):
    sent = fuzz(responder, 5000)
    print(f"{sent} fuzzed datagrams: 0 tracebacks, 0 errors")
    assert sent >= 4500
