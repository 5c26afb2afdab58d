"""Temporal activities. Adapters over the external SDKs live in ``activities.adapters``."""

__all__: list[str] = []
