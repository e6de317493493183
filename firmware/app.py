"""Application wiring: scanners -> scan services and device endpoints -> HTTP routes.

Every SANE scanner found becomes one WSD device: a scan service at
``/scanners/<slug>`` (slug = the SANE device name with characters other than
letters, digits, '.', '_' and '-' replaced by '-') and a device endpoint (the
XAddr answering WS-Transfer Get) at ``/<device uuid>``, with a persistent
identity in the state directory. Scanners can be added and removed while
serving (:meth:`App.add_scanner`, :meth:`App.remove_scanner`): the paths live
in a :class:`~firmware.wire.router.SoapRouter`, which also refuses clients
outside the configuration's ``allow`` list with HTTP 403. The HTTP server is
bound before the event loop serves anything, so a busy port fails start-up
with one clear message.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import re
import socket
from dataclasses import dataclass, field

import tornado.netutil

from drivers.base import Capabilities, Scanner, ScannerError, ScannerInfo

from . import __version__
from .config import Config, ScannerOverrides
from .dpws import DeviceMetadata, DiscoveredDevice, load_identity
from .dpws.endpoint import device_operations
from .dpws.metadata import MAX_FIELD_SIZE, default_friendly_name
from .escl import EsclService
from .escl.routes import EsclRoutes
from .jobs.ids import JobIdAllocator
from .jobs.manager import JobTable
from .naming import NameNumbers, numbered
from .pushscan import PushScan, attach_push
from .pushscan.http import PushHandler
from .scan.eventsource import EventSource, attach_eventing
from .scan.service import ScanService, ServiceSettings
from .scan.spool import Spool
from .state import StateStore
from .web import WebPage, attach_web
from .wire.access import AllowList
from .wire.handler import MAX_REQUEST_BYTES
from .wire.router import SoapRouter
from .wire.server import LimitedHTTPServer, ServerLimits

log = logging.getLogger(__name__)


def device_metadata(info: ScannerInfo, friendly_name: str | None, name_number: int = 1) -> DeviceMetadata:
    """DPWS metadata of a scanner: manufacturer and model from SANE, the USB id as PnP-X HardwareId;
    the configured ``friendly_name``, else the default one numbered with ``name_number``
    (:mod:`firmware.naming`)."""
    model = info.model or info.name
    friendly_name = friendly_name or numbered(default_friendly_name(model), name_number, MAX_FIELD_SIZE - 1)
    hardware_id = ""
    if info.usb_id:
        vendor, product = info.usb_id.upper().split(":")
        hardware_id = f"VEN_{vendor}&DEV_{product}"
    return DeviceMetadata(
        manufacturer=info.vendor or "Unknown",
        model=model,
        friendly_name=friendly_name,
        firmware_version=__version__,
        serial_number=info.name,
        hardware_id=hardware_id,
    )


def service_settings(config: Config, overrides: ScannerOverrides, name_number: int = 1) -> ServiceSettings:
    """The scan service settings of one scanner: the configuration's formats, JPEG quality,
    job timeout, page memory budget (``max_page_mib``) and transfer stall timeout, and its friendly name (the
    scanner's own one first; without one the default name numbered with ``name_number``,
    :mod:`firmware.naming`)."""
    return ServiceSettings(
        formats=config.formats,
        jpeg_quality=config.jpeg_quality,
        job_timeout=config.job_timeout,
        friendly_name=overrides.friendly_name or config.friendly_name,
        name_number=name_number,
        max_page_bytes=config.max_page_mib * 1024 * 1024,
        stall_timeout=config.stall_timeout,
    )


def served_capabilities(caps: Capabilities, overrides: ScannerOverrides) -> Capabilities:
    """What the driver reports, with the configured default resolution (dpi) when one is set."""
    if overrides.default_resolution is not None:
        return dataclasses.replace(caps, default_resolution=overrides.default_resolution)
    return caps


def slug(sane_name: str) -> str:
    """The URL path segment of a scanner: ``test:0`` -> ``test-0``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", sane_name).strip("-") or "scanner"


def scan_path(sane_name: str) -> str:
    """The scan service's URL path for a scanner."""
    return f"/scanners/{slug(sane_name)}"


def page_anchor(path: str) -> str:
    """The status page's anchor of the scanner served at ``path`` (its last segment: ``test-0``),
    the fragment of its PresentationUrl (:mod:`firmware.web`)."""
    return path.rsplit("/", 1)[-1]


@dataclass(eq=False)
class ServedScanner:
    """One scanner as served: its driver, scan service, scan service URL path, DPWS device,
    event source (WS-Eventing on the scan service path) and scan to PC (its HTTP trigger at
    ``<path>/push``)."""

    scanner: Scanner
    service: ScanService
    path: str
    device: DiscoveredDevice
    events: EventSource
    push: PushScan | None = None
    escl: EsclService | None = None
    wsd: bool = True

    @property
    def push_path(self) -> str:
        """The URL path of the scan-to-PC HTTP trigger (``/scanners/<slug>/push``)."""
        return self.path + "/push"

    @property
    def name(self) -> str:
        """The SANE device name (``test:0``)."""
        return self.scanner.info.name


@dataclass(eq=False)
class App:
    """The running application: the HTTP server and the scanners served now.

    Scanners are added and removed while serving (:meth:`add_scanner`,
    :meth:`remove_scanner`; USB hotplug in :mod:`firmware.hotplug`); every
    scanner shares the JobId counter ``ids``, the image encoding ``executor``, the ``spool`` of
    sides being sent (:mod:`firmware.scan.spool`) and the
    default friendly name numbers ``names`` (:mod:`firmware.naming`).
    """

    config: Config
    scanners: list[ServedScanner] = field(default_factory=list)
    server: LimitedHTTPServer | None = None
    sockets: list[socket.socket] = field(default_factory=list)
    """Bound listening sockets not accepting yet (see :func:`build_app`)."""
    executor: concurrent.futures.ThreadPoolExecutor | None = None
    ids: JobIdAllocator | None = None
    names: NameNumbers | None = None
    router: SoapRouter = field(default_factory=SoapRouter)
    escl_routes: EsclRoutes | None = None
    web: WebPage | None = None
    spool: Spool | None = None

    def urls(self, host: str, scanners: list[ServedScanner] | None = None) -> list[tuple[ServedScanner, str]]:
        """The full scan service URL of every scanner (or of ``scanners``) with WSD on, for clients reaching us at ``host``."""
        authority = f"[{host}]" if ":" in host else host
        chosen = self.scanners if scanners is None else scanners
        return [(s, f"http://{authority}:{self.config.http_port}{s.path}") for s in chosen if s.wsd]

    def escl_urls(self, host: str, scanners: list[ServedScanner] | None = None) -> list[tuple[ServedScanner, str]]:
        """The eSCL base URL (``http://H:P/scanners/<slug>/eSCL``) of every scanner (or of ``scanners``) with eSCL on."""
        authority = f"[{host}]" if ":" in host else host
        chosen = self.scanners if scanners is None else scanners
        return [(s, f"http://{authority}:{self.config.http_port}{s.escl.base}") for s in chosen if s.escl]

    def find(self, sane_name: str) -> ServedScanner | None:
        """The served scanner with SANE device name ``sane_name``, or None."""
        return next((s for s in self.scanners if s.name == sane_name), None)

    async def add_scanner(self, scanner: Scanner) -> ServedScanner | None:
        """Serve ``scanner``: its scan service at ``/scanners/<slug>`` and its device endpoint at
        ``/<device uuid>``, answering at once (REFERENCE.md section 4.3).

        Returns the :class:`ServedScanner`, or None when the scanner cannot report its
        capabilities (logged; the scanner is shut down) or one with the same SANE name
        is served already. A slug taken by another name gets a ``-2``, ``-3``... suffix.
        Raises :class:`~firmware.dpws.identity.IdentityError` when an identity counter is exhausted (a state directory that cannot be written is not an error: state is kept in memory).
        """
        config = self.config
        info = scanner.info
        if self.find(info.name) is not None:
            log.error("scanner %s is served already", info.name)
            return None
        if self.ids is None:
            self.ids = JobIdAllocator(StateStore(config.state_dir))
        if self.executor is None:
            self.executor = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="encode")
        if self.spool is None:
            self.spool = Spool(config.spool_dir, config.spool_mib << 20)
        overrides = config.overrides_for(info.name, info.usb_id)
        try:
            caps = served_capabilities(await scanner.capabilities(), overrides)
        except ScannerError as error:
            log.error("scanner %s skipped: %s", info.name, error.message)
            await scanner.shutdown()
            return None
        if self.names is None:
            self.names = NameNumbers(StateStore(config.state_dir))
        name_number = self.names.number(info.vendor, info.model, info.stable_key)
        settings = service_settings(config, overrides, name_number)
        service = ScanService(
            scanner, caps, JobTable(self.ids, config.history_size), settings, self.executor, self.spool
        )
        path = self._free_path(scan_path(info.name))
        identity = load_identity(config.state_dir, info.stable_key, former_key=info.name)
        metadata = device_metadata(info, settings.friendly_name, name_number)
        identity.update_metadata(metadata.digest([path]))
        device = DiscoveredDevice(identity, path="/" + identity.endpoint.removeprefix("urn:uuid:"))
        served = ServedScanner(scanner, service, path, device, attach_eventing(service, path, config.eventing))
        served.push = attach_push(service, served.events, overrides.buttons, config.push_identifier_timeout)
        served.wsd = overrides.wsd
        if overrides.wsd:
            self.router.add(path, {**service.operations(), **served.events.operations()})
            self.router.add_handler(served.push_path, PushHandler, {"push": served.push})
            self.router.add(device.path, device_operations(device, metadata, path, page_anchor(path)))
        if overrides.escl:
            make_and_model = f"{metadata.manufacturer} {metadata.model}".strip()
            served.escl = EsclService(
                service, path + "/eSCL", identity.endpoint.removeprefix("urn:uuid:"), make_and_model, info.name
            )
            if self.escl_routes is None:
                self.escl_routes = EsclRoutes(self.router)
            self.escl_routes.add(served.escl)
        self.scanners.append(served)
        if self.web is not None:
            self.web.watch(served)
        return served

    def friendly_name(self, served: ServedScanner) -> str:
        """The name ``served`` is shown by: the configured one, else its numbered default
        (the same as its DPWS FriendlyName; the DNS-SD instance name of its eSCL service)."""
        settings = served.service.settings
        return device_metadata(served.scanner.info, settings.friendly_name, settings.name_number).friendly_name

    def update_metadata(self, served: ServedScanner) -> bool:
        """Serve ``served``'s DPWS metadata as the configuration gives it now (the friendly
        name may have changed): the device endpoint answers with the new metadata, and
        MetadataVersion is incremented when it differs. Returns True when it was (the
        caller announces the device again with Hello, WS-Discovery section 4.1).
        Raises :class:`~firmware.dpws.identity.IdentityError` when an identity counter is exhausted (a state
        directory that cannot be written is not an error: state is kept in memory)."""
        if not served.wsd:
            return False
        settings = served.service.settings
        metadata = device_metadata(served.scanner.info, settings.friendly_name, settings.name_number)
        bumped = served.device.identity.update_metadata(metadata.digest([served.path]))
        self.router.remove(served.device.path)
        self.router.add(
            served.device.path, device_operations(served.device, metadata, served.path, page_anchor(served.path))
        )
        return bumped

    async def remove_scanner(self, served: ServedScanner, error: ScannerError | None = None) -> None:
        """Stop serving ``served``: its two paths answer HTTP 404 from now on, its active job
        ends (as ``error`` would end it, e.g. DEVICE_GONE: Aborted, JobCompletedWithErrors +
        ScannerStopped; see :meth:`ScanService.shutdown`) and its driver is shut down.
        Never raises; nothing happens for a scanner not served."""
        if served not in self.scanners:
            return
        self.scanners.remove(served)
        self.router.remove(served.path)
        self.router.remove(served.push_path)
        self.router.remove(served.device.path)
        if served.escl is not None and self.escl_routes is not None:
            self.escl_routes.remove(served.escl)
        served.scanner.watch_buttons(None)
        await served.service.shutdown(error)
        await served.events.close()  # SubscriptionEnd after the last job events
        if self.web is not None:
            self.web.broadcaster.kick()

    def _free_path(self, path: str) -> str:
        taken = set(self.router.paths)
        candidate, number = path, 1
        while candidate in taken:
            number += 1
            candidate = f"{path}-{number}"
        return candidate

    def accept(self) -> None:
        """Start accepting connections on the sockets :func:`build_app` bound (no-op after the first call)."""
        sockets, self.sockets = self.sockets, []
        if sockets and self.server is not None:
            self.server.add_sockets(sockets)

    async def stop(self) -> None:
        """Stop serving, abort running jobs and stop the scanner workers."""
        for sock in self.sockets:  # bound but never accepting
            sock.close()
        self.sockets = []
        if self.server is not None:
            self.server.stop()
        if self.web is not None:
            self.web.close()
        for served in list(self.scanners):
            await served.service.shutdown()
            await served.events.close()
        if self.executor is not None:
            self.executor.shutdown(wait=False, cancel_futures=True)


def server_limits(config: Config) -> ServerLimits:
    """The HTTP server's connection cap and timeouts from the configuration."""
    return ServerLimits(config.max_connections, config.idle_timeout, config.body_timeout)


async def build_app(config: Config, scanners: list[Scanner], *, accept: bool = True) -> App:
    """Serve ``scanners`` (see :meth:`App.add_scanner`) on ``config.host:http_port``.

    The status page is served at ``/`` (:mod:`firmware.web`).
    The port is bound here; connections are accepted from now on, or with
    ``accept=False`` only from :meth:`App.accept` on (until then clients wait in
    the kernel's backlog rather than get 404 for scanners not enumerated yet).
    Clients outside ``config.allow`` get HTTP 403 on every path; connections are capped
    and timed out as configured (:mod:`firmware.wire.server`). Scanners that fail
    to report capabilities are logged and skipped. Raises OSError when the port
    cannot be bound.
    """
    app = App(config=config, router=SoapRouter(AllowList(config.allow)))
    app.escl_routes = EsclRoutes(app.router)
    app.web = attach_web(app)
    for scanner in scanners:
        await app.add_scanner(scanner)
    app.server = LimitedHTTPServer(
        app.router.application, limits=server_limits(config), max_body_size=MAX_REQUEST_BYTES * 16
    )
    app.sockets = tornado.netutil.bind_sockets(config.http_port, config.host or None)
    if accept:
        app.accept()
    return app
