"""Who may do what, from the access policy, with Slack user groups resolved through Slack.

Group membership is asked of Slack (``usergroups.users.list``) only for the groups the policy
names, and kept for a minute: a person removed from the on-call group loses the rights within a
minute, and a command does not wait on Slack every time. While Slack cannot be asked, the last answer
stands for at most ten minutes."""

import asyncio
import logging
import time
from collections.abc import Callable

from medic.access import AccessPolicy

__all__ = ["Authorizer", "GroupMembers"]

log = logging.getLogger(__name__)
_TTL_SECONDS = 60.0
# While Slack cannot be asked, what it last said still counts, but not for ever: past this a group
# counts as empty (its members fall back to what the policy grants everyone).
_STALE_SECONDS = 600.0

GroupMembers = Callable[[str], list[str]]  # Slack user-group id -> user ids (blocking call)


class Authorizer:
    def __init__(
        self,
        policy: AccessPolicy,
        *,
        members: GroupMembers | None = None,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy
        self._members, self._now = members, now
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}
        self._unread: dict[str, str] = {}  # a group Slack could not answer for, and what it said

    async def groups_of(self, user: str) -> list[str]:
        """The policy's Slack user groups that ``user`` belongs to."""
        wanted = sorted(self.policy.slack_groups())
        if not wanted or self._members is None:
            return []
        memberships = await asyncio.gather(*(self._group(g) for g in wanted))
        return [g for g, users in zip(wanted, memberships, strict=True) if user in users]

    def unread(self) -> dict[str, str]:
        """The groups whose members are not known now (Slack did not answer, and what it knew is too
        old), with why: a refusal says so, where it said only "may not" (a walk-through's leftover)."""
        return dict(self._unread)

    async def _group(self, group: str) -> frozenset[str]:
        held = self._cache.get(group)
        if held is not None and self._now() - held[0] < _TTL_SECONDS:
            return held[1]
        assert self._members is not None
        try:
            users = frozenset(await asyncio.to_thread(self._members, group))
        except Exception as err:  # Slack down: fall back to what we knew, else no membership
            log.warning("could not read Slack user group %s: %s", group, err)
            if held is not None and self._now() - held[0] < _STALE_SECONDS:
                return held[1]
            self._unread[group] = str(err)[:200]
            return frozenset()
        self._unread.pop(group, None)
        self._cache[group] = (self._now(), users)
        return users
