"""A per-source token bucket for discovery datagrams (issue 12: a Probe storm from one host
must not keep the responder from answering the others).

Each sender IP address gets a bucket of ``burst`` datagrams refilled at ``rate`` per second;
a datagram that finds its bucket empty is dropped before it is parsed, which is the cheapest
thing the responder can do with it. The table holds at most ``max_sources`` addresses, least
recently heard first out: a forgotten sender starts again with a full bucket, so a flood of
spoofed addresses can only make the limiter more lenient, never lock a legitimate client out.

Debian's wsdd (christgau/wsdd) relies on its duplicate-MessageID memory and on dropping
unparsable datagrams; it has no rate limit. A Windows PC or sane-airscan sends a handful of
Probes and Resolves per search (each twice, SOAP-over-UDP Appendix I), far below the defaults.
"""

from __future__ import annotations

from collections import OrderedDict

DEFAULT_RATE = 10.0  # datagrams per second per source, sustained
DEFAULT_BURST = 40.0  # datagrams per source at once
DEFAULT_MAX_SOURCES = 1024


class SourceRateLimiter:
    """Token buckets by source address (see the module docstring). ``rate`` per second,
    ``burst`` datagrams, at most ``max_sources`` addresses remembered. Not thread-safe."""

    def __init__(
        self, rate: float = DEFAULT_RATE, burst: float = DEFAULT_BURST, max_sources: int = DEFAULT_MAX_SOURCES
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.max_sources = max_sources
        self._buckets: OrderedDict[str, list[float]] = OrderedDict()
        self.dropped = 0

    def allow(self, source: str, now: float) -> bool:
        """Take one token for ``source`` at monotonic time ``now`` (seconds); False: drop it."""
        bucket = self._buckets.get(source)
        if bucket is None:
            if len(self._buckets) >= self.max_sources:
                self._buckets.popitem(last=False)
            bucket = self._buckets[source] = [self.burst, now]
        else:
            self._buckets.move_to_end(source)
            tokens = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
            bucket[0], bucket[1] = tokens, now
        if bucket[0] < 1.0:
            self.dropped += 1
            return False
        bucket[0] -= 1.0
        return True
