"""Discovery keeps answering legitimate Probes while another host storms it or sends malformed
datagrams (issue 12), and no datagram ever logs a traceback. Loopback only: the responder on
127.0.0.1, the legitimate client on 127.0.0.2, the storm from 127.0.0.1 in a child process."""

from __future__ import annotations

import logging
import time

import pytest

from firmware.dpws.ratelimit import SourceRateLimiter
from tests.dpws.netlab import probe

from .loopback import LoopbackResponder, ProbingClient, start_storm

LEGITIMATE = 20


@pytest.fixture
def responder(tmp_path):
    r = LoopbackResponder(tmp_path / "state")
    try:
        yield r
    finally:
        r.close()


def problems(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


def probe_during(responder, kind: str, rate: float, caplog) -> tuple[int, int, int]:
    """Storm for 3 s at ``rate``/s while 127.0.0.2 sends 20 Probes 100 ms apart; returns
    (Probes answered, datagrams the storm sent, datagrams the limiter dropped)."""
    scope = "http://[::1" if kind == "malformed" else None
    template = probe("urn:uuid:MESSAGEID", scopes=scope)
    client = ProbingClient("127.0.0.2", responder.port)
    storm = start_storm(responder.port, rate, 3.0, kind, template)
    try:
        time.sleep(0.5)  # the storm is on
        for _ in range(LEGITIMATE):
            client.probe()
            client.collect(0.1)
        client.collect(0.5)
        assert storm.stdout is not None
        storm.wait(10)
        out = storm.stdout.read()
    finally:
        if storm.poll() is None:
            storm.kill()
            storm.wait()
        client.close()
    answered = len(client.answered & set(client.sent))
    assert not problems(caplog)
    return answered, int(out), responder.service.limiter.dropped


@pytest.mark.slow  # a 3 s storm: the full tier runs it
def test_legitimate_probes_are_answered_during_a_probe_storm_from_another_host(responder, caplog):
    answered, sent, dropped = probe_during(responder, "probe", 20000, caplog)
    print(f"probe storm: {sent} datagrams in 3 s, {dropped} dropped by the rate limit, {answered}/{LEGITIMATE}")
    assert sent > 20000  # the storm really was one
    assert dropped > sent // 2
    assert answered == LEGITIMATE


@pytest.mark.slow  # a 3 s storm: the full tier runs it
def test_legitimate_probes_are_answered_during_a_burst_of_malformed_datagrams(responder, caplog):
    caplog.set_level(logging.DEBUG, logger="firmware.dpws")
    answered, sent, _ = probe_during(responder, "malformed", 5000, caplog)
    print(f"malformed burst: {sent} datagrams in 3 s, {answered}/{LEGITIMATE} legitimate Probes answered")
    assert answered == LEGITIMATE


def test_a_probe_with_a_scope_that_is_not_a_uri_is_dropped_quietly(tmp_path, caplog):
    responder = LoopbackResponder(tmp_path / "state", limiter=SourceRateLimiter(rate=1e9, burst=1e9))
    try:
        for n in range(5):
            responder.feed(probe(f"urn:uuid:{n}", scopes="http://[::1"), ("127.0.0.2", 9))
    finally:
        responder.close()
    assert not problems(caplog)


def test_rate_limiter_buckets():
    limiter = SourceRateLimiter(rate=10, burst=5, max_sources=2)
    assert all(limiter.allow("a", 0.0) for _ in range(5))
    assert not limiter.allow("a", 0.0)
    assert limiter.allow("b", 0.0)  # another source has its own bucket
    assert limiter.allow("a", 0.1)  # one token back after 0.1 s
    assert not limiter.allow("a", 0.1)
    limiter.allow("c", 0.1)  # forgets the least recent ("b"), never locks anyone out
    assert limiter.allow("b", 0.1)
