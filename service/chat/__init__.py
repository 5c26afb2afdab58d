"""Slack chat commands and buttons: verifying Slack's signature, who may do what, and running a
command against Temporal. The HTTP routes are in ``service.api.slack``."""

__all__: list[str] = []
