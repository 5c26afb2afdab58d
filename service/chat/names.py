"""Who a Slack user is by name: their display name from Slack (``users.info``), cached.

A command records its actor by Slack user id; its request carries the person's name beside it, so
what Medic writes outside Slack (postmortems, Jira, Teams, pagers) names them (``medic.names``). The name
is the profile's display name, else their real name, read with the bot token (scope ``users:read``,
optional) and kept for an hour. Asking never fails or holds up a command for long: without the scope
(Slack answers ``missing_scope``), for a user Slack does not show, on any error or past a short timeout,
the name is the one Slack sent with the command or button (the person's username), else none."""

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable

from medic.names import clean_name

__all__ = ["SlackNames", "UserName"]

log = logging.getLogger(__name__)

UserName = Callable[[str], str]  # Slack user id -> display name, "" for none (blocking; raises on errors)

_TTL_SECONDS = 3600.0  # a name found (or found to be none) is asked again after an hour
_FAILED_SECONDS = 300.0  # after an error, the user's name is not asked again for five minutes
_MAX_USERS = 2000  # names held at most (least recently used first out)


class SlackNames:
    def __init__(
        self,
        lookup: UserName | None,
        *,
        timeout: float = 1.5,
        ttl: float = _TTL_SECONDS,
        max_users: int = _MAX_USERS,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lookup, self._timeout, self._ttl, self._max, self._now = lookup, timeout, ttl, max_users, now
        self._cache: OrderedDict[str, tuple[float, str]] = OrderedDict()  # id -> (until, name or "")
        self._off_until = 0.0  # the token lacks users:read: not asked until then
        self._said_scope = False

    async def name(self, user_id: str, *, fallback: str = "") -> str:
        """The person's display name; ``fallback`` (the name Slack sent with the request) when Slack
        cannot say it."""
        found = await self._display_name(user_id)
        return found or clean_name(fallback)

    async def _display_name(self, user_id: str) -> str:
        if self._lookup is None:
            return ""
        now = self._now()
        held = self._cache.get(user_id)
        if held is not None and now < held[0]:
            self._cache.move_to_end(user_id)
            return held[1]
        if now < self._off_until:
            return ""
        try:
            name = clean_name(await asyncio.wait_for(asyncio.to_thread(self._lookup, user_id), self._timeout))
        except TimeoutError:
            log.info(
                "Slack did not say who %s is within %.1fs; using the name the request carried",
                user_id,
                self._timeout,
            )
            self._keep(user_id, "", now + _FAILED_SECONDS)
            return ""
        except Exception as err:  # never fails a command: the request's own name stands in
            if "missing_scope" in str(err):
                self._off_until = now + self._ttl
                if not self._said_scope:
                    self._said_scope = True
                    log.warning(
                        "Slack refused users.info (missing_scope): people are named by the username Slack "
                        "sends with each command; add the users:read scope to show their display names "
                        "(docs/slack.md)"
                    )
                return ""
            log.info("could not read who %s is from Slack: %s", user_id, err)
            self._keep(user_id, "", now + _FAILED_SECONDS)
            return ""
        self._keep(user_id, name, now + self._ttl)
        return name

    def _keep(self, user_id: str, name: str, until: float) -> None:
        self._cache[user_id] = (until, name)
        self._cache.move_to_end(user_id)
        while len(self._cache) > self._max:
            self._cache.popitem(last=False)
