"""Serve the real application in-process (on its own event loop thread) around a given driver,
so tests can drive it over real HTTP with :class:`tests.soap.SoapClient`."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import email.parser
import email.policy
import threading
from pathlib import Path

from firmware.app import build_app
from firmware.config import Config
from tests.servers import free_port


@contextlib.contextmanager
def serve(scanner, state_dir: Path, **config):
    """Run the app for ``scanner`` on 127.0.0.1; yields ``(app, url, loop)``."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    cfg = dataclasses.replace(Config(), host="127.0.0.1", http_port=free_port(), state_dir=state_dir, **config)
    app = asyncio.run_coroutine_threadsafe(build_app(cfg, [scanner]), loop).result(10)
    try:
        yield app, f"http://127.0.0.1:{cfg.http_port}{app.scanners[0].path}", loop
    finally:
        asyncio.run_coroutine_threadsafe(app.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def mtom_parts(content_type: str, data: bytes) -> list[tuple[dict[str, str], bytes]]:
    """Split a multipart/related body into (headers, payload) parts, in order."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + data
    )
    assert message.is_multipart(), content_type
    parts = []
    for part in message.iter_parts():
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes), f"part {dict(part.items())} is not a leaf part"
        parts.append((dict(part.items()), payload))
    return parts
