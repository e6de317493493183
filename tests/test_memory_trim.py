"""firmware/jobs/memory.py: malloc_trim is found on glibc and never raises."""

from __future__ import annotations

import platform

import pytest

from firmware.jobs import memory


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim exists only in glibc")
def test_malloc_trim_is_found_on_glibc_and_returns_memory():
    assert memory._MALLOC_TRIM is not None
    block = [bytearray(1 << 16) for _ in range(512)]  # 32 MiB in many blocks, then freed
    del block
    assert isinstance(memory.release_memory(), bool)


def test_release_memory_without_glibc_does_nothing(monkeypatch):
    monkeypatch.setattr(memory, "_MALLOC_TRIM", None)
    assert memory.release_memory() is False
