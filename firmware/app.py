"""Application wiring: scanners -> scan services and device endpoints -> HTTP routes.

Every SANE scanner found becomes one WSD device: a scan service at
``/scanners/<slug>`` (slug = the SANE device name with characters other than
letters, digits, '.', '_' and '-' replaced by '-') and a device endpoint (the
XAddr answering WS-Transfer Get) at ``/<device uuid>``, with a persistent
identity in the state directory. The HTTP server is bound before the event loop
serves anything, so a busy port fails start-up with one clear message.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import re
from dataclasses import dataclass, field

import tornado.httpserver
import tornado.web

from drivers.base import Scanner, ScannerError, ScannerInfo

from . import __version__

from .config import Config
from .dpws import DeviceMetadata, DiscoveredDevice, load_identity
from .dpws.endpoint import device_operations
from .jobs.ids import JobIdAllocator
from .jobs.manager import JobTable
from .scan.service import ScanService, ServiceSettings
from .state import StateStore
from .wire.handler import MAX_REQUEST_BYTES, SoapHandler

log = logging.getLogger(__name__)


def device_metadata(info: ScannerInfo, friendly_name: str | None) -> DeviceMetadata:
    """DPWS metadata of a scanner: manufacturer and model from SANE, the USB id as PnP-X HardwareId."""
    hardware_id = ""
    if info.usb_id:
        vendor, product = info.usb_id.upper().split(":")
        hardware_id = f"VEN_{vendor}&DEV_{product}"
    return DeviceMetadata(
        manufacturer=info.vendor or "Unknown",
        model=info.model or info.name,
        friendly_name=friendly_name or "",
        firmware_version=__version__,
        serial_number=info.name,
        hardware_id=hardware_id,
    )


def slug(sane_name: str) -> str:
    """The URL path segment of a scanner: ``test:0`` -> ``test-0``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", sane_name).strip("-") or "scanner"


def scan_path(sane_name: str) -> str:
    """The scan service's URL path for a scanner."""
    return f"/scanners/{slug(sane_name)}"


@dataclass
class ServedScanner:
    """One scanner as served: its driver, scan service and URL path."""

    scanner: Scanner
    service: ScanService
    path: str
    device: DiscoveredDevice


@dataclass
class App:
    """The running application: HTTP server plus the served scanners."""

    config: Config
    scanners: list[ServedScanner] = field(default_factory=list)
    server: tornado.httpserver.HTTPServer | None = None
    executor: concurrent.futures.ThreadPoolExecutor | None = None

    def urls(self, host: str) -> list[tuple[ServedScanner, str]]:
        """The full scan service URL of every scanner for clients reaching us at ``host``."""
        authority = f"[{host}]" if ":" in host else host
        return [(s, f"http://{authority}:{self.config.http_port}{s.path}") for s in self.scanners]

    async def stop(self) -> None:
        """Stop serving, abort running jobs and stop the scanner workers."""
        if self.server is not None:
            self.server.stop()
        for served in self.scanners:
            await served.service.shutdown()
        if self.executor is not None:
            self.executor.shutdown(wait=False, cancel_futures=True)


async def build_app(config: Config, scanners: list[Scanner]) -> App:
    """Create the scan services for ``scanners`` and start listening on ``config.host:http_port``.

    Scanners that fail to report capabilities are logged and skipped.
    Raises OSError when the port cannot be bound.
    """
    store = StateStore(config.state_dir)
    ids = JobIdAllocator(store)
    app = App(config=config, executor=concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="encode"))
    routes = []
    for scanner in scanners:
        overrides = config.overrides_for(scanner.info.name, scanner.info.usb_id)
        try:
            caps = await scanner.capabilities()
        except ScannerError as error:
            log.error("scanner %s skipped: %s", scanner.info.name, error.message)
            await scanner.shutdown()
            continue
        if overrides.default_resolution is not None:
            caps = dataclasses.replace(caps, default_resolution=overrides.default_resolution)
        settings = ServiceSettings(
            formats=config.formats,
            jpeg_quality=config.jpeg_quality,
            job_timeout=config.job_timeout,
            friendly_name=overrides.friendly_name or config.friendly_name,
        )
        service = ScanService(scanner, caps, JobTable(ids, config.history_size), settings, app.executor)
        path = scan_path(scanner.info.name)
        identity = load_identity(config.state_dir, scanner.info.name)
        metadata = device_metadata(scanner.info, settings.friendly_name)
        identity.update_metadata(metadata.digest([path]))
        device = DiscoveredDevice(identity, path="/" + identity.endpoint.removeprefix("urn:uuid:"))
        served = ServedScanner(scanner, service, path, device)
        app.scanners.append(served)
        routes.append((path, SoapHandler, dict(operations=service.operations())))
        routes.append((device.path, SoapHandler, dict(operations=device_operations(device, metadata, path))))
    application = tornado.web.Application(routes)
    app.server = tornado.httpserver.HTTPServer(application, max_body_size=MAX_REQUEST_BYTES * 16, idle_connection_timeout=120)
    app.server.listen(config.http_port, config.host)
    return app

