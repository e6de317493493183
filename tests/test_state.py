"""State that degrades, never blocks (issue 12): unwritable or full state directories, corrupt
files kept aside, JobIds that resume above every earlier one."""

from __future__ import annotations

import errno
import json
import logging

import pytest

from drivers.fake import FakeScanner
from firmware import model
from firmware import state as state_module
from firmware.jobs import ids as ids_module
from firmware.jobs.ids import JobIdAllocator
from firmware.state import StateStore
from tests.inprocess import serve
from tests.sane_env import write_sane_dir
from tests.servers import running_service
from tests.test_service import CheckedClient, create, image_of, retrieve, ticket


def disk_full(monkeypatch) -> None:
    """Every state write fails with ENOSPC from now on (the temporary file cannot be synced)."""

    def full(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(state_module.os, "fsync", full)


def errors(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


# -- the store -------------------------------------------------------------------------------------


def test_documents_are_indented_json_and_round_trip(tmp_path):
    store = StateStore(tmp_path / "state")
    assert store.save("doc", {"b": 1, "a": [1, 2]}) is True
    text = store.path("doc").read_text()
    assert text.startswith("{\n") and json.loads(text) == {"a": [1, 2], "b": 1}
    assert store.load("doc") == {"a": [1, 2], "b": 1}


@pytest.mark.parametrize("content", ["{trunc", "[1]", "", "null"])
def test_a_corrupt_document_is_kept_aside_and_reads_as_absent(tmp_path, caplog, content):
    store = StateStore(tmp_path)
    store.path("doc").write_text(content)
    with caplog.at_level(logging.WARNING):
        loaded = store.read("doc")
    assert loaded.data is None and loaded.corrupt
    assert loaded.kept is not None and loaded.kept.name.startswith("doc.json.corrupt-")
    assert loaded.kept.read_text() == content and not store.path("doc").exists()
    assert str(loaded.kept) in caplog.text


def test_a_document_the_validator_refuses_is_corrupt(tmp_path):
    store = StateStore(tmp_path)
    store.save("doc", {"n": "x"})

    def validate(data):
        if not isinstance(data["n"], int):
            raise ValueError("n is not a number")

    assert store.read("doc", validate).corrupt
    assert len(list(tmp_path.glob("doc.json.corrupt-*"))) == 1


def test_a_failing_directory_is_logged_once_and_its_recovery_once(tmp_path, monkeypatch, caplog):
    store = StateStore(tmp_path)
    with caplog.at_level(logging.DEBUG):
        disk_full(monkeypatch)
        assert [store.save("doc", {"n": n}) for n in range(5)] == [False] * 5
        monkeypatch.undo()
        assert store.save("doc", {"n": 9}) is True
    assert len(errors(caplog)) == 1
    assert str(tmp_path) in errors(caplog)[0] and "No space left" in errors(caplog)[0]
    assert "can be written again" in caplog.text
    assert store.load("doc") == {"n": 9}
    assert [p.name for p in tmp_path.iterdir()] == ["doc.json"]  # no temporary files left


# -- JobIds ----------------------------------------------------------------------------------------


def test_job_ids_persist_in_two_copies(tmp_path):
    ids = JobIdAllocator(StateStore(tmp_path))
    assert [ids.next() for _ in range(3)] == [1, 2, 3]
    for name in ids_module.DOCUMENTS:
        assert json.loads((tmp_path / f"{name}.json").read_text()) == {"last": 3}
    assert JobIdAllocator(StateStore(tmp_path)).next() == 4


@pytest.mark.parametrize("damage", ["{garbage", "", '{"last": -5}', '{"last": "12"}'])
def test_a_corrupt_job_ids_file_resumes_above_the_old_ids_from_the_backup(tmp_path, caplog, damage):
    ids = JobIdAllocator(StateStore(tmp_path))
    old = [ids.next() for _ in range(7)]
    (tmp_path / "job-ids.json").write_text(damage)
    with caplog.at_level(logging.WARNING):
        assert JobIdAllocator(StateStore(tmp_path)).next() == old[-1] + 1
    kept = list(tmp_path.glob("job-ids.json.corrupt-*"))
    assert len(kept) == 1 and kept[0].read_text() == damage
    assert str(kept[0]) in caplog.text


def test_both_job_id_copies_corrupt_resume_above_the_clock_seed(tmp_path, monkeypatch, caplog):
    ids = JobIdAllocator(StateStore(tmp_path))
    old = [ids.next() for _ in range(50)]
    for name in ids_module.DOCUMENTS:
        (tmp_path / f"{name}.json").write_bytes(b"\0" * 64)  # an SD card's zeroed block
    monkeypatch.setattr(ids_module.time, "time", lambda: 1_800_000_000.0)
    with caplog.at_level(logging.WARNING):
        fresh = JobIdAllocator(StateStore(tmp_path)).next()
    assert fresh == 1_800_000_000 - ids_module.CLOCK_EPOCH + 1 > old[-1]
    assert "corrupt" in caplog.text and len(list(tmp_path.glob("*.corrupt-*"))) == 2
    assert JobIdAllocator(StateStore(tmp_path)).next() == fresh + 1  # and continues from there


def test_an_unwritable_state_directory_seeds_job_ids_from_the_clock(tmp_path, monkeypatch, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("")  # a file where the directory should be: uncreatable even for root
    monkeypatch.setattr(ids_module.time, "time", lambda: 1_800_000_000.0)
    with caplog.at_level(logging.WARNING):
        ids = JobIdAllocator(StateStore(blocker / "state"))
        values = [ids.next() for _ in range(3)]
    seed = 1_800_000_000 - ids_module.CLOCK_EPOCH
    assert values == [seed + 1, seed + 2, seed + 3]
    assert len(errors(caplog)) == 1 and str(blocker / "state") in errors(caplog)[0]


def test_job_ids_go_on_while_the_disk_is_full(tmp_path, monkeypatch):
    ids = JobIdAllocator(StateStore(tmp_path))
    assert ids.next() == 1
    disk_full(monkeypatch)
    assert [ids.next() for _ in range(3)] == [2, 3, 4]
    monkeypatch.undo()
    assert ids.next() == 5
    assert JobIdAllocator(StateStore(tmp_path)).next() == 6


# -- the service -----------------------------------------------------------------------------------


def scan_once(client) -> int:
    job = create(client)
    image = image_of(retrieve(client, job.job_id, job.job_token))
    assert image.size == (200, 100)
    return job.job_id


def test_an_uncreatable_state_directory_still_serves_scans(tmp_path, caplog):
    blocker = tmp_path / "state"
    blocker.write_text("")  # the state directory path is taken by a file
    with caplog.at_level(logging.WARNING), serve(FakeScanner(), blocker) as (app, url, _loop):
        assert len(app.scanners) == 1
        client = CheckedClient(url)
        first, second = scan_once(client), scan_once(client)
        assert second == first + 1
    assert len(errors(caplog)) == 1 and "cannot be written" in errors(caplog)[0]


def test_a_full_disk_never_fails_a_scan(tmp_path, monkeypatch, caplog):
    with serve(FakeScanner(), tmp_path / "state") as (_app, url, _loop):
        client = CheckedClient(url)
        first = scan_once(client)
        with caplog.at_level(logging.ERROR):
            disk_full(monkeypatch)
            assert [scan_once(client) for _ in range(2)] == [first + 1, first + 2]
        assert len(errors(caplog)) == 1 and "No space left" in errors(caplog)[0]
        monkeypatch.undo()
        assert scan_once(client) == first + 3
    assert json.loads((tmp_path / "state" / "job-ids.json").read_text()) == {"last": first + 3}


def test_a_corrupt_job_ids_file_never_reuses_a_job_id_across_a_restart(tmp_path):
    state = tmp_path / "state"
    with serve(FakeScanner(), state) as (app, url, _loop):
        client = CheckedClient(url)
        before = [scan_once(client) for _ in range(3)]
        endpoint = app.scanners[0].device.identity.endpoint
    (state / "job-ids.json").write_text('{"last": 1')  # torn
    with serve(FakeScanner(), state) as (app, url, _loop):
        job = create(CheckedClient(url))
        assert job.job_id > max(before)
        CheckedClient(url).call("CancelJob", model.CancelJobRequest(job.job_id).to_xml())
        assert app.scanners[0].device.identity.endpoint == endpoint


@pytest.mark.service
@pytest.mark.sane
def test_the_service_serves_its_scanner_with_an_uncreatable_state_directory(tmp_path):
    """The real service with SANE's test backend: start-up used to find "no SANE scanner"."""
    blocker = tmp_path / "state"
    blocker.write_text("")
    with running_service(write_sane_dir(tmp_path / "sane"), blocker) as service:
        client = CheckedClient(service.url)
        job = create(client, ticket(dpi=75, width=500, height=500))
        assert image_of(retrieve(client, job.job_id, job.job_token)).size[0] > 0
        text = service.log_text()
    assert "no SANE scanner found" not in text
    assert text.count("cannot be written") == 1, text
