"""SOAP 1.2 envelopes with WS-Addressing 2004/08 headers: parse a request, build a reply.

A request is accepted only as a SOAP 1.2 ``Envelope`` with a ``Body``; its
addressing headers (``wsa:Action``, ``wsa:MessageID``, ``wsa:To``,
``wsa:ReplyTo``) are read into :class:`Request`. Replies carry ``wsa:To`` =
anonymous, a fresh ``wsa:MessageID`` and ``wsa:RelatesTo`` = the request's
MessageID (DPWS R0040, REFERENCE.md section 1.3 and 4.5).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from . import faults
from . import namespaces as ns
from .xml import Element, XmlError, element, find, parse_with_prefixes, qname, sub, text_of

MAX_MESSAGE_ID = 1024
"""Longest wsa:MessageID accepted, in characters: it is echoed as wsa:RelatesTo in the answer,
which must stay under 32,767 bytes (a urn:uuid is 45)."""

ENVELOPE = qname(ns.SOAP, "Envelope")
HEADER = qname(ns.SOAP, "Header")
BODY = qname(ns.SOAP, "Body")


@dataclass(frozen=True)
class Request:
    """A parsed SOAP request.

    ``action``: the ``wsa:Action`` URI; ``message_id``: ``wsa:MessageID`` or
    None; ``to``: ``wsa:To`` or None; ``body``: the first child element of
    ``soap:Body`` or None when the Body is empty; ``header``: the
    ``soap:Header`` element (or None) for protocol-specific headers;
    ``prefixes``: namespace prefixes declared in the document (for QName texts);
    ``http_host``: the HTTP Host header (``address[:port]``) the client used, set
    by the HTTP handler; ``remote_ip``: the peer's IP address, set by the HTTP handler.
    """

    action: str
    message_id: str | None
    to: str | None
    body: Element | None
    header: Element | None = None
    prefixes: dict[str, str] = field(default_factory=dict)
    reply_to: str | None = None
    http_host: str | None = None
    remote_ip: str | None = None


def new_message_id() -> str:
    """Return a fresh ``urn:uuid:`` MessageID."""
    return "urn:uuid:" + str(uuid.uuid4())


def parse_request(data: bytes) -> Request:
    """Parse a SOAP 1.2 request envelope from untrusted bytes.

    Raises :class:`~firmware.wire.faults.SoapFault`: ``wscn:InvalidArgs`` for
    malformed or forbidden XML (entities, DTDs) or a document that is not a SOAP
    1.2 envelope with a Body; ``wsa:MessageInformationHeaderRequired`` when
    ``wsa:Action`` is missing; ``wsa:InvalidMessageInformationHeader`` when
    ``wsa:ReplyTo`` is not anonymous (DPWS R0031) or ``wsa:MessageID`` is longer than
    :data:`MAX_MESSAGE_ID` (the fault then does not echo it).
    """
    try:
        root, prefixes = parse_with_prefixes(data)
    except XmlError as exc:
        raise faults.invalid_args(str(exc)) from None
    if root.tag != ENVELOPE:
        raise faults.invalid_args("The message is not a SOAP 1.2 envelope.")
    header = find(root, HEADER)
    body = find(root, BODY)
    if body is None:
        raise faults.invalid_args("The SOAP envelope has no Body.")
    action = message_id = to = reply_to = None
    if header is not None:
        action = text_of(find(header, qname(ns.WSA, "Action")))
        message_id = text_of(find(header, qname(ns.WSA, "MessageID")))
        to = text_of(find(header, qname(ns.WSA, "To")))
        reply_el = find(header, qname(ns.WSA, "ReplyTo"))
        if reply_el is not None:
            reply_to = text_of(find(reply_el, qname(ns.WSA, "Address")))
    if not action:
        raise faults.message_information_header_required("wsa:Action")
    if message_id is not None and len(message_id) > MAX_MESSAGE_ID:
        raise faults.invalid_message_information_header(f"wsa:MessageID is longer than {MAX_MESSAGE_ID} characters.")
    if reply_to is not None and reply_to != ns.ANONYMOUS:
        raise faults.invalid_message_information_header("wsa:ReplyTo must be the anonymous address over HTTP.")
    body_child = next(iter(body), None)
    return Request(action, message_id, to, body_child, header, prefixes, reply_to)


def build_envelope(
    action: str,
    body: Element | None,
    *,
    to: str = ns.ANONYMOUS,
    relates_to: str | None = None,
    message_id: str | None = None,
    extra_headers: tuple[Element, ...] = (),
) -> Element:
    """Build a SOAP 1.2 envelope with WS-Addressing headers around ``body``.

    ``body`` is the single Body child (None for an empty Body). ``extra_headers``
    are appended to the Header after the addressing headers (AppSequence,
    wse:Identifier, ...). Returns the ``soap:Envelope`` element.
    """
    envelope = element(ENVELOPE)
    header = sub(envelope, HEADER)
    sub(header, qname(ns.WSA, "To"), to)
    sub(header, qname(ns.WSA, "Action"), action)
    sub(header, qname(ns.WSA, "MessageID"), message_id or new_message_id())
    if relates_to:
        sub(header, qname(ns.WSA, "RelatesTo"), relates_to)
    for extra in extra_headers:
        header.append(extra)
    body_el = sub(envelope, BODY)
    if body is not None:
        body_el.append(body)
    return envelope


def build_fault_envelope(fault: faults.SoapFault, relates_to: str | None) -> Element:
    """Build the envelope of ``fault`` with its action: by default the addressing fault action (REFERENCE.md 1.3)."""
    return build_envelope(fault.action, fault.to_xml(), relates_to=relates_to)
