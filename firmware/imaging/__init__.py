"""Band encoders: page rows to image files while the rows still come from the scanner.

One module per format: :mod:`~firmware.imaging.png`, :mod:`~firmware.imaging.tiff`,
:mod:`~firmware.imaging.dib` and :mod:`~firmware.imaging.jpeg` (jfif and exif),
the document formats of REFERENCE.md §4.7 (the MIME types and BytesPerLine are in
``firmware/scan/formats.py``). A page is fed band by band (:meth:`BandEncoder.feed`,
whole rows as the driver delivers them: 8-bit RGB or gray, a lineart page
8-bit gray 0/255 written 1-bit where the format allows) and the file leaves
through the ``write`` callback as it is produced, so memory stays near one
band and the first bytes leave while the device still scans.

:func:`new_encoder` picks the encoder for a WS-Scan FormatValue.
"""

from __future__ import annotations

from collections.abc import Callable

from firmware.imaging.base import BandEncoder, Raster

FORMATS: tuple[str, ...] = ("png", "jfif", "exif", "tiff-single-uncompressed", "dib")
"""WS-Scan FormatValue names these encoders write (the same as ``firmware.scan.formats.SUPPORTED_FORMATS``)."""


def new_encoder(fmt: str, raster: Raster, write: Callable[[bytes], None]) -> BandEncoder:
    """The encoder of FormatValue ``fmt`` for a page of shape ``raster``, writing to ``write``.

    Raises ``ValueError`` for an unknown format or a shape the format cannot hold.
    """
    if fmt == "png":
        from firmware.imaging.png import PngEncoder

        return PngEncoder(raster, write)
    if fmt in ("jfif", "exif"):
        from firmware.imaging.jpeg import new_jpeg_encoder

        return new_jpeg_encoder(raster, write, exif=fmt == "exif")
    if fmt == "tiff-single-uncompressed":
        from firmware.imaging.tiff import TiffEncoder

        return TiffEncoder(raster, write)
    if fmt == "dib":
        from firmware.imaging.dib import DibEncoder

        return DibEncoder(raster, write)
    raise ValueError(f"unsupported format {fmt!r}")


__all__ = ["FORMATS", "BandEncoder", "Raster", "new_encoder"]
