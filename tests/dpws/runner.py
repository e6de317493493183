"""Test-only runner: a DiscoveryService plus a tiny Tornado device endpoint, in one process.

Run inside a network namespace::

    ip netns exec NS python -m tests.dpws.runner --state-dir DIR --key KEY --http-port 5358

It prints one JSON line ``{"ready": true, "devices": [...]}`` on stdout once the
sockets are open, and ``{"stopped": true}`` after SIGTERM/SIGINT made it send
Bye and close. The HTTP handler answers WS-Transfer Get with
``get_response_body`` and a directed Probe with ``directed_probe_response``;
the real application wires its own handler.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from pathlib import Path

import tornado.web
from tornado.httpserver import HTTPServer

from firmware.dpws import (
    ACTION_GET,
    ACTION_GET_RESPONSE,
    DeviceMetadata,
    DiscoveredDevice,
    DiscoveryService,
    directed_probe_response,
    get_response_body,
    load_identity,
)
from firmware.wire.envelope import build_envelope, build_fault_envelope, parse_request
from firmware.wire.faults import SoapFault, action_not_supported
from firmware.wire.xml import serialize

SERVICE_PATH = "/WSDScanner"


class DeviceEndpoint(tornado.web.RequestHandler):
    """POST on a device path: WS-Transfer Get or a directed Probe."""

    def initialize(self, device: DiscoveredDevice, metadata: DeviceMetadata) -> None:
        self.device = device
        self.metadata = metadata

    def post(self) -> None:
        host = self.request.host  # what the client used: address[:port]
        try:
            request = parse_request(self.request.body)
            if request.action == ACTION_GET:
                body = get_response_body(self.device.identity, self.metadata, f"http://{host}{SERVICE_PATH}")
                envelope = build_envelope(ACTION_GET_RESPONSE, body, relates_to=request.message_id)
            elif request.action.endswith("/discovery/Probe"):
                matches = directed_probe_response(request, self.device, f"http://{host}{self.device.path}")
                if matches is None:
                    self.set_status(202)
                    return
                envelope = matches
            else:
                raise action_not_supported(request.action)
        except SoapFault as fault:
            self.set_status(fault.http_status)
            envelope = build_fault_envelope(fault, None)
        self.set_header("Content-Type", "application/soap+xml; charset=utf-8")
        self.write(serialize(envelope))


async def main(argv: list[str]) -> None:
    """Parse ``argv``, serve until SIGTERM/SIGINT, then send Bye and exit."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--key", action="append", required=True, help="one per scanner")
    parser.add_argument("--http-port", type=int, default=5358)
    parser.add_argument("--allow", action="append", default=None)
    parser.add_argument("--deny", action="append", default=None)
    parser.add_argument("--friendly-name", default="")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, stream=sys.stderr)

    devices, handlers, described = [], [], []
    for number, key in enumerate(args.key, 1):
        identity = load_identity(args.state_dir, key)
        name = f"{args.friendly_name} {number}" if args.friendly_name and len(args.key) > 1 else args.friendly_name
        metadata = DeviceMetadata(manufacturer="LabCorp", model=f"LabScan {number}", friendly_name=name)
        identity.update_metadata(metadata.digest([SERVICE_PATH]))
        device = DiscoveredDevice(identity, path="/" + identity.endpoint.removeprefix("urn:uuid:"))
        devices.append(device)
        handlers.append((device.path, DeviceEndpoint, {"device": device, "metadata": metadata}))
        described.append(
            {
                "key": key,
                "endpoint": identity.endpoint,
                "path": device.path,
                "instance_id": identity.instance_id,
                "metadata_version": identity.metadata_version,
                "friendly_name": metadata.friendly_name,
            }
        )

    server = HTTPServer(tornado.web.Application(handlers))
    server.listen(args.http_port)
    discovery = DiscoveryService(devices, args.http_port, args.allow, args.deny)
    await discovery.start()
    print(json.dumps({"ready": True, "devices": described, "links": discovery.links}), flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await discovery.stop()
    server.stop()
    print(json.dumps({"stopped": True}), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
