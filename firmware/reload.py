"""What a configuration reload changes while serving (SIGHUP, ``systemctl reload``).

:func:`apply_config` takes a freshly loaded :class:`~firmware.config.Config`
and brings the running service in line with it, without dropping a client:

* per served scanner: its SANE options (the driver restarts its worker before
  the next session, after the job running now), its capabilities read again
  when the options changed, its default resolution, friendly name, formats,
  JPEG quality, job timeout and history size. When ScannerDescription,
  ScannerConfiguration or DefaultScanTicket change, subscribers get a
  ScannerElementsChangeEvent (:meth:`firmware.scan.service.ScanService.reconfigure`);
  when the DPWS metadata changes (the friendly name), MetadataVersion is
  incremented and the devices are announced again with Hello;
* the DNS-SD announcement of the eSCL services (instance name, TXT record, the interfaces
  the allow-list permits);
* the allow-list (HTTP, WS-Discovery and DNS-SD), ``trace_soap``, and the
  ``[eventing]`` limits for subscriptions made from now on.

Scanners newly ``disabled`` are withdrawn, and newly enabled ones served, by the
SANE re-enumeration that follows a reload (:meth:`firmware.hotplug.Hotplug.trigger`).
What needs a new listening socket or worker processes started afresh
(:data:`RESTART_KEYS`) keeps its old value until the service restarts; the
reload says so in the log.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import TYPE_CHECKING

from drivers.base import ScannerError

from .app import App, ServedScanner, served_capabilities, service_settings
from .config import Config
from .dpws import DiscoveryService
from .dpws.identity import IdentityError
from .wire.access import AllowList
from .wire.handler import set_soap_tracing

if TYPE_CHECKING:
    from .escl.dnssd import DnssdAnnouncer

log = logging.getLogger(__name__)

RESTART_KEYS = (
    "host",
    "http_port",
    "interfaces",
    "state_dir",
    "discovery",
    "dnssd",
    "worker_timeout",
    "max_connections",
    "idle_timeout",
    "body_timeout",
)
"""Configuration keys a reload cannot apply: they take effect at the next start."""

IDLE_WAIT = 3600.0
"""Seconds a scanner whose SANE options changed may stay busy with its job before the
reload stops waiting to read its capabilities again (they are then read at its next job)."""


async def apply_config(
    app: App, config: Config, discovery: DiscoveryService | None = None, dnssd: DnssdAnnouncer | None = None
) -> tuple[str, ...]:
    """Serve with ``config`` from now on (see the module docstring).

    ``discovery``: the running WS-Discovery service, announced again when a
    device's metadata changed; ``dnssd``: the running DNS-SD announcer, told the new
    allow-list, names and TXT records. Returns the :data:`RESTART_KEYS` whose new value
    waits for a restart. Never raises: a scanner that cannot be reconfigured is
    logged and keeps its previous settings.
    """
    old = app.config
    pending = tuple(key for key in RESTART_KEYS if getattr(old, key) != getattr(config, key))
    config = dataclasses.replace(config, **{key: getattr(old, key) for key in pending})
    app.config = config
    app.router.allow = AllowList(config.allow)
    set_soap_tracing(config.trace_soap)
    results = await asyncio.gather(*(_reconfigure(app, served) for served in list(app.scanners)))
    if discovery is not None and any(results):
        await discovery.announce()  # Hello with the new MetadataVersion
    if dnssd is not None:
        dnssd.set_allow(app.router.allow)
        for served in list(app.scanners):
            if served.escl is not None:
                await dnssd.update(served.escl, app.friendly_name(served))
    for key in pending:
        log.warning("configuration: %s changed; it takes effect when the service restarts", key)
    return pending


async def _reconfigure(app: App, served: ServedScanner) -> bool:
    """Apply ``app.config`` to one scanner; True when its MetadataVersion was incremented."""
    config, scanner, service = app.config, served.scanner, served.service
    info = scanner.info
    overrides = config.overrides_for(info.name, info.usb_id)
    if scanner.apply_options(overrides.sane_options) and service.jobs.active is not None:
        log.info("%s: new SANE options apply after job %d", info.name, service.jobs.active.job_id)
        try:
            await asyncio.wait_for(service.jobs.wait_idle(), IDLE_WAIT)
        except TimeoutError:
            log.warning("%s: still busy; its capabilities are read again at its next job", info.name)
    if served not in app.scanners:  # withdrawn meanwhile
        return False
    try:
        caps = served_capabilities(await scanner.capabilities(), overrides)
    except ScannerError as error:
        log.warning("%s: cannot read the capabilities again (%s); the previous ones stay", info.name, error.message)
        caps = service.capabilities
    service.reconfigure(caps, service_settings(config, overrides, service.settings.name_number))
    service.jobs.resize_history(config.history_size)
    served.events.subscriptions.settings = config.eventing
    if served.push is not None:
        served.push.configure(overrides.buttons, config.push_identifier_timeout)
    try:
        return app.update_metadata(served)
    except IdentityError as error:
        log.error("%s: cannot raise the metadata version: %s", info.name, error)
        return False
