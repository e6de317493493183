"""The scanner interface: what the service needs from any scanner.

This module is the whole contract between ``firmware/`` and a scanner
implementation (SANE in ``drivers/sane``, the fake in ``drivers/fake.py``).
It speaks SANE's terms: geometry in millimetres, resolutions in dpi,
sources ``Flatbed`` / ``ADF`` / ``ADF Duplex``, modes ``Color`` / ``Gray`` /
``Lineart``. The firmware converts to WS-Scan's 1/1000 inch and names.

Pages never cross this interface as one image object: a :class:`Page` is a
header (:class:`PageInfo`) plus an async stream of row chunks, each a whole
number of rows, so a backend that reads rows as they come can stream them.

Every failure is a :class:`ScannerError` carrying a :class:`Condition`; the
firmware maps conditions to JobState, ScannerStatus and SOAP faults in one
place (``firmware/scan/conditions.py``).
"""

from __future__ import annotations

import abc
import enum
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass


class Source(enum.Enum):
    """A paper source, named as SANE frontends name them."""

    FLATBED = "Flatbed"
    ADF = "ADF"
    ADF_DUPLEX = "ADF Duplex"


class ColorMode(enum.Enum):
    """A scan mode with its bit depth: Color = 3 x 8 bit, Gray = 8 bit, Lineart = 1 bit."""

    COLOR = "Color"
    GRAY = "Gray"
    LINEART = "Lineart"


class Condition(enum.Enum):
    """A physical or device condition that stops a scan.

    The firmware maps each to ScannerState/ScannerStateReason, JobStateReason and
    a SOAP fault (REFERENCE.md section 7).
    """

    JAMMED = "jammed"  # SANE_STATUS_JAMMED: paper jam
    COVER_OPEN = "cover-open"  # SANE_STATUS_COVER_OPEN
    NO_DOCS = "no-docs"  # SANE_STATUS_NO_DOCS: feeder empty
    DEVICE_BUSY = "device-busy"  # SANE_STATUS_DEVICE_BUSY
    WARMING_UP = "warming-up"  # SANE_STATUS_WARMING_UP (lamp)
    CALIBRATING = "calibrating"  # the device calibrates; SANE has no status for it (see drivers/sane/errors.py)
    DEVICE_GONE = "device-gone"  # unplugged, sane_open fails, USB gone
    UNRESPONSIVE = "unresponsive"  # the worker stopped answering and was killed
    IO_ERROR = "io-error"  # SANE_STATUS_IO_ERROR and anything unmapped
    CANCELLED = "cancelled"  # the scan was cancelled through ScanSession.cancel()


class ScannerError(Exception):
    """A scan or device operation failed because of ``condition``.

    ``message`` is a human-readable text (for SANE, the ``sane_strstatus`` text).
    """

    def __init__(self, condition: Condition, message: str = "") -> None:
        super().__init__(message or condition.value)
        self.condition = condition
        self.message = message or condition.value


@dataclass(frozen=True)
class ScannerInfo:
    """Identity of one scanner as SANE lists it.

    ``name`` is the SANE device name (``test:0``, ``genesys:libusb:001:004``);
    ``usb_id`` is ``"vvvv:pppp"`` (hex vendor:product) when known, else None;
    ``usb_port`` the USB port path in sysfs terms (``1-1.2``: bus 1, port 1 of
    the root hub, port 2 of the hub behind it) when known, else None. Unlike
    the libusb device number in ``name``, the port path stays the same while
    the scanner stays in the same socket, across re-plugging and reboots.
    """

    name: str
    vendor: str
    model: str
    type: str = "flatbed scanner"
    usb_id: str | None = None
    usb_port: str | None = None

    @property
    def stable_key(self) -> str:
        """What identifies this scanner across re-plugging and reboots: ``usb:<usb_id>@<usb_port>``
        (``usb:04a9:190f@1-1.2``) for a USB scanner whose port is known, else the SANE name."""
        if self.usb_id and self.usb_port:
            return f"usb:{self.usb_id}@{self.usb_port}"
        return self.name


@dataclass(frozen=True)
class SourceCapabilities:
    """What one source can do.

    ``resolutions``: supported dpi values, ascending (a SANE range is sampled to
    common values). ``modes``: supported colour modes. Sizes in millimetres:
    the scannable area is ``max_width_mm`` x ``max_height_mm`` from the top-left
    corner; ``min_*`` the smallest area the device accepts.
    """

    resolutions: tuple[int, ...]
    modes: tuple[ColorMode, ...]
    max_width_mm: float
    max_height_mm: float
    min_width_mm: float = 0.0
    min_height_mm: float = 0.0
    optical_resolution: int | None = None


@dataclass(frozen=True)
class Capabilities:
    """Everything a scanner offers, per source (one entry per supported :class:`Source`)."""

    sources: dict[Source, SourceCapabilities]
    default_resolution: int = 300
    default_mode: ColorMode = ColorMode.COLOR
    brightness: bool = False  # the device has a brightness control
    contrast: bool = False  # the device has a contrast control


@dataclass(frozen=True)
class ScanParameters:
    """One scan job's settings, in SANE units.

    The area is ``tl_x_mm, tl_y_mm`` (top-left) to ``br_x_mm, br_y_mm``
    (bottom-right), millimetres from the top-left of the bed. ``resolution``
    in dpi (same both directions). ``brightness``/``contrast`` are -1000..1000
    (WS-Scan's range, 0 = unchanged); a driver maps them onto what the device
    has, or ignores them.
    """

    source: Source
    mode: ColorMode
    resolution: int
    tl_x_mm: float
    tl_y_mm: float
    br_x_mm: float
    br_y_mm: float
    brightness: int = 0
    contrast: int = 0


@dataclass(frozen=True)
class PageInfo:
    """Shape of one page's raw data.

    ``pixels_per_line`` x ``lines`` pixels (``lines`` is -1 when the device does
    not know the height in advance, as hand scanners). Rows are packed, no
    padding: ``bytes_per_line = pixels_per_line * channels`` for 8-bit data.
    ``channels`` is 3 (RGB) or 1 (gray); ``depth`` is always 8: a 1-bit lineart
    scan is delivered as 8-bit gray with 0 = black, 255 = white.
    ``resolution`` in dpi.
    """

    pixels_per_line: int
    lines: int
    bytes_per_line: int
    channels: int
    resolution: int
    depth: int = 8

    @property
    def raw_size(self) -> int:
        """Bytes of the whole page, or -1 when ``lines`` is unknown."""
        return -1 if self.lines < 0 else self.lines * self.bytes_per_line


@dataclass(frozen=True)
class Button:
    """A button on the scanner, as the backend names it: ``name`` is the SANE option name
    of its sensor (``scan``, ``email``, ``copy``, ``file``, ``button-1``...), ``title`` its
    human-readable title."""

    name: str
    title: str = ""


@dataclass(frozen=True)
class ButtonPress:
    """The user pressed button ``name`` (a :attr:`Button.name`). ``feeder_loaded``: whether
    paper was in the document feeder at that moment, or None when the device cannot tell."""

    name: str
    feeder_loaded: bool | None = None


ButtonCallback = Callable[[ButtonPress], None]
"""Called on the event loop for each button press (see :meth:`Scanner.watch_buttons`)."""


class Page(abc.ABC):
    """One scanned side: its :class:`PageInfo` and its rows, streamed."""

    info: PageInfo

    @abc.abstractmethod
    def chunks(self) -> AsyncIterator[bytes]:
        """Yield the page's data top to bottom as ``bytes``-like chunks.

        Each chunk holds a whole number of rows (``len(chunk) %
        info.bytes_per_line == 0``). Raises :class:`ScannerError` if the device
        fails mid-page. Iterate it once.
        """


class ScanSession(abc.ABC):
    """A running scan job on one scanner: pages come out one at a time."""

    @abc.abstractmethod
    async def next_page(self) -> Page | None:
        """Scan the next side and return it, or ``None`` when there is none.

        ``None`` means: the feeder is empty (SANE_STATUS_NO_DOCS), or a flatbed
        already gave its one page. The previous page's chunks must have been
        consumed first. Raises :class:`ScannerError` (JAMMED, COVER_OPEN,
        DEVICE_GONE, UNRESPONSIVE, IO_ERROR, CANCELLED, ...).
        """

    @abc.abstractmethod
    async def cancel(self) -> None:
        """Stop the hardware now (sane_cancel); a pending ``next_page`` or chunk
        read raises ``ScannerError(CANCELLED)``. Never raises."""

    @abc.abstractmethod
    async def close(self) -> None:
        """End the session and free the scanner for the next one. Never raises;
        idempotent."""


class Scanner(abc.ABC):
    """One scanner device.

    Raises :class:`ScannerError` from every method when the device fails.
    One session at a time: ``start`` while a session is open raises
    ``ScannerError(DEVICE_BUSY)``.
    """

    info: ScannerInfo

    @abc.abstractmethod
    async def capabilities(self) -> Capabilities:
        """Return what the device offers (cached after the first call)."""

    @abc.abstractmethod
    async def start(self, params: ScanParameters) -> ScanSession:
        """Configure the device with ``params`` and return a session.

        Scanning starts at once or at the first ``next_page``; this call itself
        returns quickly (no paper moves before it returns on the SANE driver).
        """

    @abc.abstractmethod
    async def shutdown(self) -> None:
        """Release the device for good (stop the worker process). Never raises."""

    async def buttons(self) -> tuple[Button, ...]:
        """The scanner's buttons (front-panel keys a frontend can read; scanbd's "sensors").
        The default: none. Raises :class:`ScannerError` when the device fails."""
        return ()

    def watch_buttons(self, callback: ButtonCallback | None) -> None:
        """Call ``callback`` on the event loop for each button press from now on (None: stop).

        Presses are looked for only while no session is open (a scan in progress
        is never disturbed). Must be called on the event loop. The default does
        nothing: a scanner without buttons never calls it. Never raises.
        """
        return None

    @abc.abstractmethod
    def apply_options(self, options: dict[str, object]) -> bool:
        """Use the backend option values ``options`` (SANE option names in python-sane
        spelling, e.g. ``{"read_return_value": "Default"}``) for every session opened
        from now on, replacing the previous ones; a session open now keeps its values.

        Returns True when they differ from the values in use (the next
        :meth:`capabilities` then reads the device again: options such as the
        default resolution change what it reports), False when nothing changed.
        Never raises; a value the backend refuses shows at the next session.
        """
