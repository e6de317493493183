"""A frozen SANE worker never keeps a client waiting (issue 12): CreateScanJob on an idle
scanner whose worker is stopped answers ServerErrorNotAcceptingJobs within about 2 s (not
after the 10 s watchdog), the worker is replaced in the background, and the next job scans."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from drivers.base import ColorMode, Condition, ScannerError, ScannerInfo, ScanParameters, Source
from drivers.sane import SaneScanner
from firmware import model
from tests.inprocess import serve
from tests.sane_env import write_sane_dir
from tests.servers import wait_for
from tests.test_service import CheckedClient, create, image_of, retrieve, ticket

pytestmark = pytest.mark.sane

TEST0 = ScannerInfo("test:0", "Noname", "frontend-tester", "virtual device")


def process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_start_on_a_frozen_idle_worker_answers_busy_at_once_and_replaces_it(tmp_path):
    async def main():
        scanner = SaneScanner(TEST0, sane_config_dir=str(write_sane_dir(tmp_path / "sane")))  # watchdog 10 s
        p = ScanParameters(Source.FLATBED, ColorMode.GRAY, 75, 0.0, 0.0, 10.0, 10.0)
        try:
            session = await scanner.start(p)
            await session.close()
            frozen = scanner.worker_pid
            os.kill(frozen, signal.SIGSTOP)
            began = time.monotonic()
            with pytest.raises(ScannerError) as exc:
                await scanner.start(p)
            answered_after = time.monotonic() - began
            deadline = time.monotonic() + 15
            while scanner.worker_pid in (None, frozen) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            replacement = scanner.worker_pid
            session = await scanner.start(p)
            page = await session.next_page()
            data = b"".join([bytes(c) async for c in page.chunks()])
            await session.close()
            return exc.value, answered_after, frozen, replacement, len(data)
        finally:
            await scanner.shutdown()

    exc, answered_after, frozen, replacement, size = asyncio.run(main())
    assert exc.condition is Condition.DEVICE_BUSY and "frozen" in exc.message
    assert answered_after < 2.0
    assert process_gone(frozen)
    assert replacement not in (None, frozen)
    assert size > 0


def test_create_scan_job_on_a_frozen_worker_is_refused_within_2_s(tmp_path):
    scanner = SaneScanner(TEST0, sane_config_dir=str(write_sane_dir(tmp_path / "sane")))
    with serve(scanner, tmp_path / "state") as (_app, url, _loop):
        client = CheckedClient(url)
        job = create(client, ticket(dpi=75, width=500, height=500))
        assert image_of(retrieve(client, job.job_id, job.job_token)).size[0] > 0
        # the job's session closes in the background: freeze an idle worker, not one closing
        wait_for(lambda: not scanner.session_open, timeout=15)
        frozen = scanner.worker_pid
        assert frozen is not None
        os.kill(frozen, signal.SIGSTOP)
        began = time.monotonic()
        answer = client.call("CreateScanJob", _create_request())
        assert time.monotonic() - began < 2.0
        assert answer.fault_subcode == "wscn:ServerErrorNotAcceptingJobs"
        wait_for(lambda: scanner.worker_pid not in (None, frozen), timeout=15)
        job = create(client, ticket(dpi=75, width=500, height=500))
        assert image_of(retrieve(client, job.job_id, job.job_token)).size[0] > 0


def _create_request():
    return model.CreateScanJobRequest(ticket(dpi=75, width=500, height=500)).to_xml()
