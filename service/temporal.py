"""The one place Medic connects to Temporal, with the one data converter."""

from collections.abc import Mapping
from datetime import timedelta

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, RPCStatusCode

from service.settings import Settings
from service.telemetry import sdk_runtime, tracing_interceptors
from service.temporal_tls import TemporalConfigError, connect_options, describe, hint
from workflows.search_attributes import ALL as SEARCH_ATTRIBUTES

__all__ = [
    "UNREACHABLE",
    "SearchAttributeConflict",
    "TemporalConfigError",
    "TemporalConnectError",
    "connect",
    "register_search_attributes",
    "rpc_timeout",
    "type_name",
]

# How a call fails when Temporal is not there: an RPC error, or, on a lazily connected client (the
# API's, so that it starts while Temporal is down), the core's RuntimeError "Failed client connect".
UNREACHABLE: tuple[type[Exception], ...] = (RPCError, RuntimeError)


class TemporalConnectError(RuntimeError):
    """Temporal could not be reached or refused us; the message says where and how we connected."""


class SearchAttributeConflict(ValueError):
    """The namespace has one of Medic's search attributes with another type."""


async def connect(settings: Settings, *, lazy: bool = False) -> Client:
    """Connect to MEDIC_TEMPORAL_ADDRESS, with TLS, mTLS or an API key as the settings say
    (service/temporal_tls.py checks them first: :class:`TemporalConfigError`). ``lazy`` defers the
    connection to the first call, so the API can start (and answer 503) while Temporal is still down."""
    options = connect_options(settings)
    runtime = sdk_runtime()  # the SDK's metrics, on the worker's /metrics (service/telemetry.py)
    interceptors = tracing_interceptors(settings)  # traces, when an OTLP endpoint is configured
    try:
        return await Client.connect(
            settings.temporal_address,
            namespace=settings.temporal_namespace,
            data_converter=pydantic_data_converter,
            lazy=lazy,
            tls=options.tls,
            api_key=options.api_key,
            runtime=runtime,
            interceptors=interceptors,
        )
    except UNREACHABLE as err:  # only the connection's own errors: the runtime is built above
        advice = hint(str(err), tls=options.tls is not False)
        message = f"cannot connect to Temporal at {describe(settings)}: {advice or err}"
        raise TemporalConnectError(f"{message}\n  ({err})" if advice else message) from err


def rpc_timeout(settings: Settings) -> timedelta:
    return timedelta(seconds=settings.temporal_rpc_timeout_seconds)


async def register_search_attributes(client: Client, namespace: str) -> list[str]:
    """Add Medic's search attributes that the namespace lacks; returns the names added. Safe to run
    again: one already there with the same type is fine, one with another type is a
    :class:`SearchAttributeConflict` (Temporal cannot change a type: remove it, or use another namespace).

    ``medic dev`` registers them at server start; production namespaces with ``medic setup``."""
    try:
        existing = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
        known = {**existing.system_attributes, **existing.custom_attributes}
    except RPCError as err:
        if err.status is not RPCStatusCode.UNIMPLEMENTED:
            raise
        known = {}  # the time-skipping test server cannot list, only add
    conflicts, missing = search_attributes_wanted(known)
    if conflicts:
        raise SearchAttributeConflict(
            f"namespace {namespace!r} has search attributes of another type: {'; '.join(conflicts)}"
        )
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )
    return sorted(missing)


def search_attributes_wanted(
    known: Mapping[str, int],
) -> tuple[list[str], dict[str, "IndexedValueType.ValueType"]]:
    """Against the namespace's search attributes (name to type): Medic's registered with another type
    (said as "MedicTitle is Text, Medic needs Keyword"), and Medic's missing, with their types."""
    wanted = {key.name: IndexedValueType.ValueType(key.indexed_value_type.value) for key in SEARCH_ATTRIBUTES}
    conflicts = [
        f"{name} is {type_name(known[name])}, Medic needs {type_name(kind)}"
        for name, kind in wanted.items()
        if name in known and known[name] != kind
    ]
    return conflicts, {name: kind for name, kind in wanted.items() if name not in known}


def type_name(value: int) -> str:
    """A search attribute type as the CLI writes it: INDEXED_VALUE_TYPE_KEYWORD_LIST is KeywordList."""
    words = (
        IndexedValueType.Name(IndexedValueType.ValueType(value))
        .removeprefix("INDEXED_VALUE_TYPE_")
        .split("_")
    )
    return "".join(word.capitalize() for word in words)
