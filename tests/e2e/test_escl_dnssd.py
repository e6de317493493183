"""End to end: both eSCL clients discover the real service with DNS-SD and scan through the device
they discovered, across a veth pair between two network namespaces of our own.

The service (``python -m firmware --host ""``: IPv4 and IPv6; the SANE ``test`` backend, one scanner) runs in
the device namespace and announces ``_uscan._tcp`` with python-zeroconf. The client namespace has
a private D-Bus system bus and a private avahi-daemon (:class:`tests.private_daemons.PrivateAvahi`),
which is how sane-airscan (eSCL mode, discovery on, no manual device) and sane-backends' ``escl``
find scanners. ``scanimage -L`` lists the discovered device; ``scanimage -d <it>`` scans a page.
When the service stops, avahi drops the service at once: the goodbye (TTL 0) was sent, not left to
the record's 75-minute TTL.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests import netns
from tests.dpws.netlab import Process
from tests.e2e.test_escl import as_jpeg, close_to, direct_scan
from tests.escl_clients import airscan_escl_discovery_dir, sane_escl_discovery_dir
from tests.netns import netns_argv
from tests.private_daemons import PrivateAvahi, PrivateSystemBus, avahi_missing
from tests.sane_env import write_sane_dir
from tests.servers import wait_for

pytestmark = [pytest.mark.netns, pytest.mark.e2e, pytest.mark.service, pytest.mark.sane]

NET4, NET6 = "198.18.40", "fd00:40"
DEVICE_V4 = f"{NET4}.2"
HTTP_PORT = 5373
FRIENDLY_NAME = "Lab eSCL Scanner"
DEVICE_LINE = re.compile(r"device `([^']+)' is a (.*)")


@pytest.fixture(scope="module")
def net():
    reason = avahi_missing("avahi-browse")
    if reason:
        pytest.skip(reason)
    with netns.lab() as lab:
        lab.add_pair("E", NET4, NET6)
        yield lab


@pytest.fixture(scope="module")
def sane_dir(tmp_path_factory) -> Path:
    return write_sane_dir(tmp_path_factory.mktemp("sane"), number_of_devices=1, **{"test-picture": '"Color pattern"'})


@pytest.fixture(scope="module")
def avahi(net, tmp_path_factory):
    """The client namespace's D-Bus system bus and avahi-daemon (on the client end of the veth pair)."""
    directory = tmp_path_factory.mktemp("avahi")
    bus = PrivateSystemBus(directory / "dbus")
    try:
        daemon = PrivateAvahi(net.cli_ns, net.pairs["E"].cli, bus.address, directory / "avahi")
        try:
            yield daemon
        finally:
            daemon.stop()
    finally:
        bus.stop()


@pytest.fixture(scope="module")
def service(net, sane_dir, tmp_path_factory):
    """The real service in the device namespace; returns once it announced its scanner."""
    config = tmp_path_factory.mktemp("config") / "config.toml"
    config.write_text(f'friendly_name = "{FRIENDLY_NAME}"\n')
    argv = [
        "env",
        f"SANE_CONFIG_DIR={sane_dir}",
        "PYTHONUNBUFFERED=1",
        sys.executable,
        "-m",
        "firmware",
        "--host",
        "",
        "--port",
        str(HTTP_PORT),
        "--state-dir",
        str(tmp_path_factory.mktemp("state")),
        "--config",
        str(config),
    ]
    process = Process(net.dev_ns, argv)
    try:
        if not process.wait_stderr(f"DNS-SD: announcing '{FRIENDLY_NAME}._uscan._tcp.local.'", 30):
            raise RuntimeError(f"the service did not announce its scanner; log:\n{process.stderr()}")
        yield process
    finally:
        process.terminate()


def in_client(net, avahi, *argv: str, sane_dir: Path | None = None, timeout: float = 180):
    """Run ``argv`` in the client namespace on the private D-Bus system bus (and ``SANE_CONFIG_DIR``)."""
    env = dict(avahi.env)
    if sane_dir is not None:
        env["SANE_CONFIG_DIR"] = str(sane_dir)
    return subprocess.run(
        netns_argv(net.cli_ns, *argv),
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def listed(net, avahi, client_dir: Path) -> dict[str, str]:
    """``scanimage -L`` in the client namespace: device name -> description."""
    result = in_client(net, avahi, "scanimage", "-L", sane_dir=client_dir, timeout=60)
    assert result.returncode == 0, result.stderr
    return {m[1]: m[2] for m in map(DEVICE_LINE.search, result.stdout.splitlines()) if m}


def unescape(field: str) -> str:
    """An avahi-browse -p field as text: ``\\032`` is the octet 32, ``\\.`` a dot."""
    octets = re.sub(rb"\\(\d{3}|.)", lambda m: bytes([int(m[1])]) if m[1].isdigit() else m[1], field.encode())
    return octets.decode("utf-8", "replace")


def browse(net, avahi) -> list[list[str]]:
    """``avahi-browse -rtp _uscan._tcp``: the resolved ("=") lines, split at ';', names unescaped."""
    result = in_client(net, avahi, "avahi-browse", "-rtp", "_uscan._tcp", timeout=30)
    assert result.returncode == 0, result.stderr
    rows = [line.split(";") for line in result.stdout.splitlines() if line.startswith("=")]
    return [[*row[:3], unescape(row[3]), *row[4:]] for row in rows]


def test_avahi_resolves_the_announcement_with_the_txt_keys(net, avahi, service):
    def both_families():
        rows = [r for r in browse(net, avahi) if r[3] == FRIENDLY_NAME]
        return rows if {r[2] for r in rows} == {"IPv4", "IPv6"} else None  # announced over IPv4 and IPv6

    rows = wait_for(both_families, 20, 0.5)
    _flag, _interface, _family, _name, service_type, _domain, host, address, port, txt = rows[0][:10]
    assert (service_type, address, port) == ("_uscan._tcp", DEVICE_V4, str(HTTP_PORT))
    assert host.endswith(".local") and host != "wsdtest-client.local"
    keys = dict(item.strip('"').split("=", 1) for item in re.findall(r'"[^"]*"', txt))
    assert keys["rs"] == "eSCL"  # the one scanner is the default one, also served at /eSCL
    assert keys["ty"] and keys["vers"] == "2.63" and keys["txtvers"] == "1"
    assert keys["is"] == "platen,adf" and keys["duplex"] == "F" and keys["cs"] == "color,grayscale"
    assert keys["pdl"] == "image/png,image/jpeg,application/pdf"
    assert keys["adminurl"] == f"http://{DEVICE_V4}:{HTTP_PORT}/scanners/test-0/eSCL/ScannerStatus"
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", keys["UUID"])


def test_sane_airscan_discovers_the_scanner_and_scans_through_it(net, avahi, service, sane_dir, tmp_path):
    client = airscan_escl_discovery_dir(tmp_path / "airscan")
    devices = wait_for(lambda: listed(net, avahi, client), 30, 1.0)
    name, description = next((d, text) for d, text in devices.items() if d.startswith("airscan:"))
    assert name == f"airscan:e0:{FRIENDLY_NAME}" and "eSCL" in description and f"ip={DEVICE_V4}" in description
    out = tmp_path / "discovered.png"
    result = in_client(
        net, avahi, "scanimage", "-d", name, "--mode", "Color", "--resolution", "75", "--format=png", "-o", str(out),
        sane_dir=client,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr + service.stderr()[-3000:]
    received = Image.open(out)
    direct = direct_scan(sane_dir, tmp_path / "direct.png", "--mode", "Color", "--resolution", "75", "--format=png")
    assert received.size == direct.size
    assert received.convert("RGB").tobytes() == direct.convert("RGB").tobytes()


def test_sane_escl_discovers_the_scanner_and_scans_through_it(net, avahi, service, sane_dir, tmp_path):
    client = sane_escl_discovery_dir(tmp_path / "escl")
    devices = wait_for(lambda: listed(net, avahi, client), 30, 1.0)
    name = f"escl:http://{DEVICE_V4}:{HTTP_PORT}"
    assert name in devices, devices
    out = tmp_path / "discovered.png"
    result = in_client(
        net, avahi, "scanimage", "-d", name, "--resolution", "150", "--format=png", "-o", str(out), sane_dir=client
    )
    assert result.returncode == 0, result.stderr + service.stderr()[-3000:]
    direct = direct_scan(sane_dir, tmp_path / "direct.png", "--resolution", "150", "--format=png")
    received = Image.open(out)
    assert received.size == direct.size
    assert close_to(received, as_jpeg(direct))  # a PDF of JPEG pages, as sane-backends' escl asks for it


def test_stopping_the_service_withdraws_the_announcement(net, avahi, service):
    assert any(r[3] == FRIENDLY_NAME for r in browse(net, avahi))
    service.terminate()  # SIGTERM: the service sends its goodbye packets before it exits
    assert service.proc.returncode == 0
    wait_for(lambda: not any(r[3] == FRIENDLY_NAME for r in browse(net, avahi)), 15, 0.5)
