"""A job canceled mid-page on the real SANE worker, and the next job started at once (issue 9
item 6, issue 10 item 3): the canceled job's session is still closing in the worker (the read
under way finishes, then sane_cancel and sane_close) when the next CreateScanJob arrives; that
CreateScanJob waits for it instead of being refused, and the next page is whole."""

from __future__ import annotations

import contextlib
import http.client
import threading
import time

import pytest

from firmware import model
from tests.sane_env import write_sane_dir
from tests.servers import running_service, wait_for
from tests.soap import SoapClient
from tests.test_service import create, image_of, retrieve, ticket

pytestmark = [pytest.mark.service, pytest.mark.sane]

SLOW = {"read-delay": "true", "read-delay-duration": "50000", "test-picture": '"Color pattern"'}


def cut_retrieve(client: SoapClient, job_id: int, token: str) -> None:
    """RetrieveImage of a job canceled mid-page: the answer has begun (the page streams), so
    the cancel cuts it off; that is all this client sees."""
    with contextlib.suppress(http.client.HTTPException, ConnectionError):
        retrieve(client, job_id, token)


def test_a_job_created_right_after_a_cancel_mid_page_succeeds(tmp_path):
    sane = write_sane_dir(tmp_path / "sane", **SLOW)
    with running_service(sane, tmp_path / "state") as service:
        client = SoapClient(service.url)
        for _ in range(3):
            job = create(client, ticket(dpi=300, width=8000, height=8000))
            pending = threading.Thread(target=cut_retrieve, args=(client, job.job_id, job.job_token), daemon=True)
            pending.start()  # RetrieveImage streams the page as the worker reads it, 50 ms per buffer
            wait_for(lambda: "JobScanning" in [r for j in client.active_jobs() for r in j.job_state_reasons])
            time.sleep(0.3)
            assert client.call("CancelJob", model.CancelJobRequest(job.job_id).to_xml()).status == 200
            answer = client.call("CreateScanJob", model.CreateScanJobRequest(ticket(dpi=75)).to_xml())
            assert answer.status == 200, answer.data.decode() + "\n--- service log:\n" + service.log_text()
            again = model.CreateScanJobResponse.from_xml(answer.body)
            width, height = image_of(retrieve(client, again.job_id, again.job_token)).size
            assert width == 150 and 72 <= height <= 75  # 2 x 1 inch at 75 dpi, as the test backend rounds it
            pending.join(30)
        assert "waits for the previous session to close" in service.log_text()
