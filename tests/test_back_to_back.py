"""Back-to-back jobs (issue 10 item 3): a CreateScanJob that arrives while the previous job's
session is still closing waits for it (bounded) instead of answering ServerErrorNotAcceptingJobs."""

from __future__ import annotations

import logging
import time

import pytest

from drivers.fake import FakeScanner
from firmware import model
from firmware.jobs import closing
from tests.inprocess import serve
from tests.servers import wait_for
from tests.test_service import CheckedClient, create, image_of, retrieve, ticket

pytestmark = pytest.mark.slow  # each test waits out real closing delays (seconds); the full tier runs them

CLOSE_DELAY = 0.6  # seconds the fake's session close takes: the scanner is busy meanwhile


@pytest.fixture
def slow_close():
    return FakeScanner(close_delay=CLOSE_DELAY)


@pytest.fixture
def client(slow_close, tmp_path):
    with serve(slow_close, tmp_path / "state") as (_app, url, _loop):
        yield CheckedClient(url)


def test_the_next_job_waits_for_the_previous_session_to_close(slow_close, client, caplog):
    caplog.set_level(logging.INFO, logger="firmware.jobs.closing")
    for _ in range(3):
        job = create(client)
        image_of(retrieve(client, job.job_id, job.job_token))
        # the job is Completed as the image ends; its session needs CLOSE_DELAY more seconds
        assert client.job_history()[0].job_state == "Completed"
        assert slow_close.session is not None
    started = time.monotonic()
    job = create(client)  # raised ServerErrorNotAcceptingJobs (DEVICE_BUSY) before the fix
    assert time.monotonic() - started >= CLOSE_DELAY / 2
    assert "waits for the previous session to close" in caplog.text
    assert len(slow_close.started) == 4
    image_of(retrieve(client, job.job_id, job.job_token))


def test_a_job_right_after_a_cancel_waits_too(slow_close, client):
    job = create(client, ticket(source="ADF", dpi=75))
    assert client.call("CancelJob", model.CancelJobRequest(job.job_id).to_xml()).status == 200
    # the hardware stops in the background, after the answer: the session is still open meanwhile
    wait_for(lambda: slow_close.cancelled == 1)
    assert slow_close.session is not None
    again = create(client)
    image_of(retrieve(client, again.job_id, again.job_token))


def test_the_wait_is_bounded(slow_close, client, monkeypatch):
    monkeypatch.setattr(closing, "CLOSE_WAIT", 0.1)
    slow_close.close_delay = 3.0
    job = create(client)
    image_of(retrieve(client, job.job_id, job.job_token))
    started = time.monotonic()
    answer = client.call("CreateScanJob", model.CreateScanJobRequest(ticket()).to_xml())
    assert answer.fault_subcode == "wscn:ServerErrorNotAcceptingJobs"
    assert time.monotonic() - started < 2.0


def test_a_second_job_while_one_is_active_is_refused_at_once(slow_close, client):
    create(client)
    started = time.monotonic()
    answer = client.call("CreateScanJob", model.CreateScanJobRequest(ticket()).to_xml())
    assert answer.fault_subcode == "wscn:ServerErrorNotAcceptingJobs"
    assert time.monotonic() - started < CLOSE_DELAY / 2
