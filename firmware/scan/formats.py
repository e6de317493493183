"""The document formats the encoder (:mod:`firmware.scan.encode`) writes, and their MIME types.

Plain constants, importable without Pillow or Tornado (the configuration checks
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
