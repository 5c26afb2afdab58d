"""Adapters over external SDKs: the only place they are imported."""

__all__: list[str] = []
