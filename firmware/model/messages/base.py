"""What every WS-Scan operation body shares: the root-element check and the JobId parser.

Package-internal: :func:`_expect` is used by the sibling modules only.
"""

from __future__ import annotations

from firmware.wire import faults
from firmware.wire.xml import Element, local_name, scan

from ..common import INT_MAX, integer_or_none


def _expect(el: Element, local: str) -> None:
    """Raise ``wscn:InvalidArgs`` unless ``el`` is ``wscn:<local>``."""
    if el.tag != scan(local):
        raise faults.invalid_args(f"expected {local}, got {local_name(el.tag)[:80]}")


def job_id_value(el: Element) -> int:
    """Parse a request's JobId (IntOneExtType).

    Raises ``wscn:InvalidArgs`` when the text is not an integer, and
    ``wscn:ClientErrorJobIdNotFound`` when it is one outside 1..2147483647
    (no such job can exist; REFERENCE.md 2.7).
    """
    text = (el.text or "").strip()
    value = integer_or_none(text)
    if value is None:
        raise faults.invalid_args(f"JobId is not an integer: {text[:40]!r}")
    if not 1 <= value <= INT_MAX:
        raise faults.client_error_job_id_not_found(text)
    return value
