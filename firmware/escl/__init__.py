"""eSCL (AirScan / Mopria): macOS, iOS, Android, ChromeOS and Windows 11 scan from the appliance.

One scanner, one job at a time, two protocols: the eSCL resources of a scanner
(:mod:`firmware.escl.http`) act on the WS-Scan service's job table, runs and status
(:mod:`firmware.escl.service`); settings resolve through the WS-Scan ticket rules
(:mod:`firmware.escl.settings`); a side's bytes come from the one adapter
:func:`firmware.escl.pages.next_side`; PDF is written page by page (:mod:`firmware.escl.pdf`).
"""

from __future__ import annotations

from .service import EsclError, EsclService

__all__ = ["EsclError", "EsclService"]
