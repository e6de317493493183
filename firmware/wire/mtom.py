"""MTOM/XOP framing of a response with one binary attachment (REFERENCE.md section 4.6).

The SOAP part comes first, the binary part second; every part is
``Content-Transfer-Encoding: binary``. :class:`MtomWriter` produces the bytes
in three steps so the caller can send the SOAP part at once and stream the
binary part as it is produced:

    writer = MtomWriter("image/png")
    headers: writer.content_type
    writer.head(envelope_bytes)   # boundary, root part, image part headers
    ... raw image bytes ...
    writer.tail()                 # closing boundary
"""

from __future__ import annotations

import uuid


class MtomWriter:
    """Frames one SOAP envelope plus one attachment as ``multipart/related``.

    ``content_id`` is the attachment's Content-ID without angle brackets: the
    envelope must reference it as ``xop:Include href="cid:<content_id>"``.
    ``part_type`` is the attachment's Content-Type (``image/png``, ...).
    """

    def __init__(self, part_type: str) -> None:
        token = uuid.uuid4().hex
        self.boundary = "uuid:" + token
        self.root_id = f"root.{token}@wsd-scan-server"
        self.content_id = f"image.{token}@wsd-scan-server"
        self.part_type = part_type

    @property
    def content_type(self) -> str:
        """The HTTP Content-Type header value of the whole response."""
        return (
            f'multipart/related; type="application/xop+xml"; boundary="{self.boundary}"; '
            f'start="<{self.root_id}>"; start-info="application/soap+xml"'
        )

    def head(self, envelope: bytes) -> bytes:
        """Return the bytes before the attachment data: the root part with ``envelope``
        and the attachment's part headers."""
        return b"".join(
            (
                f"--{self.boundary}\r\n".encode(),
                b'Content-Type: application/xop+xml; charset=UTF-8; type="application/soap+xml"\r\n',
                b"Content-Transfer-Encoding: binary\r\n",
                f"Content-ID: <{self.root_id}>\r\n\r\n".encode(),
                envelope,
                f"\r\n--{self.boundary}\r\n".encode(),
                f"Content-Type: {self.part_type}\r\n".encode(),
                b"Content-Transfer-Encoding: binary\r\n",
                f"Content-ID: <{self.content_id}>\r\n\r\n".encode(),
            )
        )

    def tail(self) -> bytes:
        """Return the closing delimiter that ends the multipart body."""
        return f"\r\n--{self.boundary}--\r\n".encode()
