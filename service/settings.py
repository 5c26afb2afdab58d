"""Settings from the environment (prefix ``MEDIC_``) or a ``.env`` file.

Built in entry points (``get_settings``), never at import time, so tests and each process
construct their own.
"""

from pathlib import Path
from urllib.parse import unquote, urlsplit

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MEDIC_", env_file=".env", extra="ignore")

    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8080, ge=1, le=65535)
    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    task_queue: str = "medic"
    dev_ui_port: int = Field(default=8233, ge=1, le=65535)
    data_dir: Path = Path(".medic")
    webhook_token: SecretStr | None = None
    operator_token: SecretStr | None = Field(
        default=None,
        description="bearer token (or basic-auth password) for the kill switch and remediation decisions "
        "over HTTP, recorded as api:operator-token; unset: only Slack can change them",
    )
    catalog: Path = Path("catalog.yaml")
    routing: Path | None = Field(
        default=None, description="routing policy; default routing.yaml beside the catalog"
    )
    runbooks_dir: Path = Path("runbooks")
    remediation_mode: str = Field(default="dry-run", pattern=r"^(dry-run|approve|auto)$")
    remediation_namespaces: list[str] = Field(
        default_factory=list, description="namespaces remediations may act in (JSON list); empty: any"
    )
    remediation_max_per_hour: int = Field(default=3, ge=0, description="actions per service per hour")
    remediation_approval_risk: str = Field(default="high", pattern=r"^(low|medium|high)$")
    remediation_approval_impact: float = Field(default=80.0, ge=0, le=100)
    remediation_approval_timeout_seconds: int = Field(default=900, ge=10)

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_base_url: str = "https://slack.com/api/"
    slack_response_url_prefixes: list[str] = Field(
        default_factory=lambda: ["https://hooks.slack.com/"],
        description="where Slack's response_url may point (JSON list of https URL prefixes: scheme, host "
        "and port must match exactly, the path must start with the prefix's); anything else is refused",
    )
    slack_inline_seconds: float = Field(
        default=2.0,
        ge=0,
        le=2.5,
        description="how long a command may take to answer inline before it follows up via response_url",
    )
    public_url: str | None = Field(
        default=None, description="how people reach this API, for links in Slack (default http://host:port)"
    )
    pagerduty_routing_key: SecretStr | None = None
    pagerduty_routing_keys: dict[str, SecretStr] = Field(
        default_factory=dict, description='routing-key names to keys, JSON: {"checkout": "R0..."}'
    )
    pagerduty_events_url: str = "https://events.pagerduty.com/v2/enqueue"
    jira_url: str | None = None
    jira_user: str | None = None
    jira_api_token: SecretStr | None = None
    jira_project: str | None = None
    prometheus_url: str | None = None
    alertmanager_url: str | None = None
    kubeconfig: Path | None = None
    postmortem_dir: Path | None = None
    postmortem_template: Path | None = Field(
        default=None, description="a Markdown template overriding the postmortem layout ($placeholders)"
    )

    # Beyond the contract: tuning with safe defaults.
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024, description="webhook body size limit")
    temporal_rpc_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        description="the deadline of a webhook's hand-over to Temporal, queueing included: past it, 503",
    )
    # Webhook limits, checked before anything is handed to Temporal (docs/configuration.md).
    max_label_value_bytes: int = Field(
        default=1024, ge=64, le=4096, description="a label value (or anomaly series label), UTF-8 bytes; 422"
    )
    max_annotation_value_bytes: int = Field(
        default=32 * 1024, ge=256, le=1024 * 1024, description="an annotation value or generatorURL; 422"
    )
    max_labels_per_alert: int = Field(default=128, ge=1, le=10_000, description="labels of one alert; 422")
    max_alerts_per_delivery: int = Field(
        default=2000, ge=1, le=100_000, description="alerts (or anomaly signals) in one request; 413"
    )
    max_incidents_per_delivery: int = Field(
        default=100, ge=1, le=10_000, description="distinct incidents one request may reach; 413"
    )
    max_signal_bytes: int = Field(
        default=512 * 1024,
        ge=64 * 1024,
        le=1_900_000,
        description="payload of one Temporal signal (Temporal refuses 2 MB); larger deliveries are split, "
        "an alert larger on its own is refused with 422",
    )
    resolve_quiet_seconds: float = Field(
        default=300.0, ge=0, description="how long nothing may fire before an incident resolves"
    )
    correlation_window_seconds: float = Field(
        default=900.0, ge=0, description="how far apart in time symptoms may start and still join their cause"
    )
    settle_seconds: float = Field(
        default=5.0,
        ge=0,
        le=300,
        description="how long a new incident with catalog neighbours waits for its join decision before "
        "it posts or pages (0: tell at once)",
    )
    ingest_batch_window_ms: float = Field(
        default=0.0,
        ge=0,
        le=1000,
        description="extra wait before an incident's signal starts, to gather more deliveries into it",
    )
    temporal_ui_base: str | None = Field(
        default=None, description="Temporal Web UI base URL for links in messages (default: the dev UI)"
    )
    worker_workflow_tasks: int = Field(
        default=2,
        ge=2,
        le=1000,
        description=(
            "workflow tasks a worker holds at once; workflow code runs one task at a time under the GIL, "
            "and the signals of a task waiting in Temporal are handled together in it"
        ),
    )
    worker_metrics_port: int = Field(
        default=9464, ge=0, le=65535, description="`medic worker` serves /metrics here (0: not at all)"
    )
    log_level: str = "INFO"
    log_json: bool = False

    def secret_values(self) -> list[str]:
        """Every configured secret, for redaction (``medic.redact``): every ``SecretStr`` setting,
        found by its type so that a new one cannot be left out, and the password of any URL setting
        (``http://user:password@host``), as written and percent-decoded."""
        found: list[str] = []
        for name in type(self).model_fields:
            _secrets_in(getattr(self, name), found)
        return found

    @property
    def effective_postmortem_dir(self) -> Path:
        return self.postmortem_dir or self.data_dir / "postmortems"

    @property
    def routing_file(self) -> Path:
        return self.routing or self.catalog.parent / "routing.yaml"

    @property
    def temporal_ui_url(self) -> str:
        return self.temporal_ui_base or self.ui_url

    @property
    def api_url(self) -> str:
        return (self.public_url or f"http://{self.api_host}:{self.api_port}").rstrip("/")

    @property
    def token_file(self) -> Path:
        return self.data_dir / "webhook-token"

    def workflow_url(self, workflow_id: str = "") -> str:
        """A workflow (or, without an id, the workflow list) in the Temporal Web UI."""
        base = f"{self.temporal_ui_url.rstrip('/')}/namespaces/{self.temporal_namespace}/workflows"
        return f"{base}/{workflow_id}" if workflow_id else base

    @property
    def ui_url(self) -> str:
        host = self.temporal_address.rsplit(":", 1)[0]
        return f"http://{host}:{self.dev_ui_port}"


def _secrets_in(value: object, found: list[str]) -> None:
    if isinstance(value, SecretStr):
        found.append(value.get_secret_value())
    elif isinstance(value, dict):
        for item in value.values():
            _secrets_in(item, found)
    elif isinstance(value, list | tuple):
        for item in value:
            _secrets_in(item, found)
    elif isinstance(value, str) and "@" in value:
        try:
            password = urlsplit(value).password
        except ValueError:  # not a URL after all
            return
        if password:
            found += [password, unquote(password)]
