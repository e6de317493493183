"""The DNS-SD announcement of the eSCL scanners: TXT records, instance names, and a python-zeroconf
browser on loopback that finds the service, reads its TXT record, fetches ScannerCapabilities
from the address and ``rs`` it announces, and sees the goodbye when the scanner goes away.

Multicast DNS runs on 127.0.0.1 only (loopback; no root needed): the announcer is started on the
``lo`` interface by :meth:`DnssdAnnouncer.start_on`, the browser is a second python-zeroconf
instance bound to 127.0.0.1. Each test announces a host name and UUIDs of its own and looks only
at them, so a concurrent run on the same host cannot confuse it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import uuid
from pathlib import Path

import pytest
from tornado.httpclient import AsyncHTTPClient
from zeroconf import IPVersion, ServiceStateChange
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from drivers.base import Capabilities, ColorMode, ScannerInfo, Source, SourceCapabilities
from drivers.fake import DEFAULT_CAPABILITIES, FakeScanner
from firmware.app import build_app
from firmware.config import Config, ScannerOverrides
from firmware.dpws.interfaces import IFF_LOOPBACK, IFF_MULTICAST, IFF_RUNNING, IFF_UP, Interface, InterfaceAddress
from firmware.escl.dnssd import DnssdAnnouncer, allowed_addresses, host_label, record_addresses
from firmware.escl.model import ESCL_VERSION, ScannerCapabilities
from firmware.escl.txt import MAX_INSTANCE_OCTETS, SERVICE_TYPE, instance_name, txt_record
from firmware.hotplug import Hotplug
from firmware.wire.access import AllowList
from firmware.wire.xml import parse_xml
from tests.servers import free_port

FLATBED_ONLY = Capabilities(
    sources={Source.FLATBED: SourceCapabilities((75, 300), (ColorMode.GRAY, ColorMode.LINEART), 215.9, 297.0)},
    default_resolution=75,
    default_mode=ColorMode.GRAY,
)


def loopback() -> Interface:
    """``lo`` with 127.0.0.1, as the announcer sees an interface."""
    return Interface(
        socket.if_nametoindex("lo"),
        "lo",
        IFF_UP | IFF_RUNNING | IFF_LOOPBACK | IFF_MULTICAST,
        (InterfaceAddress(socket.AF_INET, "127.0.0.1", 8),),
    )


def config(tmp_path: Path, **values) -> Config:
    return dataclasses.replace(
        Config(), host="127.0.0.1", http_port=free_port(), state_dir=tmp_path / "state", **values
    )


def fake(name: str, model: str = "Scanner 1", capabilities: Capabilities = DEFAULT_CAPABILITIES) -> FakeScanner:
    return FakeScanner(ScannerInfo(name=name, vendor="Fake", model=model, type="flatbed scanner"), capabilities)


# --- TXT records and names (no network) -------------------------------------------------------


def test_txt_record_of_a_flatbed_adf_duplex_scanner(tmp_path):
    async def main():
        app = await build_app(config(tmp_path), [fake("fake:0")])
        try:
            escl = app.scanners[0].escl
            assert escl is not None
            return escl, txt_record(escl, "http://198.18.0.2:5358/scanners/fake-0/eSCL/ScannerStatus")
        finally:
            await app.stop()

    escl, txt = asyncio.run(main())
    assert txt == {
        "txtvers": "1",
        "vers": ESCL_VERSION,
        "ty": "Fake Scanner 1",
        "rs": "scanners/fake-0/eSCL",
        "UUID": escl.uuid,
        "cs": "color,grayscale",
        "is": "platen,adf",
        "duplex": "T",
        "pdl": "image/png,image/jpeg,application/pdf",
        "adminurl": "http://198.18.0.2:5358/scanners/fake-0/eSCL/ScannerStatus",
    }
    assert not escl.uuid.startswith("urn:") and str(uuid.UUID(escl.uuid)) == escl.uuid
    caps = escl.capabilities()
    assert (caps.uuid, caps.make_and_model, caps.version) == (txt["UUID"], txt["ty"], txt["vers"])


def test_txt_record_follows_sources_modes_and_formats(tmp_path):
    async def main():
        app = await build_app(config(tmp_path, formats=("png",)), [fake("fake:0", capabilities=FLATBED_ONLY)])
        try:
            assert app.scanners[0].escl is not None and app.escl_routes is not None
            assert app.escl_routes.default is app.scanners[0].escl
            assert txt_record(app.scanners[0].escl, at_root=True)["rs"] == "eSCL"
            return txt_record(app.scanners[0].escl)
        finally:
            await app.stop()

    txt = asyncio.run(main())
    assert (txt["cs"], txt["is"], txt["duplex"], txt["pdl"]) == ("grayscale,binary", "platen", "F", "image/png")
    assert txt["rs"] == "scanners/fake-0/eSCL"
    assert "adminurl" not in txt and "representation" not in txt  # no icon is served


def test_instance_names_are_unique_and_fit_a_dns_label():
    assert instance_name("Office", []) == "Office"
    assert instance_name("Office", ["office"]) == "Office (2)"  # DNS compares names without case
    assert instance_name("Office", ["Office", "Office (2)"]) == "Office (3)"
    assert instance_name("  ", []) == "Scanner"
    long = "Ä" * 40  # 80 octets of UTF-8
    cut = instance_name(long, [])
    assert cut == "Ä" * 31 and len(cut.encode()) <= MAX_INSTANCE_OCTETS
    numbered = instance_name(long, [cut])
    assert numbered.endswith(" (2)") and len(numbered.encode()) <= MAX_INSTANCE_OCTETS


def test_host_label_is_a_dns_label_unique_per_machine(tmp_path):
    machine = tmp_path / "machine-id"
    machine.write_text("0123456789abcdef0123456789abcdef\n")
    label = host_label("my_pi.lan", machine)
    assert label.startswith("my-pi-") and len(label) == len("my-pi-") + 6
    other = tmp_path / "other-id"
    other.write_text("fedcba9876543210fedcba9876543210\n")
    assert host_label("my_pi", other) != label


def test_an_allow_list_chooses_the_families_announced():
    v4 = (InterfaceAddress(socket.AF_INET, "198.18.5.2", 24),)
    v6 = (InterfaceAddress(socket.AF_INET6, "fe80::2", 64), InterfaceAddress(socket.AF_INET6, "fd00:5::2", 64))
    assert allowed_addresses(v4, AllowList()) == v4
    assert allowed_addresses(v4, AllowList(["198.18.0.0/15"])) == v4
    assert allowed_addresses(v4, AllowList(["10.0.0.0/8"])) == ()
    assert allowed_addresses(v6, AllowList(["198.18.0.0/15"])) == ()
    assert allowed_addresses(v6, AllowList(["fd00::/8"])) == v6  # the link-local address goes with its interface


def test_link_local_ipv6_addresses_are_announced_only_without_a_routable_one():
    v4 = InterfaceAddress(socket.AF_INET, "198.18.5.2", 24)
    local = InterfaceAddress(socket.AF_INET6, "fe80::2", 64)
    ula = InterfaceAddress(socket.AF_INET6, "fd00:5::2", 64)
    assert record_addresses([v4, local, ula]) == [v4, ula]
    assert record_addresses([local, v4]) == [local, v4]


# --- announced on loopback, found by a python-zeroconf browser ----------------------------------


class Browser:
    """A python-zeroconf browser of ``_uscan._tcp`` on 127.0.0.1: ``events`` lists
    ``("added" | "updated" | "removed", instance name)`` for the services on ``server`` (others are
    ignored); ``infos`` holds the latest record of each."""

    def __init__(self, server: str) -> None:
        self.server = server
        self.zeroconf = AsyncZeroconf(interfaces=["127.0.0.1"], ip_version=IPVersion.V4Only)
        self.events: list[tuple[str, str]] = []
        self.infos: dict[str, AsyncServiceInfo] = {}
        self._tasks: set[asyncio.Task] = set()
        self.browser = AsyncServiceBrowser(self.zeroconf.zeroconf, [SERVICE_TYPE], handlers=[self._changed])

    def _changed(self, zeroconf, service_type: str, name: str, state_change: ServiceStateChange) -> None:
        task = asyncio.get_running_loop().create_task(self._note(name, state_change))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _note(self, name: str, change: ServiceStateChange) -> None:
        short = name.removesuffix("." + SERVICE_TYPE)
        if change is ServiceStateChange.Removed:
            if short in self.infos:
                self.events.append(("removed", short))
            return
        info = AsyncServiceInfo(SERVICE_TYPE, name)
        if await info.async_request(self.zeroconf.zeroconf, 3000) and info.server == self.server:
            self.infos[short] = info
            self.events.append(("added" if change is ServiceStateChange.Added else "updated", short))

    async def wait(self, predicate, timeout: float = 10.0) -> None:
        """Wait until ``predicate()`` holds; AssertionError with the events after ``timeout`` s."""
        for _ in range(int(timeout / 0.05)):
            if predicate():
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"not seen within {timeout} s; events: {self.events}")

    async def close(self) -> None:
        await self.browser.async_cancel()
        for task in list(self._tasks):
            task.cancel()
        await self.zeroconf.async_close()


def txt_of(info: AsyncServiceInfo) -> dict[str, str]:
    return {key.decode(): (value or b"").decode() for key, value in info.properties.items()}


def test_a_browser_finds_the_scanner_reads_its_capabilities_and_sees_it_withdrawn(tmp_path):
    hostname = f"dnssdtest{uuid.uuid4().hex[:8]}"
    cfg = config(tmp_path)

    async def main():
        app = await build_app(cfg, [fake("fake:0")])
        announcer = DnssdAnnouncer(cfg.http_port, families=(socket.AF_INET,), hostname=hostname)
        browser = Browser(f"{hostname}.local.")
        try:
            await announcer.start_on([loopback()])
            served = app.scanners[0]
            assert served.escl is not None
            name = await announcer.add(served.escl, app.friendly_name(served))
            await browser.wait(lambda: ("added", name) in browser.events)
            info = browser.infos[name]
            txt = txt_of(info)
            assert txt["UUID"] == served.escl.uuid and txt["rs"] == "scanners/fake-0/eSCL"
            assert txt["adminurl"] == f"http://127.0.0.1:{cfg.http_port}/scanners/fake-0/eSCL/ScannerStatus"
            assert info.parsed_addresses() == ["127.0.0.1"] and info.port == cfg.http_port
            # what a client does next: ScannerCapabilities at http://<address>:<port>/<rs>/
            url = f"http://{info.parsed_addresses()[0]}:{info.port}/{txt['rs']}/ScannerCapabilities"
            response = await AsyncHTTPClient().fetch(url)
            caps = ScannerCapabilities.from_xml(parse_xml(response.body))
            assert caps.uuid == txt["UUID"] and caps.make_and_model == txt["ty"]
            assert announcer.announced == [("lo", name)]
            await announcer.remove(served.escl)
            await browser.wait(lambda: ("removed", name) in browser.events)  # the goodbye, not a TTL running out
            assert announcer.announced == []
        finally:
            await browser.close()
            await announcer.stop()
            await app.stop()

    asyncio.run(main())


@pytest.mark.parametrize("escl_off", [False, True])
def test_two_identical_scanners_get_two_names_and_hotplug_withdraws_one(tmp_path, escl_off):
    """Two scanners of one model: two instances with distinct names; the one unplugged says
    goodbye, the other stays and, now the default scanner (served at /eSCL), is announced with
    rs=eSCL. A scanner with eSCL off is not announced at all."""
    hostname = f"dnssdtest{uuid.uuid4().hex[:8]}"
    overrides = {"fake:2": {"escl": False}} if escl_off else {}
    cfg = config(tmp_path, scanners={k: ScannerOverrides(**v) for k, v in overrides.items()})
    listed = [ScannerInfo("fake:0", "Fake", "Twin", "flatbed"), ScannerInfo("fake:1", "Fake", "Twin", "flatbed")]
    if escl_off:
        listed.append(ScannerInfo("fake:2", "Fake", "Twin", "flatbed"))

    async def list_scanners():
        return list(listed)

    async def main():
        app = await build_app(cfg, [])
        announcer = DnssdAnnouncer(cfg.http_port, families=(socket.AF_INET,), hostname=hostname, routes=app.escl_routes)
        browser = Browser(f"{hostname}.local.")
        hotplug = Hotplug(
            app, None, dnssd=announcer, list_scanners=list_scanners, make_scanner=lambda i: FakeScanner(i)
        )
        try:
            await announcer.start_on([loopback()])
            await hotplug.reconcile()
            names = dict(announcer.services.items())
            first, second = (names[s.escl] for s in app.scanners[:2] if s.escl is not None)
            assert first != second and {first, second} == {app.friendly_name(s) for s in app.scanners[:2]}
            await browser.wait(lambda: {("added", first), ("added", second)} <= set(browser.events))
            assert len(announcer.services) == 2  # fake:2 (eSCL off) is served over WSD only
            assert {txt_of(i)["UUID"] for i in browser.infos.values()} == {
                s.escl.uuid for s in app.scanners if s.escl is not None
            }
            assert txt_of(browser.infos[first])["rs"] == "eSCL"  # fake:0 is served at /eSCL too
            assert txt_of(browser.infos[second])["rs"] == "scanners/fake-1/eSCL"
            del listed[0]  # fake:0 unplugged
            await hotplug.reconcile()
            await browser.wait(lambda: ("removed", first) in browser.events)
            assert ("removed", second) not in browser.events
            await browser.wait(lambda: txt_of(browser.infos[second])["rs"] == "eSCL")  # /eSCL moved to fake:1
            assert [name for _lo, name in announcer.announced] == [second]
        finally:
            await hotplug.stop()
            await browser.close()
            await announcer.stop()
            await app.stop()

    asyncio.run(main())


def test_interfaces_are_chosen_like_ws_discovery(mocker):
    """The kernel's interface list is the only stand-in: the selection rules are the announcer's own."""
    up = IFF_UP | IFF_RUNNING | IFF_MULTICAST
    eth0 = Interface(
        2,
        "eth0",
        up,
        (
            InterfaceAddress(socket.AF_INET, "198.18.5.2", 24),
            InterfaceAddress(socket.AF_INET6, "fd00:5::2", 64),
        ),
    )
    wlan0 = Interface(3, "wlan0", up, (InterfaceAddress(socket.AF_INET, "198.18.6.2", 24),))
    docker0 = Interface(4, "docker0", up, (InterfaceAddress(socket.AF_INET, "172.17.0.1", 16),))
    down = Interface(5, "eth1", IFF_MULTICAST, (InterfaceAddress(socket.AF_INET, "198.18.7.2", 24),))
    lo = Interface(1, "lo", IFF_UP | IFF_RUNNING | IFF_LOOPBACK, (InterfaceAddress(socket.AF_INET, "127.0.0.1", 8),))
    mocker.patch("firmware.escl.dnssd.read_interfaces", return_value=[lo, eth0, wlan0, docker0, down])

    def chosen(**options) -> dict[str, tuple[str, ...]]:
        announcer = DnssdAnnouncer(5358, hostname="x", **options)
        return {i.name: tuple(a.address for a in addresses) for i, addresses in announcer._wanted().values()}

    assert chosen() == {"eth0": ("198.18.5.2", "fd00:5::2"), "wlan0": ("198.18.6.2",)}
    assert chosen(families=(socket.AF_INET,)) == {"eth0": ("198.18.5.2",), "wlan0": ("198.18.6.2",)}
    assert chosen(interfaces_allow=["wlan*"]) == {"wlan0": ("198.18.6.2",)}
    assert chosen(interfaces_deny=["eth0"]) == {"wlan0": ("198.18.6.2",)}
    assert chosen(allow=AllowList(["198.18.6.0/24"])) == {"wlan0": ("198.18.6.2",)}
    assert chosen(allow=AllowList(["fd00::/8"])) == {"eth0": ("fd00:5::2",)}
