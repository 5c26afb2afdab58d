"""The Slack side of a command: verify, answer within Slack's 3 s, follow up through response_url.

A command's work starts at once; if it finishes within ``slack_inline_seconds`` the answer is the
HTTP response itself, otherwise Slack gets "working on it" and the result follows through the
request's ``response_url``. Buttons always answer through ``response_url`` (Slack ignores the body
of their HTTP response). A ``response_url`` must start with one of the configured prefixes (Slack's
own hooks host by default), so a signed payload cannot make Medic post anywhere else."""

import asyncio
import json
import logging
from typing import Any
from urllib.parse import parse_qs

import httpx

from service.chat.replies import Reply
from service.chat.runner import ChatRunner, SlackUser
from service.chat.verify import SlackVerifier

__all__ = ["SlackEndpoint", "SlackPayloadError"]

log = logging.getLogger(__name__)


class SlackPayloadError(ValueError):
    """A signed request whose content Medic cannot use (answered 400)."""


class SlackEndpoint:
    def __init__(
        self,
        *,
        verifier: SlackVerifier,
        runner: ChatRunner,
        inline_seconds: float,
        response_url_prefixes: list[str],
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.verifier, self._runner = verifier, runner
        self._inline, self._prefixes = inline_seconds, response_url_prefixes
        self._http = http or httpx.AsyncClient(timeout=10.0, trust_env=False)
        self._pending: set[asyncio.Task[None]] = set()

    async def command(self, body: bytes) -> dict[str, Any]:
        form = _form(body)
        user = SlackUser(id=_required(form, "user_id"), name=form.get("user_name", ""))
        response_url = self._checked_url(form.get("response_url"))
        work = asyncio.ensure_future(self._runner.command(form.get("text", ""), user=user))
        try:
            reply = await asyncio.wait_for(asyncio.shield(work), timeout=self._inline)
        except TimeoutError:
            if response_url is None:
                reply = await work  # nowhere to follow up: answer late rather than never
                return reply.slack()
            self._follow_up(work, response_url)
            return Reply(text=":hourglass_flowing_sand: Working on it…").slack()
        return reply.slack()

    async def interaction(self, body: bytes) -> None:
        form = _form(body)
        try:
            payload = json.loads(_required(form, "payload"))
        except json.JSONDecodeError as err:
            raise SlackPayloadError("the payload field is not JSON") from err
        if not isinstance(payload, dict) or payload.get("type") != "block_actions":
            return  # other interaction types (view submissions, shortcuts) are not used by Medic
        user_info = payload.get("user") or {}
        if not isinstance(user_info, dict) or not user_info.get("id"):
            raise SlackPayloadError("the payload names no user")
        user = SlackUser(
            id=str(user_info["id"]), name=str(user_info.get("username") or user_info.get("name") or "")
        )
        response_url = self._checked_url(payload.get("response_url"))
        actions = payload.get("actions") or []
        if not isinstance(actions, list):
            raise SlackPayloadError("actions is not a list")
        for action in actions[:5]:
            if not isinstance(action, dict):
                continue
            work = self._runner.press(
                str(action.get("action_id", "")), str(action.get("value", "")), user=user
            )
            if response_url is not None:
                self._follow_up(asyncio.ensure_future(work), response_url)
            else:
                self._keep(asyncio.ensure_future(work))

    async def drain(self) -> None:
        """Let follow-ups in flight finish (on shutdown)."""
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    def _follow_up(self, work: "asyncio.Future[Reply]", response_url: str) -> None:
        async def post() -> None:
            reply = await work
            try:
                response = await self._http.post(response_url, json=reply.slack(replace_original=False))
                if response.status_code >= 400:
                    log.warning(
                        "Slack refused the follow-up (%s): %s", response.status_code, response.text[:200]
                    )
            except httpx.HTTPError as err:
                log.warning("could not post the follow-up to Slack: %s", err)

        self._keep(asyncio.ensure_future(post()))

    def _keep(self, task: "asyncio.Future[Any]") -> None:
        async def wrapped() -> None:
            try:
                await task
            except Exception:
                log.exception("a Slack command failed")

        t = asyncio.create_task(wrapped())
        self._pending.add(t)
        t.add_done_callback(self._pending.discard)

    def _checked_url(self, url: object) -> str | None:
        if not isinstance(url, str) or not url:
            return None
        if not any(url.startswith(prefix) for prefix in self._prefixes):
            raise SlackPayloadError("response_url is not a Slack URL")
        return url


def _form(body: bytes) -> dict[str, str]:
    try:
        parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError as err:
        raise SlackPayloadError("the body is not UTF-8") from err
    return {k: v[0] for k, v in parsed.items() if v}


def _required(form: dict[str, str], name: str) -> str:
    value = form.get(name)
    if not value:
        raise SlackPayloadError(f"the form has no {name}")
    return value
