"""What the status page shows, as one JSON-ready dictionary built from the running app.

:func:`snapshot` reads the app as it is now (nothing is stored here): every scanner with its
ScannerState, active conditions and what to do about them (the words of
:mod:`firmware.scan.conditions`), the job in progress with its progress, the last jobs, the
PCs subscribed to its events with their scan-to-PC destinations, the protocols it is served
over with their URL paths, and the service's version and uptime. :func:`health` is the short
form for monitoring (``GET /health``).

URLs are paths (``/scanners/test-0``): the page prefixes the address it was loaded from, so
one snapshot serves clients that reach the appliance under different addresses.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import TYPE_CHECKING, Any

from drivers.base import Source

from .. import __version__
from ..escl.capabilities import escl_formats
from ..escl.routes import ROOT as ESCL_ROOT
from ..jobs.job import Job
from ..model.enums import ScannerState
from ..scan import conditions
from ..scan.capabilities import scanner_description
from ..serve import WILDCARDS

if TYPE_CHECKING:
    from ..app import App, ServedScanner

HISTORY_SHOWN = 10
"""Ended jobs shown per scanner, newest first."""

FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "application/pdf": "pdf"}
"""The download formats of the page's scan form, by the MIME types the configuration offers."""


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment is not None else None


def _seconds(job: Job) -> float | None:
    if job.completed_time is None:
        return None
    return round((job.completed_time - job.created_time).total_seconds(), 3)


def offered_formats(served: ServedScanner) -> list[str]:
    """The page's download formats for ``served`` (``png``, ``jpeg``, ``pdf``), from the
    configured WS-Scan formats as eSCL offers them (PDF pages are JPEG images)."""
    return [FORMATS[mime] for mime in escl_formats(served.service.settings.formats) if mime in FORMATS]


def scan_options(served: ServedScanner) -> dict[str, Any]:
    """The scan form's choices: ``sources`` (SANE names), per source its ``modes`` and
    ``resolutions`` (dpi), the default resolution, and the ``formats``."""
    caps = served.service.capabilities
    return {
        "sources": [source.value for source in caps.sources],
        "modes": {source.value: [m.value for m in sc.modes] for source, sc in caps.sources.items()},
        "resolutions": {source.value: list(sc.resolutions) for source, sc in caps.sources.items()},
        "default_resolution": caps.default_resolution,
        "default_mode": caps.default_mode.value,
        "formats": offered_formats(served),
    }


def _job(job: Job) -> dict[str, Any]:
    """What the page shows of any job: id, name, user, state, reasons, pages, created (ISO time)."""
    return {
        "id": job.job_id,
        "name": job.job_name,
        "user": job.job_originating_user_name,
        "state": job.state,
        "reasons": list(job.reasons),
        "pages": job.scans_completed,
        "created": _iso(job.created_time),
    }


def _progress(served: ServedScanner, job: Job) -> dict[str, Any]:
    run = served.service.runs.get(job.job_id)
    view = _job(job)
    if run is not None:
        elapsed = max(time.monotonic() - run.started, 1e-6)
        scanned = run.runner.bytes_scanned
        view.update(
            source=run.params.source.value,
            mode=run.params.mode.value,
            resolution=run.params.resolution,
            bytes=scanned,
            elapsed=round(elapsed, 1),
            rate=round(scanned / elapsed),
            of=1 if run.params.source is Source.FLATBED else None,
            scanning=run.runner.scanning,
        )
    return view


def _ended(served: ServedScanner, job: Job) -> dict[str, Any]:
    run = served.service.runs.get(job.job_id)
    view = _job(job)
    view["duration"] = _seconds(job)
    if run is not None:
        view["bytes"] = run.runner.bytes_scanned
        if run.failure is not None:
            view["problem"] = run.failure.message
            view["advice"] = conditions.advice_for(run.failure.condition)
    return view


def _subscribers(served: ServedScanner) -> list[dict[str, Any]]:
    """The subscriptions of ``served``'s event source with the destinations each registered;
    ``expires``: the wall-clock time it ends unless renewed, to the second (a time rather than
    a countdown, so the page's state does not change every second while a PC is subscribed)."""
    try:
        left = asyncio.get_running_loop().time()
    except RuntimeError:
        left = None
    now = dt.datetime.now(dt.UTC)
    destinations = served.push.registry.destinations() if served.push is not None else []
    found = []
    for subscription in served.events.subscriptions.subscriptions():
        expires = None
        if left is not None:
            expires = (now + dt.timedelta(seconds=subscription.expires_at - left)).replace(microsecond=0)
        found.append(
            {
                "pc": subscription.client,
                "from": subscription.source,
                "notify_to": subscription.notify_to.address,
                "expires": _iso(expires),
                "destinations": [
                    {"name": d.client_display_name, "context": d.client_context}
                    for d in destinations
                    if d.subscription == subscription.identifier
                ],
            }
        )
    return found


def scanner_view(app: App, served: ServedScanner) -> dict[str, Any]:
    """One scanner as the page shows it (see the module docstring)."""
    service = served.service
    status = service.status.snapshot()
    conditions_now = [
        {
            "name": c.name,
            "component": c.component,
            "severity": c.severity,
            "since": _iso(c.time),
            "advice": conditions.advice_for_name(c.name),
        }
        for c in status.active_conditions
    ]
    if "AttentionRequired" in status.state_reasons:
        conditions_now.append(
            {
                "name": "AttentionRequired",
                "component": "",
                "severity": "Critical",
                "since": None,
                "advice": conditions.ATTENTION_ADVICE,
            }
        )
    info = served.scanner.info
    urls: dict[str, str] = {}
    if served.wsd:
        urls["wsd"] = served.path
    if served.escl is not None:
        urls["escl"] = served.escl.base
        if app.escl_routes is not None and app.escl_routes.default is served.escl:
            urls["escl_default"] = ESCL_ROOT
    active = service.jobs.active
    return {
        "id": served.path.rsplit("/", 1)[-1],
        "name": info.name,
        "friendly_name": scanner_description(info, service.settings.friendly_name, service.settings.name_number).name,
        "vendor": info.vendor,
        "model": info.model,
        "state": status.state,
        "state_reasons": list(status.state_reasons),
        "conditions": conditions_now,
        "urls": urls,
        "push": served.push is not None and served.wsd,
        "options": scan_options(served),
        "job": _progress(served, active) if active is not None else None,
        "history": [_ended(served, job) for job in service.jobs.history()[:HISTORY_SHOWN]],
        "subscribers": _subscribers(served),
    }


def snapshot(app: App, started: float) -> dict[str, Any]:
    """The whole page's data: ``version``, ``uptime`` (seconds since ``started``, a
    ``time.monotonic()`` value), ``port``, ``protocols`` and ``scanners``."""
    config = app.config
    return {
        "version": __version__,
        "uptime": round(time.monotonic() - started),
        "port": config.http_port,
        "protocols": {
            "wsd": any(s.wsd for s in app.scanners),
            "escl": any(s.escl is not None for s in app.scanners),
            "discovery": config.discovery and config.host in WILDCARDS,
        },
        "scanners": [scanner_view(app, served) for served in app.scanners],
    }


def health(app: App, started: float) -> dict[str, Any]:
    """``GET /health``: ``status`` "ok", or "degraded" when no scanner is served or one is
    Stopped (it needs a person); each scanner's ``name``, ``state`` and the advice of its
    conditions; ``version``; ``uptime`` in seconds."""
    scanners = []
    for served in app.scanners:
        status = served.service.status
        snap = status.snapshot()
        advice = [conditions.advice_for_name(c.name) for c in snap.active_conditions]
        if "AttentionRequired" in snap.state_reasons:
            advice.append(conditions.ATTENTION_ADVICE)
        scanners.append({"name": served.name, "state": snap.state, "advice": advice})
    degraded = not scanners or any(s["state"] == ScannerState.STOPPED for s in scanners)
    return {
        "status": "degraded" if degraded else "ok",
        "version": __version__,
        "uptime": round(time.monotonic() - started),
        "scanners": scanners,
    }
