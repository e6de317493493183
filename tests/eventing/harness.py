"""Test harness for eventing: the scan service with eventing attached, served in-process over real
HTTP, a real HTTP event sink on another event loop, and a small WS-Eventing client.

:func:`serve_with_events` wires the service exactly as ``firmware/eventing/__init__.py`` tells
``firmware/app.py`` to (the service's operations merged with the event source's on one path).
:class:`EventSink` is a second Tornado application on 127.0.0.1 with its own thread and loop, so a
blocked service loop cannot hide behind the sink; each path can answer 202, another status, or
hang. :class:`WseClient` speaks WS-Eventing with the project's model, like Windows does.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import tornado.httpserver
import tornado.web

from firmware import model
from firmware.eventing import EventingSettings
from firmware.eventing import model as wse
from firmware.eventing.expiration import Expiration
from firmware.jobs.ids import JobIdAllocator
from firmware.jobs.manager import JobTable
from firmware.model import events as ev
from firmware.scan.events import EVENT_ACTIONS
from firmware.scan.eventsource import EventSource, attach_eventing
from firmware.scan.service import ScanService, ServiceSettings
from firmware.state import StateStore
from firmware.wire import namespaces as ns
from firmware.wire.envelope import BODY, HEADER, build_envelope
from firmware.wire.handler import SoapHandler
from firmware.wire.xml import Element, find, parse_xml, qname, serialize
from tests.servers import free_port
from tests.soap import Answer, SoapClient
from tests.xmlfind import child, first_child, text

SCAN_PATH = "/scanners/fake-0"

JOB_EVENTS = (ev.JobStatusEvent.ACTION, ev.JobEndStateEvent.ACTION)
STATUS_EVENTS = (
    ev.ScannerStatusSummaryEvent.ACTION,
    ev.ScannerStatusConditionEvent.ACTION,
    ev.ScannerStatusConditionClearedEvent.ACTION,
    ev.ScannerElementsChangeEvent.ACTION,
)
assert set(JOB_EVENTS + STATUS_EVENTS) == set(EVENT_ACTIONS)


class LoopThread:
    """An asyncio loop running in a daemon thread; :meth:`run` executes a coroutine on it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coroutine, timeout: float = 10):
        """Run ``coroutine`` on the loop and return its result (raises what it raises)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def call(self, function, *args, timeout: float = 10):
        """Call a plain function on the loop thread and return its result."""

        async def call():
            return function(*args)

        return self.run(call(), timeout)

    def stop(self) -> None:
        """Stop the loop and join the thread."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


# --- the service ------------------------------------------------------------------------------------


@dataclass
class EventedServer:
    """The running scan service: its ``url``, the ``service``, the ``events`` source, the ``loop``."""

    url: str
    service: ScanService
    events: EventSource
    loop: LoopThread

    def subscriptions(self) -> list:
        """The live subscriptions (read on the service loop)."""
        return self.loop.call(self.events.subscriptions.subscriptions)

    def idle(self) -> bool:
        """True when no subscriber has a notification waiting."""
        return all(s.outbox.pending == 0 for s in self.subscriptions())


@contextlib.contextmanager
def serve_with_events(
    scanner, state_dir: Path, *, job_timeout: float = 60.0, eventing: EventingSettings = EventingSettings()
):
    """Serve ``scanner``'s scan service with eventing on 127.0.0.1; yields an :class:`EventedServer`.

    On exit the service shuts down first (aborting any job), then the event source closes.
    """
    thread = LoopThread()
    port = free_port()
    executor = concurrent.futures.ThreadPoolExecutor(max_workers=2)

    async def start():
        caps = await scanner.capabilities()
        jobs = JobTable(JobIdAllocator(StateStore(state_dir)))
        service = ScanService(scanner, caps, jobs, ServiceSettings(job_timeout=job_timeout), executor)
        events = attach_eventing(service, SCAN_PATH, eventing)
        operations = {**service.operations(), **events.operations()}
        server = tornado.httpserver.HTTPServer(
            tornado.web.Application([(SCAN_PATH, SoapHandler, {"operations": operations})])
        )
        server.listen(port, "127.0.0.1")
        return service, events, server

    service, events, server = thread.run(start())
    try:
        yield EventedServer(f"http://127.0.0.1:{port}{SCAN_PATH}", service, events, thread)
    finally:

        async def stop():
            server.stop()
            await service.shutdown()
            await events.close()

        thread.run(stop(), 20)
        executor.shutdown(wait=False)
        thread.stop()


# --- the event sink ------------------------------------------------------------------------------------


@dataclass
class Received:
    """One POST the sink got: the ``path`` name, the status it answered, and the SOAP parts."""

    name: str
    status: int
    envelope: Element
    arrival: float

    @property
    def header(self) -> Element:
        return child(self.envelope, HEADER)

    @property
    def body(self) -> Element:
        return first_child(find(self.envelope, BODY))

    @property
    def action(self) -> str:
        return text(find(self.header, qname(ns.WSA, "Action")))

    @property
    def to(self) -> str:
        return text(find(self.header, qname(ns.WSA, "To")))

    @property
    def message_id(self) -> str:
        return text(find(self.header, qname(ns.WSA, "MessageID")))

    @property
    def identifier(self) -> str | None:
        return wse.identifier_from_header(self.header)


class _SinkHandler(tornado.web.RequestHandler):
    def initialize(self, sink: EventSink) -> None:
        self.sink = sink

    async def post(self, name: str) -> None:
        behaviour = self.sink.next_behaviour(name)
        self.sink.note_arrival(name)
        if behaviour == "hang":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.sink.release.wait(), 10)
            behaviour = 202
        assert isinstance(behaviour, int), f"unknown sink behaviour {behaviour!r}"
        assert self.request.headers["Content-Type"].startswith("application/soap+xml")
        self.sink.record(Received(name, behaviour, parse_xml(self.request.body), time.monotonic()))
        self.set_status(behaviour)
        self.finish()


class EventSink:
    """An HTTP event sink on the loopback ``addresses`` (the first is the default), one port,
    with its own loop thread. A PC's NotifyTo must name the address it subscribes from.

    ``url(name)`` is the address of one endpoint (Windows uses ``http://<pc>:5357/<uuid>``);
    ``behaviour[name]`` is the HTTP status it answers (default 202) or ``"hang"`` (never answers
    while the sink runs), or a list of those used one per request (the last one then stays).
    ``received`` lists every POST in arrival order.
    """

    def __init__(self, addresses: tuple[str, ...] = ("127.0.0.1",)) -> None:
        self.addresses = addresses
        self.port = free_port()
        self.behaviour: dict[str, int | str | list] = {}
        self.received: list[Received] = []
        self.arrivals: list[str] = []
        """Endpoint names in the order their POSTs began (before a hung one is answered)."""
        self._lock = threading.Lock()
        self._thread = LoopThread()

        async def start():
            self.release = asyncio.Event()
            app = tornado.web.Application([(r"/([^/]+)", _SinkHandler, {"sink": self})])
            server = tornado.httpserver.HTTPServer(app)
            for address in self.addresses:
                server.listen(self.port, address)
            return server

        self._server = self._thread.run(start())

    def next_behaviour(self, name: str) -> int | str:
        """What endpoint ``name`` does with the request arriving now."""
        with self._lock:
            behaviour = self.behaviour.get(name, 202)
            if isinstance(behaviour, list):
                return behaviour.pop(0) if len(behaviour) > 1 else behaviour[0]
            return behaviour

    def url(self, name: str, address: str | None = None) -> str:
        """The URL of sink endpoint ``name`` on ``address`` (default: the first)."""
        return f"http://{address or self.addresses[0]}:{self.port}/{name}"

    def note_arrival(self, name: str) -> None:
        """A POST to endpoint ``name`` began (it may hang before it is recorded)."""
        with self._lock:
            self.arrivals.append(name)

    def record(self, received: Received) -> None:
        with self._lock:
            self.received.append(received)

    def messages(self, identifier: str | None = None, *, delivered_only: bool = True) -> list[Received]:
        """What arrived (answered 2xx), optionally only with wse:Identifier header ``identifier``."""
        with self._lock:
            items = list(self.received)
        return [
            r
            for r in items
            if (identifier is None or r.identifier == identifier) and (not delivered_only or 200 <= r.status < 300)
        ]

    def release_hung(self) -> None:
        """Let every hung POST be answered (202) now."""
        self._thread.call(self.release.set)

    def close(self) -> None:
        async def stop():
            self.release.set()
            self._server.stop()

        self._thread.run(stop())
        self._thread.stop()


# --- the WS-Eventing client ------------------------------------------------------------------------------------


@dataclass
class Subscribed:
    """A subscription as the client sees it: the reference parameter ``ref`` it gave (the
    wse:Identifier value its notifications carry), and the service's answer."""

    ref: str
    answer: Answer
    response: wse.SubscribeResponse | None = None

    @property
    def identifier(self) -> str:
        """The subscription's Identifier at the service (for Renew/GetStatus/Unsubscribe)."""
        assert self.response is not None, f"subscription {self.ref} got no SubscribeResponse: {self.answer.status}"
        identifier = self.response.subscription_manager.identifier
        assert identifier is not None, "the SubscribeResponse's manager reference has no wse:Identifier"
        return identifier


@dataclass
class WseClient:
    """Sends WS-Eventing requests to ``url`` over HTTP, as Windows does, from IP address
    ``source`` (a loopback address; None: the system's choice)."""

    url: str
    source: str | None = None
    client: SoapClient = field(init=False)

    def __post_init__(self) -> None:
        self.client = SoapClient(self.url, source=self.source)

    def send(self, action: str, body: Element | None, identifier: str | None = None, to: str | None = None) -> Answer:
        """POST one request; ``identifier`` goes in a wse:Identifier header."""
        headers = () if identifier is None else (wse.identifier_header(identifier),)
        envelope = build_envelope(action, body, to=to or self.url, extra_headers=headers)
        return self.client.post(serialize(envelope))

    def subscribe(
        self,
        notify_to: str,
        actions: tuple[str, ...] | None,
        *,
        expires: str | None = "PT1H",
        end_to: str | None = None,
        dialect: str = wse.ACTION_DIALECT,
        mode: str = wse.PUSH_MODE,
    ) -> Subscribed:
        """Subscribe with NotifyTo (and EndTo) carrying a fresh wse:Identifier reference parameter."""
        ref = "urn:uuid:" + str(uuid.uuid4())
        params = (wse.identifier_header(ref),)
        request = wse.Subscribe(
            notify_to=wse.EndpointReference(notify_to, params),
            end_to=None if end_to is None else wse.EndpointReference(end_to, params),
            expires=None if expires is None else Expiration.parse(expires),
            filter=None if actions is None else wse.Filter(actions, dialect),
            delivery_mode=mode,
        )
        answer = self.send(wse.SUBSCRIBE, request.to_xml())
        response = wse.SubscribeResponse.from_xml(answer.body) if answer.status == 200 else None
        return Subscribed(ref, answer, response)

    def renew(self, identifier: str, expires: str | None = "PT1H") -> Answer:
        body = wse.Renew(None if expires is None else Expiration.parse(expires)).to_xml()
        return self.send(wse.RENEW, body, identifier)

    def get_status(self, identifier: str) -> Answer:
        return self.send(wse.GET_STATUS, wse.GetStatus().to_xml(), identifier)

    def unsubscribe(self, identifier: str) -> Answer:
        return self.send(wse.UNSUBSCRIBE, wse.Unsubscribe().to_xml(), identifier)


# --- scan helpers ------------------------------------------------------------------------------------------------


def ticket(source: str = "Platen", dpi: int = 75, width: int = 1000, height: int = 1000) -> model.ScanTicket:
    """A small PNG ticket (fast to scan and encode)."""
    return model.ScanTicket(
        job_description=model.JobDescription("events job", "tester"),
        document_parameters=model.DocumentParameters(
            format="png",
            input_source=source,
            input_size=model.Size(width, height),
            media_front=model.MediaSide(
                scan_region=model.ScanRegion(width=width, height=height, x_offset=0, y_offset=0),
                color_processing="Grayscale8",
                resolution=model.Resolution(dpi, dpi),
            ),
        ),
    )


def create_job(client: SoapClient, t: model.ScanTicket | None = None) -> Answer:
    """CreateScanJob; returns the raw answer (a fault for some scenarios)."""
    return client.call("CreateScanJob", model.CreateScanJobRequest(t or ticket()).to_xml())


def retrieve(client: SoapClient, job: model.CreateScanJobResponse) -> Answer:
    """RetrieveImage for ``job``."""
    return client.call("RetrieveImage", model.RetrieveImageRequest(job.job_id, job.job_token, "img").to_xml())


def describe(received: Received):
    """A comparable summary of one scan event notification."""
    body = received.body
    action = received.action
    if action == ev.JobStatusEvent.ACTION:
        s = ev.JobStatusEvent.from_xml(body).job_status
        return ("JobStatus", s.job_state, s.job_state_reasons, s.scans_completed)
    if action == ev.JobEndStateEvent.ACTION:
        end = ev.JobEndStateEvent.from_xml(body).job_end_state
        return ("JobEndState", end.job_completed_state, end.job_completed_state_reasons, end.scans_completed)
    if action == ev.ScannerStatusSummaryEvent.ACTION:
        summary = ev.ScannerStatusSummaryEvent.from_xml(body)
        return ("Summary", summary.state, summary.state_reasons)
    if action == ev.ScannerStatusConditionEvent.ACTION:
        c = ev.ScannerStatusConditionEvent.from_xml(body).condition
        return ("Condition", c.name, c.component, c.severity)
    if action == ev.ScannerStatusConditionClearedEvent.ACTION:
        return ("Cleared", ev.ScannerStatusConditionClearedEvent.from_xml(body).condition_id)
    if action == ev.ScannerElementsChangeEvent.ACTION:
        return ("ElementsChange",)
    return (action,)
