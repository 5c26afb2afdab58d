"""The remediation actions' own error (re-exported by remediations.actions), in a module of its own so
the actions split over several modules share it without importing each other."""

__all__ = ["ActionError"]


class ActionError(Exception):
    """The action cannot be carried out as asked (no previous revision, bounds, missing object)."""
