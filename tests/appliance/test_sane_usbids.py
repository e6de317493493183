"""buildroot/package/wsd-scan-server/sane-usbids-rules.py: SANE descriptions -> udev rules.

The descriptions below follow sane-backends' ``doc/descriptions/*.desc`` format
(keywords, ``;`` comments, per-model ``:usbid`` and ``:status``).  Whether udev
accepts the output and acts on it is tested in test_udev_rules.py.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.appliance.paths import SANE_USBIDS_SCRIPT


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    """The script, imported as a module (its file name has dashes)."""
    spec = importlib.util.spec_from_file_location("sane_usbids_rules", SANE_USBIDS_SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BACKEND = """\
;
; a made-up backend description
;
:backend "example"
:version "1.0"
:status :stable            ; the backend's status, not a model's
:manpage "sane-example"
:devicetype :scanner

:mfg "Acme"
:url "http://acme.example/"

:model "Good One"
:interface "USB"
:usbid "0x04A9" "0x1904"   ; upper-case hex is accepted
:status :good

:model "Status First"
:status :untested
:interface "USB"
:usbid "0x04a9" "0x190a"

:model "Broken"
:interface "USB"
:usbid "0x04a9" "0x2000"
:status :unsupported

:model "No Status"
:interface "USB"
:usbid "0x04a9" "0x2001"

:model "SCSI only"
:interface "SCSI"
:status :complete

:model "Ignored Id"
:interface "USB"
:usbid "ignore"
:status :good

:model "Bad Id"
:interface "USB"
:usbid "0x4a9" "0x1904"
:status :good

:mfg "Other"
:model "Minimal"
:interface "USB"
:usbid "0x1234" "0x5678"
:status :minimal
;:model "Commented Out"
;:usbid "0x1234" "0x9999"
;:status :good
"""


def test_only_supported_models_with_usb_ids_are_collected(generator: ModuleType) -> None:
    """good/untested/minimal kept; unsupported, missing status, ignore, malformed and comments dropped."""
    assert generator.usb_ids_from_description(BACKEND) == {
        ("04a9", "1904"),
        ("04a9", "190a"),
        ("1234", "5678"),
    }


def test_manufacturer_change_ends_a_model(generator: ModuleType) -> None:
    """A status after a new :mfg does not belong to the previous model."""
    text = ':mfg "A"\n:model "X"\n:usbid "0x0001" "0x0002"\n:mfg "B"\n:status :good\n'
    assert generator.usb_ids_from_description(text) == set()


def test_rules_are_sorted_and_limited_to_usb_devices(generator: ModuleType) -> None:
    """One rule per id, sorted, inside a usb_device-only block."""
    rules = generator.render_rules({("1234", "5678"), ("04a9", "1904")}).splitlines()
    body = [line for line in rules if not line.startswith("#")]
    assert body == [
        'ACTION=="remove", GOTO="sane_usbids_end"',
        'SUBSYSTEM!="usb", GOTO="sane_usbids_end"',
        'ENV{DEVTYPE}!="usb_device", GOTO="sane_usbids_end"',
        'ATTR{idVendor}=="04a9", ATTR{idProduct}=="1904", ENV{libsane_matched}="yes"',
        'ATTR{idVendor}=="1234", ATTR{idProduct}=="5678", ENV{libsane_matched}="yes"',
        'LABEL="sane_usbids_end"',
    ]


def test_command_line_reads_every_directory(tmp_path: Path) -> None:
    """The script as Buildroot runs it: ids from all given directories, latin-1 files tolerated."""
    first, second = tmp_path / "descriptions", tmp_path / "descriptions-external"
    first.mkdir()
    second.mkdir()
    (first / "a.desc").write_text(BACKEND)
    (second / "b.desc").write_bytes(
        ':mfg "Caf\xe9"\n:model "M"\n:usbid "0xabcd" "0x0001"\n:status :basic\n'.encode("latin-1")
    )
    (second / "notes.txt").write_text(':model "X"\n:usbid "0xffff" "0xffff"\n:status :good\n')
    output = tmp_path / "55-sane-usbids.rules"

    result = subprocess.run(
        [sys.executable, str(SANE_USBIDS_SCRIPT), str(output), str(first), str(second)],
        capture_output=True,
        text=True,
    )
    assert (result.returncode, result.stderr) == (0, "")
    text = output.read_text()
    assert text.count('ENV{libsane_matched}="yes"') == 4
    assert 'ATTR{idVendor}=="abcd", ATTR{idProduct}=="0001"' in text
    assert "ffff" not in text


def test_command_line_fails_without_any_id(tmp_path: Path) -> None:
    """An empty or missing description directory fails (exit 1) and writes nothing."""
    output = tmp_path / "out.rules"
    result = subprocess.run(
        [sys.executable, str(SANE_USBIDS_SCRIPT), str(output), str(tmp_path / "missing")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "no USB ids" in result.stderr
    assert not output.exists()
