"""The Pi image built while the other tests run: the tests' order (tests/conftest.py) and the
background child's life (tests/appliance/pi_image.BackgroundBuild)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.appliance.pi_image import BackgroundBuild

CONFTEST = "from tests.conftest import pytest_collection_modifyitems  # noqa: F401\n"


def test_pi_image_tests_run_last_in_their_own_order(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(
        test_a="def test_a1(): pass\ndef test_a2(): pass\n",
        test_pi_image="def test_built(): pass\ndef test_booted(): pass\ndef test_gone(): pass\n",
        test_z="def test_z1(): pass\n",
    )
    recorder = pytester.inline_run("-p", "no:cacheprovider", "-k", "not gone and not a2")
    recorder.assertoutcome(passed=4)
    order = [r.nodeid for r in recorder.getreports("pytest_runtest_logreport") if r.when == "call"]
    assert order == [
        "test_a.py::test_a1",
        "test_z.py::test_z1",
        "test_pi_image.py::test_built",
        "test_pi_image.py::test_booted",
    ]


def _gone(pid: int) -> bool:
    """No such process, or only its zombie (where no init reaps orphans)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def test_stop_ends_the_child_and_what_it_started(tmp_path: Path) -> None:
    grandchild = tmp_path / "grandchild.pid"
    script = f"echo building; sleep 60 & echo $! > {grandchild}; wait"
    build = BackgroundBuild(tmp_path / "log", ["sh", "-c", script])
    build.start()
    assert build.process is not None
    deadline = time.monotonic() + 10
    while not (grandchild.exists() and grandchild.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.02)
    sleeper = int(grandchild.read_text())
    assert build.process.poll() is None
    build.stop(grace=10)
    assert build.process.returncode != 0
    deadline = time.monotonic() + 5
    while not _gone(sleeper) and time.monotonic() < deadline:  # reaped by init once its shell died
        time.sleep(0.02)
    assert _gone(sleeper)
    assert (tmp_path / "log").read_text() == "building\n"


def test_stop_leaves_a_finished_child_alone(tmp_path: Path) -> None:
    build = BackgroundBuild(tmp_path / "log", ["sh", "-c", "echo done"])
    build.start()
    assert build.process is not None
    build.process.wait(10)
    build.stop(grace=1)
    assert build.process.returncode == 0
    assert (tmp_path / "log").read_text() == "done\n"
