"""sane-airscan as an independent WSD client: its configuration and `scanimage` runs.

The configuration follows SANE-AIRSCAN.md section 1: a private SANE_CONFIG_DIR
whose dll.conf loads only `airscan`, one manual WSD device, discovery off (it
would fail without a D-Bus system bus, and must send nothing on the network).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

DEVICE = "airscan:w0:Test"


def airscan_dir(directory: Path, url: str, trace: bool = False) -> Path:
    """Write a SANE config dir in which `scanimage -d airscan:w0:Test` talks WSD to ``url``."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "dll.conf").write_text("airscan\n")
    lines = ["[devices]", f'"Test" = {url}, WSD', "", "[options]", "discovery = disable", "ws-discovery = off", ""]
    if trace:
        lines += ["[debug]", "enable = true", f"trace = {directory / 'trace'}", ""]
    (directory / "airscan.conf").write_text("\n".join(lines))
    return directory


def scanimage(sane_dir: Path, *args: str, timeout: float = 180, **popen) -> subprocess.CompletedProcess:
    """Run `scanimage` with ``SANE_CONFIG_DIR=sane_dir``; returns the completed process (text output)."""
    env = {**os.environ, "SANE_CONFIG_DIR": str(sane_dir)}
    return subprocess.run(
        ["scanimage", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        **popen,
    )


def start_scanimage(sane_dir: Path, *args: str) -> subprocess.Popen:
    """Start `scanimage` in the background (for cancel and busy tests); the caller stops it by PID."""
    env = {**os.environ, "SANE_CONFIG_DIR": str(sane_dir)}
    return subprocess.Popen(
        ["scanimage", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
