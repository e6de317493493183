"""Network namespaces for tests: created under names unique to this process, joined by veth pairs,
deleted only by the :class:`Lab` that created them.

A :class:`Lab` is a device namespace and a client namespace (``wsdtest-<pid>-<n>-dev`` and
``...-cli``, ``n`` counting the labs of this process); :meth:`Lab.add_pair` joins them with a
veth pair. Addresses come from the 198.18.0.0/15 benchmarking range and fd00::/8 ULA, so nothing
here touches the host's network. :func:`in_netns` runs a function in a thread that joined a
namespace (a socket stays in the namespace it was created in, so the test process itself never
switches). :func:`unavailable` says why namespaces cannot be made here (not root, no ``ip``).
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from tests.prereqs import missing_prerequisite

T = TypeVar("T")
CLONE_NEWNET = 0x40000000
NETNS_DIR = Path("/run/netns")

_libc = ctypes.CDLL(None, use_errno=True)
_labs = itertools.count(1)


def unavailable() -> str | None:
    """Why this process cannot create network namespaces (a skip reason), or None when it can."""
    return missing_prerequisite("network namespaces: ip netns add", {"ip": "iproute2"})


def in_netns(name: str, function: Callable[[], T]) -> T:
    """Run ``function()`` in a thread that has joined network namespace ``name``; return its result.

    Re-raises what ``function`` raised; OSError when the namespace cannot be joined.
    """
    values: list[T] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            fd = os.open(NETNS_DIR / name, os.O_RDONLY)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    errno = ctypes.get_errno()
                    raise OSError(errno, os.strerror(errno))
            finally:
                os.close(fd)
            values.append(function())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return values[0]


def netns_argv(name: str, *argv: str) -> list[str]:
    """``argv`` prefixed to run in network namespace ``name`` (``ip netns exec``)."""
    return ["ip", "netns", "exec", name, *argv]


def run(*argv: str, check: bool = True) -> str:
    """Run a command, return its stdout; RuntimeError with its stderr when it fails and ``check``."""
    result = subprocess.run(argv, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {result.stderr.strip()}")
    return result.stdout


@dataclass(frozen=True)
class VethPair:
    """A veth pair: ``dev`` end in the device namespace, ``cli`` end in the client namespace."""

    dev: str
    cli: str


class Lab:
    """A device namespace and a client namespace of this process; :meth:`add_pair` joins them.

    The names are free when the lab is made (a name left by a dead process that had the same
    PID is passed over, never deleted); :meth:`destroy` deletes only what :meth:`create` added.
    """

    def __init__(self) -> None:
        while True:
            self.tag = f"{os.getpid()}-{next(_labs)}"
            self.dev_ns = f"wsdtest-{self.tag}-dev"
            self.cli_ns = f"wsdtest-{self.tag}-cli"
            if not (NETNS_DIR / self.dev_ns).exists() and not (NETNS_DIR / self.cli_ns).exists():
                break
        self.pairs: dict[str, VethPair] = {}
        self._created: list[str] = []

    def create(self) -> None:
        """Add both namespaces, without IPv6 duplicate address detection, loopback up.

        RuntimeError when ``ip`` fails (what was already added stays for :meth:`destroy`).
        """
        for name in (self.dev_ns, self.cli_ns):
            run("ip", "netns", "add", name)
            self._created.append(name)
            run(
                "ip",
                "netns",
                "exec",
                name,
                "sysctl",
                "-qw",
                "net.ipv6.conf.all.accept_dad=0",
                "net.ipv6.conf.default.accept_dad=0",
            )
            run("ip", "-n", name, "link", "set", "lo", "up")

    def destroy(self) -> None:
        """Delete the namespaces this lab created (with the veth ends in them). Idempotent."""
        while self._created:
            run("ip", "netns", "del", self._created.pop(), check=False)

    def add_pair(self, letter: str, ipv4_net: str | None, ipv6_net: str | None = None) -> VethPair:
        """Create veth ``w<letter><tag>d``/``...c`` (kept in :attr:`pairs` under ``letter``), up.

        The device end gets ``<net>.2``, the client end ``<net>.1`` (IPv4 ``/24`` from ``ipv4_net``
        such as ``"198.18.7"``, IPv6 ``/64`` from ``ipv6_net`` such as ``"fd00:7"``); returns once
        both ends have a usable IPv6 link-local address. RuntimeError when ``ip`` fails.
        """
        pair = VethPair(f"w{letter}{self.tag}d", f"w{letter}{self.tag}c")
        run(
            "ip",
            "link",
            "add",
            pair.dev,
            "netns",
            self.dev_ns,
            "type",
            "veth",
            "peer",
            "name",
            pair.cli,
            "netns",
            self.cli_ns,
        )
        self.pairs[letter] = pair
        for namespace, ifname, host in ((self.dev_ns, pair.dev, "2"), (self.cli_ns, pair.cli, "1")):
            if ipv4_net:
                run("ip", "-n", namespace, "addr", "add", f"{ipv4_net}.{host}/24", "dev", ifname)
            if ipv6_net:
                run("ip", "-n", namespace, "addr", "add", f"{ipv6_net}::{host}/64", "dev", ifname, "nodad")
        for namespace, ifname in ((self.dev_ns, pair.dev), (self.cli_ns, pair.cli)):
            run("ip", "-n", namespace, "link", "set", ifname, "up")
        for namespace, ifname in ((self.dev_ns, pair.dev), (self.cli_ns, pair.cli)):
            self.wait_link_local(namespace, ifname)
        return pair

    def remove_pair(self, pair: VethPair) -> None:
        """Delete a veth pair (deleting one end deletes both)."""
        run("ip", "-n", self.dev_ns, "link", "del", pair.dev, check=False)
        self.pairs = {letter: p for letter, p in self.pairs.items() if p != pair}

    def link_local(self, namespace: str, ifname: str) -> str | None:
        """The usable (not tentative) IPv6 link-local address of ``ifname``, or None."""
        data = json.loads(run("ip", "-j", "-n", namespace, "-6", "addr", "show", "dev", ifname))
        for entry in data:
            for info in entry.get("addr_info", []):
                if info.get("scope") == "link" and not info.get("tentative"):
                    return info["local"]
        return None

    def wait_link_local(self, namespace: str, ifname: str, timeout: float = 5.0) -> str:
        """Wait until ``ifname`` has a usable link-local address; return it. RuntimeError after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            address = self.link_local(namespace, ifname)
            if address:
                return address
            time.sleep(0.05)
        raise RuntimeError(f"no link-local address on {ifname}")

    def ifindex(self, namespace: str, ifname: str) -> int:
        """The interface index of ``ifname`` inside ``namespace``."""
        return in_netns(namespace, lambda: socket.if_nametoindex(ifname))


@contextlib.contextmanager
def lab() -> Iterator[Lab]:
    """A created :class:`Lab` (no veth pairs yet), destroyed afterwards; skips the test where
    namespaces cannot be made (:func:`unavailable`)."""
    reason = unavailable()
    if reason:
        pytest.skip(reason)
    made = Lab()
    try:
        made.create()
        yield made
    finally:
        made.destroy()
