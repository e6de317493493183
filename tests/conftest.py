"""Fixtures shared by every test package: the real HTTP event sink."""

from __future__ import annotations

import pytest

from tests.eventing.harness import EventSink


@pytest.fixture
def sink():
    """A real HTTP server on 127.0.0.1 that records every event POSTed to it; closed after the test."""
    s = EventSink()
    try:
        yield s
    finally:
        s.close()
