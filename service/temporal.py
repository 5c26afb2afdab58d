"""The one place Medic connects to Temporal, with the one data converter."""

from datetime import timedelta

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, RPCStatusCode

from service.settings import Settings
from workflows.search_attributes import ALL as SEARCH_ATTRIBUTES

__all__ = ["UNREACHABLE", "connect", "register_search_attributes", "rpc_timeout"]

# How a call fails when Temporal is not there: an RPC error, or, on a lazily connected client (the
# API's, so that it starts while Temporal is down), the core's RuntimeError "Failed client connect".
UNREACHABLE: tuple[type[Exception], ...] = (RPCError, RuntimeError)


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


async def register_search_attributes(client: Client, namespace: str) -> list[str]:
    """Add Medic's search attributes that the namespace lacks; returns the names added.

    ``medic dev`` registers them at server start; production clusters do it once with this
    (or ``temporal operator search-attribute create``, see docs/deployment.md)."""
    try:
        existing = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
        known = set(existing.custom_attributes) | set(existing.system_attributes)
    except RPCError as err:
        if err.status is not RPCStatusCode.UNIMPLEMENTED:
            raise
        known = set()  # the time-skipping test server cannot list, only add
    missing = {
        key.name: IndexedValueType.ValueType(key.indexed_value_type.value)
        for key in SEARCH_ATTRIBUTES
        if key.name not in known
    }
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )
    return sorted(missing)
