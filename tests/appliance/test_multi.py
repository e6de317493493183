"""Many scanners in the real service process: every SANE device is its own WSD device, with its
own scan service URL, job queue and persistent identity; jobs on two scanners run at once."""

from __future__ import annotations

import io
import json
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from firmware.dpws.metadata import ACTION_GET, Metadata
from firmware.wire import namespaces as ns
from firmware.wire.xml import find, parse_with_prefixes, qname
from tests.inprocess import mtom_parts
from tests.sane_env import write_sane_dir
from tests.servers import running_service
from tests.soap import SoapClient
from tests.test_service import create, retrieve, ticket
from tests.xmlfind import first_child

pytestmark = [pytest.mark.service, pytest.mark.sane]

SLOW_TEST0 = """
[scanners."test:0"]
sane_options = { read_delay = true, read_delay_duration = 100000 }
"""
"""test:0 reads 64 KiB per 0.1 s (a SANE option of the test backend); test:1 is fast."""


def image(answer) -> Image.Image:
    assert answer.status == 200, answer.data[:500]
    return Image.open(io.BytesIO(mtom_parts(answer.headers["Content-Type"], answer.data)[1][1]))


def identities(state: Path) -> dict[str, tuple[str, int]]:
    """SANE name -> (device endpoint, MetadataVersion), read from the state directory's identity files."""
    found = {}
    for path in state.glob("dpws-*.json"):
        data = json.loads(path.read_text())
        found[data["key"]] = (data["endpoint"], data["metadata_version"])
    return found


def device_metadata(base: str, endpoint: str) -> Metadata:
    """WS-Transfer Get on the device endpoint ``/<uuid>``."""
    answer = SoapClient(f"{base}/{endpoint.removeprefix('urn:uuid:')}").call("Get", None, action=ACTION_GET)
    assert answer.status == 200, answer.data[:500]
    root, prefixes = parse_with_prefixes(answer.data)
    return Metadata.from_xml(first_child(find(root, qname(ns.SOAP, "Body"))), prefixes)


def test_two_scanners_run_two_jobs_at_the_same_time(tmp_path):
    sane = write_sane_dir(tmp_path / "sane", number_of_devices=2)
    config = tmp_path / "config.toml"
    config.write_text(SLOW_TEST0)
    with running_service(sane, tmp_path / "state", "--config", str(config), expect=2) as service:
        assert sorted(service.urls) == ["test:0", "test:1"]
        assert service.urls["test:0"].endswith("/scanners/test-0")
        assert service.urls["test:1"].endswith("/scanners/test-1")
        slow, fast = SoapClient(service.urls["test:0"], timeout=60), SoapClient(service.urls["test:1"])

        slow_job = create(slow, ticket(dpi=150, width=6000, height=6000))  # 900 x 900 px, 2.4 MB: about 3.7 s
        slow_result = {}

        def retrieve_slow():
            slow_result["answer"] = retrieve(slow, slow_job.job_id, slow_job.job_token)
            slow_result["end"] = time.monotonic()

        slow_thread = threading.Thread(target=retrieve_slow)
        slow_started = time.monotonic()
        slow_thread.start()
        time.sleep(0.3)
        assert slow_thread.is_alive()
        assert [j.job_id for j in slow.active_jobs()] == [slow_job.job_id]
        assert fast.active_jobs() == ()  # its own job queue: test:0's job does not block test:1

        fast_started = time.monotonic()
        fast_job = create(fast, ticket(dpi=100, width=2000, height=1000))
        fast_image = image(retrieve(fast, fast_job.job_id, fast_job.job_token))
        fast_ended = time.monotonic()
        slow_thread.join(60)

        slow_image = image(slow_result["answer"])
        for got, wanted in ((fast_image, (200, 100)), (slow_image, (900, 900))):
            # the ticket's size at its dpi, give or take the test backend's rounding to whole mm
            assert abs(got.width - wanted[0]) <= 3 and abs(got.height - wanted[1]) <= 3, got.size
        # overlapping in time: test:1's whole job ran while test:0 was still scanning
        assert slow_started < fast_started and fast_ended < slow_result["end"]
        assert slow_job.job_id != fast_job.job_id  # one JobId counter for the whole service
        for client, job in ((slow, slow_job), (fast, fast_job)):
            summary = client.job_history()[0]
            assert (summary.job_id, summary.job_state) == (job.job_id, "Completed")
        assert fast.job_history()[0].job_id != slow_job.job_id  # histories are per scanner
        # one log line per job with outcome and duration
        for job in (slow_job, fast_job):
            assert f"job {job.job_id} Completed JobCompletedSuccessfully: 1 image(s) in" in service.log_text()


def test_identities_job_ids_and_metadata_versions_survive_a_restart(tmp_path):
    sane = write_sane_dir(tmp_path / "sane", number_of_devices=2)
    state = tmp_path / "state"
    with running_service(sane, state, expect=2) as service:
        before = identities(state)
        assert sorted(before) == ["test:0", "test:1"]
        assert before["test:0"][0] != before["test:1"][0]  # one urn:uuid per scanner
        base = service.urls["test:0"].rsplit("/scanners/", 1)[0]
        for name, (endpoint, _version) in before.items():
            metadata = device_metadata(base, endpoint)
            assert metadata.relationship.hosted[0].addresses == (service.urls[name],)
        client = SoapClient(service.urls["test:1"])
        job = create(client, ticket())
        image(retrieve(client, job.job_id, job.job_token))

    with running_service(sane, state, expect=2) as service:
        assert identities(state) == before  # same urn:uuid, same MetadataVersion (nothing changed)
        base = service.urls["test:0"].rsplit("/scanners/", 1)[0]
        for name, (endpoint, _version) in before.items():
            metadata = device_metadata(base, endpoint)
            assert metadata.relationship.hosted[0].addresses == (service.urls[name],)
        later = create(SoapClient(service.urls["test:0"]), ticket())
        assert later.job_id > job.job_id  # the JobId counter continues across the restart
