"""Serving: the app, WS-Discovery, DNS-SD (eSCL) and hotplug started, SIGHUP reloads, SIGINT/SIGTERM stop.

:func:`run` is what ``wsd-scan-server`` does once the configuration has loaded
(:mod:`firmware.cli`); it tells systemd READY/RELOADING/STOPPING (:mod:`firmware.notify`)
and pings its watchdog.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from collections.abc import Callable

from .config import Config, ConfigError
from .notify import notify, watchdog_interval, watchdog_loop

log = logging.getLogger("wsd-scan-server")
WILDCARDS = ("0.0.0.0", "::", "")


def run(config: Config, load_config: Callable[[], Config]) -> int:
    """Serve ``config`` until SIGINT/SIGTERM; ``load_config`` reads the configuration again on
    SIGHUP (raises ConfigError). Returns the exit status: 0 when stopped, 1 when the HTTP
    port cannot be bound."""
    try:
        return asyncio.run(_serve(config, load_config))
    except KeyboardInterrupt:
        return 0


async def _serve(config: Config, load_config: Callable[[], Config]) -> int:
    from .app import build_app
    from .dpws import DiscoveryService, served_families
    from .hotplug import Hotplug

    try:
        app = await build_app(config, [], accept=False)
    except OSError as exc:
        log.error("cannot listen on %s:%d: %s", config.host, config.http_port, exc.strerror or exc)
        return 1
    for host in _client_hosts(config.host):
        authority = f"[{host}]" if ":" in host else host
        log.info("status page http://%s:%d/", authority, config.http_port)
    discovery = None
    if not config.discovery:
        log.info("WS-Discovery off (configuration)")
    elif config.host not in WILDCARDS:
        log.info("WS-Discovery off: listening on %s only, not on every interface", config.host)
    else:  # started even without scanners: a scanner plugged in later is announced
        discovery = DiscoveryService(
            [],
            config.http_port,
            config.interfaces or None,
            families=served_families(config.host),
            peer_allowed=lambda peer: app.router.allow.permits(peer),
        )
        await discovery.start()
    dnssd = await _start_dnssd(config, app)
    ready = False

    def changed(changes) -> None:
        for host in _client_hosts(config.host):
            for served, url in app.urls(host, changes.added):
                info = served.scanner.info
                log.info("scan service %s (%s %s, SANE %s)", url, info.vendor, info.model, info.name)
            for served, url in app.escl_urls(host, changes.added):
                info = served.scanner.info
                log.info("eSCL %s (%s %s, SANE %s)", url, info.vendor, info.model, info.name)
        if ready:  # READY=1 must be the first notification
            notify(f"STATUS=serving {len(app.scanners)} scanner(s) on port {config.http_port}")

    hotplug = Hotplug(app, discovery, dnssd=dnssd, on_change=changed)
    reloads: set[asyncio.Task] = set()

    def reload() -> None:  # SIGHUP: read the configuration again, then re-enumerate SANE
        task = asyncio.get_running_loop().create_task(_reload(app, discovery, dnssd, hotplug, load_config))
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, reload)
    await hotplug.start()  # the first SANE enumeration, then USB polling
    # Connections are accepted from now on: a client that came earlier waited in the backlog
    # instead of getting 404 for a scanner not enumerated yet.
    app.accept()
    if not app.scanners:
        log.warning(
            "no SANE scanner found; serving none until one is plugged in. Check that `scanimage -L` lists it "
            "when run as this service's user (permissions: group scanner) and that SANE_CONFIG_DIR, if set, is right"
        )
    notify(f"READY=1\nSTATUS=serving {len(app.scanners)} scanner(s) on port {config.http_port}")
    ready = True
    interval = watchdog_interval()
    pinger = asyncio.get_running_loop().create_task(watchdog_loop(interval)) if interval else None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    log.info("stopping")
    notify("STOPPING=1")
    if pinger is not None:
        pinger.cancel()
    await hotplug.stop()
    for task in list(reloads):
        task.cancel()
    if discovery is not None:
        await discovery.stop()  # Bye
    if dnssd is not None:
        await dnssd.stop()  # goodbye packets
    await app.stop()
    return 0


async def _start_dnssd(config: Config, app):
    """The running DNS-SD announcer of the eSCL services, or None when the configuration turns it
    off, the server listens on one address only, or it cannot start (logged)."""
    if not config.dnssd:
        log.info("DNS-SD off (configuration)")
        return None
    if config.host not in WILDCARDS:
        log.info("DNS-SD off: listening on %s only, not on every interface", config.host)
        return None
    from .dpws import served_families
    from .escl.dnssd import DnssdAnnouncer

    announcer = DnssdAnnouncer(
        config.http_port,
        config.interfaces or None,
        families=served_families(config.host),
        allow=app.router.allow,
        routes=app.escl_routes,
    )
    try:
        await announcer.start()
    except OSError as exc:
        log.warning("DNS-SD off: cannot watch the network interfaces: %s", exc)
        return None
    return announcer


async def _reload(app, discovery, dnssd, hotplug, load_config: Callable[[], Config]) -> None:
    """One reload (SIGHUP): a configuration that does not load is logged and the running one
    kept; otherwise it is applied (:func:`firmware.reload.apply_config`). Then SANE is
    enumerated again (scanners enabled or disabled, network scanners). Never raises."""
    from .reload import apply_config

    notify("RELOADING=1")
    try:
        config = load_config()
    except ConfigError as exc:
        log.error("configuration not reloaded: %s", exc)
        config = None
    if config is not None:
        await apply_config(app, config, discovery, dnssd)
    await hotplug.trigger()
    if config is not None:
        log.info("configuration reloaded")
    notify(f"READY=1\nSTATUS=serving {len(app.scanners)} scanner(s) on port {app.config.http_port}")


def _client_hosts(host: str) -> list[str]:
    """Addresses clients can use for a listening address: a wildcard becomes this host's
    primary address and loopback."""
    if host not in WILDCARDS:
        return [host]
    hosts = []
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1; connect() on UDP sends nothing
            hosts.append(probe.getsockname()[0])
    except OSError:
        pass
    if "127.0.0.1" not in hosts:
        hosts.append("127.0.0.1")
    return hosts
