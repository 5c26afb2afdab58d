"""Splitting a scan state over ConfigMaps (activities/adapters/scan_shards.py): series only ever move to
new parts when the count grows, and the write order keeps every series in a part readers read."""

import pytest

from activities.adapters.scan_shards import shard_of, write_order

KEYS = [f'{{instance="10.0.{i // 250}.{i % 250}:9100",job="node"}}' for i in range(2000)]


@pytest.mark.parametrize("before", range(1, 8))
def test_a_series_stays_or_moves_to_a_new_part_when_the_count_grows(before: int) -> None:
    for after in range(before + 1, 9):
        for key in KEYS:
            old, new = shard_of(key, before), shard_of(key, after)
            assert 0 <= old < before and 0 <= new < after
            assert new == old or new >= before, (key, before, after)


def test_the_parts_are_filled_evenly() -> None:
    for count in range(1, 9):
        sizes = [0] * count
        for key in KEYS:
            sizes[shard_of(key, count)] += 1
        assert max(sizes) < 1.25 * len(KEYS) / count, sizes  # within 25% of an even split


def test_new_parts_first_then_the_first_then_the_old_ones() -> None:
    assert write_order(0, 1) == [0]  # created
    assert write_order(0, 3) == [1, 2, 0]  # created split: the first (with the count) last
    assert write_order(1, 3) == [1, 2, 0]
    assert write_order(2, 4) == [2, 3, 0, 1]
    assert write_order(3, 3) == [0, 1, 2]  # the same count: every part, the first first
