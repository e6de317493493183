"""drivers/sane/sender.py: the worker's page sender keeps the order, bounds its queue and hands a
failed send back to the reading thread (the scans through it are covered by test_sane.py and the
end-to-end tests)."""

from __future__ import annotations

import threading

import pytest

from drivers.sane.sender import QUEUE_DEPTH, FrameSender


def test_messages_go_out_in_order_from_another_thread():
    sent: list[tuple[int, str]] = []
    sender = FrameSender()
    for number in range(50):
        sender.put(lambda number=number: sent.append((number, threading.current_thread().name)))
    sender.close()
    assert [number for number, _ in sent] == list(range(50))
    assert {name for _, name in sent} == {"page sender"}


def test_put_blocks_while_the_queue_is_full():
    release = threading.Event()
    sender = FrameSender()
    sender.put(release.wait)  # the thread is busy with this one
    for _ in range(QUEUE_DEPTH):
        sender.put(lambda: None)
    blocked = threading.Thread(target=sender.put, args=(lambda: None,))
    blocked.start()
    blocked.join(0.2)
    assert blocked.is_alive()  # backpressure: the reader waits instead of holding more bands
    release.set()
    blocked.join(5)
    assert not blocked.is_alive()
    sender.close()


def test_a_failed_send_reaches_the_reader_and_later_messages_are_dropped():
    sent: list[int] = []
    sender = FrameSender()

    def broken() -> None:
        raise BrokenPipeError("the service went away")

    sender.put(broken)
    with pytest.raises(BrokenPipeError):
        for number in range(1000):
            sender.put(lambda number=number: sent.append(number))
    with pytest.raises(BrokenPipeError):
        sender.close()
    assert sent == []
