"""Settings from the environment (prefix ``MEDIC_``) or a ``.env`` file.

Built in entry points (``get_settings``), never at import time, so tests and each process
construct their own.
"""

import difflib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from medic.clusters import ClusterScope
from medic.vocab import Risk

__all__ = ["Settings", "unknown_settings"]


# What an example's credential looks like ("change-me", "<token>", "${WEBHOOK_TOKEN}", "your-token-here").
_PLACEHOLDER = re.compile(
    r"(?i)change[-_ ]?me|replace[-_ ]?me|your[-_ ]?(token|secret)"
    r"|^<[^>]*>$|^\$\{[^}]*\}$|^(token|secret|password)$"
)

# The secrets a request to Medic is checked against (its credentials, and the signing secrets of the
# senders that post to it): empty is unset, whitespace only is refused (Settings._a_secret_or_unset).
_INBOUND_SECRETS = (
    "webhook_token",
    "webhook_token_previous",
    "operator_token",
    "read_token",
    "link_secret",
    "slack_signing_secret",
    "pagerduty_webhook_secret",
    "opsgenie_webhook_secret",
    "jira_webhook_secret",
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MEDIC_", env_file=".env", extra="ignore")

    api_host: str = Field(default="127.0.0.1", description="where the HTTP API listens")
    api_port: int = Field(default=8080, ge=1, le=65535, description="the HTTP API's port")
    temporal_address: str = Field(
        default="127.0.0.1:7233", description="Temporal frontend; `medic dev` starts its embedded server here"
    )
    temporal_namespace: str = Field(default="default", description="the Temporal namespace of the incidents")
    task_queue: str = Field(default="medic", description="the workers' task queue")
    dev_ui_port: int = Field(default=8233, ge=1, le=65535, description="Temporal Web UI of `medic dev`")
    data_dir: Path = Field(
        default=Path(".medic"),
        description="dev-server database and log, the generated webhook token, postmortems by default",
    )
    webhook_token: SecretStr | None = Field(
        default=None,
        description="bearer token (or basic-auth password) the webhooks require; `medic api` refuses to "
        "start without one, `medic dev` generates one and stores it in MEDIC_DATA_DIR",
    )
    webhook_token_previous: SecretStr | None = Field(
        default=None,
        description="during a rotation of MEDIC_WEBHOOK_TOKEN, the token it replaces, accepted too until "
        "every sender has the new one (each delivery with it is logged and counted in "
        "medic_webhook_previous_token_total); unset it then (docs/deployment.md, 'Rotating the webhook "
        "token')",
    )
    operator_token: SecretStr | None = Field(
        default=None,
        description="bearer token (or basic-auth password) for the kill switch and remediation decisions "
        "over HTTP, recorded as api:operator-token; unset: only Slack can change them",
    )
    read_token: SecretStr | None = Field(
        default=None,
        description="bearer token (or basic-auth password) that may only read incidents, postmortems and "
        "charts (the webhook and operator tokens read too)",
    )
    reads_open: bool = Field(
        default=False,
        description="serve incident reads without credentials: only on a network every client of which "
        "may read every alert (logged loudly at start)",
    )
    link_secret: SecretStr | None = Field(
        default=None,
        description="signs the postmortem and chart links Medic posts to Slack; default: the webhook token "
        "(the API and the worker need the same one)",
    )
    link_ttl_seconds: int = Field(
        default=7 * 24 * 3600, ge=60, le=90 * 24 * 3600, description="how long a signed link opens"
    )
    catalog: Path = Field(
        default=Path("catalog.yaml"), description="the service catalog (also `medic check --catalog`)"
    )
    routing: Path | None = Field(
        default=None,
        description="routing policy; default routing.yaml beside the catalog (set and not there: the API"
        " and worker refuse to start, where the default's absence is the built-in policy)",
    )
    runbooks_dir: Path = Field(
        default=Path("runbooks"), description="the runbook YAML files (also `medic check --runbooks`)"
    )
    anomaly: Path | None = Field(
        default=None,
        description="anomaly scans (docs/anomaly.md); default anomaly.yaml beside the catalog (set and not"
        " there: the API and worker refuse to start, where the default's absence is no scans)",
    )
    remediation_mode: str = Field(
        default="dry-run",
        pattern=r"^(dry-run|approve|auto)$",
        description="dry-run, approve (every action needs a human) or auto (runbook policy decides)",
    )
    remediation_namespaces: list[str] = Field(
        default_factory=list, description="namespaces remediations may act in (JSON list); empty: any"
    )
    remediation_max_per_hour: int = Field(
        default=3,
        ge=0,
        description="actions per service per hour, held before acting (no service: per namespace)",
    )
    remediation_approval_risk: Risk = Field(
        default=Risk.HIGH,
        description="steps of a high-risk runbook at or above this risk need a human (auto mode)",
    )
    remediation_approval_impact: float = Field(
        default=80.0,
        ge=0,
        le=100,
        description="incidents at or above this impact need a human to approve remediations",
    )
    remediation_approval_timeout_seconds: int = Field(
        default=900, ge=10, description="no answer to an approval within this escalates instead of acting"
    )

    slack_bot_token: SecretStr | None = Field(
        default=None, description="Slack bot token: incidents are posted"
    )
    slack_signing_secret: SecretStr | None = Field(
        default=None, description="Slack signing secret: turns on `/medic` commands and buttons"
    )
    slack_base_url: str = Field(default="https://slack.com/api/", description="Slack's Web API")
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
    pagerduty_routing_key: SecretStr | None = Field(
        default=None, description="the PagerDuty Events v2 routing key used when no named key applies"
    )
    pagerduty_routing_keys: dict[str, SecretStr] = Field(
        default_factory=dict, description='routing-key names to keys, JSON: {"checkout": "R0..."}'
    )
    pagerduty_events_url: str = Field(
        default="https://events.pagerduty.com/v2/enqueue", description="PagerDuty's Events v2 API"
    )
    pagerduty_webhook_secret: SecretStr | None = Field(
        default=None,
        description="signing secret of the PagerDuty v3 webhook subscription; POST /webhooks/pagerduty is "
        "refused (401) without it",
    )
    opsgenie_api_key: SecretStr | None = Field(
        default=None, description="Opsgenie API (integration) key used when no named key applies"
    )
    opsgenie_api_keys: dict[str, SecretStr] = Field(
        default_factory=dict, description='routing-key names to Opsgenie API keys, JSON: {"checkout": "..."}'
    )
    opsgenie_url: str = Field(
        default="https://api.opsgenie.com", description="Opsgenie's API (EU: https://api.eu.opsgenie.com)"
    )
    opsgenie_webhook_secret: SecretStr | None = Field(
        default=None,
        description="shared secret Opsgenie's Webhook integration sends (header X-Medic-Token, or as the "
        "basic-auth password); POST /webhooks/opsgenie is refused (401) without it",
    )
    pager: str = Field(
        default="auto",
        pattern=r"^(auto|pagerduty|opsgenie|both)$",
        description="who is paged: auto (every pager with credentials), pagerduty, opsgenie or both",
    )
    teams_webhooks: dict[str, SecretStr] = Field(
        default_factory=dict,
        description='Teams channel names to Workflows webhook URLs (secrets), JSON: {"data-oncall": "https://..."}',
    )
    jira_url: str | None = Field(
        default=None, description="Jira base URL: an issue per incident where routed"
    )
    jira_user: str | None = Field(default=None, description="Jira user (Cloud: the e-mail address)")
    jira_api_token: SecretStr | None = Field(default=None, description="Jira API token (or password)")
    jira_pat: SecretStr | None = Field(
        default=None,
        description="Jira Data Center personal access token (bearer), instead of user and API token",
    )
    jira_deployment: str = Field(
        default="auto",
        pattern=r"^(auto|cloud|datacenter)$",
        description="auto: read serverInfo's deploymentType once; cloud: REST v3, ADF, /search/jql; "
        "datacenter: REST v2, wiki markup, /search",
    )
    jira_project: str | None = Field(default=None, description="Jira project key when the catalog names none")
    jira_webhook_secret: SecretStr | None = Field(
        default=None,
        description="secret of a Jira webhook pointed at POST /webhooks/jira (it signs with it: "
        "X-Hub-Signature; or sent as X-Medic-Token, bearer or basic-auth password), so moving an "
        "incident's issue to In Progress acknowledges it and to Done resolves it; 401 without it",
    )
    prometheus_url: str | None = Field(
        default=None,
        description="Prometheus, for verification queries and anomaly scans (basic auth as "
        "https://user:password@host/; a path prefix as https://host/prometheus; a query, sent with every "
        "call, as OpenShift's thanos-querier takes on its tenancy port: https://host:9092?namespace=shop)",
    )
    prometheus_bearer_token_file: Path | None = Field(
        default=None,
        description="a file holding a bearer token for Prometheus (a Thanos querier behind OpenShift's "
        "oauth-proxy, a managed Prometheus): read again at every query, so a rotated or projected "
        "service-account token is picked up",
    )
    prometheus_ca_file: Path | None = Field(
        default=None, description="the CA bundle that signs Prometheus's TLS certificate (else the system's)"
    )
    prometheus_tenant: str | None = Field(
        default=None,
        description="the tenant whose metrics Medic reads, sent as `X-Scope-OrgID` with every query (Grafana "
        "Mimir, Cortex, and the gateways in front of them: they answer 401 `no org id` without it); "
        "`team-a|team-b` reads several where Mimir's tenant federation is on",
    )
    prometheus_timeout_seconds: float = Field(
        default=10.0,
        ge=2.0,
        le=300.0,
        description="how long an anomaly scan's range query may take (Prometheus is asked to give up a "
        "second before); verification and settle queries keep their own short bounds",
    )
    loki_url: str | None = Field(
        default=None,
        description="Grafana Loki, for anomaly scans whose `source` is `loki` (LogQL metric queries: "
        "error lines counted a minute, bytes logged); basic auth, a path prefix and a query as for "
        "MEDIC_PROMETHEUS_URL (Loki's own API is under /loki/api/v1, added by Medic)",
    )
    loki_bearer_token_file: Path | None = Field(
        default=None,
        description="a file holding a bearer token for Loki (a gateway in front of it, Grafana Cloud "
        "Logs' token): read again at every query",
    )
    loki_ca_file: Path | None = Field(
        default=None, description="the CA bundle that signs Loki's TLS certificate (else the system's)"
    )
    loki_tenant: str | None = Field(
        default=None,
        description="the tenant whose logs Medic reads, sent as `X-Scope-OrgID` (a Loki with "
        "`auth_enabled: true` answers 401 `no org id` without it; a single-tenant Loki needs none); "
        "`team-a|team-b` reads several where Loki's multi-tenant queries are on",
    )
    loki_timeout_seconds: float = Field(
        default=30.0,
        ge=2.0,
        le=300.0,
        description="how long a scan's LogQL range query may take (Loki reads the logs themselves: "
        "slower than Prometheus)",
    )
    alertmanager_url: str | None = Field(
        default=None,
        description="Alertmanager: silences from Slack; whether the alerts its webhook delivered are still "
        "held there (it sends no resolution for an alert silenced or inhibited when it resolves: "
        "docs/notifications.md); and, with MEDIC_PROMETHEUS_URL, the alerts of a firing cause it still "
        "holds for MEDIC_ALERTMANAGER_RECEIVER",
    )
    alertmanager_tenant: str | None = Field(
        default=None,
        description="the tenant of Mimir's or Cortex's Alertmanager (one), sent as `X-Scope-OrgID`: the "
        "tenant whose rules fire the alerts Medic silences and reads",
    )
    alertmanager_bearer_token_file: Path | None = Field(
        default=None,
        description="a file holding a bearer token for Alertmanager (OpenShift's alertmanager-main behind "
        "its oauth-proxy): read again at every call",
    )
    alertmanager_ca_file: Path | None = Field(
        default=None,
        description="the CA bundle that signs Alertmanager's TLS certificate (else the system's)",
    )
    alertmanager_silence_url: str | None = Field(
        default=None,
        max_length=2048,
        description="where people open a silence from Slack and the timeline, `{id}` standing for its id: "
        "Grafana's alerting pages for Mimir's Alertmanager, whose own UI a browser cannot open without "
        "the tenant header (`https://grafana.example/alerting/silence/{id}/edit?alertmanager=Mimir`), or "
        "an Alertmanager people reach at another address than Medic's; unset: MEDIC_ALERTMANAGER_URL's "
        "own UI, without its credentials",
    )
    alertmanager_receiver: str = Field(
        default="medic",
        max_length=256,
        description="Medic's receiver in Alertmanager (a regex, anchored as Alertmanager anchors it). A "
        "settling symptom whose likely cause fires in Prometheus takes that cause's alerts Alertmanager "
        "holds for this receiver and would notify (active, not silenced, not inhibited; none when its "
        "routes use time intervals), so the cause's team hears now, not after group_wait or "
        "group_interval; empty: it waits for the webhook",
    )
    kubeconfig: Path | None = Field(
        default=None,
        description="the cluster remediations act on; unset: standard kubeconfig resolution, then in-cluster",
    )
    cluster: str = Field(
        default="",
        max_length=253,
        description="the name of the cluster remediations act on (MEDIC_KUBECONFIG's), as its alerts say "
        "it in MEDIC_CLUSTER_LABEL (an external label, e.g. `prod-eu`). An alert from another cluster, or "
        "one naming no cluster while this is set, matches no runbook here (`remediation.skipped` says why) "
        "and is not looked up in this cluster (MEDIC_SUBJECT_LOOKUP). Unset: alerts that name a cluster "
        "match no runbook (Medic cannot know it is this one); those naming none act as before "
        "(docs/remediation.md)",
    )
    cluster_label: str = Field(
        default="cluster",
        pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$",
        max_length=256,
        description="the alert label that names the cluster an alert is from (the kubernetes-mixin's "
        "`clusterLabel`, Prometheus' external label)",
    )
    incidents_per_cluster: bool = Field(
        default=False,
        description="a service's incident is one per cluster, as its alerts name it in MEDIC_CLUSTER_LABEL: "
        "`incident-prod-eu--checkout` and `incident-staging--checkout`, each paged, correlated with its own "
        "cluster's incidents only and resolved on its own (alerts naming no cluster: `incident-checkout`, "
        "as before; an anomaly finding whose series names a cluster joins that cluster's). Off: one "
        "incident per service whatever the cluster, and a dependency failing in one "
        "cluster absorbs its dependents' incidents of every other. Turn it on for one Medic serving "
        "several clusters, and for a Medic per cluster sharing one Temporal namespace "
        "(docs/deployment.md#several-clusters); incidents open when it changes keep their ids",
    )
    argocd_namespace: str = Field(
        default="argocd",
        pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$",
        description="the namespace of Argo CD's Applications, read before a remediation acts on what one "
        "applies (docs/remediation.md, GitOps); an Application elsewhere is named by its tracking id",
    )
    scan_state: Literal["file", "configmap"] = Field(
        default="file",
        description="where anomaly scans keep their detector state between runs: `file`, "
        "MEDIC_DATA_DIR/scans (one worker, or a volume every worker shares); `configmap`, a ConfigMap "
        "per scan (medic-scan-<name>) every worker and the API share, over the MEDIC_KUBECONFIG "
        "connection (docs/anomaly.md)",
    )
    scan_state_namespace: str | None = Field(
        default=None,
        description="the namespace of the scan-state ConfigMaps; unset: the pod's own (its service "
        "account's namespace file)",
    )
    subject_lookup: bool = Field(
        default=False,
        description="the API asks the cluster (MEDIC_KUBECONFIG) who owns an alert's pod, HPA or volume; "
        "off: the controllers' naming patterns decide (docs/kubernetes-alerts.md)",
    )
    postmortem_dir: Path | None = Field(
        default=None, description="where postmortems are written; unset: MEDIC_DATA_DIR/postmortems"
    )
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
    # The connection to a production Temporal (service/temporal.py; docs/deployment.md).
    temporal_tls: bool | None = Field(
        default=None,
        description="connect to Temporal over TLS; unset: on when an API key, a CA or a client "
        "certificate is given (false with an API key sends it in clear, for a trusted local proxy only)",
    )
    temporal_tls_server_name: str | None = Field(
        default=None, description="the name the server's certificate must carry (SNI), if not the host's"
    )
    temporal_tls_ca: Path | None = Field(
        default=None,
        description="PEM file of the CA(s) that signed the server's certificate; default the system's",
    )
    temporal_tls_cert: Path | None = Field(
        default=None, description="PEM client certificate for mTLS (with MEDIC_TEMPORAL_TLS_KEY)"
    )
    temporal_tls_key: Path | None = Field(
        default=None, description="PEM private key of MEDIC_TEMPORAL_TLS_CERT"
    )
    temporal_api_key: SecretStr | None = Field(
        default=None,
        description="API key (Temporal Cloud), sent as `authorization: Bearer`; implies TLS",
    )
    temporal_profile: str | None = Field(
        default=None,
        description="take the Temporal connection (address, namespace, API key, TLS files) from this profile "
        "of the Temporal CLI/SDK client configuration (TEMPORAL_CONFIG_FILE, else "
        "~/.config/temporalio/temporal.toml; TEMPORAL_* variables override it); MEDIC_TEMPORAL_* settings "
        "that are set win",
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
    settle_max_seconds: float = Field(
        default=60.0,
        ge=0,
        le=900,
        description="with MEDIC_PROMETHEUS_URL: a new incident that could be a symptom asks Prometheus "
        "(ALERTS) whether a service it depends on has an alert pending or firing; none: it tells at once, "
        "one: it waits up to this long for that cause to absorb it (0: no asking, MEDIC_SETTLE_SECONDS only)",
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
    worker_shutdown_grace_seconds: float = Field(
        default=30.0,
        ge=0,
        description=(
            "on SIGTERM the worker stops taking tasks at once and gives the activities it runs this long to "
            "finish (a post or a page in flight, a remediation step) before it cancels them, and Temporal "
            "runs those again on another worker; keep it below the pod's terminationGracePeriodSeconds by "
            "the longest call's timeout (Jira, 15 s): the chart sets it 20 s below"
        ),
    )
    api_drain_seconds: float = Field(
        default=5.0,
        ge=0,
        description=(
            "on SIGTERM the API first answers /readyz with 503 and goes on serving this long, while "
            "Kubernetes takes the pod out of the Service, then stops listening and finishes the requests in "
            "flight; a second SIGTERM or Ctrl-C ends the wait. 0: stop listening at once (`medic dev` does)"
        ),
    )
    worker_metrics_port: int = Field(
        default=9464, ge=0, le=65535, description="`medic worker` serves /metrics here (0: not at all)"
    )
    log_level: str = Field(default="INFO", description="DEBUG, INFO, WARNING or ERROR")
    log_json: bool = Field(default=False, description="one JSON object per log line")
    otel_endpoint: str | None = Field(
        default=None,
        description="OTLP/HTTP endpoint for traces, e.g. http://otel-collector:4318 (the standard "
        "OTEL_EXPORTER_OTLP_ENDPOINT works too); unset: no tracing. Needs the `otel` extra",
    )

    @field_validator(*_INBOUND_SECRETS, mode="before")
    @classmethod
    def _a_secret_or_unset(cls, value: object) -> object:
        """A secret that lets a request in is unset when empty (an optional Secret key left blank, a
        ``.env`` line ``MEDIC_OPERATOR_TOKEN=``): as an empty string it was a credential anyone could
        present (basic auth ``x:``; an HMAC with the empty key). One of whitespace only is refused: it is
        as guessable, and no sender was meant to hold it."""
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if not isinstance(text, str):
            return value
        if text == "":
            return None
        if not text.strip():
            raise ValueError(
                "is only whitespace, a secret anyone could guess: set a real one "
                "(e.g. `openssl rand -hex 32`), or leave it unset"
            )
        return value

    @field_validator("webhook_token", "webhook_token_previous", "operator_token", "read_token", "link_secret")
    @classmethod
    def _not_a_placeholder(cls, value: SecretStr | None) -> SecretStr | None:
        """A credential copied from an example (``change-me: ...``) is refused, not silently used."""
        if value is not None and _PLACEHOLDER.search(value.get_secret_value()):
            raise ValueError(
                "looks like a placeholder from an example, not a secret: set a real one, "
                "e.g. `openssl rand -hex 32`"
            )
        return value

    @field_validator("prometheus_tenant", "alertmanager_tenant", "loki_tenant", mode="before")
    @classmethod
    def _a_tenant(cls, value: object, info: ValidationInfo) -> object:
        """A tenant as Mimir takes it (docs "About Grafana Mimir tenant IDs"); empty is unset."""
        if value == "" or value is None:
            return None
        if not isinstance(value, str):
            return value
        federated = info.field_name in ("prometheus_tenant", "loki_tenant")
        problem = tenant_problem(
            value, federated=federated, who="Loki" if info.field_name == "loki_tenant" else "Mimir"
        )
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("prometheus_url", "alertmanager_url", "loki_url")
    @classmethod
    def _a_readable_url(cls, value: str | None) -> str | None:
        """A URL whose host and port can be read (``http://u:pw@[bad`` crashed doctor and the start-up
        warnings; a port over 65535 the Alertmanager client, deep inside); not quoted (it may hold a
        password)."""
        if not value:
            return value
        try:
            urlsplit(value).port  # noqa: B018 (read for its ValueError)
        except ValueError as err:
            raise ValueError(f"is no URL Medic can read: {str(err).replace(value, '...')[:80]}") from None
        return value

    @field_validator("alertmanager_silence_url")
    @classmethod
    def _a_silence_page(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not re.match(r"https?://[^\s/]", value) or re.search(r"\s", value):
            raise ValueError(f"{value[:80]!r} is no http(s) URL (without spaces)")
        rest = value.replace("{id}", "", 1)
        if "{id}" not in value or "{" in rest or "}" in rest:
            raise ValueError(
                f"{value[:80]!r} must hold {{id}} once, where the silence's id goes, and no other braces: "
                "e.g. https://grafana.example/alerting/silence/{id}/edit?alertmanager=Mimir"
            )
        return value

    @field_validator(
        "temporal_tls",
        "temporal_tls_server_name",
        "temporal_tls_ca",
        "temporal_tls_cert",
        "temporal_tls_key",
        "temporal_api_key",
        "temporal_profile",
        "scan_state_namespace",
        "prometheus_bearer_token_file",
        "prometheus_ca_file",
        "alertmanager_bearer_token_file",
        "alertmanager_ca_file",
        "alertmanager_silence_url",
        "loki_url",
        "loki_bearer_token_file",
        "loki_ca_file",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """An empty value (an unset Helm value, an optional Secret key left blank) means not set."""
        return None if value == "" else value

    def secret_values(self) -> list[str]:
        """Every configured secret, for redaction (``medic.redact``): every ``SecretStr`` setting,
        found by its type so that a new one cannot be left out, and the password of any URL setting
        (``http://user:password@host``), as written and percent-decoded."""
        found: list[str] = []
        for name in type(self).model_fields:
            _secrets_in(getattr(self, name), found)
        return found

    @property
    def cluster_scope(self) -> ClusterScope:
        """The cluster remediations act on, and the label alerts name theirs by (medic/clusters.py)."""
        return ClusterScope(self.cluster, self.cluster_label, own_locks=self.incidents_per_cluster)

    @property
    def incident_cluster_label(self) -> str:
        """The label a service's incidents are one per value of ('': one per service): medic.assign."""
        return self.cluster_label if self.incidents_per_cluster else ""

    @property
    def effective_postmortem_dir(self) -> Path:
        return self.postmortem_dir or self.data_dir / "postmortems"

    @property
    def routing_file(self) -> Path:
        return self.routing or self.catalog.parent / "routing.yaml"

    @property
    def anomaly_file(self) -> Path:
        return self.anomaly or self.catalog.parent / "anomaly.yaml"

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


# Names people guess from other tools' settings, and the setting they mean.
_GUESSES = {
    "MEDIC_JIRA_EMAIL": "MEDIC_JIRA_USER",
    "MEDIC_JIRA_TOKEN": "MEDIC_JIRA_API_TOKEN",
    "MEDIC_SLACK_TOKEN": "MEDIC_SLACK_BOT_TOKEN",
    "MEDIC_PAGERDUTY_KEY": "MEDIC_PAGERDUTY_ROUTING_KEY",
    "MEDIC_PAGERDUTY_INTEGRATION_KEY": "MEDIC_PAGERDUTY_ROUTING_KEY",
}


def unknown_settings(environ: Mapping[str, str]) -> list[str]:
    """The MEDIC_* variables of ``environ`` that are no setting (ignored: a misspelled name, a guess such
    as MEDIC_JIRA_EMAIL), each with the nearest setting's name when one is close."""
    known = {f"MEDIC_{name.upper()}" for name in Settings.model_fields}
    out = []
    for name in sorted(environ):
        if name.startswith("MEDIC_") and name not in known:
            near = (
                [_GUESSES[name]]
                if name in _GUESSES
                else difflib.get_close_matches(name, known, n=1, cutoff=0.75)
            )
            hint = f" (did you mean {near[0]}?)" if near else ""
            out.append(f"{name} is not a Medic setting and is ignored{hint}")
    return out


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


_TENANT = re.compile(r"[A-Za-z0-9!\-_.*'()]+")


def tenant_problem(value: str, *, federated: bool, who: str = "Mimir") -> str:
    """What Mimir refuses in a tenant ID (at most 150 characters of letters, digits and ``!-_.*'()``; not
    ``.``, ``..`` nor ``__mimir_cluster``; several joined by ``|`` where ``federated``), else ``""``.
    Loki takes the same but ``__mimir_cluster`` (dskit's ``tenant.ValidTenantID``; Mimir adds that
    one): ``who`` names it."""
    parts = value.split("|") if federated else [value]
    for part in parts:
        if not part:
            return f"tenant {value!r} has an empty part between its '|'s" if federated else "empty tenant"
        bad = sorted({c for c in part if not _TENANT.fullmatch(c)})
        if bad:
            shown = ", ".join(repr(c) for c in bad[:5])
            more = (
                "" if federated or "|" not in bad else " (several tenants federate Prometheus queries only)"
            )
            return (
                f"tenant {part!r} holds {shown}, which {who} does not take: letters, digits and "
                f"!-_.*'() only{more}"
            )
        if len(part) > 150:
            return f"tenant {part[:20]!r}... is {len(part)} characters long; {who} takes 150 at most"
        if part in {".", ".."} or (part == "__mimir_cluster" and who == "Mimir"):
            return f"tenant {part!r} is not a tenant {who} takes"
    return ""
