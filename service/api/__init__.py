"""The HTTP API: route handlers only verify, parse, hand to Temporal and answer."""

from service.api.app import create_app

__all__ = ["create_app"]
