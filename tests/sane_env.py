"""A project-owned SANE configuration for tests: the ``test`` backend only, never /etc/sane.d.

:func:`write_sane_dir` writes ``dll.conf`` (``test``) and a ``test.conf``
whose settings the test chooses (keys as in sane-backends' ``test.conf``:
``number_of_devices``, ``mode``, ``test-picture``, ``read-status-code``,
``read-delay``, ``read-delay-duration``, ``geometry_max``, ...). Point libsane
at it with ``SANE_CONFIG_DIR`` (no trailing ``:``, so the system directory is
not searched): :func:`sane_environment` for subprocesses, or the
``sane_config_dir`` argument of ``SaneScanner`` / ``list_scanners``.

:func:`scanimage_pnm` runs ``scanimage --format=pnm`` against such a
directory and parses the image, to compare the driver's bytes with SANE's own
frontend.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

DEFAULT_TEST_SETTINGS: dict[str, str] = {
    "number_of_devices": "2",
    "mode": "Color",
    "depth": "8",
    "resolution": "75.0",
    "test-picture": '"Color pattern"',
    "read-status-code": '"Default"',
    "read-delay": "false",
    "read-delay-duration": "1000",
}
"""What :func:`write_sane_dir` writes unless overridden (``test.conf`` syntax):
two devices (``test:0``, ``test:1``), 8-bit colour, the colour test pattern,
normal reads."""


def _conf_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def write_sane_dir(directory: str | os.PathLike, **settings: object) -> Path:
    """Write a SANE config dir (``dll.conf`` = ``test``, and ``test.conf``) into
    ``directory`` (created if needed) and return it, for SANE_CONFIG_DIR.

    ``settings`` override :data:`DEFAULT_TEST_SETTINGS`, keyed as in
    ``test.conf``; a string is written verbatim, so quote values with spaces
    (``**{"read-status-code": '"SANE_STATUS_JAMMED"'}``); booleans become
    ``true``/``false``, numbers their decimal text; None drops the key.
    """
    config = Path(directory)
    config.mkdir(parents=True, exist_ok=True)
    (config / "dll.conf").write_text("test\n")
    merged = {**DEFAULT_TEST_SETTINGS, **settings}
    lines = [f"{key} {_conf_value(value)}" for key, value in merged.items() if value is not None]
    (config / "test.conf").write_text("\n".join(lines) + "\n")
    return config


def sane_environment(config_dir: str | os.PathLike) -> dict[str, str]:
    """A copy of ``os.environ`` with SANE_CONFIG_DIR set to ``config_dir`` only."""
    env = dict(os.environ)
    env["SANE_CONFIG_DIR"] = str(config_dir)
    return env


@dataclass(frozen=True)
class PnmImage:
    """A decoded binary PNM: ``magic`` (``P6`` colour, ``P5`` gray, ``P4`` bitmap),
    size in pixels, and the raw sample bytes."""

    magic: str
    width: int
    height: int
    data: bytes


def parse_pnm(blob: bytes) -> PnmImage:
    """Parse a binary PNM (P4/P5/P6 with maxval <= 255). Raises ``ValueError``."""
    tokens: list[bytes] = []
    pos = 0
    wanted = 3 if blob[:2] == b"P4" else 4
    while len(tokens) < wanted:
        while blob[pos : pos + 1].isspace():
            pos += 1
        if blob[pos : pos + 1] == b"#":
            pos = blob.index(b"\n", pos) + 1
            continue
        end = pos
        while not blob[end : end + 1].isspace():
            end += 1
        tokens.append(blob[pos:end])
        pos = end
    pos += 1  # the single whitespace after the header
    magic = tokens[0].decode()
    if magic not in ("P4", "P5", "P6"):
        raise ValueError(f"not a binary PNM: {magic!r}")
    return PnmImage(magic, int(tokens[1]), int(tokens[2]), blob[pos:])


def scanimage_pnm(config_dir: str | os.PathLike, device: str, *args: str, timeout: float = 60.0) -> PnmImage:
    """Run ``scanimage -d device --format=pnm *args`` with SANE_CONFIG_DIR =
    ``config_dir`` and return the image. Raises ``subprocess.CalledProcessError``."""
    result = subprocess.run(
        ["scanimage", "-d", device, "--format=pnm", *args],
        env=sane_environment(config_dir),
        capture_output=True,
        check=True,
        timeout=timeout,
    )
    return parse_pnm(result.stdout)
