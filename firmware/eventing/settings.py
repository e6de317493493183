"""The limits of an event source (:class:`EventingSettings`): a plain value, loadable without Tornado.

The ``[eventing]`` table of the configuration (:mod:`firmware.config`) fills it;
:class:`firmware.eventing.subscriptions.SubscriptionManager` enforces it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EventingSettings:
    """Limits of the event source. Times in seconds.

    ``max_expiration``: the longest expiry granted (also what an indefinite
    request gets); ``max_subscriptions`` / ``max_per_client``: caps in all and
    per subscriber (the IP address a Subscribe came from); ``delivery_timeout``: per HTTP POST, connecting
    included (also the most :meth:`SubscriptionManager.close` waits for
    queues to drain); ``max_failures``: consecutive failed POSTs before a
    subscriber is dropped; ``retry_delay``: pause between attempts;
    ``queue_limit``: notifications waiting per subscriber before it is dropped;
    ``sink_networks``: CIDRs (``192.168.1.0/24``) where NotifyTo/EndTo may point besides the
    subscriber's own address (:mod:`firmware.eventing.sinks`); ``max_reference_bytes`` /
    ``max_reference_depth``: the largest serialized ReferenceParameters of one NotifyTo/EndTo
    (bytes, echoed in every notification) and their deepest nesting (elements).
    """

    max_expiration: float = 3600.0
    max_subscriptions: int = 64
    max_per_client: int = 16
    delivery_timeout: float = 2.0
    max_failures: int = 3
    retry_delay: float = 0.5
    queue_limit: int = 256
    sink_networks: tuple[str, ...] = ()
    max_reference_bytes: int = 4096
    max_reference_depth: int = 8
