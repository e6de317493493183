"""The page-by-page PDF writer: poppler opens what it writes, with the right pages and sizes, and
the JPEG bytes are embedded unchanged (DCTDecode)."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import tracemalloc

import pytest
from PIL import Image

from firmware.escl.pdf import PdfWriter
from firmware.imaging import Raster

needs_poppler = pytest.mark.skipif(
    shutil.which("pdfinfo") is None,
    reason="needs pdfinfo to read the PDFs (apt-get install poppler-utils; ./scripts/setup --test installs it)",
)


def jpeg(width: int, height: int, mode: str = "RGB", color=(200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new(mode, (width, height), color if mode == "RGB" else 128).save(out, "JPEG", quality=80)
    return out.getvalue()


def write_pdf(pages: list[tuple[Raster, bytes]], chunk: int = 4096, unknown_height: bool = False) -> bytes:
    writer = PdfWriter()
    out = [writer.begin()]
    for raster, data in pages:
        shown = Raster(raster.width, None, raster.channels, raster.dpi) if unknown_height else raster
        out.append(writer.page_start(shown))
        for start in range(0, len(data), chunk):
            out.append(writer.image_data(data[start : start + chunk]))
        out.append(writer.page_end(raster.height))
    out.append(writer.finish())
    return b"".join(out)


@needs_poppler
@pytest.mark.parametrize("unknown_height", [False, True])
def test_poppler_reads_every_page_with_its_size(tmp_path, unknown_height):
    pages = [
        (Raster(300, 150, 3, 100), jpeg(300, 150)),
        (Raster(200, 400, 1, 200), jpeg(200, 400, "L")),
        (Raster(300, 150, 3, 100), jpeg(300, 150, color=(10, 200, 10))),
    ]
    path = tmp_path / "doc.pdf"
    path.write_bytes(write_pdf(pages, unknown_height=unknown_height))
    info = subprocess.run(["pdfinfo", "-f", "1", "-l", "3", str(path)], capture_output=True, text=True, check=True)
    assert "Pages:           3" in info.stdout
    assert re.search(r"Page +1 size: +216 x 108 pts", info.stdout)  # 300 px at 100 dpi = 3 in = 216 pt
    assert re.search(r"Page +2 size: +72 x 144 pts", info.stdout)
    assert "Syntax Error" not in info.stderr, info.stderr
    subprocess.run(["pdftoppm", "-r", "100", "-png", str(path), str(tmp_path / "p")], check=True)
    rendered = sorted(tmp_path.glob("p-*.png"))
    assert len(rendered) == 3
    first = Image.open(rendered[0]).convert("RGB")
    assert first.size == (300, 150)
    red, green, _blue = first.getpixel((150, 75))
    assert red > 150 and green < 80


def test_jpeg_bytes_are_embedded_unchanged():
    data = jpeg(64, 32)
    document = write_pdf([(Raster(64, 32, 3, 300), data)])
    assert data in document
    assert b"/Filter /DCTDecode" in document
    assert document.startswith(b"%PDF-1.4") and document.endswith(b"%%EOF\n")


def test_memory_stays_near_one_chunk_whatever_the_page_count():
    """Fifty 1 MB pages through the writer: what it keeps is its bookkeeping, not the pages."""
    page = b"\xff\xd8" + bytes(1 << 20)  # the writer never parses the JPEG
    writer = PdfWriter()
    tracemalloc.start()
    try:
        sent = len(writer.begin())
        for _ in range(50):
            sent += len(writer.page_start(Raster(2550, 3300, 3, 300)))
            for start in range(0, len(page), 256 * 1024):
                sent += len(writer.image_data(page[start : start + 256 * 1024]))
            sent += len(writer.page_end())
        sent += len(writer.finish())
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sent > 50 << 20
    assert peak < 2 << 20, peak


def test_calls_out_of_order_are_refused():
    writer = PdfWriter()
    with pytest.raises(RuntimeError):
        writer.page_start(Raster(1, 1, 3, 1))
    writer.begin()
    with pytest.raises(RuntimeError):
        writer.finish()  # no page
