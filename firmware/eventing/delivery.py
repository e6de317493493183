"""Push delivery of notifications: one ordered queue per subscriber, HTTP POST with a short timeout.

REFERENCE.md section 3.2: a notification is an HTTP POST of a SOAP 1.2
envelope to the NotifyTo address; the sink answers 202 (any 2xx is taken as
delivered). Delivery must never block scanning: :meth:`Outbox.put` only
queues, and one task per subscriber sends the queue in order, one message at
a time, so the order of events (of one job, and overall) is preserved.

A failed POST (network error, timeout, non-2xx answer) is retried after
``retry_delay`` seconds; after ``max_failures`` consecutive failures, or when
the queue holds ``queue_limit`` messages, the outbox gives up and calls
``on_give_up(reason)``: the subscription manager then drops the subscriber
with SubscriptionEnd(DeliveryFailure) (DPWS R3019).

Before every POST the outbox asks its ``target`` where to send it
(:class:`~firmware.eventing.sinks.SinkPolicy`: a NotifyTo that no longer resolves to a
permitted address is a failed delivery, never a POST elsewhere).
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable

from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from firmware.wire.handler import SOAP_CONTENT_TYPE

from .sinks import SinkTarget

log = logging.getLogger(__name__)


class DeliveryFailed(Exception):
    """A message could not be delivered; the text says why (refused, timed out, HTTP 500, ...)."""


async def post_envelope(client: AsyncHTTPClient, target: SinkTarget, data: bytes, timeout: float) -> None:
    """POST the serialized SOAP envelope ``data`` to ``target`` (its URL, with its Host header
    when it has one) within ``timeout`` seconds (connecting included). Redirects are not followed.

    Raises :class:`DeliveryFailed` unless the answer is 2xx.
    """
    headers = {"Content-Type": SOAP_CONTENT_TYPE}
    if target.host is not None:
        headers["Host"] = target.host
    request = HTTPRequest(
        target.url,
        method="POST",
        body=data,
        headers=headers,
        connect_timeout=timeout,
        request_timeout=timeout,
        follow_redirects=False,
        decompress_response=False,
    )
    try:
        response = await client.fetch(request, raise_error=False)
    except Exception as exc:  # noqa: BLE001 - every transport error is a delivery failure
        raise DeliveryFailed(f"{type(exc).__name__}: {exc}") from None
    if not 200 <= response.code < 300:
        raise DeliveryFailed(f"HTTP {response.code}")


class Outbox:
    """The ordered queue of one subscriber's serialized envelopes, sent to ``url``.

    ``client`` returns the shared :class:`AsyncHTTPClient`; ``timeout`` seconds
    per attempt; ``max_failures`` consecutive failed attempts before giving up;
    ``retry_delay`` seconds between attempts; ``queue_limit`` messages waiting
    at most. ``on_give_up(reason)`` is called once when the outbox gives up;
    it is then stopped and accepts nothing more. ``target(url)`` checks ``url`` before each
    attempt and returns the :class:`SinkTarget` to POST to, or raises :class:`DeliveryFailed`
    (None: ``url`` as it is). Must be used on the event loop.
    """

    def __init__(
        self,
        url: str,
        client: Callable[[], AsyncHTTPClient],
        on_give_up: Callable[[str], None],
        *,
        timeout: float,
        max_failures: int,
        retry_delay: float,
        queue_limit: int,
        target: Callable[[str], Awaitable[SinkTarget]] | None = None,
    ) -> None:
        self.url = url
        self._target = target
        self._client = client
        self._on_give_up = on_give_up
        self._timeout = timeout
        self._max_failures = max(1, max_failures)
        self._retry_delay = retry_delay
        self._queue_limit = queue_limit
        self._queue: collections.deque[bytes] = collections.deque()
        self._task: asyncio.Task | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self._stopped = False
        self.failures = 0
        self.delivered = 0

    @property
    def pending(self) -> int:
        """Messages queued and not yet delivered (the one being sent included)."""
        return len(self._queue)

    def put(self, data: bytes) -> None:
        """Queue one serialized envelope; returns at once. Gives up (see the class) when the
        queue is full; ignored once stopped."""
        if self._stopped:
            return
        if len(self._queue) >= self._queue_limit:
            self._give_up(f"{len(self._queue)} notifications waiting")
            return
        self._queue.append(data)
        self._idle.clear()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def drain(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the queue to empty; True if it did."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def stop(self) -> None:
        """Drop what is queued and stop sending (without calling ``on_give_up``). Idempotent."""
        self._stopped = True
        self._queue.clear()
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task() and not task.done():
            task.cancel()
            try:
                await task
            except BaseException:  # noqa: BLE001 - cancelled on purpose
                pass
        self._idle.set()

    async def _run(self) -> None:
        try:
            while self._queue and not self._stopped:
                try:
                    target = SinkTarget(self.url) if self._target is None else await self._target(self.url)
                    await post_envelope(self._client(), target, self._queue[0], self._timeout)
                except Exception as failure:  # noqa: BLE001 - every failure counts; the task must not die
                    self.failures += 1
                    log.info(
                        "notification to %s failed (%d/%d): %s", self.url, self.failures, self._max_failures, failure
                    )
                    if self.failures >= self._max_failures:
                        self._give_up(f"{self.failures} delivery attempts failed, the last: {failure}")
                        return
                    await asyncio.sleep(self._retry_delay)
                    continue
                self.failures = 0
                self.delivered += 1
                if self._queue:
                    self._queue.popleft()
        finally:
            if self._task is asyncio.current_task():
                self._task = None
            if not self._queue:
                self._idle.set()

    def _give_up(self, reason: str) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._queue.clear()
        self._idle.set()
        self._on_give_up(reason)
