"""A PDF written page by page while the pages are scanned: JPEG images embedded as they are.

Why our own writer: the Debian-packaged PDF libraries (img2pdf, reportlab, pikepdf) build the
whole document, or at least every image, in memory before writing a byte; an ADF batch of fifty
300 dpi colour pages would hold every JPEG at once on a Raspberry Pi. A PDF whose pages are
JPEG images needs only a handful of objects, and each can be written as soon as it is known:

* per page: the image XObject (``/Filter /DCTDecode``: the JPEG bytes from the band encoder,
  never decoded or re-encoded), its length (an indirect object written after the stream, so the
  stream can be sent while it is produced), the content stream that draws it over the whole page
  and the Page object (its MediaBox the image size at the scan resolution, in 1/72 inch);
* at the end: the Pages tree (object 2, referenced by every page before it is written), the
  Catalog, the cross-reference table and the trailer.

Memory is one chunk of image data, whatever the page count (``bench`` in the tests: a 10-page
batch). :class:`PdfWriter` is sans-I/O: each method returns the bytes to send, in order.
"""

from __future__ import annotations

from ..imaging import Raster

_CATALOG = 1
_PAGES = 2


class PdfWriter:
    """Builds one PDF 1.4 document; feed it in order: :meth:`begin`, then per page
    :meth:`page_start`, :meth:`image_data` for every JPEG chunk, :meth:`page_end`; finally
    :meth:`finish`. Raises ``RuntimeError`` when called out of order."""

    def __init__(self) -> None:
        self._offset = 0
        self._offsets: dict[int, int] = {}
        self._next = 3
        self._pages: list[int] = []
        self._page: tuple[Raster, int, int] | None = None  # raster, image object, bytes of image so far
        self._started = False
        self._finished = False

    def _out(self, data: bytes) -> bytes:
        self._offset += len(data)
        return data

    def _object(self, number: int, body: bytes) -> bytes:
        self._offsets[number] = self._offset
        return self._out(b"%d 0 obj\n" % number + body + b"\nendobj\n")

    def _allocate(self) -> int:
        number = self._next
        self._next += 1
        return number

    def begin(self) -> bytes:
        """The header (``%PDF-1.4`` and a binary marker line)."""
        if self._started:
            raise RuntimeError("begin() called twice")
        self._started = True
        return self._out(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")

    def page_start(self, raster: Raster) -> bytes:
        """Open the image XObject of a page shaped ``raster`` (width px, height px or None when
        unknown until :meth:`page_end`, channels 3 = DeviceRGB or 1 = DeviceGray, dpi)."""
        if not self._started or self._finished or self._page is not None:
            raise RuntimeError("page_start() out of order")
        image = self._allocate()
        self._allocate()  # the length object
        height = b"%d" % raster.height if raster.height is not None else b"%d 0 R" % self._allocate()
        space = b"/DeviceRGB" if raster.channels == 3 else b"/DeviceGray"
        self._page = (raster, image, 0)
        self._offsets[image] = self._offset
        return self._out(
            b"%d 0 obj\n<< /Type /XObject /Subtype /Image /Width %d /Height %s /ColorSpace %s "
            b"/BitsPerComponent 8 /Filter /DCTDecode /Length %d 0 R >>\nstream\n"
            % (image, raster.width, height, space, image + 1)
        )

    def image_data(self, chunk: bytes) -> bytes:
        """Pass on one chunk of the page's JPEG file (counted for the stream's length)."""
        if self._page is None:
            raise RuntimeError("image_data() outside a page")
        raster, image, size = self._page
        self._page = (raster, image, size + len(chunk))
        return self._out(chunk)

    def page_end(self, height: int | None = None) -> bytes:
        """Close the image and write the page's remaining objects; ``height``: the image's rows,
        needed when :meth:`page_start` did not know them. Returns the bytes to send."""
        if self._page is None:
            raise RuntimeError("page_end() outside a page")
        raster, image, size = self._page
        self._page = None
        rows = raster.height if raster.height is not None else height
        if rows is None:
            raise RuntimeError("the page's height is unknown")
        out = [self._out(b"\nendstream\nendobj\n"), self._object(image + 1, b"%d" % size)]
        if raster.height is None:
            out.append(self._object(image + 2, b"%d" % rows))
        width_pt = raster.width * 72 / raster.dpi
        height_pt = rows * 72 / raster.dpi
        draw = b"q %.4f 0 0 %.4f 0 0 cm /Im0 Do Q\n" % (width_pt, height_pt)
        contents = self._allocate()
        out.append(self._object(contents, b"<< /Length %d >>\nstream\n" % len(draw) + draw + b"endstream"))
        page = self._allocate()
        self._pages.append(page)
        out.append(
            self._object(
                page,
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %.4f %.4f] "
                b"/Resources << /XObject << /Im0 %d 0 R >> >> /Contents %d 0 R >>"
                % (_PAGES, width_pt, height_pt, image, contents),
            )
        )
        return b"".join(out)

    @property
    def pages(self) -> int:
        """Pages completed so far."""
        return len(self._pages)

    def finish(self) -> bytes:
        """The Pages tree, the Catalog, the cross-reference table and the trailer. A document
        needs at least one page (``RuntimeError`` otherwise)."""
        if self._page is not None or not self._pages or self._finished:
            raise RuntimeError("finish() out of order or without pages")
        self._finished = True
        kids = b" ".join(b"%d 0 R" % p for p in self._pages)
        out = [
            self._object(_PAGES, b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, len(self._pages))),
            self._object(_CATALOG, b"<< /Type /Catalog /Pages %d 0 R >>" % _PAGES),
        ]
        xref = self._offset
        size = self._next
        table = [b"xref\n0 %d\n" % size, b"0000000000 65535 f \n"]
        for number in range(1, size):
            table.append(b"%010d 00000 n \n" % self._offsets[number])
        table.append(b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (size, _CATALOG, xref))
        out.append(self._out(b"".join(table)))
        return b"".join(out)
