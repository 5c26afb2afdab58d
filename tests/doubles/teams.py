"""A local double of a Microsoft Teams Workflows (Power Automate) webhook: the "Send webhook alerts to
a channel" flow's trigger URL, ``POST /workflows/{flow}/triggers/manual/paths/invoke?api-version=
2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=<signature>``.

As documented (MicrosoftDocs/msteams-docs ``add-incoming-webhook.md`` and the Workflows template that
replaces Office 365 connectors; the payload shape as used by argo-cd's ``teams-workflows`` service and
kestra's Teams plugin): the body is ``{"type": "message", "attachments": [{"contentType":
"application/vnd.microsoft.card.adaptive", "content": <AdaptiveCard>}]}``. The trigger answers
``202 Accepted`` with an empty body *before* the flow runs: a card Teams cannot show is not reported to
the sender, the flow run fails. The double does the same: it answers 202 and records the post as
``rejected`` with the reason (``double.posts()``), so tests assert on what reached the channel.

Checked: ``sig`` (a wrong or missing one is 401, the wording of Power Automate's error body is not
verified), the message envelope, Adaptive Card ``type``/``version`` (at most 1.5), the element types
Medic uses (``TextBlock``, ``RichTextBlock`` with ``TextRun`` inlines, ``FactSet``, ``Container``,
``ColumnSet``/``Column``, ``ActionSet``), ``Action.OpenUrl`` with an absolute URL, and Teams' message
size limit (about 28 KB). Faults via ``double.faults`` (429 with Retry-After, 5xx, delays).

Not covered: Bot Framework (in-place updates, ``Action.Submit``/``Action.Execute``), mentions,
images, the flow's own actions beyond "post the card".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tests.doubles._base import HttpDouble

__all__ = ["TeamsDouble", "TeamsPost"]

MAX_BYTES = 28 * 1024
_ELEMENTS = frozenset(
    {"TextBlock", "RichTextBlock", "FactSet", "Container", "ColumnSet", "Column", "ActionSet"}
)
_ACTIONS = frozenset({"Action.OpenUrl"})


@dataclass
class TeamsPost:
    flow: str
    card: Any
    accepted: bool
    reason: str = ""

    def texts(self) -> list[str]:
        """Every text shown on the card, in order (TextBlock text and TextRun text)."""
        found: list[str] = []

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                if node.get("type") in ("TextBlock", "TextRun") and isinstance(node.get("text"), str):
                    found.append(node["text"])
                for key in ("body", "inlines", "items", "columns", "facts"):
                    for child in node.get(key, []) or []:
                        walk(child)

        walk(self.card)
        return found


class TeamsDouble(HttpDouble):
    SIG = "double-signature-0123456789abcdef"

    def __init__(self, flows: tuple[str, ...] = ("checkout", "payments", "incidents")) -> None:
        super().__init__(title="Teams Workflows webhook double")
        self.flows = frozenset(flows)
        self._posts: list[TeamsPost] = []
        self.app.add_api_route(
            "/workflows/{flow}/triggers/manual/paths/invoke", self._invoke, methods=["POST"]
        )

    def webhook_url(self, base: str, flow: str) -> str:
        return (
            f"{base}/workflows/{flow}/triggers/manual/paths/invoke"
            f"?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={self.SIG}"
        )

    def posts(self, flow: str | None = None) -> list[TeamsPost]:
        with self._lock:
            snapshot: list[TeamsPost] = self._snapshot([p for p in self._posts if flow in (None, p.flow)])
            return snapshot

    def error_body(self, status: int) -> Any:
        return {
            "error": {"code": "TooManyRequests" if status == 429 else "ServiceUnavailable", "message": ""}
        }

    async def _invoke(self, flow: str, request: Request) -> Response:
        if request.query_params.get("sig") != self.SIG or flow not in self.flows:
            return JSONResponse(
                {
                    "error": {
                        "code": "DirectApiAuthorizationRequired",
                        "message": "The request must be authenticated.",
                    }
                },
                status_code=401,
            )
        raw = await request.body()
        try:
            body = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return JSONResponse(
                {"error": {"code": "InvalidRequestContent", "message": "not JSON"}}, status_code=400
            )
        reason = "" if len(raw) <= MAX_BYTES else f"message over {MAX_BYTES} bytes"
        card: Any = None
        attachments: Any = body.get("attachments") if isinstance(body, dict) else None
        if not reason and (
            not isinstance(body, dict)
            or body.get("type") != "message"
            or not isinstance(attachments, list)
            or not attachments
        ):
            reason = "not a message with attachments"
        elif not reason:
            first = attachments[0]
            if (
                not isinstance(first, dict)
                or first.get("contentType") != "application/vnd.microsoft.card.adaptive"
            ):
                reason = "attachment is not an Adaptive Card"
            else:
                card = first.get("content")
                reason = _card_problem(card)
        with self._lock:
            self._posts.append(TeamsPost(flow, card, accepted=not reason, reason=reason))
        return Response(status_code=202)


def _card_problem(card: Any) -> str:
    if not isinstance(card, dict) or card.get("type") != "AdaptiveCard":
        return "content is not an AdaptiveCard"
    version = str(card.get("version", ""))
    try:
        major, minor = (int(p) for p in version.split("."))
    except ValueError:
        return f"version {version!r} is not MAJOR.MINOR"
    if (major, minor) > (1, 5):
        return f"version {version} is newer than Teams supports (1.5)"
    for element in card.get("body", []):
        problem = _element_problem(element)
        if problem:
            return problem
    for action in card.get("actions", []) or []:
        problem = _action_problem(action)
        if problem:
            return problem
    return ""


def _element_problem(element: Any) -> str:
    if not isinstance(element, dict) or element.get("type") not in _ELEMENTS:
        return f"unknown element {element.get('type') if isinstance(element, dict) else element!r}"
    kind = element["type"]
    if kind == "TextBlock" and not isinstance(element.get("text"), str):
        return "TextBlock without text"
    if kind == "RichTextBlock":
        for inline in element.get("inlines", []):
            if isinstance(inline, str):
                continue
            if (
                not isinstance(inline, dict)
                or inline.get("type") != "TextRun"
                or not isinstance(inline.get("text"), str)
            ):
                return "RichTextBlock inlines must be TextRuns with text"
    for key in ("items", "columns"):
        for child in element.get(key, []) or []:
            problem = _element_problem(child)
            if problem:
                return problem
    for action in element.get("actions", []) or []:
        problem = _action_problem(action)
        if problem:
            return problem
    return ""


def _action_problem(action: Any) -> str:
    if not isinstance(action, dict) or action.get("type") not in _ACTIONS:
        return "only Action.OpenUrl works through a Workflows webhook"
    url = action.get("url")
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        return "Action.OpenUrl needs an absolute URL"
    return ""
