"""Secrets are redacted where input enters Medic, before anything reaches a workflow: alerts (labels,
annotations, generator URL), anomaly signals, the free text of chat commands and of decisions; every
configured secret is registered; the log lines and the `medic dev` banner carry none.
(tests/integration/test_secrets.py checks the same end to end, in histories, answers and messages.)"""

import io
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import SecretStr

import medic.redact
from medic.alerts import AlertmanagerWebhook, normalise_webhook
from medic.anomaly import AnomalySignal
from medic.commands import DECISION_REASON_MAX, Deny, Resolve, Silence, parse_command
from medic.feedback import Matcher, SilenceRecord
from medic.fingerprint import label_fingerprint
from medic.keys import INCIDENT_ID_PATTERN, group_incident_id
from medic.redact import REDACTED, register_secrets
from service.chat.runner import _label_matcher
from service.control import _redacted
from service.dev import _banner
from service.logs import log_formatter
from service.settings import Settings
from workflows.control import KillSwitchRequest
from workflows.remediation import Decision

SECRET = "S3cretValueConfigured0042"
LOWER = "lowercasesecret0042abcdef"  # a secret a slug (lower-cased) could carry whole
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _configured(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(medic.redact, "_known", set())  # this module's secrets stay with it
    register_secrets([SECRET, LOWER])
    yield


def _leaks(value: Any) -> bool:
    text = value.model_dump_json() if hasattr(value, "model_dump_json") else str(value)
    return SECRET in text or LOWER in text or "hunter22" in text


def _webhook(**alert: Any) -> AlertmanagerWebhook:
    body = {
        "status": "firing",
        "receiver": "medic",
        "groupLabels": {"alertname": f"Leak{LOWER}"},
        "alerts": [{"labels": {"alertname": "CheckoutDown"}, "startsAt": "2026-11-23T12:00:00Z"} | alert],
    }
    return AlertmanagerWebhook.model_validate(body)


def test_alerts_are_redacted_as_they_are_normalised() -> None:
    labels = {
        "alertname": "CheckoutDown",
        "service": f"checkout-{SECRET}",
        "pod": "checkout-1",
        f"x_{SECRET}": "label name",
        "api_key": "k3y-under-a-secret-looking-name",
    }
    payload = _webhook(
        labels=labels,
        annotations={"summary": f"db password=hunter22 and {SECRET}", "runbook": "https://wiki/x"},
        generatorURL=f"http://admin:hunter22@prometheus:9090/graph?token={SECRET}",
    )
    (alert,) = normalise_webhook(payload, received_at=NOW)
    assert not _leaks(alert)
    assert alert.labels["pod"] == "checkout-1" and alert.labels["service"] == f"checkout-{REDACTED}"
    assert alert.labels["api_key"] == REDACTED and alert.labels[f"x_{REDACTED}"] == "label name"
    assert alert.annotations == {
        "summary": f"db password={REDACTED} and {REDACTED}",
        "runbook": "https://wiki/x",
    }
    assert alert.generator_url == f"http://admin:{REDACTED}@prometheus:9090/graph?token={REDACTED}"
    # The identity is Alertmanager's: worked out from the labels as sent (what an Alertmanager that
    # sends fingerprints sends), so dedup does not depend on what is configured as secret.
    assert alert.fingerprint == label_fingerprint(labels)
    sent = normalise_webhook(_webhook(labels=labels, fingerprint="c0ffee0000000001"), received_at=NOW)
    assert sent[0].fingerprint == "c0ffee0000000001"
    forged = normalise_webhook(_webhook(fingerprint=f"fp-{SECRET}"), received_at=NOW)
    assert forged[0].fingerprint == f"fp-{REDACTED}"


def test_alerts_without_anything_to_redact_are_unchanged() -> None:
    payload = _webhook(annotations={"summary": "checkout is down"}, generatorURL="http://prom/graph")
    (alert,) = normalise_webhook(payload, received_at=NOW)
    assert alert.labels == {"alertname": "CheckoutDown"} and alert.annotations == {
        "summary": "checkout is down"
    }
    assert alert.generator_url == "http://prom/graph"


def test_a_group_incident_id_carries_no_secret() -> None:
    incident_id = group_incident_id(
        receiver="medic", group_key=None, group_labels={"alertname": f"Leak{LOWER}"}
    )
    assert LOWER not in incident_id and INCIDENT_ID_PATTERN.fullmatch(incident_id)
    assert incident_id == group_incident_id(
        receiver="medic", group_key=None, group_labels={"alertname": f"Leak{LOWER}"}
    ), "deterministic: every delivery of the group reaches the same incident"


def _signal(**fields: Any) -> AnomalySignal:
    body = {
        "source": "medic-scan",
        "service": "checkout",
        "series": {"__name__": "http_requests_total"},
        "value": 1.0,
        "expected": {"lower": 0.0, "upper": 0.5},
        "score": 0.9,
        "window": {"start": "2026-11-23T12:00:00Z", "end": "2026-11-23T12:05:00Z"},
    }
    return AnomalySignal.model_validate(body | fields)


def test_anomaly_signals_are_redacted_as_they_are_built() -> None:
    signal = _signal(
        source=f"scan-{SECRET}",
        service=f"svc:{LOWER}",
        series={"__name__": "up", "token": "abc123", "path": f"/login?password=hunter22&k={SECRET}"},
        summary=f"saw {SECRET} and password=hunter22",
    )
    assert not _leaks(signal)
    assert signal.source == "scan-redacted" and signal.service == "svc:redacted", "still valid names"
    assert signal.series["token"] == REDACTED and signal.summary == f"saw {REDACTED} and password={REDACTED}"
    # Read back from a workflow's history: the same signal, the same identity.
    again = AnomalySignal.model_validate_json(signal.model_dump_json())
    assert again == signal and again.key == signal.key


def test_an_anomaly_name_redaction_lengthens_still_fits_its_pattern() -> None:
    service = "s" * 120 + ":pwd:x"  # redaction makes it 134 characters
    signal = _signal(service=service, summary="pwd=1 " * 170)  # 1,020 characters, longer redacted
    assert len(signal.service) == 128 and "pwd:redacted" not in signal.service
    assert signal.summary is not None and len(signal.summary) == 1024
    assert AnomalySignal.model_validate_json(signal.model_dump_json()) == signal


def test_command_text_is_redacted_as_the_command_is_parsed() -> None:
    resolve = parse_command(f"resolve checkout rotated {SECRET}, password=hunter22")
    assert isinstance(resolve, Resolve) and resolve.reason == f"rotated {REDACTED}, password={REDACTED}"
    deny = parse_command(f"deny checkout restart -- {LOWER} leaked")
    assert isinstance(deny, Deny) and deny.reason == f"{REDACTED} leaked"
    silence = parse_command(f"silence alertname=X 1h -- rotating token={SECRET}")
    assert isinstance(silence, Silence) and silence.comment == f"rotating token={REDACTED}"
    # Redaction can lengthen a text: it still fits what the decision keeps.
    long = parse_command("deny checkout -- " + "pwd=1 " * (DECISION_REASON_MAX // 6 - 3))
    assert isinstance(long, Deny) and len(long.reason) == DECISION_REASON_MAX


def test_a_recorded_silence_keeps_its_matchers_and_link_redacted() -> None:
    record = SilenceRecord(
        id="s1",
        matchers=[Matcher(name="pod", value=f"x-{SECRET}"), Matcher(name="alertname", value="CheckoutDown")],
        starts_at=NOW,
        ends_at=NOW,
        created_by="U1",
        comment=f"because {SECRET}",
        url="http://medic:hunter22@alertmanager:9093/#/silences/s1",
    )
    assert not _leaks(record)
    assert [m.value for m in record.matchers] == [f"x-{REDACTED}", "CheckoutDown"]
    assert SilenceRecord.model_validate_json(record.model_dump_json()) == record


def test_the_silence_button_leaves_out_labels_it_only_knows_redacted() -> None:
    assert _label_matcher("pod", f"x-{REDACTED}") is None
    assert _label_matcher("pod", "checkout-1") == Matcher(name="pod", value="checkout-1")


def test_decisions_and_the_kill_switch_are_redacted_before_they_reach_temporal() -> None:
    decision = _redacted(
        Decision(approve=False, actor=f"U1 {SECRET}", reason="x" + " pwd=1" * 80, groups=["S1"])
    )
    assert not _leaks(decision) and decision.groups == ["S1"] and len(decision.reason) == 500
    switch = _redacted(KillSwitchRequest(on=True, actor="U1", reason=f"rotating {LOWER}"))
    assert switch.reason == f"rotating {REDACTED}" and switch.actor == "U1"


def _secret_fields() -> list[str]:
    return [name for name, field in Settings.model_fields.items() if "SecretStr" in str(field.annotation)]


def test_every_secret_setting_is_registered() -> None:
    """Found by type: a SecretStr setting added later is registered without anyone remembering to."""
    values: dict[str, Any] = {}
    for i, name in enumerate(_secret_fields()):
        value = SecretStr(f"configured-{name}-{i:04d}")
        values[name] = {"k": value} if "dict" in str(Settings.model_fields[name].annotation) else value
    assert {"webhook_token", "slack_bot_token", "slack_signing_secret", "jira_api_token"} <= set(values)
    settings = Settings(_env_file=None, alertmanager_url="http://medic:am%2Fpass99@am:9093", **values)
    found = settings.secret_values()
    for name in _secret_fields():
        assert any(f"configured-{name}-" in v for v in found), name
    assert "am%2Fpass99" in found and "am/pass99" in found


def test_log_lines_are_redacted_as_they_are_formatted() -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    logger = logging.getLogger("tests.secrets")
    logger.addHandler(handler)
    try:
        for json_format in (False, True):
            handler.setFormatter(log_formatter(json_format=json_format))
            logger.warning("delivery failed: %s", f"token={SECRET}")
            try:
                raise ValueError(f"input was {LOWER}")
            except ValueError:
                logger.exception("refused")
    finally:
        logger.removeHandler(handler)
    text = out.getvalue()
    assert not _leaks(text) and text.count(REDACTED) >= 4 and "ValueError" in text


def test_the_dev_banner_shows_the_token_on_a_terminal_only() -> None:
    settings = Settings(_env_file=None, webhook_token=SecretStr(SECRET))
    assert SECRET in _banner(settings, show_token=True)
    logged = _banner(settings, show_token=False)
    assert SECRET not in logged and re.search(r"Webhook token .*webhook-token", logged)
