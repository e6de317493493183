"""The device endpoint (the XAddr): WS-Transfer Get answers the DPWS metadata, a directed
Probe answers ProbeMatches (REFERENCE.md section 4.3, 4.4; DPWS R1015, R2044).

URLs in answers use the HTTP Host the client used, so a client reaching the
device on any interface or address gets addresses that work for it.
"""

from __future__ import annotations

import dataclasses

from ..wire.envelope import Request
from ..wire.handler import EnvelopeReply, Operation, Reply
from .envelope import ACTION_PROBE
from .matching import DiscoveredDevice, directed_probe_response
from .metadata import ACTION_GET, ACTION_GET_RESPONSE, DeviceMetadata, get_response_body


def device_operations(
    device: DiscoveredDevice, metadata: DeviceMetadata, scan_path: str, page_anchor: str | None = None
) -> dict[str, Operation]:
    """The action table of one device endpoint: WS-Transfer Get and directed Probe.

    ``scan_path`` is the URL path of the device's scan service (the Hosted service);
    ``page_anchor``: the fragment that points the appliance's status page at this scanner
    (PresentationUrl ``http://<host>/#<anchor>``; None: the page's top), unless the
    metadata has a PresentationUrl configured.
    """

    async def get(request: Request) -> Reply:
        """WS-Transfer Get: the wsx:Metadata with ThisModel, ThisDevice and Relationship; the
        PresentationUrl is the appliance's status page on the HTTP port the client reached, at this scanner."""
        service_url = f"http://{request.http_host}{scan_path}"
        page_url = f"http://{request.http_host}/" if request.http_host else None
        described = metadata
        if page_url and page_anchor and not metadata.presentation_url:
            described = dataclasses.replace(metadata, presentation_url=f"{page_url}#{page_anchor}")
        return Reply(ACTION_GET_RESPONSE, get_response_body(device.identity, described, service_url, page_url))

    async def probe(request: Request) -> EnvelopeReply:
        """Directed Probe: ProbeMatches when it matches, else 202 with an empty body."""
        return EnvelopeReply(directed_probe_response(request, device, f"http://{request.http_host}{device.path}"))

    return {ACTION_GET: get, ACTION_PROBE: probe}
