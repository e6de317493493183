"""Fixtures and hooks shared by every test package.

* ``sink``: the real HTTP event sink.
* ``netns_lab``: a device and a client network namespace of this test (tests/netns.py); the
  test adds the veth pairs it needs. Skips where namespaces cannot be made (not root).
* Schema checks without the schemas: a test whose WDPScan.xsd validations did
  nothing (tests/xsd.py, ``$WSD_SCAN_SCHEMAS`` absent) still runs every other
  assertion; if they all pass it is reported as skipped, with the one-line reason.
* The Pi image tests (tests/appliance/test_pi_image.py) run last, and the image they need starts
  building in the background as soon as the session's tests are known
  (:class:`tests.appliance.pi_image.BackgroundBuild`).
"""

from __future__ import annotations

from collections.abc import Generator

import pytest

from tests import netns, xsd
from tests.appliance import pi_image
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


# --- the Pi image, built while the other tests run ---------------------------------------------------

PI_IMAGE_TESTS = "test_pi_image.py"
_BACKGROUND_BUILD = pytest.StashKey[pi_image.BackgroundBuild]()


def _is_pi_image_test(item: pytest.Item) -> bool:
    return item.path.name == PI_IMAGE_TESTS


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Move the Pi image tests to the end (after -k/-m deselection), in their own order, so that
    the background build has the rest of the session to finish in."""
    items[:] = [item for item in items if not _is_pi_image_test(item)] + [
        item for item in items if _is_pi_image_test(item)
    ]


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start building the Pi image in the background when Pi image tests will run here (not in an
    xdist worker, not with --collect-only, not where they skip for a missing prerequisite)."""
    config = session.config
    if hasattr(config, "workerinput") or config.option.collectonly:
        return
    if not any(_is_pi_image_test(item) for item in session.items) or pi_image.why_not() is not None:
        return
    build = pi_image.BackgroundBuild(pi_image.recipe().cache_dir() / "background-build.log")
    build.start()
    config.stash[_BACKGROUND_BUILD] = build


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop a background build the session did not wait for (it ended early: -x, Ctrl-C)."""
    build = config.stash.get(_BACKGROUND_BUILD, None)
    if build is not None:
        build.stop()
