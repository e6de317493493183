"""A process tree's CPU time and resident memory, read from /proc (proc(5)), for the benchmarks.

:func:`process_tree` lists a process and its descendants, :func:`tree_cpu_seconds`
and :func:`tree_rss` sum their CPU seconds and RSS, :class:`RssSampler` samples the
RSS peak of a tree (or of one process) in a thread while a scan runs; the streaming
tests (``tests/test_streaming.py``) use it too.
"""

from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass

SAMPLE_INTERVAL = 0.020
"""Seconds between two RSS samples of a process tree."""

TREE_REFRESH_SAMPLES = 10
"""Re-list the tree's descendants every this many samples (processes can come and go)."""


@dataclass(frozen=True)
class ProcStat:
    """What the bench reads from ``/proc/PID/stat``: parent PID, CPU seconds
    (utime + stime of the process; cutime + cstime of its reaped children) and RSS in bytes."""

    ppid: int
    cpu: float
    children_cpu: float
    rss: int


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def read_stat(pid: int) -> ProcStat | None:
    """Parse ``/proc/PID/stat`` (proc(5) fields 4, 14-17, 24); None when the process is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            text = handle.read()
    except OSError:
        return None
    fields = text[text.rindex(b")") + 2 :].split()  # fields[0] is field 3 (state)
    ticks = [int(fields[i]) for i in (11, 12, 13, 14)]
    return ProcStat(
        ppid=int(fields[1]),
        cpu=(ticks[0] + ticks[1]) / _CLOCK_TICKS,
        children_cpu=(ticks[2] + ticks[3]) / _CLOCK_TICKS,
        rss=int(fields[21]) * _PAGE_SIZE,
    )


def process_tree(root: int) -> list[int]:
    """PIDs of ``root`` and all its live descendants (a scan of every ``/proc/PID/stat``)."""
    parents: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            stat = read_stat(int(entry.name))
            if stat is not None:
                parents.setdefault(stat.ppid, []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(parents.get(pid, ()))
    return tree


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds (user + system) used so far by ``root`` and its descendants, including
    descendants that ended and were reaped (their time moved to the parent's cutime/cstime)."""
    total = 0.0
    for pid in process_tree(root):
        stat = read_stat(pid)
        if stat is not None:
            total += stat.cpu + stat.children_cpu
    return total


def tree_rss(pids: list[int]) -> int:
    """Sum of the resident set sizes of ``pids`` in bytes (gone processes count 0)."""
    return sum(stat.rss for stat in map(read_stat, pids) if stat is not None)


class RssSampler:
    """Samples the RSS of a process tree every ``interval`` seconds (:data:`SAMPLE_INTERVAL`
    unless given) in a thread and keeps the peak (bytes). Use as a context manager around the
    measured work. With ``tree=False`` only ``root`` itself is sampled (its workers not).

    With ``log`` (a list another thread appends lines to), it also notes in
    ``matched_at`` the ``time.monotonic()`` at which a line from index
    ``log_start`` on first matched ``pattern`` (to within one interval).
    """

    def __init__(
        self,
        root: int,
        log: list[str] | None = None,
        log_start: int = 0,
        pattern: re.Pattern | None = None,
        *,
        tree: bool = True,
        interval: float = SAMPLE_INTERVAL,
    ) -> None:
        self.root = root
        self.tree, self.interval = tree, interval
        self.peak = 0
        self.matched_at: float | None = None
        self._log, self._seen, self._pattern = log, log_start, pattern
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._watch_log()

    def _run(self) -> None:
        pids: list[int] = []
        count = 0
        while True:
            if count % TREE_REFRESH_SAMPLES == 0:
                pids = process_tree(self.root) if self.tree else [self.root]
            count += 1
            self.peak = max(self.peak, tree_rss(pids))
            self._watch_log()
            if self._stop.wait(self.interval):
                return

    def _watch_log(self) -> None:
        if self._log is None or self._pattern is None or self.matched_at is not None:
            return
        while self._seen < len(self._log):
            if self._pattern.search(self._log[self._seen]):
                self.matched_at = time.monotonic()
                return
            self._seen += 1
