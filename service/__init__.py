"""The composition root: settings, the Temporal connection, the API, the worker and the CLI."""

__all__: list[str] = []
