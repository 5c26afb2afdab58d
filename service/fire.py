"""``medic fire``: post a sample (or a given) Alertmanager payload to the running API."""

import json
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import httpx

from service.settings import Settings

__all__ = ["FireError", "fire", "load_payload"]


class FireError(RuntimeError):
    pass


def load_payload(path: Path | None, *, resolve: bool) -> dict[str, Any]:
    """The given file as is; the bundled sample with fresh timestamps (and resolved with ``resolve``)."""
    if path is not None:
        data: dict[str, Any] = json.loads(path.read_text())
        return data
    data = json.loads(resources.files("service").joinpath("samples/alertmanager.json").read_text())
    now = datetime.now(UTC).replace(microsecond=0)
    today = now.replace(hour=0, minute=0, second=0).isoformat().replace("+00:00", "Z")
    status = "resolved" if resolve else "firing"
    data["status"] = status
    for alert in data["alerts"]:
        # One episode per day, so repeated fires land in the same incident and a resolve matches it.
        alert["startsAt"] = today
        alert["status"] = status
        alert["endsAt"] = now.isoformat().replace("+00:00", "Z") if resolve else "0001-01-01T00:00:00Z"
    return data


def _token(settings: Settings) -> str:
    if settings.webhook_token is not None:
        return settings.webhook_token.get_secret_value()
    if settings.token_file.exists():
        return settings.token_file.read_text().strip()
    raise FireError(
        f"no webhook token: set MEDIC_WEBHOOK_TOKEN or start `medic dev` (it writes {settings.token_file})"
    )


def fire(settings: Settings, payload: dict[str, Any], *, url: str | None = None) -> dict[str, Any]:
    target = url or f"http://{settings.api_host}:{settings.api_port}/webhooks/alertmanager"
    try:
        response = httpx.post(
            target, json=payload, headers={"Authorization": f"Bearer {_token(settings)}"}, timeout=15.0
        )
    except httpx.HTTPError as err:
        raise FireError(f"could not reach Medic at {target}: {err} (is `medic dev` running?)") from err
    if response.status_code >= 300:
        raise FireError(f"Medic answered {response.status_code}: {response.text}")
    body: dict[str, Any] = response.json()
    return body
