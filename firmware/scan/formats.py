"""The document formats the band encoders (:mod:`firmware.imaging`) write, their MIME types
and their ``BytesPerLine``.

Plain constants and arithmetic, importable without Pillow or Tornado (the configuration checks
``formats`` against them).
"""

from __future__ import annotations

SUPPORTED_FORMATS: tuple[str, ...] = ("png", "jfif", "exif", "tiff-single-uncompressed", "dib")
"""WS-Scan FormatValue names this module writes, in our preference order (REFERENCE.md §4.7): the
first is the default for tickets that name no format (lossless, valid for every colour mode)."""

MIME_TYPES: dict[str, str] = {
    "exif": "image/jpeg",
    "jfif": "image/jpeg",
    "png": "image/png",
    "tiff-single-uncompressed": "image/tiff",
    "dib": "image/bmp",
}
"""FormatValue -> Content-Type of the MTOM image part (REFERENCE.md §4.6)."""


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
