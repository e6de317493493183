"""The scan bench's cases and its Markdown tables, with issue 11's goals beside device-bound figures.

A :class:`Case` is one (mode, page, format) with the scans of every round per *variant*:
``direct`` (scanimage on the backend), ``wsd`` (scanimage through sane-airscan and the service,
WS-Scan), ``airsane`` (the same through AirSane, eSCL), ``raw`` (the bench's raw WS-Scan client,
:mod:`bench.rawclient`), ``escl`` and ``escl-airsane`` (the bench's raw eSCL client against the
service's eSCL endpoint and against AirSane). Figures are medians over the rounds unless a
column says max. MB = 10^6 bytes, MiB = 2^20 bytes; times in seconds.

Tables (:func:`format_tables`):

1. *through sane-airscan*: wall of direct and WSD scans and their ratio (goal <= 1.05), client
   CPU, service CPU, the service's log of RetrieveImage to first byte and of first row to first
   byte, sane-airscan's tail after the job ended (it decodes an image only once the whole file
   is in, then scanimage writes its own file: no server overlaps that), the ratio without that
   tail (the WSD wall minus the tail, over the direct wall: what the server and the device
   took), memory growth during the scan (median / max), idle growth (idle RSS after the job
   minus before it, max);
2. *against AirSane through sane-airscan*: walls, WSD / AirSane (goal <= 1.0), server CPU and
   memory growth of both (AirSane sends PNG in the jpeg rows: sane-airscan asks it for PNG);
3. *raw WS-Scan client*: per format the image MB, wall to the last byte, the direct scan of the
   same format (PNG and JPEG only) and the ratio (goal <= 1.05), device time, first image byte
   after the device's first row as the client saw it (goal PNG <= 0.050 s, JPEG <= 0.100 s) and
   as the service logged it, service CPU, memory growth (goal <= 16 MiB) and idle growth (goal
   <= 8 MiB);
4. *JPEG through eSCL at equal quality*: the service's eSCL against AirSane, wall, server CPU
   and its ratio (goal <= 1.2), first byte after first row, memory growth, image MB and the
   JPEG's chroma subsampling (the same work only when both halve chroma both ways, libjpeg's
   default: the service does at every quality).

:func:`goals` sums the device-bound goals up in one table.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field

from bench.scans import Page, Scan

MB = 1_000_000
MIB = 1024 * 1024

RATIO_GOAL = 1.05
"""Device-bound: wall through the service / wall of the direct scan of the same format, at most."""

AIRSANE_RATIO_GOAL = 1.0
"""Device-bound: WSD wall / AirSane wall (both through sane-airscan), at most."""

FIRST_BYTE_GOAL = {"png": 0.050, "jfif": 0.100, "jpeg": 0.100}
"""Device-bound: first image byte after the side's first row, at most (seconds)."""

MEMORY_GOAL = 16 * MIB
"""Memory growth of the service's tree during a page, at most (bytes)."""

IDLE_GOAL = 8 * MIB
"""Idle RSS after a job minus before it, at most (bytes)."""

CPU_GOAL = 1.2
"""JPEG server CPU, the service / AirSane at equal quality, at most."""


@dataclass
class Case:
    """One (``mode``, ``page``, ``fmt``) and its scans per variant (see the module docstring)."""

    mode: str
    page: Page
    fmt: str
    scans: dict[str, list[Scan]] = field(default_factory=dict)

    def add(self, variant: str, scan: Scan) -> Scan:
        """Record ``scan`` of ``variant``; returns it."""
        self.scans.setdefault(variant, []).append(scan)
        return scan

    def median(self, variant: str, attribute: str) -> float:
        """Median of ``attribute`` over the rounds of ``variant`` (NaN without scans or values)."""
        values = [v for v in (getattr(s, attribute) for s in self.scans.get(variant, ())) if not math.isnan(v)]
        return statistics.median(values) if values else math.nan

    def max(self, variant: str, attribute: str) -> float:
        """Largest ``attribute`` over the rounds of ``variant`` (NaN without scans or values)."""
        values = [v for v in (getattr(s, attribute) for s in self.scans.get(variant, ())) if not math.isnan(v)]
        return max(values) if values else math.nan

    def first(self, variant: str, attribute: str) -> str:
        """``attribute`` of the first scan of ``variant`` as text ("-" without scans)."""
        scans = self.scans.get(variant)
        return str(getattr(scans[0], attribute)) if scans else "-"

    def raw_mb(self) -> float:
        """MB of the raw 8-bit RGB page, from the first scan that knows the image's size."""
        for scans in self.scans.values():
            for scan in scans:
                if scan.size:
                    return scan.size[0] * scan.size[1] * 3 / MB
        return math.nan


def _f(value: float, digits: int = 2, scale: float = 1.0) -> str:
    return "-" if math.isnan(value) else f"{value / scale:.{digits}f}"


def _goal(value: float, limit: float, bound: bool, digits: int = 2, scale: float = 1.0) -> str:
    if not bound or math.isnan(value):
        return ""
    return f" (<= {limit / scale:.{digits}f}: {'met' if value <= limit else 'NOT met'})"


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + ["| " + " | ".join(r) + " |" for r in rows]


def format_tables(cases: list[Case]) -> str:
    """Every table that has rows (see the module docstring), Markdown."""
    out: list[str] = []
    rows = []
    for c in (c for c in cases if "wsd" in c.scans):
        bound, ratio = c.mode == "device-bound", c.median("wsd", "wall") / c.median("direct", "wall")
        worst = c.max("wsd", "memory_growth")
        rows.append(
            [
                c.mode,
                c.page.name,
                c.fmt,
                _f(c.raw_mb(), 1),
                _f(c.median("direct", "wall")),
                _f(c.median("wsd", "wall")),
                f"{_f(ratio, 3)}{_goal(ratio, RATIO_GOAL, bound)}",
                f"{_f(c.median('direct', 'client_cpu'))} / {_f(c.median('wsd', 'client_cpu'))}",
                _f(c.median("wsd", "service_cpu")),
                _f(c.median("wsd", "first_byte"), 3),
                _f(c.median("wsd", "log_after_row"), 3),
                _f(c.median("wsd", "client_tail")),
                _f(c.median("wsd", "served") / c.median("direct", "wall"), 3),
                f"{_f(c.median('wsd', 'memory_growth'), 1, MIB)} / {_f(worst, 1, MIB)}{_goal(worst, MEMORY_GOAL, bound, 0, MIB)}",
                _f(c.max("wsd", "idle_growth"), 1, MIB),
            ]
        )
    if rows:
        out += ["Through sane-airscan (WS-Scan):", ""]
        out += _table(
            [
                "mode",
                "page",
                "format",
                "raw page MB",
                "direct s",
                "WSD s",
                "ratio (goal)",
                "client CPU s direct / WSD",
                "service CPU s",
                "RetrieveImage to 1st byte s (log)",
                "1st row to 1st byte s (log)",
                "client tail s",
                "ratio without client tail",
                "memory growth MiB median / max (goal)",
                "idle growth MiB max",
            ],
            rows,
        )
    rows = []
    for c in (c for c in cases if "airsane" in c.scans):
        ratio = c.median("wsd", "wall") / c.median("airsane", "wall")
        rows.append(
            [
                c.mode,
                c.page.name,
                c.fmt,
                *(_f(c.median(v, "wall")) for v in ("direct", "wsd", "airsane")),
                _f(c.median("airsane", "wall") / c.median("direct", "wall"), 3),
                f"{_f(ratio, 3)}{_goal(ratio, AIRSANE_RATIO_GOAL, c.mode == 'device-bound')}",
                f"{_f(c.median('wsd', 'service_cpu'))} / {_f(c.median('airsane', 'service_cpu'))}",
                f"{_f(c.median('wsd', 'memory_growth'), 1, MIB)} / {_f(c.median('airsane', 'memory_growth'), 1, MIB)}",
                f"{_f(c.max('wsd', 'idle_growth'), 1, MIB)} / {_f(c.max('airsane', 'idle_growth'), 1, MIB)}",
            ]
        )
    if rows:
        out += ["", "Against AirSane, both through sane-airscan (AirSane sends PNG in the jpeg rows):", ""]
        out += _table(
            [
                "mode",
                "page",
                "format",
                "direct s",
                "WSD s",
                "AirSane s",
                "AirSane / direct",
                "WSD / AirSane (goal)",
                "server CPU s WSD / AirSane",
                "memory growth MiB median WSD / AirSane",
                "idle growth MiB max WSD / AirSane",
            ],
            rows,
        )
    out += _raw_table(cases) + _escl_table(cases)
    return "\n".join(out)


def _raw_table(cases: list[Case]) -> list[str]:
    rows = []
    for c in (c for c in cases if "raw" in c.scans):
        bound = c.mode == "device-bound"
        direct = c.median("direct", "wall")
        ratio = c.median("raw", "wall") / direct
        after_row = c.median("raw", "client_after_row")
        worst, idle = c.max("raw", "memory_growth"), c.max("raw", "idle_growth")
        limit = FIRST_BYTE_GOAL.get(c.fmt)
        rows.append(
            [
                c.mode,
                c.page.name,
                c.fmt,
                _f(c.median("raw", "image_mb"), 1),
                _f(c.median("raw", "wall")),
                _f(direct),
                f"{_f(ratio, 3)}{_goal(ratio, RATIO_GOAL, bound)}",
                _f(c.median("raw", "device_time")),
                f"{_f(after_row, 3)}{_goal(after_row, limit or math.inf, bound and limit is not None, 3)}",
                _f(c.median("raw", "log_after_row"), 3),
                _f(c.median("raw", "first_byte"), 3),
                _f(c.median("raw", "service_cpu")),
                f"{_f(c.median('raw', 'memory_growth'), 1, MIB)} / {_f(worst, 1, MIB)}{_goal(worst, MEMORY_GOAL, bound, 0, MIB)}",
                f"{_f(idle, 1, MIB)}{_goal(idle, IDLE_GOAL, bound, 0, MIB)}",
            ]
        )
    if not rows:
        return []
    return [
        "",
        "Raw WS-Scan client (no decoding: the service's own wall):",
        "",
        *_table(
            [
                "mode",
                "page",
                "format",
                "image MB",
                "wall to last byte s",
                "direct s",
                "ratio (goal)",
                "device time s",
                "1st row to 1st byte s, client (goal)",
                "1st row to 1st byte s (log)",
                "RetrieveImage to 1st byte s (log)",
                "service CPU s",
                "memory growth MiB median / max (goal)",
                "idle growth MiB max (goal)",
            ],
            rows,
        ),
    ]


def _escl_table(cases: list[Case]) -> list[str]:
    rows = []
    for c in (c for c in cases if "escl" in c.scans):
        ours, theirs = c.median("escl", "service_cpu"), c.median("escl-airsane", "service_cpu")
        ratio = ours / theirs if theirs else math.nan
        rows.append(
            [
                c.mode,
                c.page.name,
                f"{_f(c.median('escl', 'wall'))} / {_f(c.median('escl-airsane', 'wall'))}",
                f"{_f(ours)} / {_f(theirs)}",
                f"{_f(ratio, 2)}{_goal(ratio, CPU_GOAL, c.mode == 'device-bound')}",
                f"{_f(c.median('escl', 'client_after_row'), 3)} / {_f(c.median('escl-airsane', 'client_after_row'), 3)}",
                f"{_f(c.max('escl', 'memory_growth'), 1, MIB)} / {_f(c.max('escl-airsane', 'memory_growth'), 1, MIB)}",
                f"{_f(c.median('escl', 'image_mb'), 1)} / {_f(c.median('escl-airsane', 'image_mb'), 1)}",
                f"{c.first('escl', 'sampling')} / {c.first('escl-airsane', 'sampling')}",
            ]
        )
    if not rows:
        return []
    return [
        "",
        "JPEG through eSCL, raw client, equal quality (ours / AirSane):",
        "",
        *_table(
            [
                "mode",
                "page",
                "wall s",
                "server CPU s",
                "CPU ratio (goal)",
                "1st row to 1st byte s",
                "memory growth MiB max",
                "image MB",
                "chroma subsampling",
            ],
            rows,
        ),
    ]


def _span(values: list[float], limit: float, digits: int = 3, scale: float = 1.0) -> str:
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return "not measured"
    low, high = min(values) / scale, max(values) / scale
    text = f"{low:.{digits}f}" if low == high else f"{low:.{digits}f}-{high:.{digits}f}"
    return f"{text}: {'met' if max(values) <= limit else 'NOT met'}"


def goals(cases: list[Case]) -> str:
    """Issue 11's goals against the device-bound cases, one row each (Markdown): the range of the
    figures (medians; maxima for memory) and whether every one is within the goal."""
    bound = [c for c in cases if c.mode == "device-bound"]
    ratio = [c.median("wsd", "wall") / c.median("direct", "wall") for c in bound if "wsd" in c.scans]
    raw_ratio = []
    for c in (c for c in bound if "raw" in c.scans and "direct" in c.scans):
        raw_ratio.append(c.median("raw", "wall") / c.median("direct", "wall"))
    airsane = [c.median("wsd", "wall") / c.median("airsane", "wall") for c in bound if "airsane" in c.scans]
    first = {f: [c.median("raw", "client_after_row") for c in bound if c.fmt == f] for f in ("png", "jfif")}
    logged = {f: [c.median("raw", "log_after_row") for c in bound if c.fmt == f] for f in ("png", "jfif")}
    a4 = [c.max("raw", "memory_growth") for c in bound if c.page.height_mm >= 297 and "raw" in c.scans]
    idle = [c.max(v, "idle_growth") for c in bound for v in ("wsd", "raw", "escl") if v in c.scans]
    cpu = [
        c.median("escl", "service_cpu") / c.median("escl-airsane", "service_cpu")
        for c in bound
        if "escl-airsane" in c.scans
    ]
    rows = [
        ["wall <= 1.05x direct, through sane-airscan (PNG, JPEG)", _span(ratio, RATIO_GOAL)],
        ["wall to last byte <= 1.05x direct, raw client (PNG, JPEG)", _span(raw_ratio, RATIO_GOAL)],
        ["wall <= 1.0x AirSane, both through sane-airscan", _span(airsane, AIRSANE_RATIO_GOAL)],
        [
            "first byte <= 50 ms after the first row, PNG (raw client / service log)",
            f"{_span(first['png'], 0.050)} / {_span(logged['png'], 0.050)}",
        ],
        [
            "first byte <= 100 ms after the first row, JPEG (raw client / service log)",
            f"{_span(first['jfif'], 0.100)} / {_span(logged['jfif'], 0.100)}",
        ],
        ["memory growth <= 16 MiB, A4 600 dpi, every format (max, MiB)", _span(a4, MEMORY_GOAL, 1, MIB)],
        ["idle RSS after each job within 8 MiB of before it (max over jobs, MiB)", _span(idle, IDLE_GOAL, 1, MIB)],
        ["JPEG server CPU <= 1.2x AirSane's at equal quality (eSCL)", _span(cpu, CPU_GOAL, 2)],
    ]
    return "\n".join(_table(["goal (device-bound)", "result"], rows))
