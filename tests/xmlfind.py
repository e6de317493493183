"""Finding what a test expects in parsed XML: a missing element fails the test with its name, not a TypeError."""

from __future__ import annotations

from firmware.wire.xml import Element


def child(parent: Element | None, path: str) -> Element:
    """``parent.find(path)`` (an ElementTree path of Clark-notation tags); AssertionError when it is missing."""
    assert parent is not None, f"no parent element to look for {path} in"
    found = parent.find(path)
    assert found is not None, f"no {path} in {parent.tag}"
    return found


def first_child(parent: Element | None) -> Element:
    """The first child element of ``parent``; AssertionError when there is none."""
    assert parent is not None and len(parent), "expected a child element"
    return parent[0]


def text(el: Element | None) -> str:
    """The text of ``el`` ("" when empty); AssertionError when ``el`` is missing."""
    assert el is not None, "expected an element"
    return el.text or ""
