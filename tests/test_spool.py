"""firmware/scan/spool.py: the bounded on-disk copy of the side being sent."""

from __future__ import annotations

from firmware.scan.spool import Spool


def test_a_side_is_kept_whole_and_read_back(tmp_path):
    spool = Spool(tmp_path / "spool", 1 << 20)
    side = spool.open("job1-1")
    assert side is not None
    for chunk in (b"a" * 1000, b"b" * 300_000, b"c"):
        side.write(chunk)
    side.finish()
    assert side.complete and side.size == 301_001 and spool.used == 301_001
    assert b"".join(side.chunks()) == b"a" * 1000 + b"b" * 300_000 + b"c"
    side.discard()
    assert spool.used == 0 and list((tmp_path / "spool").iterdir()) == []


def test_a_side_past_the_cap_is_dropped_and_frees_its_share(tmp_path):
    spool = Spool(tmp_path / "spool", 100_000)
    first = spool.open("job1-1")
    second = spool.open("job2-1")
    assert first is not None and second is not None
    first.write(b"x" * 60_000)
    second.write(b"y" * 30_000)
    first.write(b"x" * 20_000)  # 110,000 in all: over the cap
    assert not first.usable and not first.path.exists()
    assert spool.used == 30_000 and second.usable
    first.finish()
    assert not first.complete


def test_leftovers_are_removed_and_a_zero_cap_disables_it(tmp_path):
    directory = tmp_path / "spool"
    directory.mkdir()
    (directory / "job9-1-123-1.side").write_bytes(b"old")
    assert Spool(directory, 1 << 20).enabled
    assert list(directory.iterdir()) == []
    off = Spool(directory, 0)
    assert not off.enabled and off.open("job1-1") is None


def test_an_unusable_directory_disables_it(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    spool = Spool(blocker / "spool", 1 << 20)
    assert not spool.enabled and spool.open("job1-1") is None
