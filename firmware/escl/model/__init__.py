"""The typed eSCL model (Mopria eSCL Scan Technical Specification 2.x): ScanSettings,
ScannerCapabilities, ScannerStatus (with JobInfo) and ScanImageInfo, one ``to_xml`` and one
``from_xml`` each.

Elements live in two namespaces: ``scan:`` (:data:`~firmware.wire.namespaces.ESCL`) and
``pwg:`` (:data:`~firmware.wire.namespaces.PWG`), written with exactly those prefixes (clients
such as sane-airscan match ``scan:ScannerCapabilities`` by its prefixed name). Lengths are in
1/300 inch (``escl:ThreeHundredthsOfInches``), resolutions in dpi.

Parsing is lenient where clients differ: an element is found by its local name in either
namespace (sane-backends sends ``scan:InputSource`` next to ``pwg:InputSource``; some clients
put DocumentFormat in ``scan:``). A value that is not what the schema allows raises
:class:`EsclModelError` (the server answers HTTP 400).

Modules: :mod:`.settings` (ScanSettings, ScanRegion), :mod:`.capabilities`
(ScannerCapabilities, InputCaps), :mod:`.status` (ScannerStatus, JobInfo, ScanImageInfo)
and :mod:`.base` (the version, tags, enums and element readers they share).
"""

from .base import (
    ESCL_VERSION,
    INTENTS,
    THREE_HUNDREDTHS,
    AdfState,
    ColorMode,
    EsclModelError,
    InputSource,
    State,
    pwg,
    scan,
)
from .capabilities import InputCaps, ScannerCapabilities
from .settings import ScanRegion, ScanSettings
from .status import JobInfo, ScanImageInfo, ScannerStatus

__all__ = [
    "ESCL_VERSION",
    "INTENTS",
    "THREE_HUNDREDTHS",
    "AdfState",
    "ColorMode",
    "EsclModelError",
    "InputCaps",
    "InputSource",
    "JobInfo",
    "ScanImageInfo",
    "ScanRegion",
    "ScanSettings",
    "ScannerCapabilities",
    "ScannerStatus",
    "State",
    "pwg",
    "scan",
]
