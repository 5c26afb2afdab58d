"""JSON merge patches (RFC 7386) computed from two states, so an undo restores a recorded state exactly:
keys the action added are removed (set to null), not left behind."""

from collections.abc import Mapping
from typing import Any

__all__ = ["json_pointer", "merge_apply", "merge_diff"]


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


def merge_apply(current: Any, patch: Any) -> Any:
    """What a JSON merge patch makes of ``current`` (RFC 7386): maps merge, ``None`` deletes a key,
    anything else (lists too) replaces; so a step knows the state its patch leaves."""
    if not isinstance(patch, Mapping):
        return patch
    result = dict(current) if isinstance(current, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_apply(result.get(key), value)
    return result


def json_pointer(obj: Mapping[str, Any], pointer: str) -> Any:
    """The value at an RFC 6901 JSON pointer (``/spec/template/metadata/annotations/a~1b``), or None."""
    value: Any = obj
    for escaped in pointer.removeprefix("/").split("/"):
        token = escaped.replace("~1", "/").replace("~0", "~")
        if not isinstance(value, Mapping) or token not in value:
            return None
        value = value[token]
    return value
