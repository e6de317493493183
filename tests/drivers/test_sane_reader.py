"""drivers/sane/reader.py against libsane's `test` backend: the SANE handle found inside python-sane's
SaneDev, rows read with sane_read compared byte for byte with python-sane's snap() and scanimage, and
pages of unknown height streamed through the worker.

python-sane runs in a spawned child process (as in the driver), never in the test process.
If python-sane's SaneDev layout changes, test_the_handle_inside_python_sane_is_the_device_handle fails.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import time
import warnings
from pathlib import Path

import pytest

from drivers.base import ColorMode, Condition, ScannerError, ScannerInfo, ScanParameters, Source
from drivers.sane import SaneScanner, protocol
from tests.sane_env import scanimage_pnm, write_sane_dir

TEST0 = ScannerInfo("test:0", "Noname", "frontend-tester", "virtual device")


WORKER_TIMEOUT = 60.0
"""Seconds one call in a spawned child may take (each reads a few small pages)."""


def in_worker(config: Path, function, *args, timeout: float = WORKER_TIMEOUT):
    """Run ``function(*args)`` in a fresh spawned process with SANE_CONFIG_DIR = ``config``.

    A child that has not answered after ``timeout`` seconds is killed and the call made once
    more in a new child, with a warning: libsane's sanei_thread cancels a backend's reader
    thread asynchronously (``sane_cancel``), and one cancelled inside ``malloc`` leaves the
    arena's lock taken, so the child hangs for ever in ``pthread_join``. The driver's watchdog
    kills such a worker; here the test process must. A second hang fails the test.
    """
    try:
        return _in_child(config, timeout, function, *args)
    except TimeoutError as exc:
        warnings.warn(f"the SANE child hung and was killed; calling once more ({exc})", stacklevel=2)
    try:
        return _in_child(config, timeout, function, *args)
    except TimeoutError as exc:
        raise AssertionError(f"the SANE child hung twice: {exc}") from None


def _in_child(config: Path, timeout: float, function, *args):
    ctx = multiprocessing.get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_child_main, args=(send, str(config), function, *args), daemon=True)
    child.start()
    send.close()
    try:
        if not receive.poll(timeout):
            raise TimeoutError(f"{function.__name__} gave no answer in {timeout:.0f} s")
        ok, value = receive.recv()
    finally:
        receive.close()
        if child.is_alive():
            child.kill()
        child.join(10)
    if not ok:
        raise value
    return value


def _child_main(send, config: str, function, *args) -> None:
    try:
        result = (True, _call(config, function, *args))
    except BaseException as exc:  # noqa: BLE001 - carried to the test process
        result = (False, exc)
    send.send(result)
    send.close()


def _call(config: str, function, *args):
    os.environ["SANE_CONFIG_DIR"] = config
    import _sane
    import sane

    from drivers.sane import reader

    sane.init()
    try:
        dev = sane.open("test:0").dev
        try:
            return function(reader, reader.LibSane(_sane), dev, *args)
        finally:
            dev.close()
    finally:
        sane.exit()


def _set(dev, **values) -> None:
    index = {option[1]: option[0] for option in dev.get_options() if option[1]}
    for name, value in values.items():
        dev.set_option(index[name.replace("_", "-")], value)


def _probe_handle(reader, lib, dev):
    _set(dev, resolution=75.0, br_x=20.0, br_y=30.0)
    handle = reader.sane_handle(dev)
    before = (lib.get_parameters(handle).as_python_sane(), tuple(dev.get_parameters()))
    dev.start()
    after = (lib.get_parameters(handle).as_python_sane(), tuple(dev.get_parameters()))
    dev.snap(True, False)  # to the end of the page: the backend's reader thread is done before sane_cancel
    dev.cancel()
    return type(dev).__basicsize__, object.__basicsize__, before, after


def test_the_handle_inside_python_sane_is_the_device_handle(tmp_path):
    """Guards the layout assumption of drivers/sane/reader.py (PyObject_HEAD, then SANE_Handle h):
    sane_get_parameters through the handle found there must equal python-sane's get_parameters()."""
    config = write_sane_dir(tmp_path / "sane.d")
    size, head, before, after = in_worker(config, _probe_handle)
    import ctypes

    assert size == head + ctypes.sizeof(ctypes.c_void_p), "python-sane's SaneDev layout changed"
    assert before[0] == before[1]
    assert after[0] == after[1]
    assert after[0][2] == (59, 88)  # 20 x 30 mm at 75 dpi: the parameters are the device's, not zeros


def _read_both(reader, lib, dev, settings, rows_per_band, first_rows=None):
    """One page with sane_read (PageReader), then the same page with snap()."""
    _set(dev, **settings)
    page = reader.PageReader(lib, dev, threading.Event())
    dev.start()
    info = page.start_page(75)
    bands = list(page.bands(rows_per_band, first_rows=first_rows))
    rows = page.rows
    dev.cancel()
    dev.start()
    data, width, height, samples, _ = dev.snap(True, False)
    dev.cancel()
    return info, [bytes(b) for b in bands], rows, (bytes(data), width, height, samples)


@pytest.mark.parametrize(
    "settings",
    [
        {"mode": "Color", "depth": 8},
        {"mode": "Gray", "depth": 8},
        {"mode": "Gray", "depth": 1},  # lineart: 0/255 bytes, as snap() gives them
        {"mode": "Gray", "depth": 8, "hand_scanner": True},  # lines = -1
        {"mode": "Color", "depth": 8, "read_limit": True, "read_limit_size": 1000},  # reads cut mid-row
    ],
    ids=["color8", "gray8", "lineart", "hand-scanner", "short-reads"],
)
def test_sane_read_gives_the_bytes_of_snap(tmp_path, settings):
    config = write_sane_dir(tmp_path / "sane.d", **{"test-picture": '"Color pattern"'})
    area = {"resolution": 75.0, "br_x": 40.0, "br_y": 35.0}
    info, bands, rows, (data, width, height, samples) = in_worker(config, _read_both, {**area, **settings}, 7)
    assert (info.pixels_per_line, info.channels) == (width, samples)
    assert info.lines == (-1 if settings.get("hand_scanner") else height)
    assert rows == height > 0
    assert all(len(b) == 7 * info.bytes_per_line for b in bands[:-1]) and 0 < len(bands[-1]) <= 7 * width * samples
    assert b"".join(bands) == data


def test_a_first_band_of_its_own_size_then_bands_of_the_others(tmp_path):
    """``first_rows``: the first band is that many rows (it leaves sooner), then ``rows_per_band``."""
    config = write_sane_dir(tmp_path / "sane.d", **{"test-picture": '"Color pattern"'})
    settings = {"resolution": 75.0, "br_x": 40.0, "br_y": 35.0, "mode": "Color", "depth": 8}
    info, bands, rows, (data, _, height, _) = in_worker(config, _read_both, settings, 20, 3)
    sizes = [len(b) // info.bytes_per_line for b in bands]
    assert sizes[0] == 3 and set(sizes[1:-1]) == {20} and 0 < sizes[-1] <= 20
    assert rows == height == sum(sizes) and b"".join(bands) == data


def test_the_chunk_schedule_counts_every_chunk():
    """protocol.chunk_rows / chunk_count: a small first chunk, then CHUNK_BYTES ones, counted exactly."""
    first, later = protocol.chunk_rows(4724 * 3)  # 600 dpi colour rows of a 200 mm page
    assert first * 4724 * 3 <= protocol.FIRST_CHUNK_BYTES < later * 4724 * 3 <= protocol.CHUNK_BYTES
    assert protocol.chunk_rows(10 << 20) == (1, 1)  # a row longer than a chunk: one row each
    assert [protocol.chunk_count(lines, 3, 20) for lines in (0, 1, 3, 4, 23, 24, 43, 44)] == [0, 1, 1, 2, 2, 3, 3, 4]


def test_sane_read_gives_the_bytes_of_scanimage(tmp_path):
    config = write_sane_dir(tmp_path / "sane.d")
    settings = {"resolution": 100.0, "br_x": 50.0, "br_y": 40.0, "mode": "Color", "depth": 8}
    info, bands, _, _ = in_worker(config, _read_both, settings, 16)
    direct = scanimage_pnm(config, "test:0", "--mode", "Color", "--resolution", "100", "-x", "50", "-y", "40")
    assert (info.pixels_per_line, info.lines) == (direct.width, direct.height)
    assert b"".join(bands) == direct.data


def test_16_bit_samples_become_their_high_byte(tmp_path):
    # python-sane 2.9.2's snap() misreads 16-bit data unless it keeps 16 bits (it reads half rows),
    # so the reference is scanimage: 16-bit PNM, big-endian samples
    config = write_sane_dir(tmp_path / "sane.d")
    settings = {"resolution": 75.0, "br_x": 40.0, "br_y": 35.0, "mode": "Color", "depth": 16}
    info, bands, rows, _ = in_worker(config, _read_both, settings, 5)
    direct = scanimage_pnm(
        config, "test:0", "--mode", "Color", "--depth", "16", "--resolution", "75", "-x", "40", "-y", "35"
    )
    assert (info.pixels_per_line, info.lines, rows) == (direct.width, direct.height, direct.height)
    assert b"".join(bands) == direct.data[0::2]


def _three_pass(reader, lib, dev):
    _set(dev, mode="Color", three_pass=True, resolution=75.0, br_x=10.0, br_y=10.0)
    dev.start()
    try:
        reader.PageReader(lib, dev, threading.Event()).start_page(75)
    except ScannerError as exc:
        return exc.condition, exc.message
    finally:
        dev.cancel()
    return None


def test_a_three_pass_frame_fails_clearly(tmp_path):
    config = write_sane_dir(tmp_path / "sane.d")
    condition, message = in_worker(config, _three_pass)
    assert condition is Condition.IO_ERROR and "three-pass" in message


def test_a_page_of_unknown_height_streams_through_the_worker(tmp_path):
    config = write_sane_dir(tmp_path / "sane.d", mode="Gray")
    # the test backend's hand scanner: 11 cm wide, height unknown until the end of the page
    p = ScanParameters(Source.FLATBED, ColorMode.GRAY, 75, 0.0, 0.0, 110.0, 100.0)

    async def main():
        scanner = SaneScanner(TEST0, sane_config_dir=str(config), sane_options={"hand_scanner": True})
        try:
            session = await scanner.start(p)
            page = await session.next_page()
            sizes = [len(c) async for c in page.chunks()]
            again = await session.next_page()
            await session.close()
            return page.info, sizes, again
        finally:
            await scanner.shutdown()

    info, sizes, again = asyncio.run(main())
    direct = scanimage_pnm(config, "test:0", "--hand-scanner=yes", "--mode", "Gray", "--resolution", "75", "-y", "100")
    assert info.lines == -1 and info.pixels_per_line == direct.width
    assert sum(sizes) == direct.width * direct.height  # the rows were counted as they came
    assert all(size > 0 and size % info.bytes_per_line == 0 for size in sizes)
    assert again is None


def test_the_first_rows_arrive_while_the_device_still_scans(tmp_path):
    slow = {"read-delay": "true", "read-delay-duration": "50000"}  # 50 ms per backend buffer
    config = write_sane_dir(tmp_path / "sane.d", **slow)
    p = ScanParameters(Source.FLATBED, ColorMode.COLOR, 150, 0.0, 0.0, 100.0, 100.0)  # 2.1 MB

    async def main():
        scanner = SaneScanner(TEST0, sane_config_dir=str(config))
        try:
            session = await scanner.start(p)
            began = time.monotonic()
            page = await session.next_page()
            arrivals = [(time.monotonic() - began, len(c)) async for c in page.chunks()]
            await session.close()
            return page.info, arrivals
        finally:
            await scanner.shutdown()

    info, arrivals = asyncio.run(main())
    assert sum(size for _, size in arrivals) == info.raw_size
    first, last = arrivals[0][0], arrivals[-1][0]
    assert len(arrivals) >= info.raw_size // protocol.CHUNK_BYTES
    assert first < last / 4  # the first band came long before the page was done


def _slow_bands(reader, lib, dev):
    reader.PROGRESS_SECONDS = 0.05
    _set(dev, resolution=300.0, br_x=100.0, br_y=60.0, mode="Color", depth=8)
    page = reader.PageReader(lib, dev, threading.Event())
    dev.start()
    info = page.start_page(300)
    events = []
    rows_per_band = (512 << 10) // info.bytes_per_line  # about 0.8 s a band at this read delay
    for band in page.bands(rows_per_band, lambda rows: events.append(("progress", rows))):
        events.append(("band", len(band) // info.bytes_per_line))
    dev.cancel()
    return info.lines, events


def test_a_slow_band_reports_progress_before_it_is_full(tmp_path):
    config = write_sane_dir(tmp_path / "sane.d", **{"read-delay": "true", "read-delay-duration": "100000"})
    lines, events = in_worker(config, _slow_bands)
    assert sum(n for kind, n in events if kind == "band") == lines
    first_band = next(i for i, (kind, _) in enumerate(events) if kind == "band")
    reported = [n for kind, n in events[:first_band] if kind == "progress"]
    assert len(reported) >= 3 and reported == sorted(reported) and 0 < reported[-1] <= events[first_band][1]


def test_the_link_reads_the_page_stream_framing():
    """The worker's page stream as drivers/sane/protocol.py describes it, read by WorkerLink."""
    from drivers.base import PageInfo
    from drivers.sane.link import WorkerLink

    info = PageInfo(4, -1, 12, 3, 75)
    link = WorkerLink(None)
    reading, writing = multiprocessing.Pipe(duplex=False)
    link._replies = reading
    row = bytes(range(12))
    # a page of unknown height, with a framed PROGRESS in the middle
    writing.send((protocol.PAGE, info, protocol.STREAMED))
    writing.send_bytes(row * 2)
    writing.send_bytes(b"")
    writing.send((protocol.PROGRESS, 3, -1))
    writing.send_bytes(row)
    writing.send_bytes(b"")
    writing.send((protocol.PAGE_END, 3))
    assert link.receive_reply()[0] == protocol.PAGE
    assert link.receive_chunk() == row * 2 and link.progress == (2, -1)
    assert link.receive_chunk() == row and link.progress == (3, -1)
    assert link.receive_chunk() is None and link.pending_chunks == 0
    # a counted page that ends early: the missing chunks are empty
    writing.send((protocol.PAGE, PageInfo(4, 9, 12, 3, 75), 3))
    writing.send_bytes(row)
    writing.send_bytes(b"")
    writing.send((protocol.PAGE_END, 1))
    link.receive_reply()
    assert [link.receive_chunk() for _ in range(3)] == [row, b"", b""] and link.pending_chunks == 0
    # a failure mid-page
    writing.send((protocol.PAGE, PageInfo(4, 9, 12, 3, 75), 3))
    writing.send_bytes(row)
    writing.send_bytes(b"")
    writing.send((protocol.ERROR, Condition.JAMMED.value, "Document feeder jammed"))
    link.receive_reply()
    assert link.receive_chunk() == row
    with pytest.raises(ScannerError) as failed:
        link.receive_chunk()
    assert failed.value.condition is Condition.JAMMED and link.pending_chunks == 0
    # the next command's reply is read normally
    writing.send((protocol.OK, None))
    assert link.receive_reply() == (protocol.OK, None)
    reading.close()
    writing.close()


def _sleep_forever(reader, lib, dev):
    time.sleep(3600)


def test_a_child_that_hangs_is_killed_and_tried_once_more(tmp_path):
    """The harness itself: a hung child (as a backend's cancelled reader thread leaves it) is
    killed, the call repeated once with a warning, and a second hang fails the test."""
    config = write_sane_dir(tmp_path / "sane.d")
    with pytest.warns(UserWarning, match="hung and was killed"), pytest.raises(AssertionError, match="hung twice"):
        in_worker(config, _sleep_forever, timeout=2.0)
