"""What the DNS-SD announcement of one eSCL scanner says: its instance name and its TXT record.

The TXT keys are the ones eSCL clients read from a ``_uscan._tcp`` service (Mopria eSCL
Scan Technical Specification, "Service Discovery"; Apple's AirScan conventions):

* ``txtvers`` ``1``; ``vers`` the eSCL version served (``pwg:Version`` of ScannerCapabilities);
* ``ty`` make and model, as ScannerCapabilities' ``MakeAndModel``;
* ``rs`` the eSCL base path without its leading ``/`` (``scanners/test-0/eSCL``): clients
  build ``http://<address>:<port>/<rs>/ScannerCapabilities`` from it. The default scanner, the
  one also served at ``/eSCL`` (:mod:`firmware.escl.routes`), is announced with ``rs=eSCL``:
  sane-backends' ``escl`` (1.2.1) lists only services whose ``rs`` is ``eSCL`` or ``/eSCL``;
* ``UUID`` the device UUID, bare (no ``urn:uuid:``), the same as ScannerCapabilities' ``UUID``;
* ``cs`` the colour spaces of any input source, in the order ``color,grayscale,binary``;
* ``is`` the input sources, ``platen`` and/or ``adf``; ``duplex`` ``T`` when the feeder scans
  both sides, else ``F``;
* ``pdl`` the MIME types of the documents served (the ``DocumentFormat`` values);
* ``adminurl`` the scanner's status page (the same resource as ScannerCapabilities'
  ``AdminURI``), when the caller knows an address for it.

``representation`` (an icon URL) is left out: the server serves no icon.

DNS-SD limits (RFC 6763): an instance name is at most 63 octets of UTF-8, a TXT string
(``key=value``) at most 255 octets; longer values are cut at a character boundary.
"""

from __future__ import annotations

from collections.abc import Collection

from drivers.base import ColorMode, Source

from .model import ESCL_VERSION
from .routes import ROOT
from .service import EsclService

SERVICE_TYPE = "_uscan._tcp.local."
"""The DNS-SD service type of eSCL over plain HTTP."""

MAX_INSTANCE_OCTETS = 63
"""RFC 6763 section 4.1.1: an instance name label is at most 63 octets."""

MAX_TXT_OCTETS = 255
"""RFC 6763 section 6.1: one ``key=value`` string is at most 255 octets."""

_COLOR_SPACES: tuple[tuple[ColorMode, str], ...] = (
    (ColorMode.COLOR, "color"),
    (ColorMode.GRAY, "grayscale"),
    (ColorMode.LINEART, "binary"),
)


def cut_utf8(text: str, octets: int) -> str:
    """``text`` cut to at most ``octets`` octets of UTF-8, never inside a character."""
    return text.encode("utf-8")[:octets].decode("utf-8", "ignore")


def txt_record(service: EsclService, admin_url: str | None = None, at_root: bool = False) -> dict[str, str]:
    """The TXT record of ``service`` as ``{key: value}`` (see the module docstring for each key).

    ``admin_url``: an absolute URL of the scanner's status page, or None to leave ``adminurl``
    out; ``at_root``: ``service`` is the default scanner, served at ``/eSCL`` too (``rs=eSCL``).
    Values are cut so that every ``key=value`` fits :data:`MAX_TXT_OCTETS`.
    """
    sources = service.scan.capabilities.sources
    modes = {mode for source in sources.values() for mode in source.modes}
    inputs = []
    if Source.FLATBED in sources:
        inputs.append("platen")
    if Source.ADF in sources or Source.ADF_DUPLEX in sources:
        inputs.append("adf")
    record = {
        "txtvers": "1",
        "vers": ESCL_VERSION,
        "ty": service.make_and_model,
        "rs": ROOT.lstrip("/") if at_root else service.base.lstrip("/"),
        "UUID": service.uuid,
        "cs": ",".join(name for mode, name in _COLOR_SPACES if mode in modes),
        "is": ",".join(inputs),
        "duplex": "T" if Source.ADF_DUPLEX in sources else "F",
        "pdl": ",".join(service.formats),
    }
    if admin_url is not None:
        record["adminurl"] = admin_url
    return {key: cut_utf8(value, MAX_TXT_OCTETS - len(key) - 1) for key, value in record.items()}


def instance_name(friendly_name: str, taken: Collection[str]) -> str:
    """A DNS-SD instance name for ``friendly_name`` that is none of ``taken`` (compared without case,
    as DNS names are): the name itself, else the name with `` (2)``, `` (3)``... Each candidate is cut
    to :data:`MAX_INSTANCE_OCTETS` (the suffix kept whole). An empty name becomes ``Scanner``."""
    base = friendly_name.strip() or "Scanner"
    folded = {name.casefold() for name in taken}
    number = 1
    while True:
        suffix = f" ({number})" if number > 1 else ""
        candidate = cut_utf8(base, MAX_INSTANCE_OCTETS - len(suffix)).rstrip() + suffix
        if candidate.casefold() not in folded:
            return candidate
        number += 1
