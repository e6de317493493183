"""FakeScanner: the SANE driver's behaviour, in process, for the service's unit tests."""

from __future__ import annotations

import asyncio
import time

import pytest

from drivers.base import (
    Capabilities,
    ColorMode,
    Condition,
    ScannerError,
    ScannerInfo,
    ScanParameters,
    Source,
    SourceCapabilities,
)
from drivers.fake import DEFAULT_CAPABILITIES, FakeScanner, fake_page_bytes, fake_pixel, pixels


def params(source=Source.FLATBED, mode=ColorMode.COLOR, dpi=75, area=(0.0, 0.0, 50.0, 50.0)) -> ScanParameters:
    return ScanParameters(source, mode, dpi, *area)


async def read_page(page) -> tuple[bytes, list[int]]:
    """The page's bytes and the size of each chunk."""
    chunks = [bytes(c) async for c in page.chunks()]
    return b"".join(chunks), [len(c) for c in chunks]


async def scan_all(scanner, p: ScanParameters) -> list:
    session = await scanner.start(p)
    pages = []
    try:
        while (page := await session.next_page()) is not None:
            data, _ = await read_page(page)
            pages.append((page.info, data))
    finally:
        await session.close()
    return pages


def test_default_capabilities_offer_three_sources_and_a4_letter_bed():
    caps = asyncio.run(FakeScanner().capabilities())
    assert set(caps.sources) == {Source.FLATBED, Source.ADF, Source.ADF_DUPLEX}
    for source_caps in caps.sources.values():
        assert source_caps.modes == (ColorMode.COLOR, ColorMode.GRAY)
        assert source_caps.resolutions[0] == 75 and source_caps.resolutions[-1] == 600
        assert (source_caps.max_width_mm, source_caps.max_height_mm) == (215.9, 297.0)


@pytest.mark.parametrize(
    "mode, dpi, area, size, channels",
    [
        (ColorMode.COLOR, 300, (0, 0, 50, 50), (591, 591), 3),  # 590.55 rounds up
        (ColorMode.GRAY, 150, (10, 20, 35.4, 45.4), (150, 150), 1),  # 25.4 mm = 1 inch
        (ColorMode.GRAY, 100, (0, 0, 215.9, 297), (850, 1169), 1),  # the whole bed
        (ColorMode.GRAY, 100, (0, 0, 400, 400), (850, 1169), 1),  # clamped to the bed
        (ColorMode.COLOR, 75, (30, 30, 30, 30), (1, 1), 3),  # empty area: one pixel, as SANE
    ],
)
def test_geometry_follows_scan_parameters(mode, dpi, area, size, channels):
    async def main():
        [(info, data)] = await scan_all(FakeScanner(), params(mode=mode, dpi=dpi, area=area))
        return info, data

    info, data = asyncio.run(main())
    assert (info.pixels_per_line, info.lines) == size
    assert info.channels == channels
    assert info.bytes_per_line == size[0] * channels
    assert info.resolution == dpi
    assert len(data) == info.raw_size == size[0] * size[1] * channels


def test_pixels_rounds_half_up():
    assert pixels(25.4, 300) == 300
    assert pixels(50, 300) == 591
    assert pixels(2.5 * 25.4 / 100, 100) == 3  # exactly two and a half pixels
    assert pixels(0, 300) == 1


def test_resolution_snaps_to_nearest_offered():
    caps = Capabilities({Source.FLATBED: SourceCapabilities((100, 300), (ColorMode.GRAY,), 100.0, 100.0)})
    [(info, _)] = asyncio.run(
        scan_all(FakeScanner(capabilities=caps), params(mode=ColorMode.GRAY, dpi=250, area=(0, 0, 25.4, 25.4)))
    )
    assert info.resolution == 300 and info.pixels_per_line == 300


def test_content_is_deterministic_and_delivered_in_several_chunks_of_whole_rows():
    async def main():
        scanner = FakeScanner()
        session = await scanner.start(params(mode=ColorMode.COLOR, dpi=75, area=(0, 0, 40, 30)))
        page = await session.next_page()
        data, sizes = await read_page(page)
        await session.close()
        return page.info, data, sizes

    info, data, sizes = asyncio.run(main())
    assert len(sizes) >= 4
    assert all(size % info.bytes_per_line == 0 for size in sizes)
    assert data == fake_page_bytes(info, ColorMode.COLOR, 1)
    row, col = 17, 33
    offset = row * info.bytes_per_line + col * 3
    assert (
        data[offset : offset + 3] == fake_pixel(ColorMode.COLOR, 1, row, col) == bytes((33, 17, (17 + 33 + 40) % 256))
    )


def test_flatbed_gives_one_page_adf_the_feeder_and_duplex_both_sides():
    scanner = FakeScanner(adf_pages=3)
    flatbed = asyncio.run(scan_all(scanner, params(Source.FLATBED)))
    adf = asyncio.run(scan_all(scanner, params(Source.ADF, mode=ColorMode.GRAY)))
    duplex = asyncio.run(scan_all(scanner, params(Source.ADF_DUPLEX, mode=ColorMode.GRAY)))
    assert (len(flatbed), len(adf), len(duplex)) == (1, 3, 6)
    # every side has its own content
    assert len({data for _, data in adf}) == 3
    assert adf[1][1] == fake_page_bytes(adf[1][0], ColorMode.GRAY, 2)
    assert [p.source for p in scanner.started] == [Source.FLATBED, Source.ADF, Source.ADF_DUPLEX]


def test_empty_feeder_gives_no_page():
    assert asyncio.run(scan_all(FakeScanner(adf_pages=0), params(Source.ADF))) == []


def test_one_session_at_a_time():
    async def main():
        scanner = FakeScanner()
        session = await scanner.start(params())
        with pytest.raises(ScannerError) as busy:
            await scanner.start(params())
        await session.close()
        await session.close()  # idempotent
        again = await scanner.start(params())
        await again.close()
        return busy.value

    assert asyncio.run(main()).condition is Condition.DEVICE_BUSY


@pytest.mark.parametrize("condition", [Condition.JAMMED, Condition.COVER_OPEN, Condition.IO_ERROR])
def test_injected_condition_at_a_page(condition):
    async def main():
        scanner = FakeScanner(fail_with=condition, fail_at_page=3)
        session = await scanner.start(params(Source.ADF))
        got = []
        for _ in range(2):
            got.append(await read_page(await session.next_page()))
        errors = []
        for _ in range(2):  # the session stays failed
            with pytest.raises(ScannerError) as exc:
                await session.next_page()
            errors.append(exc.value.condition)
        await session.close()
        return got, errors

    got, errors = asyncio.run(main())
    assert len(got) == 2
    assert errors == [condition, condition]


def test_injected_condition_at_start():
    async def main():
        scanner = FakeScanner(fail_with=Condition.DEVICE_BUSY, fail_at_page=0)
        with pytest.raises(ScannerError) as exc:
            await scanner.start(params())
        scanner.fail_with = None
        session = await scanner.start(params())
        await session.close()
        return exc.value

    assert asyncio.run(main()).condition is Condition.DEVICE_BUSY


def test_source_or_mode_not_offered_is_an_io_error():
    caps = Capabilities({Source.FLATBED: SourceCapabilities((300,), (ColorMode.GRAY,), 100.0, 100.0)})
    scanner = FakeScanner(capabilities=caps)
    for p in (params(Source.ADF, mode=ColorMode.GRAY), params(Source.FLATBED, mode=ColorMode.COLOR)):
        with pytest.raises(ScannerError) as exc:
            asyncio.run(scanner.start(p))
        assert exc.value.condition is Condition.IO_ERROR


def test_page_delay_and_cancel_while_waiting():
    async def main():
        scanner = FakeScanner(page_delay=5.0)
        session = await scanner.start(params(Source.ADF))
        pending = asyncio.create_task(session.next_page())
        await asyncio.sleep(0.05)
        began = time.monotonic()
        await session.cancel()
        with pytest.raises(ScannerError) as exc:
            await pending
        elapsed = time.monotonic() - began
        with pytest.raises(ScannerError) as later:
            await session.next_page()
        await session.close()
        return exc.value, later.value, elapsed, scanner.cancelled

    exc, later, elapsed, cancelled = asyncio.run(main())
    assert exc.condition is Condition.CANCELLED and later.condition is Condition.CANCELLED
    assert elapsed < 1.0
    assert cancelled == 1


def test_page_delay_delays_each_page():
    async def main():
        session = await FakeScanner(page_delay=0.2).start(params())
        began = time.monotonic()
        page = await session.next_page()
        elapsed = time.monotonic() - began
        await read_page(page)
        await session.close()
        return elapsed

    assert 0.19 <= asyncio.run(main()) < 1.5


def test_cancel_between_chunks():
    async def main():
        session = await FakeScanner().start(params(area=(0, 0, 100, 100)))
        page = await session.next_page()
        chunks = page.chunks()
        first = await chunks.__anext__()
        await session.cancel()
        with pytest.raises(ScannerError) as exc:
            await chunks.__anext__()
        await session.close()
        return first, exc.value

    first, exc = asyncio.run(main())
    assert len(first) > 0
    assert exc.condition is Condition.CANCELLED


def test_unplug_makes_everything_device_gone():
    async def main():
        scanner = FakeScanner()
        session = await scanner.start(params(Source.ADF))
        page = await session.next_page()
        scanner.unplug()
        failures = []
        for call in (lambda: read_page(page), session.next_page, scanner.capabilities, lambda: scanner.start(params())):
            with pytest.raises(ScannerError) as exc:
                await call()
            failures.append(exc.value.condition)
        await session.close()
        scanner.replug()
        assert len(await scan_all(scanner, params())) == 1
        return failures

    assert asyncio.run(main()) == [Condition.DEVICE_GONE] * 4


def test_next_page_before_the_previous_page_was_read_is_a_contract_error():
    async def main():
        session = await FakeScanner().start(params(Source.ADF))
        await session.next_page()
        with pytest.raises(RuntimeError):
            await session.next_page()
        await session.close()

    asyncio.run(main())


def test_shutdown_closes_the_session_and_retires_the_scanner():
    async def main():
        scanner = FakeScanner()
        await scanner.start(params())
        await scanner.shutdown()
        assert scanner.session is None
        with pytest.raises(ScannerError) as exc:
            await scanner.start(params())
        return exc.value

    assert asyncio.run(main()).condition is Condition.DEVICE_GONE


def test_custom_info_and_capabilities_are_reported():
    info = ScannerInfo("fake:9", "Acme", "Scan 9", usb_id="1234:abcd")
    caps = Capabilities({Source.ADF: SourceCapabilities((200,), (ColorMode.GRAY,), 210.0, 297.0)})
    scanner = FakeScanner(info=info, capabilities=caps)
    assert scanner.info is info
    assert asyncio.run(scanner.capabilities()) is caps
    assert asyncio.run(FakeScanner().capabilities()) is DEFAULT_CAPABILITIES


def test_fake_buttons_report_presses_between_jobs_only() -> None:
    from drivers.base import Button, ButtonPress

    async def main() -> list:
        scanner = FakeScanner(buttons=(Button("scan"), Button("email")), feeder_loaded=True)
        presses: list[ButtonPress] = []
        assert await scanner.buttons() == (Button("scan"), Button("email"))
        assert not scanner.press("scan")  # nobody watches yet
        scanner.watch_buttons(presses.append)
        assert scanner.press("email")
        session = await scanner.start(ScanParameters(Source.FLATBED, ColorMode.GRAY, 75, 0, 0, 10, 10))
        assert not scanner.press("scan")  # during a job
        await session.close()
        scanner.feeder_loaded = None
        assert scanner.press("scan")
        with pytest.raises(ValueError):
            scanner.press("copy")
        scanner.watch_buttons(None)
        assert not scanner.press("scan")
        return presses

    assert asyncio.run(main()) == [ButtonPress("email", True), ButtonPress("scan", None)]
