"""How a scan state too large for one ConfigMap is split over several (``scan_state``'s Size): pure
functions, no I/O.

A series' part is the jump consistent hash of its key (Lamping and Veach, "A Fast, Minimal Memory,
Consistent Hash Algorithm", 2014): stable across processes, and when the count of parts grows a series
either stays or moves to one of the new parts, never between old ones. With the write order below, a
reader (or a save cut short) therefore always finds every series in a part it reads.
"""

import hashlib
import zlib

from activities.scan import StoredScan

__all__ = ["FILL", "pack", "shard_of", "split_state", "write_order"]

FILL = 0.6
"""Of a ConfigMap's limit, per part, when the parts are counted: room for an uneven split."""


def pack(stored: StoredScan) -> bytes:
    """The state as stored: JSON, zlib-compressed."""
    return zlib.compress(stored.model_dump_json().encode(), 9)


def shard_of(key: str, buckets: int) -> int:
    """The jump consistent hash of ``key`` over ``buckets`` parts."""
    k = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little")
    b, j = -1, 0
    while j < buckets:
        b = j
        k = (k * 2862933555777941757 + 1) & 0xFFFFFFFFFFFFFFFF
        j = int((b + 1) * (float(1 << 31) / float((k >> 33) + 1)))
    return b


def write_order(before: int, count: int) -> list[int]:
    """Which part to write when, going from ``before`` parts to ``count``: the new parts (series only
    move to them), then the first (which names the count), then the old ones (which lose the series
    that moved)."""
    old = max(before, 1)
    return [*range(old, count), 0, *range(1, min(old, count))]


def split_state(
    stored: StoredScan, at_least: int, *, max_bytes: int, max_shards: int
) -> list[StoredScan] | None:
    """The state in as many parts as it takes (at least ``at_least``, and enough to fill each to about
    :data:`FILL` of ``max_bytes``) for each to fit, the run's fields in the first; ``None`` when even
    ``max_shards`` would not do."""
    packed = len(zlib.compress(stored.model_dump_json().encode(), 6))
    needed = -(-packed // int(FILL * max_bytes)) if packed > max_bytes else 1
    count = max(at_least, needed, 1)
    while count <= max_shards:
        parts = [
            stored.run_fields() if shard == 0 else StoredScan(name=stored.name) for shard in range(count)
        ]
        for key, state in stored.series.items():
            parts[shard_of(key, count)].series[key] = state
        if all(len(pack(part)) <= max_bytes for part in parts):
            return parts
        count += 1
    return None
