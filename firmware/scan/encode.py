"""Page rows to image files with Pillow, streamed: png, jfif, exif, dib, tiff-single-uncompressed.

Implements the document formats of REFERENCE.md §4.7 (the bytes of the MTOM
image part, §4.6) and the ``BytesPerLine`` of ImageInformation (§2.6).
Every file carries the scan resolution: PNG ``pHYs``, JFIF density, EXIF
``XResolution``/``YResolution``, BMP pels-per-metre, TIFF ``XResolution``.

Input is one raw page as the driver delivers it (``drivers.base.PageInfo``):
8-bit RGB or gray rows, top to bottom; a lineart page is 8-bit gray with
0 = black, 255 = white and is written 1-bit where the format allows
(``bilevel=True``: 1-bit PNG, 1-bit DIB, 1-bit TIFF; JPEG stays 8-bit gray).

The page becomes one Pillow image and Pillow's own writer encodes it; what
the writer produces goes to the caller's ``write`` as it is produced. An exif
file is Pillow's layout: SOI, the JFIF APP0 (same density), then the Exif APP1.
Memory: a gray page is used in place (Pillow maps the buffer); Pillow keeps
RGB as 4 bytes per pixel, so an RGB page is copied once, 4/3 of its raw size
(89 MB for a 67 MB 600 dpi A4 page); a bilevel page gets a 1-byte-per-pixel
"1" copy. The writers themselves add only buffers of about 64 KiB.

Measured on a 2-core x86-64 VM, Pillow 13, a scan-like 600 dpi page of
4724 x 4724 pixels (text, a photo, sensor noise), CPU time and peak extra
memory: RGB (67 MB) png 2.9 s, jfif/exif 0.12 s, dib and tiff 0.1 s, each
with 86 MiB extra (the RGB copy, plus under 1 MiB); gray (22 MB) png 0.95 s,
the others under 0.05 s, under 0.5 MiB extra; bilevel 0.03-0.07 s, 22 MiB
extra (the "1" copy) for png, dib and tiff.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import IO, cast

from PIL import Image

from drivers.base import PageInfo

from .formats import MIME_TYPES as MIME_TYPES  # re-exported: the encoder's formats, named where they are written
from .formats import SUPPORTED_FORMATS


def _decoder_takes_buffers() -> bool:
    """Whether Pillow decodes raw pixels from any buffer (Pillow 10 on); Pillow 9 takes bytes only.
    ``Image.frombuffer`` shares memory for "L" pages but decodes "RGB" ones."""
    try:
        Image.frombytes("RGB", (1, 1), bytearray(3))
    except TypeError:
        return False
    return True


_DECODER_TAKES_BUFFERS = _decoder_takes_buffers()


PNG_COMPRESS_LEVEL = 3
"""zlib level for PNG. On scan-like 600 dpi RGB pages, 3 takes a half (noisy
page) to a quarter (clean page) of the CPU time of 6, Pillow's default, for
files 9-13 % larger; 1 takes about 30 % less time than 3 for files 1-5 %
larger; 4-6 are zlib's slow (lazy matching) levels."""

JPEG_MAX_SIDE = 65500
"""The largest width or height libjpeg writes, in pixels."""


def bytes_per_line(fmt: str, pixels_per_line: int, channels: int, bilevel: bool = False) -> int:
    """ImageInformation ``BytesPerLine`` of one row in format ``fmt`` (REFERENCE.md §2.6).

    ``pixels_per_line`` in pixels, ``channels`` 3 (RGB) or 1 (gray);
    ``bilevel`` means a 1-bit image. Returns bytes: 0 for compressed formats
    (png, jfif, exif), the row padded to 4 bytes for dib, the packed row for
    tiff-single-uncompressed. Raises ``ValueError`` for an unknown format.
    """
    bits = 1 if bilevel else 8 * channels
    if fmt == "dib":
        return (pixels_per_line * bits + 31) // 32 * 4
    if fmt == "tiff-single-uncompressed":
        return (pixels_per_line * bits + 7) // 8
    if fmt in SUPPORTED_FORMATS:
        return 0
    raise ValueError(f"unsupported format {fmt!r}")


def encode_page(
    fmt: str,
    info: PageInfo,
    data,
    write: Callable[[bytes], None],
    *,
    quality: int = 85,
    bilevel: bool = False,
) -> int:
    """Encode one raw page as a file in format ``fmt``, handing it to ``write`` piece by piece.

    ``info`` gives the shape (``pixels_per_line``, ``lines``, ``bytes_per_line``
    stride in bytes, ``channels`` 1 or 3, ``depth`` 8, ``resolution`` in dpi);
    ``lines`` = -1 means "as many whole rows as ``data`` holds". ``data`` is
    the page, top row first, in any bytes-like object (bytes, bytearray,
    memoryview); it must stay unchanged until this returns. ``write(chunk)``
    receives non-empty ``bytes`` as Pillow's writer produces them (headers,
    then pieces of about 64 KiB, 4 bytes a pixel of width on wider pages);
    an exception from ``write`` stops the encoding and propagates.
    ``quality`` is the JPEG quality 1..100 (clamped), used by jfif and exif.
    ``bilevel`` writes a gray page of 0/255 pixels as 1-bit (png, dib, tiff;
    pixels >= 128 become white). Blocking; run it in a thread.

    Returns the number of bytes written. Raises ``ValueError`` for an unknown
    format, an unsupported shape (depth other than 8, channels other than 1
    or 3, bilevel colour), a page too short for ``lines`` or too large for the
    format (JPEG: :data:`JPEG_MAX_SIDE` pixels a side; BMP, TIFF: 4 GiB),
    all before any output; ``OSError`` if Pillow's encoder fails.
    """
    if fmt not in SUPPORTED_FORMATS:
        raise ValueError(f"unsupported format {fmt!r}")
    width, lines = _check_shape(info, data, bilevel)
    if fmt in ("jfif", "exif") and max(width, lines) > JPEG_MAX_SIDE:
        raise ValueError(f"JPEG allows at most {JPEG_MAX_SIDE} pixels a side")
    if fmt == "tiff-single-uncompressed" and bytes_per_line(fmt, width, info.channels, bilevel) * lines >= 1 << 32:
        raise ValueError("the page is too large for a TIFF file")

    mode = "RGB" if info.channels == 3 else "L"
    if mode == "RGB" and not _DECODER_TAKES_BUFFERS:  # Pillow 9 (Debian 12): RGB is decoded from bytes only
        data = bytes(data)
    image = Image.frombuffer(mode, (width, lines), data, "raw", mode, info.bytes_per_line, 1)
    dpi = (info.resolution, info.resolution)
    if fmt in ("jfif", "exif"):
        options = {"quality": min(100, max(1, int(quality))), "dpi": dpi}
        if fmt == "exif":
            exif = Image.Exif()
            exif[0x011A] = info.resolution  # XResolution
            exif[0x011B] = info.resolution  # YResolution
            exif[0x0128] = 2  # ResolutionUnit: inch
            options["exif"] = exif
        pillow_format = "JPEG"
    else:
        if bilevel:
            image = image.convert("1", dither=Image.Dither.NONE)  # threshold 128
        writers: dict[str, tuple[str, dict[str, object]]] = {
            "png": ("PNG", {"dpi": dpi, "compress_level": PNG_COMPRESS_LEVEL}),
            "dib": ("BMP", {"dpi": dpi}),
            "tiff-single-uncompressed": ("TIFF", {"dpi": dpi, "compression": "raw"}),
        }
        pillow_format, options = writers[fmt]
    out = _Output(write)
    # Pillow writes to any object with write/tell/seek (a file object by duck typing); _Output is one.
    image.save(cast(IO[bytes], out), pillow_format, **options)
    return out.total


def _check_shape(info: PageInfo, data, bilevel: bool) -> tuple[int, int]:
    """(width, lines) of a page whose ``data`` holds ``lines`` rows of ``info``; ``ValueError`` otherwise."""
    if info.depth != 8:
        raise ValueError(f"unsupported depth {info.depth}; the driver delivers 8-bit samples")
    if info.channels not in (1, 3):
        raise ValueError(f"unsupported channel count {info.channels}")
    if bilevel and info.channels != 1:
        raise ValueError("a bilevel page must be 1-channel gray")
    if info.resolution <= 0:
        raise ValueError(f"bad resolution {info.resolution} dpi")
    width, stride = info.pixels_per_line, info.bytes_per_line
    if width < 1 or stride < width * info.channels:
        raise ValueError(f"bad row geometry: {width} pixels, {stride} bytes per line")
    size = memoryview(data).nbytes
    lines = info.lines if info.lines >= 0 else size // stride
    if lines < 1:
        raise ValueError("the page has no rows")
    if size < lines * stride:
        raise ValueError(f"page data has {size} bytes, {lines} rows need {lines * stride}")
    return width, lines


class _Output:
    """The file object Pillow writes to: each non-empty chunk goes on to ``write`` as ``bytes``.

    It only appends; ``tell`` counts the bytes written and ``seek`` accepts
    the current position only (Pillow's TIFF writer seeks to where it is).
    """

    def __init__(self, write: Callable[[bytes], None]) -> None:
        self._write = write
        self.total = 0

    def write(self, chunk) -> int:
        size = len(chunk)
        if size:
            self._write(bytes(chunk))
            self.total += size
        return size

    def tell(self) -> int:
        return self.total

    def seek(self, offset: int, whence: int = 0) -> int:
        if (whence, offset) not in ((0, self.total), (1, 0), (2, 0)):
            raise OSError("the encoded page is a stream: it cannot seek back")
        return self.total
