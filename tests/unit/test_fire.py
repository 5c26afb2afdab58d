"""``medic fire``: the sample starts now (a newcomer's first postmortem must not report an incident
that began at midnight), a resolve resolves the same episode, and a given file can be resolved."""

import http.server
import json
import os
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from service.cli import app
from service.fire import load_payload


def _starts(data: dict[str, object]) -> set[str]:
    alerts = data["alerts"]
    assert isinstance(alerts, list)
    return {a["startsAt"] for a in alerts}


def test_the_sample_fires_from_now(tmp_path: Path) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    data = load_payload(None, resolve=False, state_dir=tmp_path)
    (start,) = _starts(data)
    started = datetime.fromisoformat(start)
    assert before <= started <= datetime.now(UTC)
    assert data["status"] == "firing"
    assert {a["status"] for a in data["alerts"]} == {"firing"}


def test_firing_again_and_resolving_keep_the_episode(tmp_path: Path) -> None:
    first = _starts(load_payload(None, resolve=False, state_dir=tmp_path))
    again = _starts(load_payload(None, resolve=False, state_dir=tmp_path))
    resolved = load_payload(None, resolve=True, state_dir=tmp_path)
    assert first == again == _starts(resolved)
    assert {a["status"] for a in resolved["alerts"]} == {"resolved"}
    ends = {datetime.fromisoformat(a["endsAt"]) for a in resolved["alerts"]}
    assert all(abs(datetime.now(UTC) - e) < timedelta(minutes=1) for e in ends)


def test_a_given_file_is_resolved_when_asked(tmp_path: Path) -> None:
    given = {
        "status": "firing",
        "alerts": [
            {"status": "firing", "startsAt": "2026-12-01T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z"}
        ],
    }
    path = tmp_path / "alerts.json"
    path.write_text(json.dumps(given))
    assert load_payload(path, resolve=False) == given
    resolved = load_payload(path, resolve=True)
    assert resolved["status"] == "resolved"
    assert resolved["alerts"][0]["status"] == "resolved"
    assert resolved["alerts"][0]["startsAt"] == "2026-12-01T10:00:00Z"  # the same episode
    assert resolved["alerts"][0]["endsAt"] != "0001-01-01T00:00:00Z"


@pytest.fixture
def api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """A local stand-in for Medic's webhook route: what it received, in order; MEDIC_DATA_DIR is tmp_path."""
    received: list[dict[str, Any]] = []

    class Api(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            body = b'{"accepted": 1, "incidents": ["incident-checkout"]}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None: ...

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("MEDIC_API_PORT", str(server.server_address[1]))
    monkeypatch.setenv("MEDIC_WEBHOOK_TOKEN", "t0ken-for-the-test")
    monkeypatch.setenv("MEDIC_DATA_DIR", str(tmp_path))
    try:
        yield received
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("hello", "alerts.txt is not JSON: Expecting value: line 1 column 1 (char 0)"),
        ("[1, 2]", "alerts.txt is not an Alertmanager webhook payload: JSON list, not an object"),
        # (--resolve marks each alert: these were a TypeError's traceback, a review)
        ('{"alerts": 5}', "alerts.txt is not an Alertmanager webhook payload: its alerts are not a list"),
        ('{"alerts": [1]}', "alerts.txt is not an Alertmanager webhook payload: its alerts are not a list"),
    ],
)
def test_a_file_that_is_not_json_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, said: str
) -> None:
    """`medic fire FILE` on a file that is not JSON said only `medic fire: Expecting value: line 1
    column 1 (char 0)`: which file, and that it is not JSON, went unsaid."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "alerts.txt").write_text(text)
    for resolve in ([], ["--resolve"]):
        result = CliRunner().invoke(app, ["fire", "alerts.txt", *resolve])
        assert result.exit_code == 1 and f"medic fire: {said}" in result.output, result.output
    (tmp_path / "folder").mkdir()
    result = CliRunner().invoke(app, ["fire", "folder"])  # a usage error, no traceback
    assert result.exit_code == 2 and "is a directory" in result.output, result.output


def test_medic_fire_file_resolve_posts_the_alerts_resolved(tmp_path: Path, api: list[dict[str, Any]]) -> None:
    """End to end through the command line (issue 17): what reaches the API is resolved."""
    path = tmp_path / "alerts.json"
    path.write_text(json.dumps(load_payload(None, resolve=False, state_dir=tmp_path)))
    result = CliRunner().invoke(app, ["fire", str(path), "--resolve"])
    assert result.exit_code == 0, result.output
    (payload,) = api
    assert payload["status"] == "resolved"
    assert {a["status"] for a in payload["alerts"]} == {"resolved"}
    assert all(a["endsAt"] != "0001-01-01T00:00:00Z" for a in payload["alerts"])


def test_firing_the_sample_after_its_resolve_is_a_new_episode(
    tmp_path: Path, api: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`medic fire` after `medic fire --resolve` (within the quiet period) sent the remembered start
    again: Medic took the alerts for late duplicates of the resolved episode, said `accepted 2
    alert(s) into incident-checkout`, and they stayed resolved. A resolve that was accepted ends the
    episode; one that failed keeps it, so that trying again resolves the same one."""
    now = datetime.now(UTC).replace(microsecond=0)
    earlier = max(now - timedelta(minutes=2), now.replace(hour=0, minute=0, second=0))  # (today's)
    while datetime.now(UTC).replace(microsecond=0) <= earlier:  # (just after midnight)
        time.sleep(0.1)
    (tmp_path / "fire-sample-started").write_text(earlier.isoformat())
    assert CliRunner().invoke(app, ["fire"]).exit_code == 0
    port = os.environ["MEDIC_API_PORT"]
    monkeypatch.setenv("MEDIC_API_PORT", "1")  # nothing listens: the resolve is not sent
    assert CliRunner().invoke(app, ["fire", "--resolve"]).exit_code == 1
    monkeypatch.setenv("MEDIC_API_PORT", port)
    assert CliRunner().invoke(app, ["fire", "--resolve"]).exit_code == 0
    assert CliRunner().invoke(app, ["fire"]).exit_code == 0
    fired, resolved, again = api
    assert _starts(fired) == _starts(resolved) == {earlier.isoformat().replace("+00:00", "Z")}
    assert resolved["status"] == "resolved" and again["status"] == "firing"
    (start,) = _starts(again)
    assert datetime.fromisoformat(start) > earlier
