"""A local double of the Slack Web API, good enough for an unmodified ``slack_sdk.WebClient``.

Point the client at it with ``WebClient(token=DEFAULT_TOKEN, base_url=f"{double.url}/api/")``.

Covered (``POST`` or ``GET /api/<method>``; JSON, form-encoded or query-string arguments, as
``slack_sdk`` sends them: ``chat.*`` as a JSON body, ``auth.test``/``conversations.info`` form-encoded
or with an empty body):

* ``chat.postMessage``: by channel id (``C0CHECKOUT``) or name (``#checkout-oncall`` or
  ``checkout-oncall``); ``text``/``blocks``/``attachments``/``metadata``; thread replies through
  ``thread_ts`` (a reply to a reply joins the parent's thread); returns ``{"ok", "channel", "ts",
  "message"}`` with an increasing ``ts`` (``"1700000000.000100"``, then ``.000200`` ...).
* ``chat.update``: channel id only (a name is ``channel_not_found``, as on Slack), keeps the ``ts``,
  records the previous version in ``SlackMessage.edits``; omitted ``blocks``/``attachments``/``text``
  are kept, as Slack documents for blocks and attachments.
* ``conversations.history`` (channel id; ``oldest``/``latest``/``inclusive``, ``limit``, ``cursor``,
  ``include_all_metadata``): the channel's top-level messages newest first (thread replies are not in a
  channel's history), ``{"ok", "messages", "has_more", "pin_count", "response_metadata":
  {"next_cursor"}}``; each message as ``chat.postMessage`` answers it, its ``metadata`` only with
  ``include_all_metadata``. ``conversations.replies`` (channel id and ``ts`` of a thread's parent or of a
  message in it; the same arguments): the parent, then its replies oldest first, ``{"ok", "messages",
  "has_more", "response_metadata"}``; ``thread_not_found`` for a ``ts`` naming no message. Both page by
  ``cursor`` (``next_cursor`` is ``base64("next_ts:<ts>")`` as Slack's look, ``""`` on the last page;
  an unreadable cursor is ``invalid_cursor``), ``limit`` 1..999 (history, default 100) or 1..1000
  (replies, default 1000), and need the bot to be in the channel (``not_in_channel`` otherwise) and
  ``channels:history`` (``groups:history`` for a private channel; ``missing_scope`` with ``needed`` and
  ``provided`` otherwise). ``conversations.list`` (``types``, ``exclude_archived``, ``limit``,
  ``cursor``): ``{"ok", "channels": [{"id", "name", "is_channel", "is_private", "is_archived",
  "is_member"...}], "response_metadata": {"next_cursor"}}``, private channels only where the bot is a
  member and the token has ``groups:read``. Slack's Web API reference:
  https://docs.slack.dev/reference/methods/conversations.history,
  https://docs.slack.dev/reference/methods/conversations.replies,
  https://docs.slack.dev/reference/methods/conversations.list, pagination
  https://docs.slack.dev/apis/web-api/pagination, message metadata
  https://api.slack.com/metadata/publishing ("Bot token: any conversation the relevant bot is a member
  of"; ``include_all_metadata`` "Return all metadata associated with this message").
* Membership: ``SlackChannel.is_member`` (``double.leave(channel)``). Posting to a public channel the bot
  is not in needs ``chat:write.public``, a private one the bot must be in (``not_in_channel``), as Slack.
* ``chat.postEphemeral`` -> ``{"ok", "message_ts"}``; ``conversations.info`` (channel id);
  ``auth.test``; ``usergroups.users.list`` (``usergroup`` -> ``{"ok", "users"}``, unknown:
  ``no_such_subteam``; groups set with ``usergroups=`` or ``double.usergroups``).
* ``users.info`` (scope ``users:read``; ``user`` -> ``{"ok", "user"}``, the user object of Slack's
  reference, https://docs.slack.dev/reference/methods/users.info, and its example for ``W012A3CDE``:
  ``id``, ``team_id``, ``name``, ``deleted``, ``real_name``, ``tz``..., and ``profile`` with
  ``real_name``, ``display_name`` (``""`` when the user set none, as Slack documents: a field not supplied
  "may contain the empty string"), their ``_normalized`` forms and the ``image_*`` fields; no ``email``,
  which needs ``users:read.email``). Unknown user: ``user_not_found``; no ``user``: ``invalid_arguments``;
  users set with ``users=`` or ``double.users`` (:class:`SlackMember`). Without the scope, ``missing_scope``
  with ``needed`` and ``provided``, like every method here (the shape of @slack/web-api's
  ``UsersInfoResponse``: ``ok``, ``error``, ``needed``, ``provided``, ``user``).
* Errors as Slack gives them, HTTP 200 with ``{"ok": false, "error": ...}``: ``not_authed`` (no
  token), ``invalid_auth`` (a token not configured; ``Authorization: Bearer`` or a form ``token``),
  ``channel_not_found``, ``is_archived``, ``no_text``, ``msg_too_long`` (> 40,000 characters),
  ``invalid_blocks`` (any block over Slack's Block Kit limits, as Slack refuses it: more than 50
  blocks, a section text over 3,000 characters, a field over 2,000, a header over 150... see
  ``tests/doubles/slack_blocks.py`` for each limit and its reference; the answer's ``errors`` says
  which, as Slack's does), ``message_not_found``, ``thread_not_found`` (this double's
  choice for a ``thread_ts`` naming no message in the channel), ``user_not_in_channel`` (ephemeral to
  something that is not a user id), ``invalid_arguments``, ``unknown_method``.
* ``response_url`` posts: ``POST /response/<id>`` records each JSON body (``double.responses(id)``);
  the URL is ``double.response_url(id)``. Like Slack it answers ``{"ok": true}`` and refuses a sixth
  use with 404 ``used_url``.
* Faults (``double.faults``): a 429 carries ``Retry-After`` and ``{"ok": false, "error":
  "ratelimited"}``, which is what ``slack_sdk.http_retry.RateLimitErrorRetryHandler`` needs. A post
  Slack accepted and answered past the client's timeout: ``faults.push("late_answer", seconds=...,
  route="POST /api/chat.postMessage")`` (the message is in the channel, the client sees a timeout).

Not covered: request signing (that is Slack calling us, not us calling Slack), files, users.* methods
other than ``users.info``, reactions, pagination of ``usergroups.users.list``, per-method rate-limit
tiers (nor the 1 request a minute and 15 messages a page Slack now gives
``conversations.history``/``replies`` of commercially distributed non-Marketplace apps), the
``warning`` field, unfurling, markdown rendering, search, ``as_user``/``username``/``icon_*``,
metadata filters (``metadata_event_type`` ...), thread broadcasts.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse

from tests.doubles._base import HttpDouble
from tests.doubles.slack_blocks import blocks_error

__all__ = [
    "DEFAULT_CHANNELS",
    "DEFAULT_TOKEN",
    "SlackChannel",
    "SlackDouble",
    "SlackEdit",
    "SlackEphemeral",
    "SlackMember",
    "SlackMessage",
]

DEFAULT_TOKEN = "xoxb-1700000000-medic-test-token"
# The scopes docs/slack.md has people give Medic's app, and channels:read for the double's own
# conversations.info; each method's own (Slack's method reference, "Required scopes": chat:write,
# channels:read, usergroups:read, users:read; auth.test needs none).
# The optional scopes docs/slack.md names too (so a post cut off after Slack took it is found, not sent
# again): channels:history / groups:history (conversations.history, .replies), channels:read / groups:read
# (conversations.list, for a channel routing names by name).
DEFAULT_SCOPES = (
    "chat:write",
    "chat:write.public",
    "usergroups:read",
    "users:read",
    "commands",
    "channels:read",
    "channels:history",
    "groups:history",
    "groups:read",
)
# Each method's scopes, any one of which will do (Slack's method reference, "Required scopes"; a token
# with none of them gets missing_scope, ``needed`` naming them all, as Slack answers the conversations.*
# methods).
_NEEDED_SCOPE: dict[str, tuple[str, ...]] = {
    "chat.postMessage": ("chat:write",),
    "chat.update": ("chat:write",),
    "chat.postEphemeral": ("chat:write",),
    "conversations.info": ("channels:read",),
    "conversations.history": ("channels:history", "groups:history", "im:history", "mpim:history"),
    "conversations.replies": ("channels:history", "groups:history", "im:history", "mpim:history"),
    "conversations.list": ("channels:read", "groups:read", "im:read", "mpim:read"),
    "usergroups.users.list": ("usergroups:read",),
    "users.info": ("users:read",),
}
DEFAULT_CHANNELS: Mapping[str, str] = {
    "#checkout-oncall": "C0CHECKOUT",
    "#payments-oncall": "C0PAYMENTS",
    "#incidents": "C0INCIDENTS",
}
MAX_TEXT = 40_000
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")


class _SlackError(Exception):
    def __init__(self, error: str, *, errors: list[str] | None = None, needed: str | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.errors = errors
        self.needed = needed  # missing_scope: the scope the call needs


@dataclass
class SlackMember:
    """A workspace member, as ``users.info`` describes them."""

    id: str
    name: str  # the username (handle)
    real_name: str = ""
    display_name: str = ""  # "" when the user set none: Slack shows the real name then
    deleted: bool = False

    def to_api(self, team_id: str) -> dict[str, Any]:
        """The user object of Slack's users.info reference (its example's fields, email left out)."""
        images = {
            f"image_{size}": f"https://avatars.example/{self.id}_{size}.png" for size in (24, 32, 48, 72)
        }
        return {
            "id": self.id,
            "team_id": team_id,
            "name": self.name,
            "deleted": self.deleted,
            "color": "9f69e7",
            "real_name": self.real_name,
            "tz": "Europe/Amsterdam",
            "tz_label": "Central European Time",
            "tz_offset": 3600,
            "profile": {
                "avatar_hash": "ge3b51ca72de",
                "status_text": "",
                "status_emoji": "",
                "real_name": self.real_name,
                "display_name": self.display_name,
                "real_name_normalized": self.real_name,
                "display_name_normalized": self.display_name,
                **images,
                "team": team_id,
            },
            "is_admin": False,
            "is_owner": False,
            "is_primary_owner": False,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": False,
            "updated": 1_700_000_000,
            "is_app_user": False,
            "has_2fa": False,
        }


@dataclass
class SlackChannel:
    id: str
    name: str
    is_private: bool = False
    is_archived: bool = False
    is_member: bool = True


@dataclass
class SlackEdit:
    """The version of a message that a ``chat.update`` replaced, and the update's time."""

    edited_ts: str
    text: str
    blocks: list[Any]
    attachments: list[Any]


@dataclass
class SlackMessage:
    channel: str
    ts: str
    text: str
    user: str
    bot_id: str
    blocks: list[Any] = field(default_factory=list)
    attachments: list[Any] = field(default_factory=list)
    thread_ts: str | None = None
    metadata: dict[str, Any] | None = None
    edits: list[SlackEdit] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)
    args: dict[str, Any] = field(default_factory=dict)
    """The arguments of the call that last wrote the message (post or update), as the double parsed them."""

    @property
    def is_reply(self) -> bool:
        return self.thread_ts is not None and self.thread_ts != self.ts

    def to_api(self, team: str, app_id: str) -> dict[str, Any]:
        """The message object Slack returns in ``message``."""
        body: dict[str, Any] = {
            "user": self.user,
            "type": "message",
            "ts": self.ts,
            "bot_id": self.bot_id,
            "app_id": app_id,
            "text": self.text,
            "team": team,
        }
        if self.blocks:
            body["blocks"] = self.blocks
        if self.attachments:
            body["attachments"] = self.attachments
        if self.metadata is not None:
            body["metadata"] = self.metadata
        if self.thread_ts is not None:
            body["thread_ts"] = self.thread_ts
            if self.is_reply:
                body["parent_user_id"] = self.user
        if self.replies:
            body["reply_count"] = len(self.replies)
            body["latest_reply"] = self.replies[-1]
            body["reply_users"] = [self.user]
            body["reply_users_count"] = 1
        if self.edits:
            body["edited"] = {"user": self.user, "ts": self.edits[-1].edited_ts}
        return body


@dataclass
class SlackEphemeral:
    channel: str
    user: str
    message_ts: str
    text: str
    blocks: list[Any]
    attachments: list[Any]
    thread_ts: str | None


class SlackDouble(HttpDouble):
    """The Slack Web API double. See the module docstring for what it covers.

    Configure: ``SlackDouble(channels={"#checkout-oncall": "C0CHECKOUT"}, tokens={"xoxb-..."})``.
    Inspect: ``messages(channel)``, ``message(channel, ts)``, ``thread(channel, ts)``,
    ``ephemerals(channel)``, ``responses(id)``, ``channel_id(name)``, plus the request log and counters
    of :class:`HttpDouble` (routes like ``"POST /api/chat.postMessage"``). Channels given by name or id
    anywhere in the inspection API. ``archive(channel)`` makes posting answer ``is_archived``.
    """

    METHODS = (
        "chat.postMessage",
        "chat.update",
        "chat.postEphemeral",
        "conversations.info",
        "conversations.history",
        "conversations.replies",
        "conversations.list",
        "auth.test",
        "usergroups.users.list",
        "users.info",
    )

    def __init__(
        self,
        channels: Mapping[str, str] = DEFAULT_CHANNELS,
        *,
        tokens: Iterable[str] = (DEFAULT_TOKEN,),
        team_id: str = "T0MEDIC",
        team: str = "Medic Test",
        bot_user_id: str = "U0MEDICBOT",
        bot_id: str = "B0MEDICBOT",
        app_id: str = "A0MEDICAPP",
        first_ts: str = "1700000000.000100",
        response_url_uses: int = 5,
        usergroups: Mapping[str, Iterable[str]] | None = None,
        scopes: Iterable[str] = DEFAULT_SCOPES,
        users: Iterable[SlackMember] = (),
    ) -> None:
        super().__init__(title="Slack Web API double")
        self.scopes = tuple(scopes)
        """The token's scopes: said in ``x-oauth-scopes`` on every answer, and a method needing one
        it lacks answers ``missing_scope`` with ``needed`` and ``provided``, as Slack does."""
        self.tokens = frozenset(tokens)
        self.team_id, self.team, self.app_id = team_id, team, app_id
        self.bot_user_id, self.bot_id = bot_user_id, bot_id
        self.response_url_uses = response_url_uses
        self._channels: dict[str, SlackChannel] = {}
        for name, channel_id in channels.items():
            self._channels[channel_id] = SlackChannel(channel_id, name.lstrip("#"))
        seconds, _, micros = first_ts.partition(".")
        self._next_ts = int(seconds) * 1_000_000 + int(micros or 0)
        self._messages: dict[str, list[SlackMessage]] = {cid: [] for cid in self._channels}
        self._ephemerals: list[SlackEphemeral] = []
        self._responses: dict[str, list[Any]] = {}
        self.usergroups: dict[str, list[str]] = {g: list(u) for g, u in (usergroups or {}).items()}
        self.users: dict[str, SlackMember] = {u.id: replace(u) for u in users}  # its own copies
        handlers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "chat.postEphemeral": self._post_ephemeral,
            "conversations.info": self._conversations_info,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
            "conversations.list": self._conversations_list,
            "auth.test": self._auth_test,
            "usergroups.users.list": self._usergroup_users,
            "users.info": self._users_info,
        }
        for method, handler in handlers.items():
            self.app.add_api_route(
                f"/api/{method}", self._endpoint(method, handler), methods=["GET", "POST"], name=method
            )
        self.app.add_api_route("/api/{method}", self._unknown_method, methods=["GET", "POST"])
        self.app.add_api_route("/response/{response_id:path}", self._response_url_post, methods=["POST"])

    # -- configuration and inspection ------------------------------------------------------------------

    def channel_id(self, channel: str) -> str:
        """The id of a channel given by id, ``#name`` or ``name``."""
        with self._lock:
            return self._resolve(channel, by_name=True).id

    def archive(self, channel: str) -> None:
        with self._lock:
            self._resolve(channel, by_name=True).is_archived = True

    def leave(self, channel: str) -> None:
        """The bot is no longer in the channel: reading it is ``not_in_channel``, posting needs
        ``chat:write.public`` (a public channel)."""
        with self._lock:
            self._resolve(channel, by_name=True).is_member = False

    def top_level_count(self) -> int:
        """Messages posted to any channel, thread replies not counted."""
        with self._lock:
            return sum(1 for messages in self._messages.values() for m in messages if m.thread_ts is None)

    def messages(self, channel: str) -> list[SlackMessage]:
        """Every message in the channel, thread replies included, in ``ts`` order (copies)."""
        cid = self.channel_id(channel)
        snapshot: list[SlackMessage] = self._snapshot(self._messages[cid])
        return snapshot

    def message(self, channel: str, ts: str) -> SlackMessage:
        for message in self.messages(channel):
            if message.ts == ts:
                return message
        raise KeyError(f"no message {ts} in {channel}")

    def thread(self, channel: str, ts: str) -> list[SlackMessage]:
        """The replies in the thread under ``ts``, oldest first (the parent not included)."""
        return [m for m in self.messages(channel) if m.is_reply and m.thread_ts == ts]

    def ephemerals(self, channel: str | None = None) -> list[SlackEphemeral]:
        cid = None if channel is None else self.channel_id(channel)
        snapshot: list[SlackEphemeral] = self._snapshot(self._ephemerals)
        return [e for e in snapshot if cid is None or e.channel == cid]

    def response_url(self, response_id: str) -> str:
        """A ``response_url`` pointing at this double (valid while it is served)."""
        return f"{self.url}/response/{response_id}"

    def responses(self, response_id: str) -> list[Any]:
        """The JSON bodies posted to ``response_url(response_id)``, in order."""
        snapshot: list[Any] = self._snapshot(self._responses.get(response_id, []))
        return snapshot

    def error_body(self, status: int) -> Any:
        if status == 429:
            return {"ok": False, "error": "ratelimited"}
        if status >= 500:
            return {"ok": False, "error": "service_unavailable" if status == 503 else "internal_error"}
        return {"ok": False, "error": "invalid_request"}

    # -- HTTP plumbing ---------------------------------------------------------------------------------

    def _endpoint(
        self, method: str, handler: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> JSONResponse:
            headers = {"X-Slack-Req-Method": method}
            try:
                args, token = await _arguments(request)
                self._authenticate(token)
                headers["x-oauth-scopes"] = ",".join(self.scopes)
                needed = _NEEDED_SCOPE.get(method, ())
                if needed and not set(needed) & set(self.scopes):
                    raise _SlackError("missing_scope", needed=",".join(needed))
                with self._lock:
                    body = {"ok": True, **handler(args)}
            except _SlackError as err:
                body = {"ok": False, "error": err.error}
                if err.errors:
                    body["errors"] = err.errors
                if err.needed is not None:
                    body.update(needed=err.needed, provided=",".join(self.scopes))
            return JSONResponse(body, headers=headers)

        return endpoint

    async def _unknown_method(self, method: str) -> JSONResponse:
        return JSONResponse({"ok": False, "error": "unknown_method", "req_method": method})

    async def _response_url_post(self, response_id: str, request: Request) -> JSONResponse:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            return JSONResponse({"ok": False, "error": "invalid_payload"}, status_code=400)
        if not isinstance(body, dict):
            return JSONResponse({"ok": False, "error": "invalid_payload"}, status_code=400)
        with self._lock:
            posted = self._responses.setdefault(response_id, [])
            if len(posted) >= self.response_url_uses:
                return JSONResponse({"ok": False, "error": "used_url"}, status_code=404)
            posted.append(body)
        return JSONResponse({"ok": True})

    def _authenticate(self, token: str | None) -> None:
        if not token:
            raise _SlackError("not_authed")
        if token not in self.tokens:
            raise _SlackError("invalid_auth")

    def _resolve(self, ref: Any, *, by_name: bool) -> SlackChannel:
        ref = str(ref or "").strip()
        if ref in self._channels:
            return self._channels[ref]
        if by_name:
            name = ref.removeprefix("#")
            for channel in self._channels.values():
                if channel.name == name:
                    return channel
        raise _SlackError("channel_not_found")

    def _take_ts(self) -> str:
        self._next_ts += 100
        value = self._next_ts - 100
        return f"{value // 1_000_000}.{value % 1_000_000:06d}"

    def _find(self, channel_id: str, ts: str) -> SlackMessage | None:
        return next((m for m in self._messages[channel_id] if m.ts == ts), None)

    # -- methods ---------------------------------------------------------------------------------------

    def _post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve(args.get("channel"), by_name=True)
        if channel.is_archived:
            raise _SlackError("is_archived")
        if not channel.is_member and (channel.is_private or "chat:write.public" not in self.scopes):
            raise _SlackError("not_in_channel")
        text, blocks, attachments = _content(args, required=True)
        metadata = _structured(args, "metadata", "invalid_metadata_format", dict)
        thread_ts = str(args.get("thread_ts") or "") or None
        parent: SlackMessage | None = None
        if thread_ts is not None:
            parent = self._find(channel.id, thread_ts)
            if parent is None:
                raise _SlackError("thread_not_found")
            if parent.is_reply and parent.thread_ts is not None:
                parent = self._find(channel.id, parent.thread_ts)
                assert parent is not None
            thread_ts = parent.ts
        message = SlackMessage(
            channel=channel.id,
            ts=self._take_ts(),
            text=text or "",
            user=self.bot_user_id,
            bot_id=self.bot_id,
            blocks=blocks or [],
            attachments=attachments or [],
            thread_ts=thread_ts,
            metadata=metadata,
            args=dict(args),
        )
        if parent is not None:
            parent.thread_ts = parent.ts
            parent.replies.append(message.ts)
        self._messages[channel.id].append(message)
        return {"channel": channel.id, "ts": message.ts, "message": message.to_api(self.team_id, self.app_id)}

    def _update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve(args.get("channel"), by_name=False)
        ts = str(args.get("ts") or "")
        if not ts:
            raise _SlackError("invalid_arguments")
        message = self._find(channel.id, ts)
        if message is None:
            raise _SlackError("message_not_found")
        if channel.is_archived:
            raise _SlackError("is_archived")
        text, blocks, attachments = _content(args, required=False)
        if text is None and blocks is None and attachments is None:
            raise _SlackError("no_text")
        message.edits.append(
            SlackEdit(self._take_ts(), message.text, list(message.blocks), list(message.attachments))
        )
        message.text = message.text if text is None else text
        message.blocks = message.blocks if blocks is None else blocks
        message.attachments = message.attachments if attachments is None else attachments
        metadata = _structured(args, "metadata", "invalid_metadata_format", dict)
        message.metadata = message.metadata if metadata is None else metadata
        message.args = dict(args)
        return {
            "channel": channel.id,
            "ts": message.ts,
            "text": message.text,
            "message": message.to_api(self.team_id, self.app_id),
        }

    def _post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve(args.get("channel"), by_name=True)
        if channel.is_archived:
            raise _SlackError("is_archived")
        user = str(args.get("user") or "")
        if not _USER_ID.match(user):
            raise _SlackError("user_not_in_channel")
        text, blocks, attachments = _content(args, required=True)
        ephemeral = SlackEphemeral(
            channel=channel.id,
            user=user,
            message_ts=self._take_ts(),
            text=text or "",
            blocks=blocks or [],
            attachments=attachments or [],
            thread_ts=str(args.get("thread_ts") or "") or None,
        )
        self._ephemerals.append(ephemeral)
        return {"message_ts": ephemeral.message_ts}

    def _conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve(args.get("channel"), by_name=False)
        return {"channel": self._channel_api(channel)}

    def _channel_api(self, channel: SlackChannel) -> dict[str, Any]:
        """A conversation object as ``conversations.info`` and ``conversations.list`` give it."""
        return {
            "id": channel.id,
            "name": channel.name,
            "name_normalized": channel.name,
            "is_channel": not channel.is_private,
            "is_group": channel.is_private,
            "is_im": False,
            "is_mpim": False,
            "is_private": channel.is_private,
            "is_archived": channel.is_archived,
            "is_general": False,
            "is_shared": False,
            "is_ext_shared": False,
            "is_org_shared": False,
            "is_member": channel.is_member,
            "created": 1_600_000_000,
            "creator": "U0CREATOR",
            "context_team_id": self.team_id,
            "topic": {"value": "", "creator": "", "last_set": 0},
            "purpose": {"value": "", "creator": "", "last_set": 0},
            "previous_names": [],
        }

    def _readable(self, args: dict[str, Any]) -> SlackChannel:
        """The channel a ``conversations.history``/``replies`` call reads: by id, the bot in it, the token
        with the scope of its kind."""
        channel = self._resolve(args.get("channel"), by_name=False)
        needed = "groups:history" if channel.is_private else "channels:history"
        if needed not in self.scopes:
            raise _SlackError("missing_scope", needed=needed)
        if not channel.is_member:
            raise _SlackError("not_in_channel")
        return channel

    def _conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._readable(args)
        top = [m for m in self._messages[channel.id] if not m.is_reply]
        newest_first = sorted(_in_range(top, args), key=lambda m: _ts(m.ts), reverse=True)
        page, cursor = _page(newest_first, args, default=100, most=999)
        metadata = _flag(args.get("include_all_metadata"))
        return {
            "messages": [self._listed(m, metadata=metadata) for m in page],
            "has_more": bool(cursor),
            "pin_count": 0,
            "channel_actions_ts": None,
            "channel_actions_count": 0,
            "response_metadata": {"next_cursor": cursor},
        }

    def _conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._readable(args)
        ts = str(args.get("ts") or "")
        if not ts:
            raise _SlackError("invalid_arguments")
        named = self._find(channel.id, ts)
        if named is None:
            raise _SlackError("thread_not_found")
        parent = named.thread_ts or named.ts
        thread = [m for m in self._messages[channel.id] if parent in (m.ts, m.thread_ts)]
        oldest_first = sorted(_in_range(thread, args), key=lambda m: _ts(m.ts))
        page, cursor = _page(oldest_first, args, default=1000, most=1000)
        metadata = _flag(args.get("include_all_metadata"))
        return {
            "messages": [self._listed(m, metadata=metadata) for m in page],
            "has_more": bool(cursor),
            "response_metadata": {"next_cursor": cursor},
        }

    def _listed(self, message: SlackMessage, *, metadata: bool) -> dict[str, Any]:
        body = message.to_api(self.team_id, self.app_id)
        if not metadata:
            body.pop("metadata", None)
        return body

    def _conversations_list(self, args: dict[str, Any]) -> dict[str, Any]:
        types = {t.strip() for t in str(args.get("types") or "public_channel").split(",") if t.strip()}
        if not types <= {"public_channel", "private_channel", "im", "mpim"}:
            raise _SlackError("invalid_types")
        listed = [
            c
            for c in sorted(self._channels.values(), key=lambda c: c.id)
            if (
                ("private_channel" in types and c.is_private and c.is_member and "groups:read" in self.scopes)
                or ("public_channel" in types and not c.is_private and "channels:read" in self.scopes)
            )
            and not (c.is_archived and _flag(args.get("exclude_archived")))
        ]
        limit = _limit(args, default=100, most=1000)
        start = 0
        if args.get("cursor"):
            wanted = _uncursor(str(args["cursor"]), "channel:")
            start = next((i for i, c in enumerate(listed) if c.id == wanted), -1)
            if start < 0:
                raise _SlackError("invalid_cursor")
        page, rest = listed[start : start + limit], listed[start + limit :]
        cursor = _cursor("channel:", rest[0].id) if rest else ""
        channels = [self._channel_api(c) for c in page]
        return {"channels": channels, "response_metadata": {"next_cursor": cursor}}

    def _usergroup_users(self, args: dict[str, Any]) -> dict[str, Any]:
        group = str(args.get("usergroup") or "")
        if not group:
            raise _SlackError("invalid_arguments")
        if group not in self.usergroups:
            raise _SlackError("no_such_subteam")
        return {"users": list(self.usergroups[group])}

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user_id = str(args.get("user") or "")
        if not user_id:
            raise _SlackError("invalid_arguments")
        user = self.users.get(user_id)
        if user is None:
            raise _SlackError("user_not_found")
        return {"user": user.to_api(self.team_id)}

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": "https://medic-test.slack.com/",
            "team": self.team,
            "user": "medic",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }


def _flag(value: Any) -> bool:
    """A boolean argument as slack_sdk sends it (``1``/``0`` in a query string) or JSON's."""
    return value is True or str(value).strip().lower() in ("1", "true")


def _ts(value: Any, error: str = "invalid_arguments") -> Decimal:
    try:
        return Decimal(str(value))
    except InvalidOperation as err:
        raise _SlackError(error) from err


def _in_range(messages: list[SlackMessage], args: dict[str, Any]) -> list[SlackMessage]:
    """The messages after ``oldest`` and before ``latest`` (either one included with ``inclusive``)."""
    inclusive = _flag(args.get("inclusive"))
    oldest = _ts(args["oldest"], "invalid_ts_oldest") if args.get("oldest") not in (None, "") else None
    latest = _ts(args["latest"], "invalid_ts_latest") if args.get("latest") not in (None, "") else None

    def within(m: SlackMessage) -> bool:
        ts = _ts(m.ts)
        after = oldest is None or ts > oldest or (inclusive and ts == oldest)
        before = latest is None or ts < latest or (inclusive and ts == latest)
        return after and before

    return [m for m in messages if within(m)]


def _limit(args: dict[str, Any], *, default: int, most: int) -> int:
    raw = args.get("limit")
    if raw in (None, ""):
        return default
    try:
        limit = int(str(raw))
    except ValueError as err:
        raise _SlackError("invalid_limit") from err
    return min(max(limit, 1), most)


def _cursor(prefix: str, value: str) -> str:
    return base64.b64encode(f"{prefix}{value}".encode()).decode()


def _uncursor(cursor: str, prefix: str) -> str:
    try:
        decoded = base64.b64decode(cursor.encode(), validate=True).decode()
    except (ValueError, UnicodeDecodeError) as err:
        raise _SlackError("invalid_cursor") from err
    if not decoded.startswith(prefix):
        raise _SlackError("invalid_cursor")
    return decoded.removeprefix(prefix)


def _page(
    ordered: list[SlackMessage], args: dict[str, Any], *, default: int, most: int
) -> tuple[list[SlackMessage], str]:
    """One page of ``ordered`` from the ``cursor`` (the ``ts`` of its first message, as Slack's
    ``next_ts:``), and the next page's cursor (``""`` after the last)."""
    start = 0
    if args.get("cursor"):
        wanted = _uncursor(str(args["cursor"]), "next_ts:")
        start = next((i for i, m in enumerate(ordered) if m.ts == wanted), -1)
        if start < 0:
            raise _SlackError("invalid_cursor")
    limit = _limit(args, default=default, most=most)
    page, rest = ordered[start : start + limit], ordered[start + limit :]
    return page, _cursor("next_ts:", rest[0].ts) if rest else ""


async def _arguments(request: Request) -> tuple[dict[str, Any], str | None]:
    """The call's arguments (query string, then a JSON or form body) and its token.

    A JSON body's token must come in the ``Authorization`` header, as Slack requires; a form body may
    carry ``token``."""
    args: dict[str, Any] = dict(parse_qsl(request.url.query, keep_blank_values=True))
    raw = await request.body()
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    form_token: str | None = args.pop("token", None)
    if raw.strip():
        if content_type == "application/json":
            try:
                parsed = json.loads(raw)
            except json.JSONDecodeError as err:
                raise _SlackError("invalid_json") from err
            if not isinstance(parsed, dict):
                raise _SlackError("invalid_json")
            args.update(parsed)
        elif content_type == "application/x-www-form-urlencoded":
            form = dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
            form_token = form.pop("token", form_token)
            args.update(form)
        else:
            raise _SlackError("invalid_form_data")
    header = request.headers.get("authorization", "")
    scheme, _, credential = header.partition(" ")
    token = credential.strip() if scheme.lower() == "bearer" and credential.strip() else form_token
    return args, token


def _structured(args: dict[str, Any], key: str, error: str, kind: type) -> Any:
    """A JSON-valued argument: as given in a JSON body, or JSON-encoded text in a form body."""
    value = args.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as err:
            raise _SlackError(error) from err
    if not isinstance(value, kind):
        raise _SlackError(error)
    return value


def _content(
    args: dict[str, Any], *, required: bool
) -> tuple[str | None, list[Any] | None, list[Any] | None]:
    text = args.get("text")
    if text is not None and not isinstance(text, str):
        text = str(text)
    blocks = _structured(args, "blocks", "invalid_blocks", list)
    attachments = _structured(args, "attachments", "invalid_attachments", list)
    why = None if blocks is None else blocks_error(blocks)
    if why is not None:
        raise _SlackError("invalid_blocks", errors=[why])
    if text is not None and len(text) > MAX_TEXT:
        raise _SlackError("msg_too_long")
    if required and not text and not blocks and not attachments:
        raise _SlackError("no_text")
    return text, blocks, attachments
