"""Following the kernel's interface and address changes, debounced.

:class:`InterfaceWatch` reads the NETLINK_ROUTE socket of
:func:`~firmware.dpws.interfaces.open_change_monitor` on the event loop and,
``debounce`` seconds after the first change of a burst, calls ``on_change``
once; the caller then re-reads the interfaces
(:func:`~firmware.dpws.interfaces.read_interfaces`). WS-Discovery
(:mod:`firmware.dpws.discovery`) and the eSCL DNS-SD announcer
(:mod:`firmware.escl.dnssd`) each follow the interfaces with one.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable

from .interfaces import open_change_monitor

log = logging.getLogger(__name__)


class InterfaceWatch:
    """Calls ``on_change()`` ``debounce`` seconds (float) after an interface or address
    appeared, changed or went, once per burst, between :meth:`open` and :meth:`close`.

    Use from one event loop.
    """

    def __init__(self, on_change: Callable[[], None], debounce: float) -> None:
        self._on_change = on_change
        self.debounce = debounce
        self._sock: socket.socket | None = None
        self._handle: asyncio.TimerHandle | None = None

    @property
    def watching(self) -> bool:
        """True between :meth:`open` and :meth:`close`."""
        return self._sock is not None

    def open(self) -> None:
        """Subscribe to the kernel's changes (no-op when open). Raises OSError when netlink
        is not available."""
        if self._sock is not None:
            return
        sock = open_change_monitor()
        try:
            asyncio.get_running_loop().add_reader(sock.fileno(), self._readable)
        except BaseException:
            sock.close()
            raise
        self._sock = sock

    def close(self) -> None:
        """Stop following (a pending ``on_change`` is dropped). Idempotent."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self._sock is not None:
            asyncio.get_running_loop().remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None

    def schedule(self) -> None:
        """Call ``on_change`` after ``debounce`` seconds unless a call is already due (used
        by the socket's reader; a caller may ask to look again, open or not: :meth:`close`
        drops the call)."""
        if self._handle is None:
            self._handle = asyncio.get_running_loop().call_later(self.debounce, self._fire)

    def _fire(self) -> None:
        self._handle = None
        self._on_change()

    def _readable(self) -> None:
        assert self._sock is not None
        while True:
            try:
                if not self._sock.recv(1 << 16):
                    break
            except BlockingIOError:
                break
            except OSError as exc:  # ENOBUFS: events were lost; the refresh re-reads everything
                log.debug("netlink monitor: %s", exc)
                break
        self.schedule()
