"""Where ScannerState, ScannerStateReasons and device conditions change (REFERENCE.md section 2.3, 7).

ScannerState is derived, never stored: Stopped while a Critical condition is
active or the device needs attention, else Processing while a job is active,
else Idle. Conditions get unique Ids (>= 1, never reused while the service
runs) and move to ConditionHistory with their ClearTime when cleared.
Listeners are called after every change with the tracker.
"""

from __future__ import annotations

import collections
import datetime as dt
import itertools
from collections.abc import Callable

from ..jobs.job import utc_now
from ..model import DeviceCondition, ScannerStatus
from ..model.enums import ConditionSeverity, ScannerState, ScannerStateReason
from .conditions import PREPARING_CONDITIONS, STATE_REASON_OF_CONDITION

HISTORY_SIZE = 20


class ScannerStatusTracker:
    """The ScannerStatus of one scanner."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._active: dict[str, DeviceCondition] = {}
        self._history: collections.deque[DeviceCondition] = collections.deque(maxlen=HISTORY_SIZE)
        self._job_active = False
        self._attention = False
        self._offline = False
        self.listeners: list[Callable[[ScannerStatusTracker], None]] = []

    @property
    def state(self) -> ScannerState:
        """ScannerState: Idle | Processing | Stopped. Processing also while the lamp warms up
        or the device calibrates (REFERENCE.md section 7)."""
        if (
            self._attention
            or self._offline
            or any(c.severity == ConditionSeverity.CRITICAL for c in self._active.values())
        ):
            return ScannerState.STOPPED
        preparing = any(name in PREPARING_CONDITIONS for name in self._active)
        return ScannerState.PROCESSING if self._job_active or preparing else ScannerState.IDLE

    @property
    def state_reasons(self) -> tuple[str, ...]:
        """ScannerStateReasons: one per active condition that has a state reason, else None."""
        reasons = [STATE_REASON_OF_CONDITION[n] for n in self._active if n in STATE_REASON_OF_CONDITION]
        if self._attention:
            reasons.append(ScannerStateReason.ATTENTION_REQUIRED)
        return tuple(dict.fromkeys(reasons)) or (ScannerStateReason.NONE,)

    def snapshot(self, now: dt.datetime | None = None) -> ScannerStatus:
        """The ScannerStatus element as of ``now`` (default: the current UTC time)."""
        return ScannerStatus(
            current_time=now or utc_now(),
            state=self.state,
            state_reasons=self.state_reasons,
            active_conditions=tuple(self._active.values()),
            condition_history=tuple(self._history),
        )

    def set_job_active(self, active: bool) -> None:
        """A job started (True) or ended (False) on this scanner."""
        if self._job_active != active:
            self._job_active = active
            self._notify()

    def raise_condition(self, name: str, component: str, severity: str) -> None:
        """Make DeviceCondition ``name`` active (no-op if it already is)."""
        if name in self._active:
            return
        self._active[name] = DeviceCondition(
            id=next(self._ids), time=utc_now(), name=name, component=component, severity=severity
        )
        self._notify()

    def set_attention(self, needed: bool) -> None:
        """The device needs an operator (unplugged, unrecoverable error): Stopped / AttentionRequired."""
        if self._attention != needed:
            self._attention = needed
            self._notify()

    def set_offline(self, offline: bool) -> None:
        """The device cannot be reached (unplugged, failing): Stopped with no state reason of its own
        (AttentionRequired would read as "busy" to sane-airscan; see :mod:`firmware.scan.conditions`)."""
        if self._offline != offline:
            self._offline = offline
            self._notify()

    def clear_all(self) -> None:
        """Every condition is gone (a scan succeeded): move them to ConditionHistory with ClearTime."""
        if not self._active and not self._attention and not self._offline:
            return
        now = utc_now()
        for condition in self._active.values():
            self._history.appendleft(
                DeviceCondition(
                    id=condition.id,
                    time=condition.time,
                    name=condition.name,
                    component=condition.component,
                    severity=condition.severity,
                    clear_time=now,
                )
            )
        self._active.clear()
        self._attention = False
        self._offline = False
        self._notify()

    def _notify(self) -> None:
        for listener in list(self.listeners):
            listener(self)
