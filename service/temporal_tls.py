"""How Medic reaches a production Temporal: TLS, mTLS and API keys, checked before the first call.

Medic reads its own ``MEDIC_TEMPORAL_*`` settings rather than the SDK's environment/TOML client
configuration (``temporalio.envconfig``, ``TEMPORAL_ADDRESS``, ``temporal.toml`` profiles): one prefix
for every setting, the Helm chart sets them, pydantic validates them with the rest, and the API key is a
``SecretStr`` that redaction finds. The options mirror the SDK's profile one for one (address,
namespace, api_key, tls: server_name, server_ca_cert, client_cert, client_key), and like the SDK an API
key turns TLS on unless TLS is explicitly disabled. See docs/deployment.md for the reasoning.

Where a Temporal CLI/SDK profile already holds the connection (a laptop running ``medic setup``, a host
with ``temporal.toml``), ``MEDIC_TEMPORAL_PROFILE`` names it: :func:`with_profile` copies its values
into those settings, so everything downstream (the redaction of the key included) sees one set.

Everything is checked at start (files exist, parse, the key matches the certificate), so a wrong path
is one clear line, not a handshake failure on the first poll.

The files are read once, at connect: the SDK cannot take new ones into a running client. When they
change on disk (cert-manager renewing the client certificate in its Secret, which the kubelet updates in
the mounted volume), :func:`until_tls_files_change` says so, and the process stops as on SIGTERM so that
Kubernetes starts it again with them. Before, it kept the certificate it started with until that expired,
and every call failed from the next reconnection on (the frontend recycles connections every few minutes)
with nothing restarting the pods: their probes do not ask Temporal.
"""

import asyncio
import ssl
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr
from temporalio.envconfig import ClientConfigProfile
from temporalio.service import TLSConfig

from service.settings import Settings

__all__ = [
    "ConnectOptions",
    "TemporalConfigError",
    "connect_options",
    "describe",
    "hint",
    "tls_files",
    "until_tls_files_change",
    "with_profile",
]


class TemporalConfigError(ValueError):
    """The Temporal connection settings cannot work; the message names the setting."""


@dataclass(frozen=True)
class ConnectOptions:
    """The TLS and credential arguments of ``Client.connect``."""

    tls: TLSConfig | bool
    api_key: str | None


def with_profile(settings: Settings) -> Settings:
    """``settings`` with the connection of MEDIC_TEMPORAL_PROFILE filled in where no MEDIC_TEMPORAL_*
    setting was given; unchanged without a profile. :class:`TemporalConfigError` when the profile cannot
    be read or holds what Medic cannot take (inline certificate data, gRPC metadata)."""
    name = settings.temporal_profile
    if not name:
        return settings
    try:
        profile = ClientConfigProfile.load(profile=name)
    except Exception as err:  # the SDK core's ConfigError, a missing or malformed file
        raise TemporalConfigError(f"MEDIC_TEMPORAL_PROFILE={name}: {err}") from err
    if profile.grpc_meta:
        raise TemporalConfigError(f"MEDIC_TEMPORAL_PROFILE={name}: grpc_meta is not supported by Medic")
    found: dict[str, object] = {
        "temporal_address": profile.address,
        "temporal_namespace": profile.namespace,
        "temporal_api_key": SecretStr(profile.api_key) if profile.api_key else None,
    }
    if profile.tls is not None:
        tls = profile.tls
        found["temporal_tls"] = None if tls.disabled is None else not tls.disabled
        found["temporal_tls_server_name"] = tls.server_name
        sources = (
            ("temporal_tls_ca", "server_ca_cert", tls.server_root_ca_cert),
            ("temporal_tls_cert", "client_cert", tls.client_cert),
            ("temporal_tls_key", "client_key", tls.client_private_key),
        )
        for field, key, source in sources:
            if source is not None and not isinstance(source, Path):
                raise TemporalConfigError(
                    f"MEDIC_TEMPORAL_PROFILE={name}: tls.{key} is inline data; give it as {key}_path"
                )
            found[field] = source
    given = settings.model_fields_set
    update = {field: value for field, value in found.items() if value is not None and field not in given}
    return settings.model_copy(update=update)


def _read(setting: str, path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as err:
        raise TemporalConfigError(f"{setting}={path}: cannot read it ({err.strerror or err})") from err
    if b"-----BEGIN " not in data:
        raise TemporalConfigError(f"{setting}={path}: not a PEM file (no -----BEGIN line)")
    return data


def _check_ca(path: Path) -> None:
    try:
        ssl.create_default_context().load_verify_locations(cafile=str(path))
    except (ssl.SSLError, ValueError) as err:
        raise TemporalConfigError(f"MEDIC_TEMPORAL_TLS_CA={path}: not a PEM CA certificate ({err})") from err


def _check_pair(cert: Path, key: Path) -> None:
    try:
        ssl.create_default_context().load_cert_chain(certfile=str(cert), keyfile=str(key))
    except ssl.SSLError as err:
        raise TemporalConfigError(
            f"MEDIC_TEMPORAL_TLS_CERT={cert} and MEDIC_TEMPORAL_TLS_KEY={key}: not a PEM certificate and "
            f"its matching unencrypted private key ({err.reason or err})"
        ) from err


def connect_options(settings: Settings) -> ConnectOptions:
    """The validated TLS configuration and API key; :class:`TemporalConfigError` when they cannot work."""
    ca, cert, key = settings.temporal_tls_ca, settings.temporal_tls_cert, settings.temporal_tls_key
    api_key = settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None
    if key is not None and cert is None:
        raise TemporalConfigError("MEDIC_TEMPORAL_TLS_KEY is set without MEDIC_TEMPORAL_TLS_CERT")
    if cert is not None and key is None:
        raise TemporalConfigError("MEDIC_TEMPORAL_TLS_CERT is set without MEDIC_TEMPORAL_TLS_KEY")
    files = ca is not None or cert is not None
    if settings.temporal_tls is False:
        if files or settings.temporal_tls_server_name:
            raise TemporalConfigError(
                "MEDIC_TEMPORAL_TLS=false, but MEDIC_TEMPORAL_TLS_CA, _CERT, _KEY or _SERVER_NAME is set"
            )
        return ConnectOptions(tls=False, api_key=api_key)
    if not (settings.temporal_tls or files or api_key or settings.temporal_tls_server_name):
        return ConnectOptions(tls=False, api_key=None)
    ca_pem = cert_pem = key_pem = None
    if ca is not None:
        ca_pem = _read("MEDIC_TEMPORAL_TLS_CA", ca)
        _check_ca(ca)
    if cert is not None and key is not None:
        cert_pem = _read("MEDIC_TEMPORAL_TLS_CERT", cert)
        key_pem = _read("MEDIC_TEMPORAL_TLS_KEY", key)
        _check_pair(cert, key)
    return ConnectOptions(
        tls=TLSConfig(
            server_root_ca_cert=ca_pem,
            domain=settings.temporal_tls_server_name or None,
            client_cert=cert_pem,
            client_private_key=key_pem,
        ),
        api_key=api_key,
    )


def tls_files(settings: Settings) -> list[Path]:
    """The CA, client certificate and key files the connection reads, those that are set."""
    return [p for p in (settings.temporal_tls_ca, settings.temporal_tls_cert, settings.temporal_tls_key) if p]


def _content(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


async def until_tls_files_change(paths: list[Path], *, every: float) -> Path:
    """The first of ``paths`` whose content differs from when this was called, looked at every ``every``
    seconds. A file missing for a moment (the kubelet swaps a Secret's files at once, by a symlink) is
    no change: the next look sees the new one."""
    seen = {path: _content(path) for path in paths}
    while True:
        await asyncio.sleep(every)
        for path in paths:
            now = _content(path)
            if now is not None and now != seen[path]:
                return path


def describe(settings: Settings) -> str:
    """How the connection is made, for error messages (never the key itself)."""
    parts = [settings.temporal_address, f"namespace {settings.temporal_namespace}"]
    try:
        options = connect_options(settings)
    except TemporalConfigError:
        return ", ".join(parts)
    if options.tls is False:
        parts.append("plain gRPC (no TLS)")
    else:
        tls = "TLS"
        if settings.temporal_tls_server_name:
            tls += f" (server name {settings.temporal_tls_server_name})"
        if settings.temporal_tls_cert is not None:
            tls += " with a client certificate"
        parts.append(tls)
    if options.api_key:
        parts.append("API key")
    return ", ".join(parts)


# What the SDK's connection errors (tonic, rustls, an HTTP status from a proxy) mean in settings' words.
_HINTS: tuple[tuple[tuple[str, ...], str], ...] = (
    (
        ("ConnectionRefused", "tcp connect error", "dns error"),
        "nothing answers there: check MEDIC_TEMPORAL_ADDRESS",
    ),
    (
        ("NotValidForName",),
        "the server's certificate does not carry the name connected to: set MEDIC_TEMPORAL_TLS_SERVER_NAME "
        "to a name it carries",
    ),
    (
        ("UnknownIssuer", "BadSignature", "InvalidCertificate"),
        "the server's certificate is not signed by a CA Medic trusts: set MEDIC_TEMPORAL_TLS_CA to the CA "
        "that signed it",
    ),
    (("InvalidContentType", "CorruptMessage"), "the server does not speak TLS: set MEDIC_TEMPORAL_TLS=false"),
    (
        ("CertificateRequired", "UnknownCA", "BadCertificate", "400 Bad Request"),
        "the server refused the client certificate (missing, expired or not signed by a CA it trusts): "
        "check MEDIC_TEMPORAL_TLS_CERT and MEDIC_TEMPORAL_TLS_KEY",
    ),
    (
        ("401 Unauthorized", "Unauthenticated", "PermissionDenied", "403 Forbidden"),
        "the server refused the credentials: check MEDIC_TEMPORAL_API_KEY (or the client certificate) "
        "and that they are for this namespace",
    ),
)
# A plain-text client talking to a TLS port sees the connection dropped or garbled.
_PLAIN_TO_TLS = ("h2 protocol error", "FRAME_SIZE_ERROR", "connection reset", "connection closed")


def hint(error: str, *, tls: bool) -> str | None:
    """A line saying which setting a connection error most likely points at, or None."""
    for needles, text in _HINTS:
        if any(needle in error for needle in needles):
            return text
    if not tls and any(needle in error for needle in _PLAIN_TO_TLS):
        return (
            "the server may require TLS: set MEDIC_TEMPORAL_TLS=true (and MEDIC_TEMPORAL_TLS_CA if private)"
        )
    return None
