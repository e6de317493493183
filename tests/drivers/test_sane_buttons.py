"""Scanner buttons on the SANE driver, read the way scanbd reads them.

This machine has no scanner with buttons, and libsane's `test` backend has no
sensor that changes, so the readings of a real button scanner are mocked at the
python-sane layer (its option descriptors and values, shaped like a Fujitsu
fi-series backend's) in unit tests of the worker's polling commands and of the
driver's polling loop. The last test runs the real `test` backend, whose test
options include one sensor-shaped option, end to end through a worker process.
"""

from __future__ import annotations

import asyncio
from unittest import mock

import pytest

from drivers.base import Button, ButtonPress, Condition, ScannerError
from drivers.sane import SaneScanner, protocol
from drivers.sane.buttons import PressDetector, button_options, feeder_option, read_sensors
from drivers.sane.options import descriptor_map
from drivers.sane.worker import _Job, _Worker

from .test_sane import TEST0, make_scanner, params, sane_dir, scan_all

BOOL, INT, GROUP = 0, 1, 5
SENSOR = 2 | 4 | 64  # HARD_SELECT | SOFT_DETECT | ADVANCED, what backends give their buttons
SETTABLE = 1 | 4

# python-sane's 9-tuples: (index, name, title, desc, type, unit, size, cap, constraint)
FUJITSU_OPTIONS = [
    (0, "", "Number of options", "", INT, 0, 4, 4, None),
    (1, "", "Sensors", "", GROUP, 0, 0, 0, None),
    (2, "preview", "Preview", "", BOOL, 0, 4, SETTABLE, None),
    (3, "scan", "Scan button", "", BOOL, 0, 4, SENSOR, None),
    (4, "email", "Email button", "", BOOL, 0, 4, SENSOR, None),
    (5, "page-loaded", "Page loaded", "", BOOL, 0, 4, SENSOR, None),
    (6, "cover-open", "Cover open", "", BOOL, 0, 4, SENSOR, None),
    (7, "button-3", "Button 3", "", BOOL, 0, 4, SENSOR | 32, None),  # inactive
    (8, "function", "Function", "", INT, 0, 4, SENSOR, None),  # not a BOOL
]


def test_buttons_are_the_readable_hardware_set_bools_that_are_no_state_sensors():
    descs = descriptor_map(FUJITSU_OPTIONS)
    assert [d.name for d in button_options(descs)] == ["scan", "email"]
    assert feeder_option(descs).name == "page-loaded"
    values = {3: 0, 4: 1, 5: 1, 6: 1}
    assert read_sensors(descs, values.__getitem__) == (("email",), True)

    def failing(index):
        raise RuntimeError("Invalid argument")

    assert read_sensors(descs, failing) == ((), None)


def test_press_detector_reports_rising_edges_after_priming():
    detector = PressDetector()
    assert detector.update(["scan"]) == []  # the first reading is the baseline
    assert detector.update(["scan"]) == []  # still held
    assert detector.update([]) == []
    assert detector.update(["scan", "email"]) == ["scan", "email"]
    detector.prime()  # e.g. after a job
    assert detector.update(["email"]) == []
    assert detector.update(["email", "scan"]) == ["scan"]


@pytest.fixture
def python_sane(mocker):
    """python-sane as the worker uses it, serving a Fujitsu-like device whose sensor values
    are in the returned dict (option index -> value)."""
    values = {3: 0, 4: 0, 5: 0, 6: 0}
    module = mocker.MagicMock(name="sane")
    handle = module.open.return_value.dev
    handle.get_options.return_value = FUJITSU_OPTIONS
    handle.get_option.side_effect = lambda index: values[index]
    return module, handle, values


def make_worker(module) -> tuple[_Worker, mock.MagicMock]:
    replies = mock.MagicMock(name="replies")
    lib = mock.MagicMock(name="libsane")  # page reading is not used by the button commands
    return _Worker(module, RuntimeError, "fujitsu:fi-6130dj:123", {}, replies, lib), replies


def test_worker_lists_and_polls_the_buttons_keeping_the_device_open(python_sane):
    module, handle, values = python_sane
    worker, replies = make_worker(module)
    worker._buttons()
    assert replies.send.call_args.args[0] == (protocol.OK, [("scan", "Scan button"), ("email", "Email button")])
    worker._poll_buttons()
    assert replies.send.call_args.args[0] == (protocol.OK, ((), False))
    values[3], values[5] = 1, 1  # scan pressed with paper in the feeder
    worker._poll_buttons()
    assert replies.send.call_args.args[0] == (protocol.OK, (("scan",), True))
    assert module.open.call_count == 1  # opened once, kept open between polls
    handle.close.assert_not_called()


def test_worker_never_polls_during_a_job(python_sane):
    module, _handle, _values = python_sane
    worker, _replies = make_worker(module)
    worker._job = _Job(params(), 75)
    for command in (worker._buttons, worker._poll_buttons):
        with pytest.raises(ScannerError) as info:
            command()
        assert info.value.condition is Condition.DEVICE_BUSY


def test_worker_closes_a_device_without_buttons(python_sane):
    module, handle, _values = python_sane
    handle.get_options.return_value = FUJITSU_OPTIONS[:3]
    worker, replies = make_worker(module)
    worker._buttons()
    assert replies.send.call_args.args[0] == (protocol.OK, [])
    handle.close.assert_called_once()


def test_polling_loop_reports_presses_between_jobs_only(mocker, monkeypatch) -> None:
    """SaneScanner's loop over scripted worker replies: a press is reported once; nothing is
    polled while a session is open; a button still down after the job is not a new press."""
    monkeypatch.setattr("drivers.sane.scanner.BUTTON_POLL_INTERVAL", 0.01)
    readings = [((), False), (("scan",), False), (("scan",), False), ((), False), (("email",), True)]
    after_job = [(("email",), True), (("email",), True), ((), True), (("scan",), None)]
    commands: list[str] = []
    presses: list[ButtonPress] = []

    async def main():
        scanner = SaneScanner(TEST0)
        script = iter(readings)

        async def command(cmd):
            commands.append(cmd[0])
            if cmd[0] == protocol.BUTTONS:
                return (protocol.OK, [("scan", "Scan"), ("email", "Email")])
            assert scanner._session is None, "polled during a job"
            return (protocol.OK, next(script))

        mocker.patch.object(scanner, "_command", side_effect=command)
        scanner.watch_buttons(presses.append)
        while len(commands) < 1 + len(readings):
            await asyncio.sleep(0.01)
        assert await scanner.buttons() == (Button("scan", "Scan"), Button("email", "Email"))
        scanner._session = object()  # a job: the loop must stay away from the worker
        polled = len(commands)
        await asyncio.sleep(0.1)
        assert len(commands) == polled
        script = iter(after_job)
        scanner._session = None
        while len(commands) < polled + len(after_job):
            await asyncio.sleep(0.01)
        scanner.watch_buttons(None)
        scanner._executor.shutdown(wait=False)

    asyncio.run(main())
    assert presses == [ButtonPress("scan", False), ButtonPress("email", True), ButtonPress("scan", None)]


@pytest.mark.sane
def test_real_test_backend_sensor_is_listed_and_polled_without_disturbing_scans(tmp_path, mocker) -> None:
    """libsane's `test` backend with its test options on has one option shaped like a sensor
    (bool-hard-select-soft-detect, always false): it is listed as a button and polled through
    the worker process between two real scans, and no press is reported."""
    config = sane_dir(tmp_path)
    presses: list[ButtonPress] = []

    async def main():
        scanner = make_scanner(config, sane_options={"enable_test_options": True})
        spy = mocker.spy(scanner, "_command")
        try:
            buttons = await scanner.buttons()
            scanner.watch_buttons(presses.append)
            await asyncio.sleep(1.0)
            first = await scan_all(scanner, params())
            await asyncio.sleep(1.0)
            second = await scan_all(scanner, params())
            polls = [c for c in spy.call_args_list if c.args[0][0] == protocol.POLL_BUTTONS]
            assert len(polls) >= 4, polls  # about three a second, before and after the first scan
            return buttons, first, second
        finally:
            await scanner.shutdown()

    buttons, first, second = asyncio.run(main())
    assert [b.name for b in buttons] == ["bool-hard-select-soft-detect"]
    assert presses == []
    assert len(first) == len(second) == 1 and first[0][1] == second[0][1]
