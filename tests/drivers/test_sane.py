"""SaneScanner against libsane's real `test` backend, through a project-owned SANE_CONFIG_DIR.

Every test writes its own config (tests/sane_env.py) and runs real worker
processes; results are compared with `scanimage` on the same config.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from drivers.base import ColorMode, Condition, ScannerError, ScannerInfo, ScanParameters, Source
from drivers.sane import SaneScanner, list_scanners, protocol
from drivers.sane.options import COMMON_RESOLUTIONS
from tests.sane_env import scanimage_pnm, write_sane_dir

pytestmark = pytest.mark.sane

REPO = Path(__file__).resolve().parents[2]
TEST0 = ScannerInfo("test:0", "Noname", "frontend-tester", "virtual device")
SLOW = {"read-delay": "true", "read-delay-duration": "100000"}  # 0.1 s per buffer of the backend


def sane_dir(tmp_path: Path, **settings: object) -> Path:
    return write_sane_dir(tmp_path / "sane.d", **settings)


def make_scanner(config: Path, info: ScannerInfo = TEST0, **kwargs) -> SaneScanner:
    return SaneScanner(info, sane_config_dir=str(config), **kwargs)


def params(source=Source.FLATBED, mode=ColorMode.COLOR, dpi=75, area=(0.0, 0.0, 50.0, 50.0)) -> ScanParameters:
    return ScanParameters(source, mode, dpi, *area)


async def read_page(page) -> tuple[bytes, list[int]]:
    chunks = [bytes(c) async for c in page.chunks()]
    return b"".join(chunks), [len(c) for c in chunks]


async def read_next(session) -> tuple | None:
    """The next side, read to its end: (PageInfo, bytes), or None. A page streams
    while the device scans, so a failure mid-page surfaces here, from the chunks."""
    page = await session.next_page()
    if page is None:
        return None
    data, _ = await read_page(page)
    return page.info, data


async def scan_all(scanner: SaneScanner, p: ScanParameters) -> list:
    """Every side of one job: [(PageInfo, bytes)]."""
    session = await scanner.start(p)
    try:
        pages = []
        while (page := await session.next_page()) is not None:
            data, _ = await read_page(page)
            pages.append((page.info, data))
        assert await session.next_page() is None  # stays exhausted
        return pages
    finally:
        await session.close()


async def wait_until(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


def process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_capabilities_come_from_the_device_options(tmp_path):
    config = sane_dir(
        tmp_path, resolution_min="100.0", resolution_max="600.0", geometry_max="210.0", resolution="100.0"
    )

    async def main():
        scanner = make_scanner(config)
        try:
            return await scanner.capabilities()
        finally:
            await scanner.shutdown()

    caps = asyncio.run(main())
    assert list(caps.sources) == [Source.FLATBED, Source.ADF]  # test has no duplex
    for source_caps in caps.sources.values():
        assert source_caps.modes == (ColorMode.COLOR, ColorMode.GRAY)
        assert source_caps.resolutions == (100, 150, 200, 300, 400, 600)  # the range, sampled
        assert (source_caps.max_width_mm, source_caps.max_height_mm) == (210.0, 210.0)
    assert caps.default_resolution == 300 and caps.default_mode is ColorMode.COLOR


def test_capabilities_of_the_default_test_device(tmp_path):
    async def main():
        scanner = make_scanner(sane_dir(tmp_path))
        try:
            return await scanner.capabilities()
        finally:
            await scanner.shutdown()

    caps = asyncio.run(main())
    assert caps.sources[Source.FLATBED].resolutions == COMMON_RESOLUTIONS  # 1..1200 dpi range
    assert caps.sources[Source.ADF].max_width_mm == 200.0


@pytest.mark.parametrize(
    "mode, dpi, area, scanimage_mode, magic",
    [
        (ColorMode.COLOR, 300, (0.0, 0.0, 50.0, 50.0), "Color", "P6"),
        (ColorMode.COLOR, 300, (10.0, 20.0, 60.0, 70.0), "Color", "P6"),
        (ColorMode.GRAY, 150, (5.0, 0.0, 105.0, 40.0), "Gray", "P5"),
    ],
)
def test_flatbed_scan_is_byte_identical_to_scanimage(tmp_path, mode, dpi, area, scanimage_mode, magic):
    config = sane_dir(tmp_path)

    async def main():
        scanner = make_scanner(config)
        try:
            return await scan_all(scanner, params(Source.FLATBED, mode, dpi, area))
        finally:
            await scanner.shutdown()

    [(info, data)] = asyncio.run(main())
    tl_x, tl_y, br_x, br_y = area
    direct = scanimage_pnm(
        config,
        "test:0",
        "--mode",
        scanimage_mode,
        "--resolution",
        str(dpi),
        "-l",
        str(tl_x),
        "-t",
        str(tl_y),
        "-x",
        str(br_x - tl_x),
        "-y",
        str(br_y - tl_y),
    )
    assert direct.magic == magic
    # the right size: SANE's test backend truncates mm / 25.4 * dpi
    assert abs(info.pixels_per_line - (br_x - tl_x) / 25.4 * dpi) < 1
    assert abs(info.lines - (br_y - tl_y) / 25.4 * dpi) < 1
    assert (info.pixels_per_line, info.lines) == (direct.width, direct.height)
    assert info.channels == (3 if mode is ColorMode.COLOR else 1)
    assert info.bytes_per_line == info.pixels_per_line * info.channels
    assert info.resolution == dpi
    assert data == direct.data


def test_adf_batch_gives_ten_pages_then_none(tmp_path):
    async def main():
        scanner = make_scanner(sane_dir(tmp_path))
        try:
            return await scan_all(scanner, params(Source.ADF, ColorMode.GRAY, 75))
        finally:
            await scanner.shutdown()

    pages = asyncio.run(main())
    assert len(pages) == 10
    for info, data in pages:
        assert (info.pixels_per_line, info.lines, info.channels) == (147, 147, 1)
        assert len(data) == info.raw_size


def test_a_large_page_streams_in_chunks_of_whole_rows_without_blocking_the_loop(tmp_path):
    async def main():
        scanner = make_scanner(sane_dir(tmp_path))
        gaps = []
        stop = asyncio.Event()

        async def ticker():
            last = time.monotonic()
            while not stop.is_set():
                await asyncio.sleep(0.005)
                now = time.monotonic()
                gaps.append(now - last)
                last = now

        tick = asyncio.create_task(ticker())
        try:
            session = await scanner.start(params(Source.FLATBED, ColorMode.COLOR, 300, (0, 0, 200, 200)))
            page = await session.next_page()
            data, sizes = await read_page(page)
            await session.close()
        finally:
            stop.set()
            await tick
            await scanner.shutdown()
        return page.info, data, sizes, max(gaps)

    info, data, sizes, worst_gap = asyncio.run(main())
    assert len(data) == info.raw_size == 2362 * 2362 * 3
    assert len(sizes) >= info.raw_size // protocol.CHUNK_BYTES >= 3  # several chunks, not one page object
    assert all(size % info.bytes_per_line == 0 for size in sizes)
    assert max(sizes) <= protocol.CHUNK_BYTES
    assert sizes[0] <= protocol.FIRST_CHUNK_BYTES < sizes[1]  # a small first chunk leaves sooner
    assert worst_gap < 0.25


@pytest.mark.parametrize(
    "status, source, condition",
    [
        ("SANE_STATUS_JAMMED", Source.ADF, Condition.JAMMED),
        ("SANE_STATUS_JAMMED", Source.FLATBED, Condition.JAMMED),
        ("SANE_STATUS_COVER_OPEN", Source.FLATBED, Condition.COVER_OPEN),
        ("SANE_STATUS_DEVICE_BUSY", Source.FLATBED, Condition.DEVICE_BUSY),
        ("SANE_STATUS_IO_ERROR", Source.ADF, Condition.IO_ERROR),
        ("SANE_STATUS_NO_DOCS", Source.FLATBED, Condition.NO_DOCS),
    ],
)
def test_read_status_becomes_a_condition(tmp_path, status, source, condition):
    config = sane_dir(tmp_path, **{"read-status-code": f'"{status}"'})

    async def main():
        scanner = make_scanner(config)
        try:
            # 1 MB: the backend's reader thread is still writing when the job is cancelled
            session = await scanner.start(params(source, dpi=300))
            with pytest.raises(ScannerError) as first:
                await session.next_page()
            with pytest.raises(ScannerError) as again:  # the session stays failed
                await session.next_page()
            pid = scanner.worker_pid
            await session.close()
            assert scanner.worker_pid == pid  # a device condition does not cost the worker
            return first.value, again.value
        finally:
            await scanner.shutdown()

    first, again = asyncio.run(main())
    assert first.condition is condition and again.condition is condition
    assert first.message  # the sane_strstatus text, for logs


def test_cancel_mid_page_stops_the_read_and_keeps_the_worker(tmp_path):
    async def main():
        scanner = make_scanner(sane_dir(tmp_path, **SLOW))
        try:
            # 200 x 200 mm colour at 300 dpi: 16.7 MB, about 25 s at this read delay
            session = await scanner.start(params(Source.ADF, ColorMode.COLOR, 300, (0, 0, 200, 200)))
            pid = scanner.worker_pid
            pending = asyncio.create_task(read_next(session))
            await wait_until(lambda: session.progress is not None and session.progress[0] > 0)  # the page is being read
            line, total = session.progress
            assert 0 < line < total
            began = time.monotonic()
            await session.cancel()
            with pytest.raises(ScannerError) as exc:
                await pending
            cancelled_after = time.monotonic() - began
            await session.close()  # waits for the worker to acknowledge the cancel
            closed_after = time.monotonic() - began
            with pytest.raises(ScannerError) as later:
                await session.next_page()
            # the same worker scans the next job
            pages = await scan_all(scanner, params(Source.FLATBED, ColorMode.GRAY, 75, (0, 0, 10, 10)))
            return exc.value, later.value, cancelled_after, closed_after, pid, scanner.worker_pid, pages
        finally:
            await scanner.shutdown()

    exc, later, cancelled_after, closed_after, pid, pid_after, pages = asyncio.run(main())
    assert exc.condition is Condition.CANCELLED
    assert later.condition is Condition.IO_ERROR  # closed
    assert cancelled_after < 1.0
    assert closed_after < 3.0
    assert pid_after == pid
    assert len(pages) == 1 and pages[0][0].pixels_per_line == 29


def test_task_cancellation_of_a_pending_page_leaves_the_worker_usable(tmp_path):
    async def main():
        scanner = make_scanner(sane_dir(tmp_path, **SLOW))
        try:
            session = await scanner.start(params(Source.ADF, ColorMode.COLOR, 300, (0, 0, 200, 200)))
            pid = scanner.worker_pid
            pending = asyncio.create_task(read_next(session))
            await wait_until(lambda: session.progress is not None and session.progress[0] > 0)
            pending.cancel()  # as the job runner does when a job ends
            with pytest.raises(asyncio.CancelledError):
                await pending
            with pytest.raises(ScannerError) as later:  # the worker was told to stop
                await session.next_page()
            assert later.value.condition is Condition.CANCELLED
            began = time.monotonic()
            await session.close()
            assert time.monotonic() - began < 3.0  # the read stopped: no 25 s page to wait for
            pages = await scan_all(scanner, params(Source.ADF, ColorMode.GRAY, 75, (0, 0, 10, 10)))
            return pid, scanner.worker_pid, pages
        finally:
            await scanner.shutdown()

    pid, pid_after, pages = asyncio.run(main())
    assert pid_after == pid
    assert len(pages) == 10


def test_a_hung_worker_is_killed_and_replaced(tmp_path):
    async def main():
        scanner = make_scanner(sane_dir(tmp_path, **SLOW), unresponsive_timeout=2.0)
        try:
            session = await scanner.start(params(Source.ADF, ColorMode.COLOR, 300, (0, 0, 200, 200)))
            pid = scanner.worker_pid
            pending = asyncio.create_task(read_next(session))
            await wait_until(lambda: session.progress is not None and session.progress[0] > 0)
            os.kill(pid, signal.SIGSTOP)
            began = time.monotonic()
            with pytest.raises(ScannerError) as exc:
                await pending
            detected_after = time.monotonic() - began
            await session.close()
            await wait_until(lambda: process_gone(pid), timeout=5.0)
            pages = await scan_all(scanner, params(Source.FLATBED, ColorMode.GRAY, 75, (0, 0, 10, 10)))
            return exc.value, detected_after, pid, scanner.worker_pid, pages
        finally:
            await scanner.shutdown()

    exc, detected_after, pid, new_pid, pages = asyncio.run(main())
    assert exc.condition is Condition.UNRESPONSIVE
    assert 1.5 <= detected_after < 5.0
    assert new_pid is not None and new_pid != pid
    assert len(pages) == 1


def test_a_worker_stopped_while_idle_is_found_unresponsive_at_the_next_call(tmp_path):
    async def main():
        scanner = make_scanner(sane_dir(tmp_path), unresponsive_timeout=1.0)
        try:
            session = await scanner.start(params())
            os.kill(scanner.worker_pid, signal.SIGSTOP)
            with pytest.raises(ScannerError) as exc:
                await session.next_page()
            await session.close()
            return exc.value, await scan_all(scanner, params())
        finally:
            await scanner.shutdown()

    exc, pages = asyncio.run(main())
    assert exc.condition is Condition.UNRESPONSIVE
    assert len(pages) == 1


def test_a_worker_that_dies_gives_io_error_and_a_fresh_worker(tmp_path):
    async def main():
        scanner = make_scanner(sane_dir(tmp_path, **SLOW))
        try:
            session = await scanner.start(params(Source.ADF, ColorMode.COLOR, 300, (0, 0, 200, 200)))
            pid = scanner.worker_pid
            pending = asyncio.create_task(read_next(session))
            await wait_until(lambda: session.progress is not None and session.progress[0] > 0)
            os.kill(pid, signal.SIGKILL)
            with pytest.raises(ScannerError) as exc:
                await pending
            await session.close()
            pages = await scan_all(scanner, params())
            return exc.value, pid, scanner.worker_pid, pages
        finally:
            await scanner.shutdown()

    exc, pid, new_pid, pages = asyncio.run(main())
    assert exc.condition is Condition.IO_ERROR
    assert "signal 9" in exc.message
    assert new_pid not in (None, pid)
    assert len(pages) == 1


def test_a_worker_found_dead_between_reads_says_how_it_ended(tmp_path):
    """The worker dies while no read is pending (the death is seen by the session's
    own check, not by the pipe): the fault still names the signal."""

    async def main():
        scanner = make_scanner(sane_dir(tmp_path))
        try:
            session = await scanner.start(params())
            link = scanner._link
            os.kill(scanner.worker_pid, signal.SIGKILL)
            await wait_until(lambda: not link.alive)
            with pytest.raises(ScannerError) as exc:
                await session.next_page()
            await session.close()
            return exc.value
        finally:
            await scanner.shutdown()

    exc = asyncio.run(main())
    assert exc.condition is Condition.IO_ERROR
    assert exc.message == "the scanner's worker is gone (signal 9)"


def test_one_session_at_a_time(tmp_path):
    async def main():
        scanner = make_scanner(sane_dir(tmp_path))
        try:
            session = await scanner.start(params())
            with pytest.raises(ScannerError) as busy:
                await scanner.start(params())
            await session.close()
            await session.close()  # idempotent
            return busy.value, await scan_all(scanner, params())
        finally:
            await scanner.shutdown()

    busy, pages = asyncio.run(main())
    assert busy.condition is Condition.DEVICE_BUSY
    assert len(pages) == 1


def test_a_missing_device_is_device_gone(tmp_path):
    async def main():
        scanner = make_scanner(sane_dir(tmp_path), ScannerInfo("test:7", "Noname", "frontend-tester"))
        try:
            with pytest.raises(ScannerError) as exc:
                await scanner.start(params())
            return exc.value
        finally:
            await scanner.shutdown()

    assert asyncio.run(main()).condition is Condition.DEVICE_GONE


def test_sane_options_are_passed_through(tmp_path):
    """Options reach the device; a name it lacks (a typo) is skipped and the scanner still scans
    (issue 14; the e2e test checks the log line); a value it refuses fails the start."""
    config = sane_dir(tmp_path)

    async def main():
        white = make_scanner(config, sane_options={"test_picture": "Solid white"})
        typo = make_scanner(config, sane_options={"no_such_option": 1, "test_picture": "Solid black"})
        bad = make_scanner(config, sane_options={"read_limit_size": "not a number"})
        try:
            [(_info, data)] = await scan_all(white, params(mode=ColorMode.GRAY))
            [(_info, dark)] = await scan_all(typo, params(mode=ColorMode.GRAY))
            with pytest.raises(ScannerError) as exc:
                await bad.start(params())
            return data, dark, exc.value
        finally:
            await white.shutdown()
            await typo.shutdown()
            await bad.shutdown()

    data, dark, exc = asyncio.run(main())
    assert data and set(data) == {255}
    assert dark and set(dark) == {0}, "the options after the unknown one are still set"
    assert exc.condition is Condition.IO_ERROR and "read-limit-size" in exc.message


def test_new_sane_options_restart_the_worker_after_the_open_session(tmp_path):
    config = sane_dir(tmp_path)

    async def main():
        scanner = make_scanner(config, sane_options={"read_return_value": "SANE_STATUS_JAMMED"})
        try:
            session = await scanner.start(params())
            with pytest.raises(ScannerError) as jammed:
                await session.next_page()
            first_pid = scanner.worker_pid
            cleared = {"read_return_value": "Default", "test_picture": "Solid white"}  # the jam is cleared
            assert scanner.apply_options(cleared)
            assert not scanner.apply_options(dict(cleared))  # no change
            assert scanner.worker_pid == first_pid  # the open session keeps its worker
            await session.close()
            caps = await scanner.capabilities()  # read again by a fresh worker with the new options
            second_pid = scanner.worker_pid
            [(info, data)] = await scan_all(scanner, params(mode=ColorMode.GRAY, dpi=75))
            return jammed.value, first_pid, second_pid, caps, info, data
        finally:
            await scanner.shutdown()

    jammed, first_pid, second_pid, caps, info, data = asyncio.run(main())
    assert jammed.condition is Condition.JAMMED
    assert second_pid != first_pid and process_gone(first_pid)
    assert Source.FLATBED in caps.sources
    assert len(data) == info.bytes_per_line * info.lines > 0 and set(data) == {255}  # the new picture option


@pytest.mark.parametrize("count, via_environment", [(2, False), (3, True)])
def test_list_scanners(tmp_path, monkeypatch, count, via_environment):
    config = sane_dir(tmp_path, number_of_devices=str(count))
    if via_environment:  # the worker inherits SANE_CONFIG_DIR
        monkeypatch.setenv("SANE_CONFIG_DIR", str(config))
        found = asyncio.run(list_scanners())
    else:
        found = asyncio.run(list_scanners(str(config)))
    assert [info.name for info in found] == [f"test:{i}" for i in range(count)]
    assert all(info.vendor == "Noname" and info.model == "frontend-tester" and info.usb_id is None for info in found)


def test_shutdown_stops_the_worker(tmp_path):
    async def main():
        scanner = make_scanner(sane_dir(tmp_path))
        session = await scanner.start(params())
        pid = scanner.worker_pid
        await scanner.shutdown()  # with a session open
        await scanner.shutdown()  # idempotent
        await wait_until(lambda: process_gone(pid), timeout=5.0)
        with pytest.raises(ScannerError) as exc:
            await scanner.start(params())
        await session.close()
        return scanner.worker_pid, exc.value

    pid, exc = asyncio.run(main())
    assert pid is None
    assert exc.condition is Condition.DEVICE_GONE


def test_libsane_is_never_loaded_in_the_service_process(tmp_path):
    """A scan from a fresh interpreter leaves python-sane unimported there."""
    config = sane_dir(tmp_path)
    code = """
import asyncio, sys
from drivers.base import ColorMode, ScanParameters, ScannerInfo, Source
from drivers.sane import SaneScanner, list_scanners

async def main():
    names = [i.name for i in await list_scanners()]
    scanner = SaneScanner(ScannerInfo("test:0", "", ""))
    session = await scanner.start(ScanParameters(Source.FLATBED, ColorMode.GRAY, 75, 0, 0, 10, 10))
    page = await session.next_page()
    size = sum([len(c) async for c in page.chunks()])
    await session.close()
    await scanner.shutdown()
    print(names, size, "sane" in sys.modules, "_sane" in sys.modules)

asyncio.run(main())
"""
    env = {**os.environ, "SANE_CONFIG_DIR": str(config), "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["['test:0',", "'test:1']", str(29 * 29), "False", "False"]
