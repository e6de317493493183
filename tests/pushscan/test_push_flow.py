"""Scan to PC over real HTTP against the whole application on the fake scanner, with the test
playing the PCs (tests/pushscan/pc.py, written from REFERENCE.md section 3.3): Subscribe with
ScanDestinations -> DestinationResponses; a button press or the HTTP trigger -> ScanAvailableEvent
to that PC only; CreateScanJob with ScanIdentifier + DestinationToken -> the image. Every scan
message that crosses the wire is validated against WDPScan.xsd."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request

import pytest

from drivers.base import Button
from drivers.fake import DEFAULT_CAPABILITIES, FakeScanner, fake_page_bytes, page_info
from firmware import model
from firmware.config import ScannerOverrides
from firmware.eventing import EventingSettings
from firmware.model import events as ev
from firmware.model.pushscan import ScanAvailableEvent
from tests.inprocess import serve
from tests.servers import wait_for
from tests.test_service import image_of, ticket
from tests.xsd import validate

from .pc import PC, post, trigger

INVALID_ID = "wscn:ClientErrorInvalidScanIdentifier"
INVALID_TOKEN = "wscn:ClientErrorInvalidDestinationToken"


@pytest.fixture
def fake():
    return FakeScanner(buttons=(Button("scan", "Scan"), Button("email", "E-mail")), feeder_loaded=False)


def on_loop(loop, function, *args):
    """Call ``function(*args)`` on the app's event loop and return its result."""

    async def call():
        return function(*args)

    return asyncio.run_coroutine_threadsafe(call(), loop).result(10)


def next_event(pc: PC, count: int = 1) -> ScanAvailableEvent:
    """Wait for the ``count``-th ScanAvailableEvent at ``pc``; check its addressing and schema."""
    received = wait_for(lambda: pc.events() if len(pc.events()) >= count else None)[count - 1]
    assert received.to == pc.sink.url(pc.endpoint, pc.address)
    assert received.identifier == pc.ref  # NotifyTo's reference parameter echoed as a header
    validate(received.body)
    return ScanAvailableEvent.from_xml(received.body)


def small_ticket():
    return ticket(fmt="png", color="RGB24", dpi=75, width=1000, height=500)


def test_button_press_sends_the_pc_a_scan_it_then_retrieves(fake, sink, tmp_path):
    with serve(fake, tmp_path / "state") as (_app, url, loop):
        pc = PC("PC1", "127.0.0.1", sink, url)
        answer = pc.subscribe()
        assert answer.status == 200, answer.data
        assert set(pc.tokens) == {"Scan", "ScanToPrint", "ScanToEmail", "ScanToFax", "ScanToOCR"}
        assert len(set(pc.tokens.values())) == 5

        assert on_loop(loop, fake.press, "scan")
        event = next_event(pc)
        assert event.client_context == "Scan"
        assert event.input_source == "Platen"  # the feeder is empty (fake.feeder_loaded = False)

        created = pc.create_job(small_ticket(), event.scan_identifier, pc.tokens["Scan"])
        assert created.status == 200, created.data
        job = model.CreateScanJobResponse.from_xml(created.body)
        image = image_of(pc.call("RetrieveImage", model.RetrieveImageRequest(job.job_id, job.job_token, "p").to_xml()))
        info = fake.started[-1]
        assert image.size == (75 * 1000 // 1000, round(75 * 500 / 1000))
        assert info.resolution == 75
        raw = fake_page_bytes(page_info(info, DEFAULT_CAPABILITIES.sources[info.source]), info.mode, 1)
        assert image.tobytes() == raw  # the PC's ticket was scanned as sent

        replay = pc.create_job(small_ticket(), event.scan_identifier, pc.tokens["Scan"])
        assert replay.fault_subcode == INVALID_ID

        fake.feeder_loaded = True
        assert on_loop(loop, fake.press, "email")
        second = next_event(pc, 2)
        assert (second.client_context, second.input_source) == ("ScanToEmail", "ADF")
        assert second.scan_identifier != event.scan_identifier


def test_only_the_owner_of_the_destination_gets_the_event_and_can_use_it(fake, sink, tmp_path):
    with serve(fake, tmp_path / "state") as (_app, url, loop):
        pc1 = PC("PC1", "127.0.0.1", sink, url)
        pc2 = PC("PC2", "127.0.0.2", sink, url)
        assert pc1.subscribe().status == 200
        assert pc2.subscribe().status == 200
        assert not set(pc1.tokens.values()) & set(pc2.tokens.values())

        assert on_loop(loop, fake.press, "scan")  # "Scan" of the most recently registered PC
        event = next_event(pc2)
        time.sleep(0.3)
        assert pc1.events() == []

        assert pc1.create_job(small_ticket(), event.scan_identifier, pc1.tokens["Scan"]).fault_subcode == INVALID_TOKEN
        stolen = pc1.create_job(small_ticket(), event.scan_identifier, pc2.tokens["Scan"])  # from the wrong host
        assert stolen.fault_subcode == INVALID_TOKEN
        other = pc2.create_job(small_ticket(), event.scan_identifier, pc2.tokens["ScanToEmail"])
        assert other.fault_subcode == INVALID_TOKEN
        assert pc2.create_job(small_ticket(), None, pc2.tokens["Scan"]).fault_subcode == INVALID_ID
        assert pc2.create_job(small_ticket(), "made-up", pc2.tokens["Scan"]).fault_subcode == INVALID_ID
        ok = pc2.create_job(small_ticket(), event.scan_identifier, pc2.tokens["Scan"])
        assert ok.status == 200, ok.data

        # a display name picks one PC whoever registered last
        status, answer = trigger(url, "Scan for OCR to PC1")
        assert status == 200, answer
        assert (answer["client_context"], answer["destination"]) == ("ScanToOCR", "Scan for OCR to PC1")
        assert next_event(pc1).client_context == "ScanToOCR"


def test_a_stale_identifier_is_refused(fake, sink, tmp_path):
    with serve(fake, tmp_path / "state", push_identifier_timeout=0.5) as (_app, url, _loop):
        pc = PC("PC1", "127.0.0.1", sink, url)
        assert pc.subscribe().status == 200
        status, _ = trigger(url)
        assert status == 200
        event = next_event(pc)
        time.sleep(0.8)
        assert pc.create_job(small_ticket(), event.scan_identifier, pc.tokens["Scan"]).fault_subcode == INVALID_ID
        trigger(url)
        fresh = next_event(pc, 2)
        assert pc.create_job(small_ticket(), fresh.scan_identifier, pc.tokens["Scan"]).status == 200


def test_resubscribing_replaces_tokens_and_unsubscribe_drops_them(fake, sink, tmp_path):
    with serve(fake, tmp_path / "state") as (_app, url, _loop):
        pc = PC("PC1", "127.0.0.1", sink, url)
        assert pc.subscribe().status == 200
        old_tokens, old_ref = dict(pc.tokens), pc.ref
        trigger(url)
        old_event = next_event(pc)

        assert pc.subscribe().status == 200  # the PC subscribes again (restart, lost renewal)
        assert not set(old_tokens.values()) & set(pc.tokens.values())
        refused = pc.create_job(small_ticket(), old_event.scan_identifier, old_tokens["Scan"])
        assert refused.fault_subcode == INVALID_TOKEN
        status, answer = trigger(url, "Scan")
        assert status == 200 and answer["pc"] == "127.0.0.1"
        pending = next_event(pc)  # delivered with the new subscription's reference parameter
        assert pending.client_context == "Scan"
        time.sleep(0.3)
        assert len([r for r in sink.messages(old_ref) if r.action == ScanAvailableEvent.ACTION]) == 1

        assert pc.unsubscribe().status == 200
        status, answer = trigger(url, "Scan")
        assert status == 404
        assert "no PC has registered" in answer["error"]
        gone = pc.create_job(small_ticket(), pending.scan_identifier, pc.tokens["Scan"])
        assert gone.fault_subcode == INVALID_TOKEN


def test_delivery_failure_drops_the_destinations(fake, sink, tmp_path):
    settings = EventingSettings(delivery_timeout=1.0, max_failures=1, retry_delay=0.05)
    with serve(fake, tmp_path / "state", eventing=settings) as (_app, url, _loop):
        pc = PC("PC1", "127.0.0.1", sink, url)
        assert pc.subscribe().status == 200
        sink.behaviour[pc.endpoint] = 500
        assert trigger(url)[0] == 200
        wait_for(lambda: trigger(url)[0] == 404)


def test_http_trigger_answers_json_with_clear_errors(fake, sink, tmp_path):
    with serve(fake, tmp_path / "state") as (_app, url, _loop):
        status, answer = trigger(url)
        assert (
            status == 404
            and answer["error"] == "no PC has registered a scan destination 'Scan'; no PC has registered any"
        )
        pc = PC("PC1", "127.0.0.1", sink, url)
        assert pc.subscribe().status == 200
        status, answer = trigger(url, "ScanToNowhere")
        assert status == 404
        assert "'ScanToNowhere'" in answer["error"] and "'Scan to PC1'" in answer["error"]
        status, answer = trigger(url, "Scan", input_source="Tray 9")
        assert status == 400 and "Tray 9" in answer["error"]
        status, answer = trigger(url, "scantoemail", input_source="ADFDuplex")
        assert status == 200 and answer["input_source"] == "ADFDuplex"
        event = next_event(pc)
        assert (event.client_context, event.input_source) == ("ScanToEmail", "ADFDuplex")
        assert answer["scan_identifier"] == event.scan_identifier
        with urllib.request.urlopen(url + "/push") as response:
            listed = json.loads(response.read())["destinations"]
        assert [d["destination"] for d in listed][:1] == ["Scan to PC1"] and len(listed) == 5


def test_http_trigger_is_behind_the_allow_list(fake, sink, tmp_path):
    with serve(fake, tmp_path / "state", allow=("10.0.0.0/8",)) as (_app, url, _loop):
        assert post(url + "/push", b"", content_type="text/plain").status == 403


def test_destinations_need_a_scan_available_event_subscription(fake, sink, tmp_path):
    with serve(fake, tmp_path / "state") as (_app, url, _loop):
        pc = PC("PC1", "127.0.0.1", sink, url)
        answer = pc.subscribe(actions=(ev.JobStatusEvent.ACTION,))
        assert answer.status == 200 and pc.tokens == {}
        assert trigger(url)[0] == 404
        both = pc.subscribe(actions=(ev.ScannerStatusSummaryEvent.ACTION, ScanAvailableEvent.ACTION))
        assert both.status == 200 and len(pc.tokens) == 5


def test_configured_buttons(sink, tmp_path):
    fake = FakeScanner(buttons=(Button("scan"), Button("email"), Button("button-3")))
    overrides = {"fake:0": ScannerOverrides(buttons={"scan": "", "button-3": "Scan for OCR to PC1"})}
    with serve(fake, tmp_path / "state", scanners=overrides) as (_app, url, loop):
        pc = PC("PC1", "127.0.0.1", sink, url)
        assert pc.subscribe().status == 200
        assert on_loop(loop, fake.press, "scan")  # disabled
        assert on_loop(loop, fake.press, "button-3")
        event = next_event(pc)
        assert event.client_context == "ScanToOCR"
        assert on_loop(loop, fake.press, "email")  # the default mapping
        assert next_event(pc, 2).client_context == "ScanToEmail"
        time.sleep(0.3)
        assert len(pc.events()) == 2
        with pytest.raises(ValueError):
            on_loop(loop, fake.press, "copy")
