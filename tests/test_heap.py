"""glibc's mmap threshold: set once per process, validated from the environment, skippable."""

import pytest

from luxtts.errors import InvalidOptionError
from luxtts.model import weight_source


@pytest.fixture
def fresh(monkeypatch):
    monkeypatch.setattr(weight_source, "_mmap_threshold_set", False)
    return monkeypatch


@pytest.mark.parametrize("raw", ["lots", "-1", str((1 << 30) + 1), "1.5"])
def test_a_bad_threshold_is_refused_naming_the_variable(fresh, raw):
    fresh.setenv("LUXTTS_MMAP_THRESHOLD", raw)
    with pytest.raises(InvalidOptionError, match=r"\$LUXTTS_MMAP_THRESHOLD must be a byte count from 0"):
        weight_source.map_large_blocks()


def test_zero_leaves_malloc_alone(fresh):
    fresh.setenv("LUXTTS_MMAP_THRESHOLD", "0")
    assert weight_source.map_large_blocks() is False
    assert weight_source._mmap_threshold_set is False


def test_default_sets_it_once(fresh):
    fresh.delenv("LUXTTS_MMAP_THRESHOLD", raising=False)
    assert weight_source.map_large_blocks() is True  # glibc: mallopt accepted it
    fresh.setenv("LUXTTS_MMAP_THRESHOLD", "lots")  # not read again once set
    assert weight_source.map_large_blocks() is True
