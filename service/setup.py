"""``medic setup``: prepare an existing Temporal namespace for Medic, safe to run any number of times.

It registers the search attributes (workflows/search_attributes.py) through the operator API, with the
same connection settings as ``medic api`` and ``medic worker``. Temporal Cloud manages search attributes
through its cloud operations API, not the namespace's operator API: there ``tcld`` (or Terraform) adds
them, and ``medic setup`` run afterwards checks they are there with the right types.
"""

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from service.settings import Settings
from service.temporal import SearchAttributeConflict, connect, register_search_attributes, type_name
from service.temporal_tls import with_profile
from workflows.search_attributes import ALL as SEARCH_ATTRIBUTES

__all__ = ["SetupError", "ensure_search_attributes", "setup_namespace", "tcld_command"]


class SetupError(RuntimeError):
    """The namespace could not be prepared; the message says what to do."""


def tcld_command(settings: Settings) -> str:
    """The ``tcld`` command that adds Medic's search attributes on Temporal Cloud."""
    flags = " ".join(
        f"--sa {key.name}={type_name(key.indexed_value_type.value)}" for key in SEARCH_ATTRIBUTES
    )
    return f"tcld namespace search-attributes add --namespace {settings.temporal_namespace} {flags}"


async def setup_namespace(settings: Settings) -> list[str]:
    """Register what the namespace lacks; returns what was done, one line each.

    Raises :class:`SetupError` (and the connection's own TemporalConfigError / TemporalConnectError)."""
    settings = with_profile(settings)
    client = await connect(settings)
    namespace = settings.temporal_namespace
    try:
        added = await register_search_attributes(client, namespace)
    except SearchAttributeConflict as err:
        raise SetupError(
            f"{err}. A search attribute's type cannot be changed: remove it (temporal operator "
            "search-attribute delete) if nothing else uses it, or give Medic its own namespace"
        ) from err
    except RPCError as err:
        raise SetupError(_explain(err, settings)) from err
    lines = [f"registered search attribute {name} in namespace {namespace}" for name in added]
    present = len(SEARCH_ATTRIBUTES) - len(added)
    if present:
        lines.append(f"{present} search attribute(s) already registered with the right type")
    return lines


async def ensure_search_attributes(client: Client, settings: Settings) -> list[str]:
    """Before a worker takes incidents: every search attribute its workflows write must exist, or each
    incident's workflow task fails (BadSearchAttributes) and is retried until someone adds it (an
    upgrade that brings a new attribute, e.g. MedicTitle). Registers what is missing, returns the names
    added, and raises :class:`SetupError` saying what to do when it cannot (Temporal Cloud: ``tcld``)."""
    try:
        return await register_search_attributes(client, settings.temporal_namespace)
    except SearchAttributeConflict as err:
        raise SetupError(f"{err}. Give Medic its own namespace, or remove the attribute") from err
    except RPCError as err:
        raise SetupError(_explain(err, settings)) from err


def _explain(err: RPCError, settings: Settings) -> str:
    namespace = settings.temporal_namespace
    if err.status is RPCStatusCode.NOT_FOUND:
        return (
            f"namespace {namespace!r} does not exist: create it first "
            f"(temporal operator namespace create --namespace {namespace}) or set MEDIC_TEMPORAL_NAMESPACE"
        )
    if err.status in (RPCStatusCode.PERMISSION_DENIED, RPCStatusCode.UNAUTHENTICATED):
        return (
            f"Temporal refused to register search attributes in {namespace!r} ({err.status.name}: {err}). "
            "On a self-hosted cluster the credentials need namespace admin rights. On Temporal Cloud, "
            f"add them with the cloud API instead, then run `medic setup` again to check:\n  "
            f"{tcld_command(settings)}"
        )
    if err.status is RPCStatusCode.UNIMPLEMENTED:
        return (
            f"this Temporal does not offer the operator API ({err}); on Temporal Cloud add the search "
            f"attributes with:\n  {tcld_command(settings)}"
        )
    status = err.status.name if err.status is not None else "error"
    return f"cannot register search attributes in {namespace!r}: {status}: {err}"
