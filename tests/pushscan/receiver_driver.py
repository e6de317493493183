"""Run an independent push-scan receiver (retsamedoc/airscand, not written by this project) against
our scan service, on 127.0.0.1 only. Started by tests/pushscan/test_independent_receiver.py with a
Python that has the receiver's dependencies (aiohttp):

    python receiver_driver.py CHECKOUT SCAN_URL XADDR PORT OUTPUT_DIR STATE_DIR

It does what the receiver's own ``main.py`` does once WS-Discovery found a scanner, with the
address given instead of discovered: starts the receiver's HTTP server (its ScanAvailableEvent
handler runs its scan chain), subscribes with the receiver's Subscribe (ScanAvailableEvent +
its five ScanDestinations), stores the DestinationTokens the way main.py does, prints one
``REGISTERED <json>`` line, and serves until stdin closes. Only the receiver's functions are
called; none of its code is changed.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid


async def main(checkout: str, scan_url: str, xaddr: str, port: int, output_dir: str, state_dir: str) -> None:
    os.environ.update(
        {
            "WSD_HOST": "127.0.0.1",
            "WSD_PORT": str(port),
            "WSD_ADVERTISE_ADDR": "127.0.0.1",
            "WSD_OUTPUT_DIR": output_dir,
            "WSD_UUID": str(uuid.uuid4()),
            "WSD_APP_SEQUENCE_SEQUENCE_ID": "urn:uuid:" + str(uuid.uuid4()),
            "XDG_STATE_HOME": state_dir,
            "WSD_LOG_LEVEL": "INFO",
        }
    )
    sys.path.insert(0, checkout)
    from app.config import Config
    from app.http_server import start_http_server
    from app.logging import setup_logging
    from app.ws_eventing_client import register_with_scanner

    config = Config()
    setup_logging(config.log_level)
    config.scanner_xaddr = xaddr
    config.scanner_profile = "generic"
    config.wait_scanner_idle_after_retrieve = False  # no ScannerStatusSummaryEvent subscription here
    server = asyncio.create_task(start_http_server(config))
    await asyncio.sleep(0.5)
    result = await register_with_scanner(
        scanner_xaddr=xaddr,
        subscribe_to_url=scan_url,
        notify_to=f"http://127.0.0.1:{port}{config.endpoint_path}",
        from_address=f"urn:uuid:{config.uuid}",
        subscription_identifier="urn:uuid:" + str(uuid.uuid4()),
    )
    # as main.py stores a successful registration
    config.scanner_eventing_subscription_id = str(result.get("identifier") or "")
    config.scanner_subscribe_destination_token = str(result.get("subscribe_destination_token") or "")
    tokens = result.get("subscribe_destination_tokens")
    config.scanner_subscribe_destination_tokens = dict(tokens) if isinstance(tokens, dict) else {}
    config.use_env_subscribe_destination_token_only = False
    print("REGISTERED " + json.dumps({k: v for k, v in result.items() if isinstance(v, (str, dict, type(None)))}))
    sys.stdout.flush()
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until the test closes stdin
    server.cancel()


if __name__ == "__main__":
    checkout, scan_url, xaddr, port, output_dir, state_dir = sys.argv[1:7]
    asyncio.run(main(checkout, scan_url, xaddr, int(port), output_dir, state_dir))
