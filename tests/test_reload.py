"""A configuration reload (firmware/reload.py) on the real application served over HTTP, with a
real event sink subscribed like Windows: what changes, what the subscribers hear, what waits for
a restart."""

from __future__ import annotations

import asyncio
import dataclasses
import logging

import pytest

from drivers.base import Source
from drivers.fake import DEFAULT_CAPABILITIES, FakeScanner
from firmware import model
from firmware.config import ScannerOverrides
from firmware.dpws.metadata import ACTION_GET
from firmware.eventing import EventingSettings
from firmware.model import events as ev
from firmware.reload import apply_config
from firmware.wire import namespaces as ns
from firmware.wire.envelope import build_envelope
from firmware.wire.xml import serialize
from tests.eventing.harness import STATUS_EVENTS, WseClient
from tests.inprocess import serve
from tests.servers import wait_for
from tests.soap import SoapClient
from tests.xsd import validate

ELEMENTS = ("ScannerDescription", "ScannerConfiguration", "DefaultScanTicket")


@pytest.fixture
def fake():
    return FakeScanner(adf_pages=1)


@pytest.fixture
def served(fake, tmp_path):
    with serve(fake, tmp_path / "state", friendly_name="Front desk") as (app, url, loop):
        yield app, url, loop


def reload(served, **changes):
    """Apply the running configuration with ``changes``; returns the keys waiting for a restart."""
    app, _url, loop = served
    config = dataclasses.replace(app.config, **changes)
    return asyncio.run_coroutine_threadsafe(apply_config(app, config), loop).result(20)


def elements(url):
    request = model.GetScannerElementsRequest(tuple(model.RequestedName(ns.SCAN, n, f"wscn:{n}") for n in ELEMENTS))
    answer = SoapClient(url).call("GetScannerElements", request.to_xml())
    assert answer.status == 200, answer.data
    return {d.name.split(":")[-1]: d.content for d in model.GetScannerElementsResponse.from_xml(answer.body).elements}


def subscribe(url, sink):
    subscribed = WseClient(url).subscribe(sink.url("status"), STATUS_EVENTS)
    assert subscribed.answer.status == 200, subscribed.answer.data
    return subscribed


def element_changes(sink, subscribed, count=1):
    wait_for(
        lambda: (
            len([r for r in sink.messages(subscribed.ref) if r.action == ev.ScannerElementsChangeEvent.ACTION]) >= count
        ),
        timeout=10,
    )
    received = [r for r in sink.messages(subscribed.ref) if r.action == ev.ScannerElementsChangeEvent.ACTION]
    for r in received:
        validate(r.body)
    return [ev.ScannerElementsChangeEvent.from_xml(r.body) for r in received]


def test_friendly_name_change_reaches_subscribers_metadata_and_get_scanner_elements(served, sink):
    app, url, _loop = served
    subscribed = subscribe(url, sink)
    version = app.scanners[0].device.identity.metadata_version
    before = elements(url)
    assert reload(served, friendly_name="Back office") == ()
    [change] = element_changes(sink, subscribed)
    assert change.description is not None and change.configuration is None and change.default_ticket is None
    assert change.description.name == "Back office"
    after = elements(url)
    assert after["ScannerDescription"].name == "Back office"
    assert after["ScannerConfiguration"] == before["ScannerConfiguration"]
    assert app.scanners[0].device.identity.metadata_version == version + 1
    metadata_xml = SoapClient(url.rsplit("/scanners/", 1)[0] + app.scanners[0].device.path).post(
        serialize(build_envelope(ACTION_GET, None, to=app.scanners[0].device.identity.endpoint))
    )
    assert metadata_xml.status == 200 and b"Back office" in metadata_xml.data
    reload(served, friendly_name="Back office")  # the same again: nothing changes, nothing is sent
    assert app.scanners[0].device.identity.metadata_version == version + 1
    assert len(element_changes(sink, subscribed)) == 1


def test_new_sane_options_and_default_resolution_change_configuration_and_default_ticket(fake, served, sink):
    _app, url, _loop = served
    subscribed = subscribe(url, sink)
    # the new options make the device report a feeder it did not report before (e.g. a model
    # whose ADF is enabled by an option); the default resolution comes from the configuration
    flatbed_only = dataclasses.replace(
        DEFAULT_CAPABILITIES, sources={Source.FLATBED: DEFAULT_CAPABILITIES.sources[Source.FLATBED]}
    )
    fake.replace_capabilities(flatbed_only)
    reload(served, scanners={"fake:0": ScannerOverrides(sane_options={"source_list": "flatbed"})})
    [change] = element_changes(sink, subscribed)
    assert change.configuration is not None and change.configuration.adf_front is None
    assert fake.options == {"source_list": "flatbed"}
    fake.replace_capabilities(DEFAULT_CAPABILITIES)
    reload(served, scanners={"fake:0": ScannerOverrides(sane_options={}, default_resolution=150)})
    _first, change = element_changes(sink, subscribed, 2)
    assert change.configuration is not None and change.configuration.adf_front is not None
    assert change.default_ticket.document_parameters.media_front.resolution.width == 150
    assert elements(url)["DefaultScanTicket"] == change.default_ticket


def test_history_size_job_timeout_and_eventing_limits_apply(served):
    _app, url, _loop = served
    reload(served, history_size=1, job_timeout=0.3, eventing=EventingSettings(max_subscriptions=1))
    client = SoapClient(url)
    ticket = model.ScanTicket(
        job_description=model.JobDescription("reload", "tester"),
        document_parameters=model.DocumentParameters(format="png", input_source="Platen"),
    )
    for _ in range(2):  # two jobs left to time out: the configured 0.3 s, not 60 s
        answer = client.call("CreateScanJob", model.CreateScanJobRequest(ticket).to_xml())
        assert answer.status == 200, answer.data
        wait_for(lambda: not client.active_jobs(), timeout=5)
    history = client.job_history()
    assert len(history) == 1 and history[0].job_state_reasons == ("JobTimedOut",)
    sink_url = "http://127.0.0.1:9/x"  # never contacted: the second Subscribe is refused first
    assert WseClient(url).subscribe(sink_url, STATUS_EVENTS).answer.status == 200
    refused = WseClient(url).subscribe(sink_url, STATUS_EVENTS).answer
    assert refused.fault_subcode.endswith(":EventSourceUnableToProcess"), refused.data


def test_allow_list_applies_at_once_and_listening_keys_wait_for_a_restart(served):
    app, url, _loop = served
    port = app.config.http_port
    assert reload(served, allow=("192.0.2.0/24",), http_port=port + 1, worker_timeout=3.0) == (
        "http_port",
        "worker_timeout",
    )
    assert app.config.http_port == port and app.config.worker_timeout == 10.0
    assert SoapClient(url).post(b"<x/>").status == 403  # 127.0.0.1 is no longer allowed
    reload(served, allow=())
    assert elements(url)["ScannerDescription"].name == "Front desk"


def test_soap_tracing_switches_on_and_off(served, caplog):
    _app, url, _loop = served
    caplog.set_level(logging.DEBUG)  # every record reaches caplog: the trace logger's own level decides
    elements(url)
    assert not [r for r in caplog.records if r.name == "firmware.trace"]
    reload(served, trace_soap=True)
    elements(url)
    traced = [r.getMessage() for r in caplog.records if r.name == "firmware.trace"]
    assert any(m.startswith("<<< ") and "GetScannerElementsRequest" in m for m in traced)
    assert any(m.startswith(">>> 200") and "GetScannerElementsResponse" in m for m in traced)
    reload(served, trace_soap=False)
    caplog.clear()
    elements(url)
    assert not [r for r in caplog.records if r.name == "firmware.trace"]
