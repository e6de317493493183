"""Structure-aware mutations of valid requests, for the fuzz tests (issue 12).

:func:`mutated` is a hypothesis strategy: it takes a valid envelope, applies one to three
tree mutations (replace a text with a hostile value, delete, duplicate, rename, add an
attribute, nest deeply) and maybe a byte mutation (truncate, insert, flip, swap the XML
declaration), and returns the bytes to send.
"""

from __future__ import annotations

import copy
import logging
import xml.etree.ElementTree as ET

from hypothesis import strategies as st

from firmware.wire.xml import serialize

HOSTILE_TEXTS = (
    "",
    " ",
    "0",
    "-1",
    "2147483647",
    "2147483648",
    "99999999999999999999999999",
    "1e309",
    "NaN",
    "true",
    "wscn:ScannerConfiguration",
    "x:y",
    ":",
    "http://[::1",
    "http://",
    "http://192.0.2.1:5357/x",
    "urn:uuid:",
    "P1Y",
    "PT0S",
    "-PT1S",
    "P99999999999Y",
    "2000-13-45T00:00:00Z",
    "\u202e\u0000"[:1],
    "a" * 300,
    "&<>",
    "http://schemas.xmlsoap.org/ws/2004/08/eventing/DeliveryModes/Pull",
)

NAMESPACES = (
    "http://schemas.microsoft.com/windows/2006/08/wdp/scan",
    "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "http://schemas.xmlsoap.org/ws/2004/08/eventing",
    "urn:fuzz",
    "",
)


@st.composite
def mutated(draw, seed: bytes) -> bytes:
    """One mutation of the valid envelope ``seed`` (see the module docstring)."""
    root = ET.fromstring(seed)
    for _ in range(draw(st.integers(1, 3))):
        nodes = [(parent, child) for parent in root.iter() for child in parent]
        if not nodes:
            break
        parent, node = draw(st.sampled_from(nodes))
        operation = draw(st.sampled_from(("text", "text", "delete", "duplicate", "rename", "attribute", "nest")))
        if operation == "text":
            node.text = draw(st.one_of(st.sampled_from(HOSTILE_TEXTS), st.text(max_size=40)))
        elif operation == "delete":
            parent.remove(node)
        elif operation == "duplicate":
            index = list(parent).index(node)
            for _ in range(draw(st.integers(1, 40))):
                parent.insert(index, copy.deepcopy(node))
        elif operation == "rename":
            namespace = draw(st.sampled_from(NAMESPACES))
            local = draw(st.sampled_from(("Name", "JobId", "Address", "Foo", node.tag.rsplit("}", 1)[-1] + "X")))
            node.tag = f"{{{namespace}}}{local}" if namespace else local
        elif operation == "attribute":
            node.set(draw(st.sampled_from(("Dialect", "Mode", "MustHonor", "x"))), draw(st.sampled_from(HOSTILE_TEXTS)))
        else:
            holder = node
            for _ in range(draw(st.integers(1, 40))):
                holder = ET.SubElement(holder, node.tag)
    data = serialize(root)
    byte_operation = draw(st.sampled_from(("none", "none", "none", "truncate", "insert", "flip", "declaration")))
    if byte_operation == "truncate":
        data = data[: draw(st.integers(0, len(data)))]
    elif byte_operation == "insert":
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(max_size=8)) + data[at:]
    elif byte_operation == "flip":
        at = draw(st.integers(0, max(0, len(data) - 1)))
        data = data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1 :] if data else data
    elif byte_operation == "declaration":
        encoding = draw(st.sampled_from(("x-unknown", "utf-16", "latin-1", "utf-8", "")))
        data = f'<?xml version="1.0" encoding="{encoding}"?>'.encode() + data.split(b"?>", 1)[-1]
    return data


class Problems(logging.Handler):
    """Collects log records at ERROR and above, and any carrying a traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR or record.exc_info:
            self.records.append(record)

    def __enter__(self) -> Problems:
        logging.getLogger().addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger().removeHandler(self)
