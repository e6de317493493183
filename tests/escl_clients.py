"""The two independent eSCL clients the tests drive through `scanimage`.

* sane-airscan in eSCL mode: a private SANE_CONFIG_DIR whose dll.conf loads only ``airscan``,
  one manual device ``"Test" = <url>, eSCL`` (the scanner's ``.../eSCL`` URL), discovery off;
* sane-backends' own ``escl`` backend: dll.conf ``escl``, escl.conf ``device http://H:P`` (it
  always asks for ``/eSCL/...`` at the server's root: the default scanner). Without an avahi
  daemon its device list is empty, but ``scanimage -d escl:http://H:P`` opens the device.

Both find devices through avahi-client over D-Bus: for discovery tests,
:class:`tests.private_daemons.PrivateAvahi` runs an ``avahi-daemon`` of our own inside a network
namespace, on a private D-Bus system bus (:class:`tests.private_daemons.PrivateSystemBus`), and
:func:`airscan_escl_discovery_dir` / :func:`sane_escl_discovery_dir` write SANE config dirs that
list what it finds.
"""

from __future__ import annotations

from pathlib import Path

AIRSCAN_DEVICE = "airscan:e0:Test"


def airscan_escl_dir(directory: Path, escl_url: str, trace: bool = False) -> Path:
    """A SANE config dir in which ``scanimage -d airscan:e0:Test`` talks eSCL to ``escl_url``."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "dll.conf").write_text("airscan\n")
    lines = ["[devices]", f'"Test" = {escl_url}, eSCL', "", "[options]", "discovery = disable", "ws-discovery = off"]
    if trace:
        lines += ["", "[debug]", "enable = true", f"trace = {directory / 'trace'}"]
    (directory / "airscan.conf").write_text("\n".join(lines) + "\n")
    return directory


def sane_escl_dir(directory: Path, port: int) -> tuple[Path, str]:
    """A SANE config dir for sane-backends' ``escl`` backend and the device name to open."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "dll.conf").write_text("escl\n")
    (directory / "escl.conf").write_text(f"device http://127.0.0.1:{port}\n")
    return directory, f"escl:http://127.0.0.1:{port}"


def airscan_escl_discovery_dir(directory: Path) -> Path:
    """A SANE config dir in which sane-airscan finds eSCL scanners by DNS-SD only (no manual devices,
    WS-Discovery off)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "dll.conf").write_text("airscan\n")
    (directory / "airscan.conf").write_text("[options]\ndiscovery = enable\nws-discovery = off\n")
    return directory


def sane_escl_discovery_dir(directory: Path) -> Path:
    """A SANE config dir in which sane-backends' ``escl`` lists what avahi finds (no manual devices)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "dll.conf").write_text("escl\n")
    (directory / "escl.conf").write_text("")
    return directory
