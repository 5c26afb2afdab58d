"""JSON merge patches (RFC 7386) computed from two states, so an undo restores a recorded state exactly:
keys the action added are removed (set to null), not left behind."""

from collections.abc import Mapping
from typing import Any

__all__ = ["merge_diff"]


def merge_diff(current: Mapping[str, Any], target: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON merge patch that turns ``current`` into ``target``."""
    patch: dict[str, Any] = {key: None for key in current if key not in target}
    for key, value in target.items():
        old = current.get(key)
        if isinstance(value, dict) and isinstance(old, dict):
            if sub := merge_diff(old, value):
                patch[key] = sub
        elif key not in current or old != value:
            patch[key] = value
    return patch
