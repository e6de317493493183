#!/usr/bin/env python3
"""Write udev rules setting ``libsane_matched=yes`` on SANE's USB scanners.

sane-backends describes the devices it supports in
``doc/descriptions/*.desc``: one ``:model`` block per device, with its
``:usbid "0xVVVV" "0xPPPP"`` and ``:status``.  Distributions turn that list
into udev rules or an hwdb; sane-backends' own build skips that step when
cross compiling, so a Buildroot image has no such list and no scanner is
ever ``libsane_matched``.  This script writes the equivalent rules file for
the appliance, where 60-wsd-scan-server.rules picks the variable up.

Usage: ``sane-usbids-rules.py OUTPUT DESC_DIR [DESC_DIR ...]``.  Models
whose status is ``:unsupported`` or missing are left out (SANE cannot drive
them); ``:minimal``, ``:basic``, ``:good``, ``:complete`` and ``:untested``
are kept.  Exits with status 1 when the directories hold no USB id at all,
so that a moved description directory fails the build instead of shipping
an empty list.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

SUPPORTED_STATUSES = frozenset(
    {"minimal", "basic", "good", "complete", "untested"}
)

_USBID = re.compile(
    r'^:usbid\s+"0x([0-9a-fA-F]{4})"\s+"0x([0-9a-fA-F]{4})"'
)
_STATUS = re.compile(r"^:status\s+:([a-z]+)")


def usb_ids_from_description(text: str) -> set[tuple[str, str]]:
    """Return the (vendor, product) ids of a ``.desc`` text's supported models.

    Ids are four lowercase hex digits without ``0x`` (udev's ``idVendor``
    and ``idProduct`` spelling).  A model is the lines from one ``:model``
    to the next ``:model``, ``:mfg`` or ``:devicetype`` (or the end); lines
    starting with ``;`` are comments.  The backend-level ``:status`` before
    the first ``:model`` (``:alpha``, ``:stable`` ...) is ignored, as are
    ``:usbid "ignore"`` and malformed ids.
    """
    found: set[tuple[str, str]] = set()
    in_model = False
    model_ids: list[tuple[str, str]] = []
    model_status: str | None = None

    def close_model() -> None:
        if in_model and model_status in SUPPORTED_STATUSES:
            found.update(model_ids)

    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(";"):
            continue
        if line.startswith(":model"):
            close_model()
            in_model, model_ids, model_status = True, [], None
        elif line.startswith(":mfg") or line.startswith(":devicetype"):
            # A new manufacturer or device type ends the current model block.
            close_model()
            in_model, model_ids, model_status = False, [], None
        elif in_model:
            usbid = _USBID.match(line)
            status = _STATUS.match(line)
            if usbid:
                vendor, product = usbid.group(1), usbid.group(2)
                model_ids.append((vendor.lower(), product.lower()))
            elif status:
                model_status = status.group(1)
    close_model()
    return found


def usb_ids_from_directories(directories: list[Path]) -> set[tuple[str, str]]:
    """Collect :func:`usb_ids_from_description` over ``*.desc`` files.

    ``directories`` are searched non-recursively; missing ones contribute
    nothing.  Files are read as UTF-8, undecodable bytes replaced (some
    descriptions are Latin-1).
    """
    ids: set[tuple[str, str]] = set()
    for directory in directories:
        for desc in sorted(directory.glob("*.desc")):
            text = desc.read_text(encoding="utf-8", errors="replace")
            ids |= usb_ids_from_description(text)
    return ids


def render_rules(ids: set[tuple[str, str]]) -> str:
    """Render udev rules marking the USB devices with these ids as scanners.

    They set ``ENV{libsane_matched}="yes"``, like libsane's own rules.

    Only ``usb_device`` events of the ``usb`` subsystem are considered; the
    lines are sorted so the output is reproducible.
    """
    lines = [
        "# Generated at build time by sane-usbids-rules.py from",
        "# sane-backends' device descriptions: marks the USB devices SANE",
        "# supports, as libsane's own udev rules / hwdb do on distributions.",
        'ACTION=="remove", GOTO="sane_usbids_end"',
        'SUBSYSTEM!="usb", GOTO="sane_usbids_end"',
        'ENV{DEVTYPE}!="usb_device", GOTO="sane_usbids_end"',
    ]
    lines += [
        f'ATTR{{idVendor}}=="{vendor}", ATTR{{idProduct}}=="{product}", '
        'ENV{libsane_matched}="yes"'
        for vendor, product in sorted(ids)
    ]
    lines.append('LABEL="sane_usbids_end"')
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    """Command line entry point ``OUTPUT DESC_DIR...``; returns the status."""
    if len(argv) < 3:
        print(f"usage: {argv[0]} OUTPUT DESC_DIR [DESC_DIR ...]",
              file=sys.stderr)
        return 2
    ids = usb_ids_from_directories([Path(d) for d in argv[2:]])
    if not ids:
        print(f"{argv[0]}: no USB ids in {' '.join(argv[2:])}",
              file=sys.stderr)
        return 1
    Path(argv[1]).write_text(render_rules(ids), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
