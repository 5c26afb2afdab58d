"""Medic's domain core: pure models and rules, no I/O, no Temporal, no SDKs.

Everything here is deterministic so the workflows can call it directly and the
unit tests can exercise it without any server.
"""

__all__: list[str] = []
