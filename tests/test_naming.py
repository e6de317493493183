"""Default friendly name numbers (firmware.naming): first sight order, kept across restarts."""

from __future__ import annotations

import json

from firmware.naming import NameNumbers, numbered
from firmware.state import StateStore


def test_numbers_follow_first_sight_per_model_and_survive_a_restart(tmp_path):
    names = NameNumbers(StateStore(tmp_path))
    assert names.number("Canon", "LiDE 220", "usb:04a9:190f@1-1") == 1
    assert names.number("Canon", "LiDE 220", "usb:04a9:190f@1-2") == 2
    assert names.number("Epson", "V39", "usb:04b8:013d@1-3") == 1
    assert names.number("Canon", "LiDE 220", "usb:04a9:190f@1-1") == 1
    again = NameNumbers(StateStore(tmp_path))
    assert again.number("Canon", "LiDE 220", "usb:04a9:190f@1-2") == 2  # asked first this time
    assert again.number("Canon", "LiDE 220", "usb:04a9:190f@1-4") == 3


def test_a_bad_or_unwritable_state_document_is_survived(tmp_path, caplog):
    (tmp_path / "names.json").write_text(json.dumps({"Canon\nLiDE 220": {"a": "x", "b": True, "c": 2}, "y": 3}))
    names = NameNumbers(StateStore(tmp_path))
    assert names.number("Canon", "LiDE 220", "a") == 1  # the bad entry is dropped, c keeps 2
    assert names.number("Canon", "LiDE 220", "c") == 2
    blocked = tmp_path / "file"
    blocked.write_text("")
    unwritable = NameNumbers(StateStore(blocked / "state"))
    assert unwritable.number("Canon", "LiDE 220", "a") == 1
    assert "cannot be written" in caplog.text and str(blocked / "state") in caplog.text  # logged by the store


def test_numbered_keeps_the_number_within_a_limit():
    assert numbered("Scanner", 1) == "Scanner"
    assert numbered("Scanner", 2) == "Scanner (2)"
    assert numbered("x" * 300, 12, 255) == "x" * 250 + " (12)"
