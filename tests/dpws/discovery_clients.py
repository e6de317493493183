"""Test helpers for discovery clients: a discovering sane-airscan set-up.

sane-airscan's ``sane_init`` fails without a D-Bus system bus when discovery is
enabled (SANE-AIRSCAN.md sections 7 and 8): run it on a
:class:`tests.private_daemons.PrivateSystemBus`. :func:`airscan_discovery_dir` writes the
``SANE_CONFIG_DIR`` in which airscan finds devices by WS-Discovery only.
"""

from __future__ import annotations

from pathlib import Path


def airscan_discovery_dir(directory: Path, trace_dir: Path) -> Path:
    """Write a SANE config dir in which sane-airscan finds WSD scanners by WS-Discovery only.

    ``dll.conf`` loads only ``airscan``; ``airscan.conf`` enables discovery with
    ``ws-discovery = full`` (SANE-AIRSCAN.md section 8), has no ``[devices]``,
    and writes airscan's protocol trace into ``trace_dir``. Returns ``directory``.
    """
    directory.mkdir(parents=True, exist_ok=True)
    trace_dir.mkdir(parents=True, exist_ok=True)
    (directory / "dll.conf").write_text("airscan\n")
    (directory / "airscan.conf").write_text(
        f"[options]\ndiscovery = enable\nws-discovery = full\n\n[debug]\ntrace = {trace_dir}\n"
    )
    return directory
