"""Alert fingerprints, computed exactly as Prometheus/Alertmanager compute them.

Older Alertmanager versions omit ``fingerprint`` from webhook payloads. Computing the
same value Alertmanager would (FNV-1a 64 over the sorted label pairs, each followed by
the 0xff separator byte) keeps deduplication consistent across mixed-version HA pairs.
"""

from collections.abc import Mapping

_FNV_OFFSET = 14695981039346656037
_FNV_PRIME = 1099511628211
_MASK = (1 << 64) - 1
_SEPARATOR = 0xFF

__all__ = ["label_fingerprint"]


def _add(h: int, data: bytes) -> int:
    for byte in data:
        h ^= byte
        h = (h * _FNV_PRIME) & _MASK
    return h


def label_fingerprint(labels: Mapping[str, str]) -> str:
    """Return Alertmanager's 16-hex-digit fingerprint of a label set."""
    h = _FNV_OFFSET
    for name in sorted(labels):
        h = _add(h, name.encode())
        h = _add(h, bytes([_SEPARATOR]))
        h = _add(h, labels[name].encode())
        h = _add(h, bytes([_SEPARATOR]))
    return f"{h:016x}"
