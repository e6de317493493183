"""Test helpers for WS-Discovery between the namespaces of a :class:`tests.netns.Lab`: discovery
messages, UDP sockets opened inside a namespace, HTTP from the client namespace, processes
(the runner) started in a namespace.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from firmware.wire import namespaces as ns
from firmware.wire.xml import Element, find, parse_with_prefixes, qname, text_of
from tests.netns import Lab, in_netns, netns_argv
from tests.processes import stop_process
from tests.xmlfind import first_child

REPO = Path(__file__).resolve().parents[2]
MULTICAST_V4 = "239.255.255.250"
MULTICAST_V6 = "ff02::c"
PORT = 3702
WSD_ACTION = ns.WSD + "/"

# --- messages --------------------------------------------------------------------------------


@dataclass
class Message:
    """A received discovery datagram, parsed with defusedxml."""

    data: bytes
    source: tuple
    received: float
    root: Element
    prefixes: dict

    def header(self, namespace: str, local: str) -> Element | None:
        header = find(self.root, qname(ns.SOAP, "Header"))
        return find(header, qname(namespace, local)) if header is not None else None

    @property
    def action(self) -> str:
        return text_of(self.header(ns.WSA, "Action")) or ""

    @property
    def kind(self) -> str:
        return self.action.removeprefix(WSD_ACTION)

    @property
    def message_id(self) -> str | None:
        return text_of(self.header(ns.WSA, "MessageID"))

    @property
    def relates_to(self) -> str | None:
        return text_of(self.header(ns.WSA, "RelatesTo"))

    @property
    def app_sequence(self) -> tuple[int, int]:
        el = self.header(ns.WSD, "AppSequence")
        assert el is not None, f"{self.kind} has no AppSequence"
        return int(el.get("InstanceId", "")), int(el.get("MessageNumber", ""))

    @property
    def body(self) -> Element:
        return first_child(find(self.root, qname(ns.SOAP, "Body")))

    def target(self) -> Element:
        """The element holding EndpointReference/Types/XAddrs (Hello, Bye, ProbeMatch, ResolveMatch)."""
        body = self.body
        return body[0] if body.tag in (qname(ns.WSD, "ProbeMatches"), qname(ns.WSD, "ResolveMatches")) else body

    @property
    def endpoint(self) -> str | None:
        epr = find(self.target(), qname(ns.WSA, "EndpointReference"))
        return text_of(find(epr, qname(ns.WSA, "Address"))) if epr is not None else None

    @property
    def xaddrs(self) -> str | None:
        return text_of(find(self.target(), qname(ns.WSD, "XAddrs")))


def parse_message(data: bytes, source: tuple, received: float) -> Message:
    """Parse a datagram with defusedxml (raises XmlError when it is not XML)."""
    root, prefixes = parse_with_prefixes(data)
    return Message(data, source, received, root, prefixes)


def probe(
    message_id: str,
    types: str | None = "wsdp:Device",
    scopes: str | None = None,
    match_by: str | None = None,
    padding: int = 0,
    extra_ns: str = "",
) -> bytes:
    """A WS-Discovery Probe like sane-airscan's (test data, written out literally)."""
    types_xml = f"<wsd:Types>{types}</wsd:Types>" if types is not None else ""
    match = f' MatchBy="{match_by}"' if match_by else ""
    scopes_xml = f"<wsd:Scopes{match}>{scopes}</wsd:Scopes>" if scopes is not None else ""
    pad = f'<x:Pad xmlns:x="urn:test">{"p" * padding}</x:Pad>' if padding else ""
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"'
        ' xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing"'
        ' xmlns:wsd="http://schemas.xmlsoap.org/ws/2005/04/discovery"'
        ' xmlns:wsdp="http://schemas.xmlsoap.org/ws/2006/02/devprof"'
        f' xmlns:wscn="http://schemas.microsoft.com/windows/2006/08/wdp/scan"{extra_ns}>'
        "<soap:Header>"
        "<wsa:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</wsa:Action>"
        f"<wsa:MessageID>{message_id}</wsa:MessageID>"
        "<wsa:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</wsa:To>"
        "</soap:Header>"
        f"<soap:Body><wsd:Probe>{types_xml}{scopes_xml}{pad}</wsd:Probe></soap:Body>"
        "</soap:Envelope>"
    ).encode()


def resolve(message_id: str, endpoint: str) -> bytes:
    """A WS-Discovery Resolve for ``endpoint`` (test data)."""
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"'
        ' xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing"'
        ' xmlns:wsd="http://schemas.xmlsoap.org/ws/2005/04/discovery">'
        "<soap:Header>"
        "<wsa:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/Resolve</wsa:Action>"
        f"<wsa:MessageID>{message_id}</wsa:MessageID>"
        "<wsa:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</wsa:To>"
        "</soap:Header>"
        "<soap:Body><wsd:Resolve><wsa:EndpointReference>"
        f"<wsa:Address>{endpoint}</wsa:Address>"
        "</wsa:EndpointReference></wsd:Resolve></soap:Body>"
        "</soap:Envelope>"
    ).encode()


# --- sockets in the client namespace -----------------------------------------------------------


class UdpClient:
    """A UDP socket in ``namespace`` that multicasts on ``ifname`` and collects what comes back.

    With ``listen_group`` it instead joins the discovery group on UDP 3702
    (to receive Hello and Bye).
    """

    def __init__(self, lab: Lab, namespace: str, ifname: str, family: int, listen_group: bool = False) -> None:
        self.family = family
        self.ifindex = lab.ifindex(namespace, ifname)
        self.sock = in_netns(namespace, lambda: socket.socket(family, socket.SOCK_DGRAM))
        s = self.sock
        if family == socket.AF_INET:
            mreqn = socket.inet_aton("0.0.0.0") * 2 + struct.pack("=i", self.ifindex)
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, mreqn)
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
        else:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, self.ifindex)
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 1)
        if listen_group:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            # IP(V6)_MULTICAST_ALL off: only the group on *this* interface, not any joined in the namespace.
            if family == socket.AF_INET:
                s.setsockopt(socket.IPPROTO_IP, 49, 0)
            else:
                s.setsockopt(socket.IPPROTO_IPV6, 29, 0)
            if family == socket.AF_INET:
                mreqn = socket.inet_aton(MULTICAST_V4) + socket.inet_aton("0.0.0.0") + struct.pack("=i", self.ifindex)
                s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreqn)
                s.bind((MULTICAST_V4, PORT))
            else:
                mreq = socket.inet_pton(socket.AF_INET6, MULTICAST_V6) + struct.pack("=I", self.ifindex)
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq)
                s.bind((MULTICAST_V6, PORT, 0, self.ifindex))
        else:
            s.bind(("0.0.0.0", 0) if family == socket.AF_INET else ("::", 0))
        s.setblocking(False)

    def send(self, data: bytes) -> float:
        """Multicast ``data`` to the discovery group; return the send time (monotonic)."""
        target = (MULTICAST_V4, PORT) if self.family == socket.AF_INET else (MULTICAST_V6, PORT, 0, self.ifindex)
        self.sock.sendto(data, target)
        return time.monotonic()

    def collect(self, duration: float, stop_when=None) -> list[Message]:
        """Receive and parse datagrams for ``duration`` seconds, or until ``stop_when(messages)`` is true."""
        messages: list[Message] = []
        deadline = time.monotonic() + duration
        with selectors.DefaultSelector() as selector:
            selector.register(self.sock, selectors.EVENT_READ)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (stop_when is not None and stop_when(messages)):
                    return messages
                if not selector.select(remaining):
                    continue
                data, source = self.sock.recvfrom(65536)
                messages.append(parse_message(data, source, time.monotonic()))

    def close(self) -> None:
        self.sock.close()


def http_post(lab: Lab, host: str, port: int, path: str, body: bytes) -> tuple[int, bytes]:
    """POST ``body`` from the client namespace; return (status, response body)."""
    import http.client

    sock = in_netns(lab.cli_ns, lambda: socket.create_connection((host, port), timeout=5))
    connection = http.client.HTTPConnection(host, port, timeout=5)
    connection.sock = sock
    try:
        connection.request("POST", path, body, {"Content-Type": "application/soap+xml; charset=utf-8"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


# --- processes -------------------------------------------------------------------------------


class Process:
    """A process started in a namespace; stdout is line-read, stderr goes to a file."""

    def __init__(self, namespace: str, argv: list[str]) -> None:
        self.log = tempfile.NamedTemporaryFile(prefix="wsdtest-", suffix=".log", delete=False)  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(
            netns_argv(namespace, *argv),
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        assert self.proc.stdout is not None  # stdout=PIPE
        self.stdout = self.proc.stdout
        self._selector = selectors.DefaultSelector()
        self._selector.register(self.stdout, selectors.EVENT_READ)
        self._terminated = False

    def read_line(self, timeout: float) -> str:
        """The next stdout line; TimeoutError (with the log) if none comes within ``timeout`` s."""
        if not self._selector.select(timeout):
            raise TimeoutError(f"no output within {timeout} s; log:\n{self.stderr()}")
        line = self.stdout.readline()
        if not line:
            raise RuntimeError(f"process ended (rc={self.proc.poll()}); log:\n{self.stderr()}")
        return line

    def stderr(self) -> str:
        """Everything the process wrote to stderr so far."""
        return Path(self.log.name).read_text(errors="replace")

    def wait_stderr(self, needle: str, timeout: float) -> bool:
        """Wait until ``needle`` appears in stderr; False after ``timeout`` s or when the process ended."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.stderr():
                return True
            if self.proc.poll() is not None:
                return needle in self.stderr()
            time.sleep(0.05)
        return False

    def terminate(self, timeout: float = 5.0) -> None:
        """SIGTERM the process we started (by PID); SIGKILL it after ``timeout``. Idempotent."""
        if self._terminated:
            return
        self._terminated = True
        stop_process(self.proc, timeout)
        self._selector.close()
        self.stdout.close()
        self.log.close()
        os.unlink(self.log.name)


class Runner(Process):
    """``tests.dpws.runner`` in the device namespace; ``info`` is its ready line."""

    def __init__(
        self,
        lab: Lab,
        state_dir: Path,
        keys: list[str],
        http_port: int,
        allow: list[str] | None = None,
        deny: list[str] | None = None,
        friendly_name: str = "",
    ) -> None:
        argv = [
            sys.executable,
            "-m",
            "tests.dpws.runner",
            "--state-dir",
            str(state_dir),
            "--http-port",
            str(http_port),
            "--verbose",
        ]
        for key in keys:
            argv += ["--key", key]
        for pattern in allow or ():
            argv += ["--allow", pattern]
        for pattern in deny or ():
            argv += ["--deny", pattern]
        if friendly_name:
            argv += ["--friendly-name", friendly_name]
        super().__init__(lab.dev_ns, argv)
        self.http_port = http_port
        try:
            self.info = json.loads(self.read_line(15.0))
        except BaseException:
            self.terminate()
            raise
        self.devices = self.info["devices"]
        self.endpoint = self.devices[0]["endpoint"]
        self.path = self.devices[0]["path"]

    def stop(self, timeout: float = 5.0) -> dict:
        """SIGTERM, then return the ``stopped`` line (Bye has been sent by then)."""
        os.kill(self.proc.pid, signal.SIGTERM)
        line = json.loads(self.read_line(timeout))
        self.proc.wait(timeout)
        return line
