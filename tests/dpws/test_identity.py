"""Persistent device identity: endpoint, ServiceId, MetadataVersion, AppSequence (REFERENCE.md 4.2)."""

from __future__ import annotations

import errno
import json
import logging
import uuid

import pytest

from firmware import state as state_module
from firmware.dpws import identity as identity_module
from firmware.dpws.identity import UNSIGNED_INT_MAX, identity_path, load_identity


def test_endpoint_and_service_id_persist_across_loads(tmp_path):
    first = load_identity(tmp_path, "test:0")
    second = load_identity(tmp_path, "test:0")
    assert first.endpoint == second.endpoint
    assert first.service_id == second.service_id
    assert first.endpoint.startswith("urn:uuid:")
    uuid.UUID(first.endpoint.removeprefix("urn:uuid:"))
    uuid.UUID(second.service_id.removeprefix("urn:uuid:"))
    assert first.endpoint != first.service_id
    assert json.loads(second.path.read_text())["key"] == "test:0"


def test_each_key_has_its_own_identity_and_file(tmp_path):
    a = load_identity(tmp_path, "test:0")
    b = load_identity(tmp_path, "plustek:libusb:001:004")
    assert a.endpoint != b.endpoint and a.service_id != b.service_id
    assert a.path != b.path
    backups = [p.with_name(p.name.removesuffix(".json") + ".backup.json").name for p in (a.path, b.path)]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([a.path.name, b.path.name, *backups])
    assert identity_path(tmp_path, "plustek:libusb:001:004").name.startswith("dpws-plustek_libusb_001_004-")


def test_instance_id_grows_on_every_start_even_within_one_second(tmp_path, monkeypatch):
    monkeypatch.setattr(identity_module.time, "time", lambda: 1_700_000_000.0)
    ids = [load_identity(tmp_path, "k").instance_id for _ in range(3)]
    assert ids == [1_700_000_000, 1_700_000_001, 1_700_000_002]


def test_instance_id_grows_when_the_clock_goes_backwards(tmp_path, monkeypatch):
    monkeypatch.setattr(identity_module.time, "time", lambda: 1_800_000_000.0)
    before = load_identity(tmp_path, "k").instance_id
    monkeypatch.setattr(identity_module.time, "time", lambda: 1_000.0)  # a Pi booting without RTC
    assert load_identity(tmp_path, "k").instance_id == before + 1


def test_message_number_never_goes_backwards_across_restarts(tmp_path, monkeypatch):
    monkeypatch.setattr(identity_module, "MESSAGE_NUMBER_LEASE", 3)
    run1 = load_identity(tmp_path, "k")
    numbers1 = [run1.next_message_number() for _ in range(8)]  # crosses two lease boundaries
    assert numbers1 == sorted(set(numbers1)) and numbers1[0] >= 1
    # No shutdown hook: a crash right now must not lead to reused numbers.
    run2 = load_identity(tmp_path, "k")
    numbers2 = [run2.next_message_number() for _ in range(2)]
    assert numbers2[0] > numbers1[-1]
    assert numbers2[1] > numbers2[0]
    assert run2.instance_id > run1.instance_id


def test_message_number_lease_is_written_once_per_lease(tmp_path, monkeypatch):
    monkeypatch.setattr(identity_module, "MESSAGE_NUMBER_LEASE", 100)
    ident = load_identity(tmp_path, "k")
    writes = []
    real_save = identity_module._save
    monkeypatch.setattr(identity_module, "_save", lambda *args: (writes.append(1), real_save(*args)))
    for _ in range(150):
        ident.next_message_number()
    assert len(writes) == 2


def test_message_number_overflow_starts_a_new_instance(tmp_path):
    ident = load_identity(tmp_path, "k")
    data = json.loads(ident.path.read_text())
    data["message_number_reserved"] = UNSIGNED_INT_MAX - 1
    ident.path.write_text(json.dumps(data))
    ident = load_identity(tmp_path, "k")
    instance = ident.instance_id
    assert ident.next_message_number() == UNSIGNED_INT_MAX
    assert ident.next_message_number() == 1
    assert ident.instance_id == instance + 1
    assert load_identity(tmp_path, "k").instance_id > instance + 1


def test_metadata_version_bumps_only_when_the_digest_changes(tmp_path):
    ident = load_identity(tmp_path, "k")
    assert ident.metadata_version == 1
    assert ident.update_metadata("aaa") is False  # the first digest of a new identity
    assert ident.update_metadata("aaa") is False
    assert ident.metadata_version == 1
    assert ident.update_metadata("bbb") is True
    assert ident.metadata_version == 2
    again = load_identity(tmp_path, "k")
    assert again.metadata_version == 2
    assert again.update_metadata("bbb") is False
    assert again.update_metadata("aaa") is True
    assert again.metadata_version == 3


def test_writes_leave_no_temporary_files(tmp_path):
    ident = load_identity(tmp_path, "k")
    ident.update_metadata("x")
    ident.next_message_number()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([ident.path.name, backup_of(ident.path).name])


def backup_of(path):
    return path.with_name(path.name.removesuffix(".json") + ".backup.json")


def test_a_corrupt_file_without_backup_gives_a_new_identity_with_a_warning(tmp_path, caplog):
    path = identity_path(tmp_path, "k")
    path.write_text("{not json")
    with caplog.at_level(logging.WARNING):
        ident = load_identity(tmp_path, "k")
    kept = list(tmp_path.glob(path.name + ".corrupt-*"))
    assert len(kept) == 1 and kept[0].read_text() == "{not json"  # kept aside for the user
    warning = [r.getMessage() for r in caplog.records if "Windows will see a new device" in r.getMessage()]
    assert len(warning) == 1 and str(kept[0]) in warning[0] and ident.endpoint in warning[0]
    assert json.loads(path.read_text())["endpoint"] == ident.endpoint
    assert load_identity(tmp_path, "k").endpoint == ident.endpoint


@pytest.mark.parametrize("damage", ["{not json", "", "\x00" * 200, "[1, 2]"])
def test_a_corrupt_file_is_recovered_from_its_backup(tmp_path, caplog, damage):
    first = load_identity(tmp_path, "k")
    first.path.write_text(damage)
    with caplog.at_level(logging.WARNING):
        again = load_identity(tmp_path, "k")
    assert (again.endpoint, again.service_id) == (first.endpoint, first.service_id)
    assert again.instance_id > first.instance_id
    assert "recovered from its backup" in caplog.text
    assert "Windows will see a new device" not in caplog.text
    assert len(list(tmp_path.glob(first.path.name + ".corrupt-*"))) == 1
    assert json.loads(first.path.read_text())["endpoint"] == first.endpoint  # both copies whole again


def test_a_corrupt_backup_is_rewritten_from_the_primary(tmp_path):
    first = load_identity(tmp_path, "k")
    backup_of(first.path).write_text("garbage")
    assert load_identity(tmp_path, "k").endpoint == first.endpoint
    assert json.loads(backup_of(first.path).read_text())["endpoint"] == first.endpoint


@pytest.mark.parametrize(
    "change",
    [
        {"endpoint": "http://not-a-uuid"},
        {"instance_id": -1},
        {"metadata_version": 0},
        {"message_number_reserved": "12"},
        {"key": "another"},
    ],
)
def test_invalid_fields_count_as_corrupt(tmp_path, change):
    first = load_identity(tmp_path, "k")
    for path in (first.path, backup_of(first.path)):
        data = json.loads(path.read_text())
        data.update(change)
        path.write_text(json.dumps(data))
    assert load_identity(tmp_path, "k").endpoint != first.endpoint
    assert len(list(tmp_path.glob("*.corrupt-*"))) == 2


def test_an_uncreatable_state_directory_serves_the_identity_from_memory(tmp_path, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("")  # a file where the directory should be: even root cannot create it
    with caplog.at_level(logging.ERROR):
        ident = load_identity(blocker / "state", "k")
        assert ident.next_message_number() >= 1
        assert ident.update_metadata("a") is False
    assert ident.endpoint.startswith("urn:uuid:")
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and str(blocker / "state") in errors[0].getMessage()


def test_a_full_disk_keeps_the_identity_going_in_memory(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(identity_module, "MESSAGE_NUMBER_LEASE", 2)
    ident = load_identity(tmp_path, "k")
    ident.update_metadata("a")
    numbers = [ident.next_message_number() for _ in range(2)]
    on_disk = ident.path.read_text()

    def full(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(state_module.os, "fsync", full)
    with caplog.at_level(logging.ERROR):
        more = [ident.next_message_number() for _ in range(5)]  # needs new leases
        assert ident.update_metadata("b") is True
    assert more == list(range(numbers[-1] + 1, numbers[-1] + 6))
    assert ident.metadata_version == 2
    assert ident.path.read_text() == on_disk
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    assert len([r for r in caplog.records if "No space left" in r.getMessage()]) == 1  # logged once
    monkeypatch.undo()
    assert [ident.next_message_number() for _ in range(3)] == [more[-1] + 1, more[-1] + 2, more[-1] + 3]
    # a new lease was needed, and written again
    assert json.loads(ident.path.read_text())["metadata_version"] == 2


def test_an_identity_stored_under_the_former_key_moves_to_the_new_one(tmp_path):
    old = load_identity(tmp_path, "genesys:libusb:001:004")
    moved = load_identity(tmp_path, "usb:04a9:190f@1-1.2", former_key="genesys:libusb:001:004")
    assert (moved.endpoint, moved.service_id) == (old.endpoint, old.service_id)
    assert moved.key == "usb:04a9:190f@1-1.2"
    assert not identity_path(tmp_path, "genesys:libusb:001:004").exists()
    again = load_identity(tmp_path, "usb:04a9:190f@1-1.2", former_key="genesys:libusb:001:009")
    assert again.endpoint == old.endpoint
    fresh = load_identity(tmp_path, "usb:04a9:190f@1-1.3", former_key="genesys:libusb:001:004")
    assert fresh.endpoint != old.endpoint  # nothing left under the former key: a new identity
