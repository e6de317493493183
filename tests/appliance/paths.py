"""Where the appliance files live in the repository."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SYSTEMD_DIR = REPO / "systemd"
SERVICE = SYSTEMD_DIR / "wsd-scan-server.service"
SYSUSERS = SYSTEMD_DIR / "wsd-scan-server.sysusers"
UDEV_RULES = SYSTEMD_DIR / "60-wsd-scan-server.rules"
BUILDROOT_EXTERNAL = REPO / "buildroot"
PRESET = BUILDROOT_EXTERNAL / "package/wsd-scan-server/50-wsd-scan-server.preset"
SANE_USBIDS_SCRIPT = BUILDROOT_EXTERNAL / "package/wsd-scan-server/sane-usbids-rules.py"
