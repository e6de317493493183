"""Fixtures and hooks shared by every test package.

* ``sink``: the real HTTP event sink.
* ``netns_lab``: a device and a client network namespace of this test (tests/netns.py); the
  test adds the veth pairs it needs. Skips where namespaces cannot be made (not root).
* Schema checks without the schemas: a test whose WDPScan.xsd validations did
  nothing (tests/xsd.py, ``$WSD_SCAN_SCHEMAS`` absent) still runs every other
  assertion; if they all pass it is reported as skipped, with the one-line reason.
"""

from __future__ import annotations

from collections.abc import Generator

import pytest

from tests import netns, xsd
from tests.eventing.harness import EventSink

pytest_plugins = ["pytester"]  # tests/test_schema_skips.py runs small test files with these hooks


@pytest.fixture
def sink():
    """A real HTTP server on 127.0.0.1 (also .2 and .3, for other PCs) that records every event
    POSTed to it; closed after the test."""
    s = EventSink(("127.0.0.1", "127.0.0.2", "127.0.0.3"))
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def netns_lab(request: pytest.FixtureRequest) -> Generator[netns.Lab]:
    """A :class:`tests.netns.Lab` of this test (no veth pairs yet); deleted after it.

    The test must carry the ``netns`` marker, so that ``scripts/test --fast`` leaves it out.
    """
    assert request.node.get_closest_marker("netns"), f"{request.node.nodeid} uses netns_lab: mark it netns"
    with netns.lab() as lab:
        yield lab


# --- schema checks skipped for missing schemas -------------------------------------------------------


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Forget skipped schema checks of an earlier test (or of its teardown)."""
    xsd.take_skipped()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    """After a test body passed: skip it if a schema check in its set-up or body did nothing.

    A failing test keeps its failure (the ``yield`` re-raises it before this check).
    """
    result = yield
    reasons = xsd.take_skipped()
    if reasons:
        pytest.skip(f"every other assertion passed; its schema validation did not run: {reasons[0]}")
    return result
