"""Back-to-back scans through sane-airscan (issue 10 item 3), a short run of bench/back_to_back.py:
every scan succeeds, none hangs, also right after a scan interrupted with Ctrl-C.
The bench runs 1,000 (``.venv/bin/python bench/back_to_back.py``)."""

from __future__ import annotations

import pytest

from bench.back_to_back import run_back_to_back

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

SCANS = 40


def test_consecutive_scans_all_succeed(tmp_path):
    result = run_back_to_back(SCANS, tmp_path, timeout=60, cancel_every=8)
    assert result.scans == SCANS and result.cancelled == SCANS // 8
    assert result.ok, result.report()
    assert len(result.seconds) == SCANS - result.cancelled
