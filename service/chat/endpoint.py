"""The Slack side of a command: verify, answer within Slack's 3 s, follow up through response_url.

A command's work starts at once; if it finishes within ``slack_inline_seconds`` the answer is the
HTTP response itself, otherwise Slack gets "working on it" and the result follows through the
request's ``response_url``. Buttons always answer through ``response_url`` (Slack ignores the body
of their HTTP response).

A signed request is still checked before it is used (:class:`SlackPayloadError`, answered 400): the
form and the button payload must be what Slack sends (a ``payload`` of JSON no deeper than
:data:`service.json_limits.MAX_JSON_DEPTH`, a user id, strings within Slack's own limits), and a
``response_url`` must be a URL on one of the configured hosts (:class:`ResponseUrlPrefix`: parsed,
never compared as text), so a signed payload cannot make Medic post anywhere else."""

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qs

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from service.chat.replies import Reply
from service.chat.runner import ChatRunner, SlackUser
from service.chat.verify import SlackVerifier
from service.json_limits import JSONTooDeep, load_json_bounded

__all__ = ["ResponseUrlPrefix", "SlackEndpoint", "SlackPayloadError"]

log = logging.getLogger(__name__)

_SLACK_ID = r"^[A-Z][A-Z0-9]{1,63}$"  # user ids: U0123ABCD, W0123ABCD (Enterprise Grid)
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
_MAX_URL = 2048


# Said when a command or button has waited this long for Temporal (no worker took it yet): what it did is
# not known yet, and the answer follows when it comes.
_STILL_WAITING = Reply(
    text=":hourglass_flowing_sand: Still waiting for an answer (slow work, or no Medic worker running to "
    "take it): it follows here when it comes. If none does, run it again once the workers are back; "
    "`/medic show ID` says where the incident stands."
)


class SlackPayloadError(ValueError):
    """A signed request whose content Medic cannot use (answered 400)."""


@dataclass(frozen=True)
class ResponseUrlPrefix:
    """Where a ``response_url`` may point: a scheme, an exact host and port, and a path prefix.

    A URL is parsed (by httpx, the parser that then sends it) and compared part by part: text
    prefixes let ``https://hooks.slack.com.evil.example/`` or ``https://hooks.slack.com@evil.example/``
    through when the configured prefix lacks its final ``/``. HTTPS only, but for a loopback host
    (tests and local doubles)."""

    scheme: str
    host: str
    port: int | None
    path: str

    @classmethod
    def parse(cls, text: str) -> "ResponseUrlPrefix":
        try:
            url = httpx.URL(text)
        except httpx.InvalidURL as err:
            raise ValueError(f"response URL prefix {text!r} is not a URL: {err}") from err
        if url.scheme not in ("https", "http") or not url.host:
            raise ValueError(f"response URL prefix {text!r}: expected https://host/...")
        if url.scheme == "http" and url.host not in _LOOPBACK:
            raise ValueError(f"response URL prefix {text!r}: must be https (http only on a loopback host)")
        if url.userinfo or url.query or url.fragment:
            raise ValueError(f"response URL prefix {text!r}: no user, query or fragment")
        path = url.path if url.path.endswith("/") else url.path + "/"
        return cls(scheme=url.scheme, host=url.host, port=url.port, path=path)

    def admits(self, url: httpx.URL) -> bool:
        return (
            url.scheme == self.scheme
            and not url.userinfo
            and url.host == self.host
            and url.port == self.port
            and (url.path.startswith(self.path) or url.path + "/" == self.path)
        )


def checked_response_url(value: object, prefixes: list[ResponseUrlPrefix]) -> httpx.URL | None:
    """The ``response_url`` to follow up through (None when there is none), or a 400."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > _MAX_URL:
        raise SlackPayloadError("response_url is not a Slack URL")
    try:
        url = httpx.URL(value)
    except httpx.InvalidURL as err:
        raise SlackPayloadError("response_url is not a URL") from err
    if not any(prefix.admits(url) for prefix in prefixes):
        raise SlackPayloadError("response_url is not a Slack URL (MEDIC_SLACK_RESPONSE_URL_PREFIXES)")
    return url


class _User(BaseModel):
    id: str = Field(pattern=_SLACK_ID)
    username: str = Field(default="", max_length=256)
    name: str = Field(default="", max_length=256)
    team_id: str = Field(default="", max_length=64)  # the person's own organisation


class _Team(BaseModel):
    id: str = Field(default="", max_length=64)
    enterprise_id: str = Field(default="", max_length=64)


class _Enterprise(BaseModel):
    id: str = Field(default="", max_length=64)


class _Action(BaseModel):
    action_id: str = Field(min_length=1, max_length=255)  # Slack's limits for a button
    value: str = Field(default="", max_length=2000)


class _BlockActions(BaseModel):
    """The part of Slack's ``block_actions`` payload Medic uses."""

    model_config = ConfigDict(extra="ignore")

    type: Literal["block_actions"]
    user: _User
    team: _Team | None = None  # the workspace the button was pressed in
    enterprise: _Enterprise | None = None

    @property
    def external(self) -> bool:
        """The person is of another organisation (Slack Connect): their ``user.team_id`` is neither the
        workspace's ``team.id`` nor its Enterprise Grid's (whose members' ``team_id`` is the grid's ``E…``
        id: Slack's interaction payload reference). Not known (no team_id sent): not external."""
        theirs = self.user.team_id
        ours = {
            self.team.id if self.team else "",
            self.team.enterprise_id if self.team else "",
            self.enterprise.id if self.enterprise else "",
        } - {""}
        return bool(theirs and ours and theirs not in ours)

    response_url: str | None = None
    actions: list[_Action] = Field(default_factory=list, max_length=5)


class _CommandForm(BaseModel):
    model_config = ConfigDict(extra="ignore")

    user_id: str = Field(pattern=_SLACK_ID)
    user_name: str = Field(default="", max_length=256)
    text: str = Field(default="", max_length=40_000)  # (the request's own bound; a command's is below)
    response_url: str | None = None


_COMMAND_CHARS = 4000  # what Medic reads of a command: a silence's comment, a resolve's reason


def _invalid(what: str, err: ValidationError) -> SlackPayloadError:
    first = err.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in first["loc"]) or what
    return SlackPayloadError(f"{what}: {where}: {first['msg']}")


class SlackEndpoint:
    def __init__(
        self,
        *,
        verifier: SlackVerifier,
        runner: ChatRunner,
        inline_seconds: float,
        response_url_prefixes: list[str],
        http: httpx.AsyncClient | None = None,
        still_waiting_seconds: float = 20.0,
    ) -> None:
        self.verifier, self._runner = verifier, runner
        self._inline = inline_seconds
        self._still_waiting = still_waiting_seconds  # then "not yet", and the answer when it comes
        self._prefixes = [ResponseUrlPrefix.parse(p) for p in response_url_prefixes]
        self._http = http or httpx.AsyncClient(timeout=10.0, trust_env=False)
        self._pending: set[asyncio.Task[None]] = set()

    async def command(self, body: bytes) -> dict[str, Any]:
        try:
            form = _CommandForm.model_validate(_form(body))
        except ValidationError as err:
            raise _invalid("the command form", err) from err
        user = SlackUser(id=form.user_id, name=form.user_name)
        if len(form.text) > _COMMAND_CHARS:
            # answered to the person, where a 400 made Slack say only "failed with the error
            # http_client_error" and nothing of why
            return Reply(
                text=f"That command is {len(form.text):,} characters long; Medic reads commands of at most "
                f"{_COMMAND_CHARS:,}. Shorten the comment or reason (the rest can go in the incident's "
                "thread) and send it again."
            ).slack()
        response_url = checked_response_url(form.response_url, self._prefixes)
        work = asyncio.ensure_future(self._runner.command(form.text, user=user))
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
        try:
            payload = load_json_bounded(_required(_form(body), "payload"))
        except JSONTooDeep as err:
            raise SlackPayloadError(f"the payload field: {err}") from err
        except json.JSONDecodeError as err:
            raise SlackPayloadError("the payload field is not JSON") from err
        if not isinstance(payload, dict):
            raise SlackPayloadError("the payload field is not a JSON object")
        if payload.get("type") != "block_actions":
            return  # other interaction types (view submissions, shortcuts) are not used by Medic
        try:
            actions = _BlockActions.model_validate(payload)
        except ValidationError as err:
            raise _invalid("the payload", err) from err
        user = SlackUser(
            id=actions.user.id, name=actions.user.username or actions.user.name, external=actions.external
        )
        response_url = checked_response_url(actions.response_url, self._prefixes)
        for action in actions.actions:
            work = self._runner.press(action.action_id, action.value, user=user)
            if response_url is not None:
                self._follow_up(asyncio.ensure_future(work), response_url)
            else:
                self._keep(asyncio.ensure_future(work))

    async def drain(self) -> None:
        """Let follow-ups in flight finish (on shutdown)."""
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    def _follow_up(self, work: "asyncio.Future[Reply]", response_url: httpx.URL) -> None:
        async def send(reply: Reply) -> None:
            try:
                response = await self._http.post(response_url, json=reply.slack(replace_original=False))
                if response.status_code >= 400:
                    log.warning(
                        "Slack refused the follow-up (%s): %s", response.status_code, response.text[:200]
                    )
            except httpx.HTTPError as err:
                log.warning("could not post the follow-up to Slack: %s", err)

        async def post() -> None:
            try:
                reply = await asyncio.wait_for(asyncio.shield(work), timeout=self._still_waiting)
            except TimeoutError:
                # No worker has taken it yet (all down, or Temporal slow): say so now, not never. Slack
                # takes up to five follow-ups on a response_url within 30 minutes: the answer follows.
                await send(_STILL_WAITING)
                reply = await work
            await send(reply)

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
