"""The WS-Discovery responder on loopback, without namespaces: the real :class:`DiscoveryService`
and :class:`Link` over unicast UDP sockets on 127.0.0.1 (multicast needs an interface that has
it, see the netns tests), clients on other loopback addresses (127.0.0.2, ...), and a storm
sender in a child process (so it does not share the test's interpreter lock)."""

from __future__ import annotations

import asyncio
import select
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from firmware.dpws.discovery import DiscoveryService
from firmware.dpws.identity import load_identity
from firmware.dpws.interfaces import Interface, InterfaceAddress
from firmware.dpws.matching import DiscoveredDevice
from firmware.dpws.ratelimit import SourceRateLimiter
from firmware.dpws.udp import Link
from firmware.wire import namespaces as ns
from firmware.wire.xml import XmlError, find, parse_xml, qname, text_of
from tests.dpws.netlab import probe


class LoopbackResponder:
    """A discovery responder for one scanner listening on ``127.0.0.1:<port>`` in its own loop thread."""

    def __init__(self, state: Path, limiter: SourceRateLimiter | None = None, app_max_delay: float = 0.02) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.device = DiscoveredDevice(load_identity(state, "test:0"), path="/dev0")
        self.service = DiscoveryService([self.device], 5358, app_max_delay=app_max_delay, limiter=limiter)
        receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        receiver.bind(("127.0.0.1", 0))
        receiver.setblocking(False)
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sender.bind(("127.0.0.1", 0))
        sender.setblocking(False)
        self.port = receiver.getsockname()[1]
        address = InterfaceAddress(socket.AF_INET, "127.0.0.1", 8)
        self.link = Link(Interface(1, "lo", 0, (address,)), socket.AF_INET, (address,), self.port)

        async def start():
            await self.link.open(self.service.datagram_received, (receiver, sender))
            await self.service.start_on([self.link])

        self.run(start())

    def run(self, coroutine, timeout: float = 10):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def feed(self, data: bytes, peer: tuple) -> None:
        """Hand one datagram to the service directly on its loop, as the socket would."""

        async def feed():
            self.service.datagram_received(self.link, data, peer)

        self.run(feed())

    def close(self) -> None:
        self.run(self.service.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


class ProbingClient:
    """A client at ``address`` (a loopback address) that Probes the responder and counts ProbeMatches."""

    def __init__(self, address: str, responder_port: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((address, 0))
        self.target = ("127.0.0.1", responder_port)
        self.sent: list[str] = []
        self.answered: set[str] = set()

    def probe(self, repeat: int = 2) -> str:
        """Send one Probe ``repeat`` times, 20 ms apart, with one MessageID (as SOAP-over-UDP
        clients do: Windows and sane-airscan send each Probe twice)."""
        message_id = "urn:uuid:" + str(uuid.uuid4())
        self.sent.append(message_id)
        for n in range(repeat):
            if n:
                time.sleep(0.02)
            self.sock.sendto(probe(message_id), self.target)
        return message_id

    def collect(self, seconds: float) -> None:
        """Read answers for ``seconds``; a ProbeMatches' RelatesTo marks its Probe answered."""
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([self.sock], [], [], remaining)
            if not ready:
                continue
            data = self.sock.recv(65536)
            try:
                header = find(parse_xml(data), qname(ns.SOAP, "Header"))
            except XmlError:
                continue
            if header is not None and text_of(find(header, qname(ns.WSA, "Action"))) == ns.WSD + "/ProbeMatches":
                self.answered.add(text_of(find(header, qname(ns.WSA, "RelatesTo"))) or "")

    def close(self) -> None:
        self.sock.close()


STORM = r"""
import socket, sys, time, uuid
port, rate, seconds, kind = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("127.0.0.1", 0))
template = sys.stdin.buffer.read()
garbage = [b"", b"<", b"\xff\xfe<x/>", b"<?xml version='1.0' encoding='x-nope'?><a/>", template[:200], template * 2]
sent, started = 0, time.monotonic()
while (elapsed := time.monotonic() - started) < seconds:
    due = int(elapsed * rate)
    while sent < due:
        if kind == "probe":
            data = template.replace(b"MESSAGEID", str(uuid.uuid4()).encode())
        else:
            data = garbage[sent % len(garbage)] if sent % 2 else template.replace(b"MESSAGEID", str(sent).encode())
        try:
            sock.sendto(data, ("127.0.0.1", port))
        except OSError:
            pass
        sent += 1
    time.sleep(0.0005)
print(sent)
"""


def start_storm(port: int, rate: float, seconds: float, kind: str, template: bytes) -> subprocess.Popen:
    """A child process sending ``rate`` datagrams/s for ``seconds`` from 127.0.0.1 to ``port``:
    ``kind`` ``"probe"`` (valid Probes, fresh MessageIDs) or ``"malformed"`` (garbage and Probes
    with a Scope that is not a URI, alternately). ``template`` holds the literal ``MESSAGEID``."""
    process = subprocess.Popen(
        [sys.executable, "-c", STORM, str(port), str(rate), str(seconds), kind],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert process.stdin is not None
    process.stdin.write(template)
    process.stdin.close()
    return process
