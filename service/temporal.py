"""The one place Medic connects to Temporal, with the one data converter."""

from datetime import timedelta

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from service.settings import Settings

__all__ = ["connect", "rpc_timeout"]


async def connect(settings: Settings, *, lazy: bool = False) -> Client:
    """Connect to MEDIC_TEMPORAL_ADDRESS. ``lazy`` defers the connection to the first call,
    so the API can start (and answer 503) while Temporal is still down."""
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
        lazy=lazy,
    )


def rpc_timeout(settings: Settings) -> timedelta:
    return timedelta(seconds=settings.temporal_rpc_timeout_seconds)
