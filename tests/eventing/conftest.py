"""Fixtures for the eventing tests: the fake scanner, a running event sink, and the evented service."""

from __future__ import annotations

import pytest

from drivers.fake import FakeScanner
from firmware.eventing import EventingSettings

from .harness import serve_with_events


@pytest.fixture
def fake():
    return FakeScanner()


@pytest.fixture
def server(fake, sink, tmp_path):  # the sink outlives the service: shutdown events reach it
    with serve_with_events(fake, tmp_path / "state", eventing=EventingSettings(delivery_timeout=1.0)) as s:
        yield s
