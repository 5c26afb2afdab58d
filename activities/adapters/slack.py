"""Slack over slack-sdk's WebClient: the incident message (chat.postMessage, then chat.update in
place) and thread replies. Short rate limits are retried in place honouring Retry-After (seconds or
an HTTP-date, read by the shared parser: slack-sdk's own handler reads seconds only and fails on a
date); longer ones go back to Temporal. What remains is classified by
:func:`activities.adapters.http.classify`, plus Slack's ``ok: false`` codes that are worth a retry.

A post is made once however often it is tried (:meth:`SlackChat.post`). Slack has no idempotency key, and
a post it took may go unanswered: the answer came after the client's timeout, the connection dropped after
the request went out, the worker stopped under the activity (SIGTERM) after the request reached Slack.
Temporal then runs the activity again and it posted again ("Escalation level 2" twice in an incident's
thread). Each post made by an activity now carries, in its message metadata (``{"event_type":
"medic_post", "event_payload": {"key": ...}}``), a key that is the same for every attempt of that activity
(:mod:`activities.attempts`); before posting again (an attempt after the first, or after a timeout or a
lost connection within one) Medic looks for a message carrying it: in the thread for a reply
(``conversations.replies``), in the channel's history since shortly before the activity was first
scheduled for a top-level post (``conversations.history``, after ``conversations.list`` for a channel
named by name). Found, its ref is the answer. Looking needs scopes Medic did not ask for before
(``channels:history``, ``groups:history``, ``channels:read``, ``groups:read``) and the bot in the channel:
without them, or on any error of the lookup (a rate limit among them: it is not waited for in place), the
post is made as before and a warning says once what would prevent the duplicate (docs/slack.md). The lookup
never fails a notification. An attempt after ones this worker saw Slack refuse for its rate limit (429:
not taken), from the first on, posts without looking."""

import http.client
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any
from urllib.error import HTTPError, URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web import SlackResponse
from temporalio.exceptions import CancelledError

from activities.adapters.http import classify, retry_after
from activities.attempts import CallKey, call_key, cancelled
from medic.ports import ChatMessage, MessageRef, PermanentError, TransientError

__all__ = ["POST_EVENT", "TRANSIENT_ERRORS", "SlackChat"]

log = logging.getLogger(__name__)

# Slack's `ok: false` errors that are worth another try; everything else will fail again.
TRANSIENT_ERRORS = frozenset(
    {
        "ratelimited",
        "internal_error",
        "fatal_error",
        "service_unavailable",
        "request_timeout",
        "team_added_to_org",
    }
)


_MAX_WAIT_IN_PLACE = 10.0  # seconds an activity may sleep on a rate limit before handing it to Temporal

POST_EVENT = "medic_post"  # the metadata event_type of Medic's posts; event_payload {"key": CallKey.key}
_EARLIER = 60.0  # the lookup starts this long before the first attempt was scheduled (Slack's clock)
_LOOKUP_PAGES = 3  # pages read looking for a post (of _HISTORY_LIMIT / _REPLIES_LIMIT messages)
_HISTORY_LIMIT = 100  # conversations.history's own default (its most is 999)
_REPLIES_LIMIT = 200  # Slack's advice for conversations.replies' pages ("no more than 200")
_LIST_PAGES = 10  # pages of conversations.list read to find a channel named by name
_LIST_LIMIT = 1000  # conversations.list's most
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")
_REFUSED_KEPT = 4096  # posts Slack refused (429) whose next attempt need not look, per worker process
# What the SDK's ConnectionErrorRetryHandler sent again in place (RemoteDisconnected is a reset): a keyed
# post's is sent again here, after looking for it. (HTTPError, a URLError with a status, is an answer.)
_RESENT: tuple[type[Exception], ...] = (URLError, ConnectionResetError)


def _wait(response: Any) -> float | None:
    headers = getattr(response, "headers", None) or {}
    for name, value in headers.items():
        if name.lower() == "retry-after":
            return retry_after(value[0] if isinstance(value, list) else str(value))
    return None


class _RateLimitRetry(RateLimitErrorRetryHandler):
    def _can_retry(self, *, state: RetryState, request: Any, response: Any = None, error: Any = None) -> bool:
        wait = _wait(response) if response is not None and response.status_code == 429 else None
        return wait is not None and wait <= _MAX_WAIT_IN_PLACE

    def prepare_for_next_attempt(
        self, *, state: RetryState, request: Any, response: Any = None, error: Any = None
    ) -> None:
        state.next_attempt_requested = True
        time.sleep(_wait(response) or 0.0)
        state.increment_current_attempt()


class SlackChat:
    def __init__(self, token: str, *, base_url: str, timeout: int = 10, rate_limit_retries: int = 2) -> None:
        base_url = base_url if base_url.endswith("/") else base_url + "/"
        self._client = WebClient(
            token=token,
            base_url=base_url,
            timeout=timeout,
            retry_handlers=[
                ConnectionErrorRetryHandler(max_retry_count=1),
                _RateLimitRetry(max_retry_count=rate_limit_retries),
            ],
        )
        # A post with a key is not sent again in place by the SDK when its connection is lost: post() looks
        # for it first. A 429 was refused, not taken: that is waited for in place as ever.
        self._posts = WebClient(
            token=token,
            base_url=base_url,
            timeout=timeout,
            retry_handlers=[_RateLimitRetry(max_retry_count=rate_limit_retries)],
        )
        # Looking for a post never waits on a rate limit in place (conversations.history is Tier 3, .list
        # Tier 2): waiting up to 10 s twice a page took an attempt past the notifier's 30 s timeout in a
        # storm, when Temporal ran it again beside the thread still posting. Refused, it posts as before.
        self._reads = WebClient(
            token=token,
            base_url=base_url,
            timeout=timeout,
            retry_handlers=[ConnectionErrorRetryHandler(max_retry_count=1)],
        )
        # key -> the attempt whose post Slack refused with a rate limit, nothing of it posted before: the
        # next attempt on this worker posts without looking (a storm of 429s cost a lookup per retry).
        self._refused: OrderedDict[str, int] = OrderedDict()
        self._ids: dict[str, str] = {}  # channel name -> id, from posts' answers and conversations.list
        self._warned: set[str] = set()
        self._lock = threading.Lock()

    def post(self, channel: str, message: ChatMessage, *, thread: MessageRef | None = None) -> MessageRef:
        """Post ``message`` (in ``thread``'s thread), once however often the activity is tried (see the
        module's docstring): every post Medic makes to Slack, the card, thread replies, notes and approval
        requests, comes through here."""
        key = call_key()
        try:
            if key is None:  # not an activity's (a test, the doctor): as it always was
                return self._send(self._client, channel, message, thread, None)
            return self._post_once(key, channel, message, thread)
        except Exception as err:
            raise _translate(err) from err

    def _post_once(
        self, key: CallKey, channel: str, message: ChatMessage, thread: MessageRef | None
    ) -> MessageRef:
        # Whether nothing of this post can be in Slack before this attempt sends it: a first attempt, or
        # one after attempts on this worker that Slack all refused (429), the first of them included.
        clean = not key.retried or self._refused_before(key)
        if not clean and (found := self._posted(key, channel, thread)) is not None:
            return found
        try:
            return self._send(self._posts, channel, message, thread, key)
        except Exception as err:
            if clean and _rate_limited(err):
                self._remember_refused(key)  # Slack did not take it: the next attempt need not look
            if not _unanswered(err):
                raise
            if (found := self._posted(key, channel, thread)) is not None:
                return found
            if not isinstance(err, _RESENT):
                raise  # a timeout: Temporal tries again, and that attempt looks again
        return self._send(self._posts, channel, message, thread, key)  # the SDK's one retry in place

    def _send(
        self,
        client: WebClient,
        channel: str,
        message: ChatMessage,
        thread: MessageRef | None,
        key: CallKey | None,
    ) -> MessageRef:
        response = client.chat_postMessage(
            channel=thread.channel if thread else channel,
            text=message.text,
            blocks=message.blocks or None,
            thread_ts=thread.id if thread else None,
            unfurl_links=False,
            unfurl_media=False,
            metadata={"event_type": POST_EVENT, "event_payload": {"key": key.key}} if key else None,
        )
        ref = MessageRef(kind="slack", channel=str(response["channel"]), id=str(response["ts"]))
        if thread is None and not _CHANNEL_ID.match(channel.strip()):
            self._ids[_name(channel)] = ref.channel
        return ref

    # -- finding a post that went through ----------------------------------------------------------------

    def _refused_before(self, key: CallKey) -> bool:
        with self._lock:
            return self._refused.get(key.key) == key.attempt - 1

    def _remember_refused(self, key: CallKey) -> None:
        with self._lock:
            self._refused[key.key] = key.attempt
            self._refused.move_to_end(key.key)
            while len(self._refused) > _REFUSED_KEPT:
                self._refused.popitem(last=False)

    def _posted(self, key: CallKey, channel: str, thread: MessageRef | None) -> MessageRef | None:
        """The message carrying ``key`` where it would be, or None: not there, or Slack could not be asked
        (said once, at WARNING). Raises nothing but a cancellation."""
        oldest = f"{max(0.0, key.since - _EARLIER):.6f}"
        try:
            if thread is not None:
                where: str | None = thread.channel
                read: Callable[..., SlackResponse] = self._reads.conversations_replies
                args: dict[str, Any] = {"ts": thread.id, "limit": _REPLIES_LIMIT}
            else:
                where = self._channel_id(channel)
                read, args = self._reads.conversations_history, {"limit": _HISTORY_LIMIT}
            if where is None:
                return None
            args.update(channel=where, oldest=oldest, include_all_metadata=True)
            for page in _pages(read, _LOOKUP_PAGES, **args):
                for message in page.get("messages") or []:
                    if _key_of(message) == key.key:
                        log.info("Slack post %s in %s was made already: not sent again", message["ts"], where)
                        return MessageRef(kind="slack", channel=where, id=str(message["ts"]))
        except Exception as err:
            if isinstance(err, CancelledError) or cancelled():
                raise
            self._unsure(err)
        return None

    def _channel_id(self, channel: str) -> str | None:
        """The id of a channel routing names by id or by name (learnt from posts' answers, else looked up
        in ``conversations.list``); None when it is not among the channels the token can list."""
        if _CHANNEL_ID.match(channel.strip()):
            return channel.strip()
        name = _name(channel)
        if (known := self._ids.get(name)) is not None:
            return known
        listed = _pages(
            self._reads.conversations_list,
            _LIST_PAGES,
            types="public_channel,private_channel",
            exclude_archived=True,
            limit=_LIST_LIMIT,
        )
        for page in listed:
            for found in page.get("channels") or []:
                self._ids[str(found.get("name") or "")] = str(found.get("id") or "")
            if name in self._ids:
                return self._ids[name]
        self._warn_once(
            "unlisted",
            "Slack channel %s is not among those Medic's app can list (conversations.list): a post cut off "
            "after Slack took it cannot be looked for there, and may show twice; is the bot in it?",
            channel,
        )
        return None

    def _unsure(self, err: Exception) -> None:
        code = ""
        if isinstance(err, SlackApiError) and isinstance(err.response.data, dict):
            code = str(err.response.get("error") or "")
        lost = "a post cut off after Slack took it (a late answer, a lost connection, a worker stopped) is"
        if code == "missing_scope":
            needed = str(err.response.get("needed") or "") if isinstance(err, SlackApiError) else ""
            self._warn_once(
                code,
                "Medic's Slack app may not read messages (missing_scope, needed: %s): %s posted again, and "
                "may show twice. Add the bot token scopes channels:history and groups:history (and "
                "channels:read, groups:read for channels routing names by name) and reinstall the app "
                "(docs/slack.md)",
                needed,
                lost,
            )
        elif code == "not_in_channel":
            self._warn_once(
                code,
                "Medic's Slack bot is not in a channel it posts to (not_in_channel: it posts there with "
                "chat:write.public, but may read only channels it is in): %s posted again there, and may "
                "show twice. Invite the bot to its channels (docs/slack.md)",
                lost,
            )
        else:
            self._warn_once(
                code or type(err).__name__,
                "Slack could not be asked whether a post went through already (%s): %s posted again, and "
                "may show twice",
                code or f"{type(err).__name__}: {err}",
                lost,
            )

    def _warn_once(self, what: str, message: str, *args: object) -> None:
        with self._lock:
            if what in self._warned:
                log.debug(message, *args)
                return
            self._warned.add(what)
        log.warning(message, *args)

    def update(self, ref: MessageRef, message: ChatMessage) -> MessageRef:
        try:
            response = self._client.chat_update(
                channel=ref.channel, ts=ref.id, text=message.text, blocks=message.blocks or None
            )
        except Exception as err:
            raise _translate(err) from err
        return MessageRef(kind="slack", channel=str(response["channel"]), id=str(response["ts"]))

    def identity(self) -> dict[str, str]:
        """Who the token is (``auth.test``): the workspace, its URL and the bot user."""
        try:
            response = self._client.auth_test()
        except Exception as err:
            raise _translate(err, what="tell who Medic is (auth.test)") from err
        who = {key: str(response.get(key) or "") for key in ("team", "url", "user", "user_id", "bot_id")}
        # every Web API answer says the token's scopes (Slack's "Scopes and permissions")
        headers = {str(k).lower(): v for k, v in (response.headers or {}).items()}
        scopes = headers.get("x-oauth-scopes")
        who["scopes"] = str(scopes[0] if isinstance(scopes, list) else scopes or "")
        return who

    def usergroup_members(self, group_id: str) -> list[str]:
        """The user ids in a Slack user group (``usergroups.users.list``), for authorization."""
        try:
            response = self._client.usergroups_users_list(usergroup=group_id)
        except Exception as err:
            raise _translate(err) from err
        users = response.get("users") or []
        return [str(u) for u in users]

    def display_name(self, user_id: str) -> str:
        """What Slack shows as the user's name (``users.info``, scope ``users:read``): the profile's
        display name, else the real name; "" for a user Slack does not know or show (``user_not_found``,
        ``user_not_visible``) or one with neither. Slack's reference: the profile holds what the user
        supplied, and a field not supplied "may not be present at all, may be null or may contain the
        empty string". Other errors (``missing_scope`` among them) raise, as every call here does."""
        try:
            response = self._client.users_info(user=user_id)
        except SlackApiError as err:
            data = err.response.data if isinstance(err.response.data, dict) else {}
            if data.get("error") in ("user_not_found", "user_not_visible"):
                return ""
            raise _translate(err, what="read who a user is (users.info)") from err
        except Exception as err:
            raise _translate(err, what="read who a user is (users.info)") from err
        user = response.get("user") or {}
        profile = user.get("profile") or {}
        for name in (profile.get("display_name"), profile.get("real_name"), user.get("real_name")):
            if isinstance(name, str) and name.strip():
                return name.strip()
        return ""


def _rate_limited(err: Exception) -> bool:
    """Slack refused the call for its rate limit (429, ``ratelimited``): it did not carry it out."""
    if not isinstance(err, SlackApiError):
        return False
    data = err.response.data if isinstance(err.response.data, dict) else {}
    return err.response.status_code == 429 or data.get("error") == "ratelimited"


def _unanswered(err: Exception) -> bool:
    """Whether a call may have gone through unanswered: a timeout, or a connection lost (an answer, an
    error Slack gave, is none)."""
    if isinstance(err, HTTPError | SlackApiError):
        return False
    return isinstance(err, TimeoutError | URLError | ConnectionError | http.client.HTTPException)


def _name(channel: str) -> str:
    return channel.strip().removeprefix("#").lower()


def _key_of(message: Any) -> str | None:
    metadata = message.get("metadata") if isinstance(message, dict) else None
    if not isinstance(metadata, dict) or metadata.get("event_type") != POST_EVENT:
        return None
    payload = metadata.get("event_payload")
    return str(payload.get("key")) if isinstance(payload, dict) and payload.get("key") else None


def _pages(read: Callable[..., SlackResponse], most: int, **args: Any) -> Iterator[SlackResponse]:
    """Up to ``most`` pages of a cursor-paginated method (``response_metadata.next_cursor``)."""
    cursor: str | None = None
    for _ in range(most):
        page = read(cursor=cursor, **args)
        yield page
        cursor = str((page.get("response_metadata") or {}).get("next_cursor") or "") or None
        if cursor is None:
            return


def _translate(err: Exception, *, what: str = "post") -> Exception:
    if isinstance(err, SlackApiError):
        status = err.response.status_code
        code = str(err.response.get("error", "")) if isinstance(err.response.data, dict) else ""
        headers = {
            k: (v[0] if isinstance(v, list) else str(v)) for k, v in (err.response.headers or {}).items()
        }
        if code in TRANSIENT_ERRORS and status < 500 and status != 429:
            return TransientError(f"Slack error {code}", retry_after=retry_after(headers.get("Retry-After")))
        return classify(status, service="Slack", what=what, headers=headers, detail=code or str(status))
    # http.client.HTTPException: the connection was cut mid-answer (IncompleteRead), as transient as a reset
    if isinstance(err, SlackRequestError | OSError | TimeoutError | http.client.HTTPException):
        return classify(None, service="Slack", what=what, detail=str(err))
    return PermanentError(f"Slack call failed: {type(err).__name__}: {err}")
