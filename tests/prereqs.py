"""Skip reasons for tests that need root or programs from Debian packages, worded alike."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping


def missing_prerequisite(root_for: str | None, tools: Mapping[str, str]) -> str | None:
    """Why a test cannot run here, as a skip reason a user can act on, or None when it can.

    ``root_for`` says what root is needed for (None: root is not needed); ``tools`` maps each
    program the test runs to the Debian package that has it. The reason names the first thing
    missing: root (run as root), or a program (which package to install; ./scripts/setup --test
    installs them all).
    """
    if root_for is not None and os.geteuid() != 0:
        return f"needs root ({root_for}): run the tests as root, e.g. sudo ./scripts/test"
    for tool, package in tools.items():
        if shutil.which(tool) is None:
            return f"needs {tool} (apt-get install {package}; ./scripts/setup --test installs it)"
    return None
