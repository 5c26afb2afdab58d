"""The Temporal connection settings are checked before the first call, with messages naming the setting."""

import os
from pathlib import Path

import pytest
from pydantic import SecretStr
from temporalio.service import TLSConfig

from service.settings import Settings
from service.temporal_tls import TemporalConfigError, connect_options, describe, hint, with_profile
from tests.support.tlsproxy import Pki, make_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def test_plain_by_default() -> None:
    options = connect_options(settings())
    assert options.tls is False
    assert options.api_key is None
    assert "plain gRPC" in describe(settings())


def test_api_key_implies_tls_and_is_a_redacted_secret() -> None:
    configured = settings(temporal_api_key=SecretStr("cloud-key-123"))
    options = connect_options(configured)
    assert isinstance(options.tls, TLSConfig)
    assert options.api_key == "cloud-key-123"
    assert "cloud-key-123" in configured.secret_values()
    assert "cloud-key-123" not in describe(configured)
    assert "cloud-key-123" not in repr(configured)


def test_empty_values_mean_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TLS", "TLS_SERVER_NAME", "TLS_CA", "TLS_CERT", "TLS_KEY", "API_KEY"):
        monkeypatch.setenv(f"MEDIC_TEMPORAL_{name}", "")
    configured = Settings(_env_file=None)
    assert configured.temporal_tls_cert is None
    assert configured.temporal_api_key is None
    assert connect_options(configured).tls is False


def test_api_key_without_tls_only_when_asked() -> None:
    options = connect_options(settings(temporal_api_key=SecretStr("k"), temporal_tls=False))
    assert options.tls is False
    assert options.api_key == "k"


def test_mtls_reads_the_files(pki: Pki) -> None:
    options = connect_options(
        settings(
            temporal_tls_ca=pki.ca,
            temporal_tls_cert=pki.client_cert,
            temporal_tls_key=pki.client_key,
            temporal_tls_server_name="temporal.example",
        )
    )
    assert isinstance(options.tls, TLSConfig)
    assert options.tls.server_root_ca_cert == pki.ca.read_bytes()
    assert options.tls.client_cert == pki.client_cert.read_bytes()
    assert options.tls.client_private_key == pki.client_key.read_bytes()
    assert options.tls.domain == "temporal.example"


def test_environment_names_match_the_helm_chart(monkeypatch: pytest.MonkeyPatch, pki: Pki) -> None:
    monkeypatch.setenv("MEDIC_TEMPORAL_TLS", "true")
    monkeypatch.setenv("MEDIC_TEMPORAL_TLS_SERVER_NAME", "temporal.example")
    monkeypatch.setenv("MEDIC_TEMPORAL_TLS_CA", str(pki.ca))
    monkeypatch.setenv("MEDIC_TEMPORAL_TLS_CERT", str(pki.client_cert))
    monkeypatch.setenv("MEDIC_TEMPORAL_TLS_KEY", str(pki.client_key))
    monkeypatch.setenv("MEDIC_TEMPORAL_API_KEY", "from-a-secret")
    configured = Settings(_env_file=None)
    assert configured.temporal_tls is True
    assert configured.temporal_tls_ca == pki.ca
    assert configured.temporal_api_key is not None
    assert connect_options(configured).api_key == "from-a-secret"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"temporal_tls_key": "KEY"}, "MEDIC_TEMPORAL_TLS_KEY is set without MEDIC_TEMPORAL_TLS_CERT"),
        ({"temporal_tls_cert": "CERT"}, "MEDIC_TEMPORAL_TLS_CERT is set without MEDIC_TEMPORAL_TLS_KEY"),
        ({"temporal_tls": False, "temporal_tls_ca": "CA"}, "MEDIC_TEMPORAL_TLS=false"),
        (
            {"temporal_tls_ca": "/nonexistent/ca.pem"},
            "MEDIC_TEMPORAL_TLS_CA=/nonexistent/ca.pem: cannot read",
        ),
        ({"temporal_tls_ca": "NOT_PEM"}, "not a PEM file"),
        ({"temporal_tls_ca": "KEY"}, "not a PEM CA certificate"),
        (
            {"temporal_tls_cert": "CERT", "temporal_tls_key": "OTHER_KEY"},
            "its matching unencrypted private key",
        ),
        ({"temporal_tls_cert": "CA", "temporal_tls_key": "NOT_PEM"}, "MEDIC_TEMPORAL_TLS_KEY="),
    ],
)
def test_invalid_settings_are_refused_before_connecting(
    pki: Pki, tmp_path: Path, values: dict[str, object], message: str
) -> None:
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("hello\n")
    files = {
        "KEY": pki.client_key,
        "CERT": pki.client_cert,
        "CA": pki.ca,
        "OTHER_KEY": pki.rogue_client_key,
        "NOT_PEM": not_pem,
    }
    resolved = {k: files.get(v, v) if isinstance(v, str) else v for k, v in values.items()}
    with pytest.raises(TemporalConfigError, match=message.replace("[", r"\[")):
        connect_options(settings(**resolved))


@pytest.mark.parametrize(
    ("error", "setting"),
    [
        ('ConnectError("tcp connect error", Os { kind: ConnectionRefused })', "MEDIC_TEMPORAL_ADDRESS"),
        ("InvalidCertificate(UnknownIssuer)", "MEDIC_TEMPORAL_TLS_CA"),
        ("InvalidCertificate(NotValidForNameContext { expected: ...", "MEDIC_TEMPORAL_TLS_SERVER_NAME"),
        ("InvalidMessage(InvalidContentType)", "MEDIC_TEMPORAL_TLS=false"),
        ("received fatal alert: CertificateRequired", "MEDIC_TEMPORAL_TLS_CERT"),
        ('Status { code: Unauthenticated, message: "..." }', "MEDIC_TEMPORAL_API_KEY"),
        ("h2 protocol error: http2 error", "MEDIC_TEMPORAL_TLS=true"),
        ('Status { code: Cancelled, source: hyper::Error(Canceled, "connection closed") }', "TLS=true"),
    ],
)
def test_connection_errors_point_at_a_setting(error: str, setting: str) -> None:
    advice = hint(error, tls="TLS=true" not in setting)
    assert advice is not None
    assert setting in advice


def test_an_unknown_error_gets_no_made_up_advice() -> None:
    assert hint("something else entirely", tls=False) is None
    assert hint("connection closed", tls=True) is None  # over TLS, a dropped connection says nothing more


# MEDIC_TEMPORAL_PROFILE: the Temporal CLI/SDK client configuration (temporal.toml) as a source.


def profile_file(tmp_path: Path, pki: Pki, *, inline: bool = False) -> Path:
    ca = (
        f'server_ca_cert_data = """{pki.ca.read_text()}"""' if inline else f'server_ca_cert_path = "{pki.ca}"'
    )
    path = tmp_path / "temporal.toml"
    path.write_text(
        f"""
[profile.cloud]
address = "medic.a1b2c.tmprl.cloud:7233"
namespace = "medic.a1b2c"
api_key = "profile-api-key"
[profile.cloud.tls]
server_name = "medic.a1b2c.tmprl.cloud"
{ca}
client_cert_path = "{pki.client_cert}"
client_key_path = "{pki.client_key}"
"""
    )
    return path


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith(("MEDIC_", "TEMPORAL_")):
            monkeypatch.delenv(name)
    return monkeypatch


def test_a_profile_fills_the_connection_settings(
    clean_env: pytest.MonkeyPatch, pki: Pki, tmp_path: Path
) -> None:
    clean_env.setenv("TEMPORAL_CONFIG_FILE", str(profile_file(tmp_path, pki)))
    clean_env.setenv("MEDIC_TEMPORAL_PROFILE", "cloud")
    configured = with_profile(Settings(_env_file=None))
    assert configured.temporal_address == "medic.a1b2c.tmprl.cloud:7233"
    assert configured.temporal_namespace == "medic.a1b2c"
    assert configured.temporal_tls_server_name == "medic.a1b2c.tmprl.cloud"
    assert configured.temporal_tls_ca == pki.ca
    assert configured.temporal_tls_cert == pki.client_cert
    assert "profile-api-key" in configured.secret_values()  # redacted like any other secret
    options = connect_options(configured)
    assert isinstance(options.tls, TLSConfig)
    assert options.api_key == "profile-api-key"


def test_medic_settings_that_are_set_win_over_the_profile(
    clean_env: pytest.MonkeyPatch, pki: Pki, tmp_path: Path
) -> None:
    clean_env.setenv("TEMPORAL_CONFIG_FILE", str(profile_file(tmp_path, pki)))
    clean_env.setenv("MEDIC_TEMPORAL_PROFILE", "cloud")
    clean_env.setenv("MEDIC_TEMPORAL_NAMESPACE", "medic-staging.a1b2c")
    configured = with_profile(Settings(_env_file=None))
    assert configured.temporal_namespace == "medic-staging.a1b2c"
    assert configured.temporal_address == "medic.a1b2c.tmprl.cloud:7233"


def test_without_a_profile_nothing_changes(clean_env: pytest.MonkeyPatch) -> None:
    plain = Settings(_env_file=None)
    assert with_profile(plain) is plain


@pytest.mark.parametrize(
    "case", [(True, "cloud", "inline data"), (False, "nope", "nope")], ids=["inline-data", "no-such-profile"]
)
def test_a_profile_medic_cannot_take_is_refused(
    clean_env: pytest.MonkeyPatch, pki: Pki, tmp_path: Path, case: tuple[bool, str, str]
) -> None:
    inline, profile, message = case
    clean_env.setenv("TEMPORAL_CONFIG_FILE", str(profile_file(tmp_path, pki, inline=inline)))
    with pytest.raises(TemporalConfigError, match=f"MEDIC_TEMPORAL_PROFILE={profile}: .*{message}"):
        with_profile(Settings(_env_file=None, temporal_profile=profile))
