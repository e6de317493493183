"""Encoder benchmark: band encoders (firmware/imaging) fed at a device's pace against a whole-page Pillow encode.

    .venv/bin/python bench/encode_bench.py [--dpi 600] [--rate 20] [--mode rgb|gray|bilevel] [--band-rows 16]
                                           [--only NAME ...]

The page is A4 (210 x 297 mm) at ``--dpi``, scan-like content (smooth
gradients, dark bars as text or edges, Gaussian sensor noise of sigma ``--noise``, 6 levels by default), RGB by
default: 4960 x 7016 pixels, 104 MB raw at 600 dpi. It arrives in bands of ``--band-rows``
rows (16; the SANE driver's first band, 128 KiB, is 8 rows of this page, the later 512 KiB ones 35) at ``--rate`` MB/s
(10^6 bytes), as a USB scanner delivers it.

Cases, each in its own fresh process (so memory figures do not mix):

* ``stream <fmt>``: the band encoder of ``firmware.imaging`` is fed each band as
  it arrives (PNG with the Sub filter and with the None filter; JPEG in strips of 16 rows);
* ``whole <fmt>``: the path RetrieveImage took before sides were streamed (kept here as
  the reference): the bands are gathered into one buffer, then Pillow encodes the page
  (:func:`_pillow_whole_page`).

Printed per case: first byte (seconds from the first band's arrival to the
first encoded byte; a header written before any row does not count), first data (the
same to the first byte of image data past the file's header: PNG's first IDAT, JPEG's
first entropy-coded byte after SOS, the first pixel row of TIFF and DIB), total (seconds from the first band to the last byte; the
device alone takes raw size / rate), CPU seconds of the process (all threads,
the pacing sleeps cost none), peak RSS growth over the
process's RSS just before the page (MiB, sampled every 2 ms), and file size.
Figures only: no goals, exit status 0 unless a case fails.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BAND_ROWS = 16
A4_MM = (210.0, 297.0)
FORMATS = ("png", "tiff-single-uncompressed", "dib", "jfif", "exif")


def _rss() -> int:
    with open(f"/proc/{os.getpid()}/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _bands(width: int, channels: int, bilevel: bool, noise_sigma: float, count: int = 8) -> list[bytes]:
    """``count`` different scan-like bands of BAND_ROWS rows (cycled over the page)."""
    from PIL import Image, ImageChops, ImageDraw

    bands = []
    for k in range(count):
        gradient = Image.linear_gradient("L").resize((width, BAND_ROWS)).rotate(90 * (k % 2), expand=False)
        gradient = gradient.resize((width, BAND_ROWS))
        noise = Image.effect_noise((width, BAND_ROWS), noise_sigma).point(lambda v: max(0, v - 128))
        base = ImageChops.add(gradient, noise)
        draw = ImageDraw.Draw(base)
        for x in range(k * 37 % 200, width, 211):  # "text": short dark strokes
            draw.rectangle((x, 2, x + 9 + k, BAND_ROWS - 3), fill=25)
        if bilevel:
            base = base.point(lambda v: 255 if v >= 128 else 0)
        if channels == 3:
            base = Image.merge("RGB", (base, base.transpose(Image.Transpose.FLIP_LEFT_RIGHT), gradient))
        bands.append(base.tobytes())
    return bands


def _pillow_whole_page(fmt: str, info, page: bytearray, write, bilevel: bool) -> None:
    """Encode the whole ``page`` with Pillow's writers (zlib level 3 for PNG), as the service did
    before it streamed sides; the file goes to ``write`` in one piece."""
    import io

    from PIL import Image

    mode = "RGB" if info.channels == 3 else "L"
    image = Image.frombuffer(mode, (info.pixels_per_line, info.lines), page, "raw", mode, info.bytes_per_line, 1)
    dpi = (info.resolution, info.resolution)
    if bilevel and fmt not in ("jfif", "exif"):
        image = image.convert("1", dither=Image.Dither.NONE)
    pillow: dict[str, tuple[str, dict]] = {
        "png": ("PNG", {"compress_level": 3}),
        "jfif": ("JPEG", {"quality": 85}),
        "exif": ("JPEG", {"quality": 85, "exif": Image.Exif()}),
        "dib": ("BMP", {}),
        "tiff-single-uncompressed": ("TIFF", {"compression": "raw"}),
    }
    name, options = pillow[fmt]
    out = io.BytesIO()
    image.save(out, name, dpi=dpi, **options)
    write(out.getvalue())


def _warm_up(fmt: str) -> None:
    """Encode a tiny page first: codec libraries and Pillow's plugins are loaded before the page
    (their memory is not the page's, their loading not its first byte), as in a service that
    already ran a job."""
    from firmware.imaging import Raster, new_encoder

    encoder = new_encoder(fmt, Raster(16, 16, 3, 75), lambda _: None)
    encoder.feed(bytes(16 * 16 * 3))
    encoder.close()


def _data_offset(fmt: str, head: bytes, header_size: int | None) -> int | None:
    """Where the image data starts in the file's first bytes ``head`` (None: not in them yet);
    ``header_size``: the bytes the encoder wrote before any row, if known (TIFF's header and IFD)."""
    if fmt == "png":
        position = head.find(b"IDAT")
        return None if position < 0 else position + 4
    if fmt in ("jfif", "exif"):
        position = head.find(b"\xff\xda")
        if position < 0 or len(head) < position + 4:
            return None
        return position + 2 + int.from_bytes(head[position + 2 : position + 4], "big")
    if fmt == "dib":
        return int.from_bytes(head[10:14], "little") if len(head) >= 14 else None
    return header_size  # TIFF: the rows follow the header and the IFD


def run_case(
    kind: str, fmt: str, variant: str, dpi: int, rate: float, mode: str, noise: float, band_rows: int = 16
) -> dict:
    """One case in this process; returns its figures."""
    from drivers.base import PageInfo
    from firmware.imaging import BandEncoder, Raster, new_encoder
    from firmware.imaging.png import FILTER_NONE, FILTER_SUB, PngEncoder

    _warm_up(fmt)

    channels = 3 if mode == "rgb" else 1
    bilevel = mode == "bilevel"
    width, height = (round(mm / 25.4 * dpi) for mm in A4_MM)
    row = width * channels
    content = b"".join(_bands(width, channels, bilevel, noise))  # 128 rows, cycled over the page
    cycle = len(content) // row
    content += content[: band_rows * row]  # a band that wraps around the cycle is one slice
    raster = Raster(width, height, channels, dpi, bilevel)
    first_byte: list[float] = []
    first_data: list[float] = []
    written = [0]
    head = bytearray()  # the file's first bytes, to find where its image data starts
    header_size: list[int | None] = [None]

    def write(chunk: bytes) -> None:
        now = time.monotonic()
        if not first_byte:
            first_byte.append(now)
        written[0] += len(chunk)
        if not first_data and len(head) < 1 << 16:
            head.extend(chunk[: (1 << 16) - len(head)])
            offset = _data_offset(fmt, bytes(head), header_size[0])
            if offset is not None and written[0] > offset:
                first_data.append(now)

    peak, stop = [0], threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _rss())
            time.sleep(0.002)

    before = _rss()
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    cpu0 = time.process_time()
    start = time.monotonic()
    encoder: BandEncoder | None = None
    if kind == "stream":
        if fmt == "png":
            encoder = PngEncoder(raster, write, filter_type=FILTER_SUB if variant == "sub" else FILTER_NONE)
        else:
            encoder = new_encoder(fmt, raster, write)
        first_byte.clear()  # headers written before any row do not count as the first byte
        header_size[0] = written[0]
    page = bytearray()
    delivered = 0
    for index, first in enumerate(range(0, height, band_rows)):
        rows = min(band_rows, height - first)
        delivered += rows * row
        due = start + delivered / (rate * 1e6)
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        if index == 0:
            arrival = time.monotonic()
        offset = first % cycle * row
        band = content[offset : offset + rows * row]
        if encoder is not None:
            encoder.feed(band)
        else:
            page += band
    if encoder is not None:
        encoder.close()
    else:
        _pillow_whole_page(fmt, PageInfo(width, height, row, channels, dpi), page, write, bilevel)
    end = time.monotonic()
    cpu = time.process_time() - cpu0
    stop.set()
    sampler.join()
    return {
        "case": f"{kind} {fmt}" + (f" ({variant})" if variant else ""),
        "first_byte": (first_byte[0] if first_byte else end) - arrival,
        "first_data": (first_data[0] if first_data else end) - arrival,
        "total": end - arrival,
        "device": height * row / (rate * 1e6),
        "cpu": cpu,
        "rss_mib": (peak[0] - before) / (1 << 20),
        "size_mb": written[0] / 1e6,
    }


def _cases(only: list[str]) -> list[tuple[str, str, str]]:
    cases = [("stream", "png", "sub"), ("stream", "png", "none")]
    cases += [("stream", fmt, "strips" if fmt in ("jfif", "exif") else "") for fmt in FORMATS[1:]]
    cases += [("whole", fmt, "pillow") for fmt in FORMATS]
    return [c for c in cases if not only or any(o in " ".join(c) for o in only)]


def main() -> int:
    """Run the cases the command line selects (see the module docstring), each in a fresh process,
    and print one table row per case (first byte and first data s, total s, CPU s, peak RSS growth
    MiB, file size); returns the exit status (1 when a case failed)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dpi", type=int, default=600)
    parser.add_argument("--rate", type=float, default=20.0, help="device pace, MB/s")
    parser.add_argument("--mode", choices=("rgb", "gray", "bilevel"), default="rgb")
    parser.add_argument("--noise", type=float, default=6.0, help="sensor noise sigma, in 8-bit levels")
    parser.add_argument("--band-rows", type=int, default=BAND_ROWS, help="rows a band (at most 128)")
    parser.add_argument("--only", nargs="*", default=[], help="run only cases whose name contains one of these")
    parser.add_argument("--case", nargs=3, help=argparse.SUPPRESS)  # kind fmt variant: one case, JSON out
    args = parser.parse_args()
    if args.case:
        print(
            json.dumps(
                run_case(
                    args.case[0], args.case[1], args.case[2], args.dpi, args.rate, args.mode, args.noise, args.band_rows
                )
            )
        )
        return 0
    print(
        f"A4 at {args.dpi} dpi, {args.mode}, noise sigma {args.noise:g}, fed at {args.rate:g} MB/s in bands of {args.band_rows} rows"
    )
    print(
        f"{'case':40} {'first byte s':>12} {'first data s':>12} {'total s':>8} {'device s':>8} {'CPU s':>6} {'RSS +MiB':>8} {'file MB':>8}"
    )
    status = 0
    for kind, fmt, variant in _cases(args.only):
        command = [sys.executable, str(Path(__file__))]
        command += ["--dpi", str(args.dpi), "--rate", str(args.rate), "--mode", args.mode, "--noise", str(args.noise)]
        command += ["--band-rows", str(args.band_rows)]
        command += ["--case", kind, fmt, variant]
        done = subprocess.run(
            command, capture_output=True, text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}
        )
        if done.returncode:
            print(f"{kind} {fmt}: failed\n{done.stderr}", file=sys.stderr)
            status = 1
            continue
        r = json.loads(done.stdout)
        print(
            f"{r['case']:40} {r['first_byte']:12.3f} {r['first_data']:12.3f} {r['total']:8.2f} {r['device']:8.2f} {r['cpu']:6.2f} "
            f"{r['rss_mib']:8.1f} {r['size_mb']:8.1f}"
        )
    return status


if __name__ == "__main__":
    sys.exit(main())
