"""Running a parsed `/medic` command or a pressed button against Temporal.

Every verb is checked against the access policy first; a refusal is explained to the person and
recorded on the incident's timeline, like every command that names an incident. Changes go through
the incident's and remediation's updates (whose validators have the last word) or signals, so a
command is durable once it is answered."""

import logging
import re
from collections.abc import Awaitable, Callable, Collection, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ValidationError
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalio.service import RPCError, RPCStatusCode

from medic.access import AccessDecision, Verb
from medic.commands import (
    HELP_TEXT,
    Ack,
    Approve,
    Command,
    CommandError,
    Heartbeats,
    Help,
    Insights,
    KillSwitch,
    List,
    Postmortem,
    Resolve,
    Show,
    Silence,
    help_for,
    parse_command,
    unknown_list_filter,
)
from medic.feedback import FalsePositive, Matcher, SilenceRecord
from medic.incident import AlertRecord
from medic.insights import TeamLearning
from medic.keys import INCIDENT_ID_PATTERN, INCIDENT_PREFIX, service_incident_id
from medic.matchers import format_duration
from medic.mrkdwn import Markup, escape, link
from medic.names import SLACK_USER_ID
from medic.ports import PermanentError, TransientError
from medic.promql import promql_regex_escape
from medic.redact import REDACTED, redact
from medic.vocab import TimelineKind
from service.chat.authz import Authorizer
from service.chat.names import SlackNames
from service.chat.replies import Reply, render_list, render_show
from service.control import Controls
from service.heartbeats import HeartbeatsReader, render_heartbeats
from service.incidents import (
    IncidentDetail,
    IncidentFilter,
    IncidentNotFound,
    IncidentReader,
    IncidentUnreadable,
)
from service.insights import READ, insights, render_insights
from service.settings import Settings
from service.temporal import UNREACHABLE
from workflows import people
from workflows import search_attributes as sa
from workflows.control import KillSwitchRequest
from workflows.incident import AckRequest, IncidentWorkflow, ResolveRequest, UpdateResult
from workflows.remediation import Decision, RemediationOutcome, RemediationWorkflow

__all__ = ["ChatRunner", "SlackUser"]

_RESENT_WITHIN = timedelta(minutes=5)  # the same silence command again within this: not a second silence
_SLACK_ID = SLACK_USER_ID  # a Slack user id: mentioned; others (the operator token) named

log = logging.getLogger(__name__)
# Who ran which command, reads included: a read is not recorded on the incident (it changes nothing), and
# this log keeps "who looked at it" answerable. Every command that changes something is also on the timeline.
audit = logging.getLogger("medic.audit")
T = TypeVar("T")
_BUTTON_SILENCE = timedelta(hours=1)
_MAX_BUTTON_SILENCES = 5
_READS = (Help, List, Show, Heartbeats, Insights)  # change nothing: nobody to name


# a service as a command names it: safe inside a visibility query's quotes
_SERVICE_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")


class SlackUser(BaseModel):
    """Who runs a command: the Slack user id (the actor Medic records and compares) and their name, which
    every request made for them carries beside it (``actor_name``), so Medic names them outside Slack."""

    id: str
    name: str = ""
    # of another organisation than the workspace's (a Slack Connect channel: the button's user.team_id
    # is neither the workspace's nor its Enterprise Grid's): allowed only where listed by id
    external: bool = False

    @property
    def mention(self) -> str:
        return f"<@{self.id}>"


class _Refused(Exception):
    """The command cannot go on; the message says why, for the person."""


class Silences(Protocol):
    """Where silences are made (Alertmanager's v2 API: activities.adapters.alertmanager)."""

    async def create(
        self,
        matchers: list[Matcher],
        *,
        starts_at: datetime,
        ends_at: datetime,
        created_by: str,
        comment: str,
    ) -> str: ...

    def link(self, silence_id: str) -> str: ...


class ChatRunner:
    def __init__(
        self,
        *,
        client: Client,
        settings: Settings,
        reader: IncidentReader,
        controls: Controls,
        authorizer: Authorizer,
        silences: Silences | None,
        postmortem: Callable[[str], Awaitable[tuple[str, str]]] | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        services: Collection[str] = (),
        learning: Mapping[str, TeamLearning] | None = None,
        names: SlackNames | None = None,
    ) -> None:
        self._client, self._settings, self._reader = client, settings, reader
        self._names = names  # display names from Slack (None: the name the request carried)
        self._learning = dict(learning or {})  # the routing policy's opt-ins: what /medic insights applies
        self._services = frozenset(services)  # catalog names and aliases, for `/medic list NAME`
        self._controls, self._authz, self._silences = controls, authorizer, silences
        self._postmortem, self._now = postmortem, now

    # ---- entry points ------------------------------------------------------------------------------

    async def command(self, text: str, *, user: SlackUser) -> Reply:
        try:
            cmd = parse_command(text)
        except CommandError as err:
            return Reply(text=f":warning: {_echo(err)}")
        return await self.run(cmd, user=user)

    async def run(self, cmd: Command, *, user: SlackUser) -> Reply:
        target = getattr(cmd, "incident_id", None)
        audit.info(
            "slack command /medic %s%s by %s",
            cmd.verb,
            f" {target}" if target else "",
            user.id,
            extra={"verb": cmd.verb, "incident_id": target, "actor": user.id},
        )
        if isinstance(target, str):
            named = await self._named(target)
            if isinstance(named, Reply):
                return named
            if named != target:
                cmd = cmd.model_copy(update={"incident_id": named})
        if not isinstance(cmd, _READS):
            user = await self._who(user)
        return await _answered(self._dispatch(cmd, user), what=f"/medic {cmd.verb}")

    async def _who(self, user: SlackUser) -> SlackUser:
        """``user`` with their display name from Slack, else the name their request carried (never fails)."""
        if self._names is None:
            return user
        return user.model_copy(update={"name": await self._names.name(user.id, fallback=user.name)})

    async def _named(self, incident_id: str) -> "str | Reply":
        """The incident a person names by its service: a service outside the catalog has its incidents
        under ``incident-svc-<name>-<digest>``, and `/medic ack payments-gateway` found none ("there is
        no incident"), though the title says "on payments-gateway" (a walk-through's leftover). Asked
        only where ``incident-<name>`` is not there; anything Temporal cannot answer leaves the id as it
        was, for the command to say."""
        name = incident_id.removeprefix(INCIDENT_PREFIX)
        if name.startswith("svc-") or name == incident_id:
            return incident_id
        outside = service_incident_id(name, in_catalog=False)
        for candidate in (incident_id, outside):
            try:
                await self._client.get_workflow_handle(candidate).describe()
            except RPCError as err:
                if err.status is RPCStatusCode.NOT_FOUND:
                    continue
                return incident_id
            except Exception:  # (not asked: the command says what it finds)
                return incident_id
            return candidate
        if self._settings.incidents_per_cluster and _SERVICE_NAME.fullmatch(name):
            return await self._in_clusters(incident_id, name)
        return incident_id

    async def _in_clusters(self, incident_id: str, service: str) -> "str | Reply":
        """With incidents per cluster (`incident-prod-eu--checkout`), `/medic ack checkout` found nothing:
        the one cluster's open incident of the service, or, in several, which ones to name."""
        query = "WorkflowType='IncidentWorkflow' AND ExecutionStatus='Running' AND " + (
            f"{sa.SERVICES.name}='{service}'"
        )
        found: list[str] = []
        try:
            async for execution in self._client.list_workflows(query, limit=200):
                if (
                    execution.id not in found
                    and execution.id.startswith(INCIDENT_PREFIX)
                    and "--" in execution.id
                ):
                    found.append(execution.id)
        except Exception:  # (not asked: the command says what it finds)
            return incident_id
        own = [i for i in found if i.endswith(f"--{service}")]  # (not the incidents it merged into)
        found = own or found
        if len(found) == 1:
            return found[0]
        if not found:
            return incident_id
        listed = ", ".join(f"`{escape(i)}`" for i in sorted(found))
        return Reply(
            text=f":warning: {escape(service)} has incidents open in several clusters: {listed}. Name one."
        )

    async def press(self, action_id: str, value: str, *, user: SlackUser) -> Reply:
        """A button on an incident or approval message."""
        verb = action_id.removeprefix("medic_")
        if verb in ("ack", "resolve"):
            text = f"ack {value}" if verb == "ack" else f"resolve {value} pressed Resolve in Slack"
            try:
                cmd = parse_command(text)
            except CommandError as err:
                return Reply(text=f":warning: {_echo(err)}")
            return await self.run(cmd, user=user)
        if verb not in ("silence", "false_positive", "approve", "deny", "kill_switch"):
            return Reply(text=f":warning: Medic does not know the button {_echo(repr(action_id))}.")
        return await _answered(self._button(verb, value, await self._who(user)), what=f"the {verb} button")

    # ---- verbs -------------------------------------------------------------------------------------

    async def _dispatch(self, cmd: Command, user: SlackUser) -> Reply:
        if isinstance(cmd, Help):
            return Reply(text=_echo(help_for(cmd.topic)) if cmd.topic else HELP_TEXT)  # echoes the topic
        if isinstance(cmd, List):
            return await self._list(cmd)
        if isinstance(cmd, Silence):
            return await self._silence_command(cmd, user)
        if isinstance(cmd, Show):
            detail = await self._detail(cmd.incident_id, whole=False)  # reading: no timeline entry
            return render_show(detail, ui_url=self._settings.workflow_url(cmd.incident_id), now=self._now())
        if isinstance(cmd, Postmortem):
            return await self._postmortem_command(cmd.incident_id, user)
        if isinstance(cmd, Heartbeats):  # a read, like list: open to anyone
            beating = await HeartbeatsReader(self._client, self._settings).list()
            return Reply(text=render_heartbeats(beating, now=self._now()))
        if isinstance(cmd, Insights):  # a read, like list: open to anyone
            found = await insights(self._reader, learning=self._learning, cache=READ)
            return Reply(text=render_insights(found))
        if isinstance(cmd, KillSwitch):
            return await self._kill_switch_command(cmd, user)
        if isinstance(cmd, Ack):
            return await self._ack_or_resolve("ack", cmd.incident_id, "", user)
        if isinstance(cmd, Resolve):
            return await self._ack_or_resolve("resolve", cmd.incident_id, cmd.reason, user)
        if isinstance(cmd, Approve):
            return await self._decide_command(
                cmd.incident_id, approve=True, action=cmd.action, user=user, reason=""
            )
        return await self._decide_command(
            cmd.incident_id, approve=False, action=cmd.action, user=user, reason=cmd.reason
        )

    async def _kill_switch_command(self, cmd: KillSwitch, user: SlackUser) -> Reply:
        """The kill switch from a command: on and off as the card's button (``access.kill_switch``),
        status for anyone. The button only turns it on: this is how Slack turns it off again."""
        if cmd.state == "status":
            switch = await self._controls.kill_switch()
            if not switch.on:
                return Reply(text="The kill switch is off: remediations act as their runbooks say.")
            since = f" since {switch.at:%Y-%m-%d %H:%M}Z" if switch.at else ""
            why = f": {_echo(switch.reason)}" if switch.reason else ""
            actor = switch.actor or ""
            by = f" by <@{actor}>" if _SLACK_ID.fullmatch(actor) else (f" by {_echo(actor)}" if actor else "")
            return Reply(
                text=f":octagonal_sign: The kill switch is ON{by}{since}{why}. No remediation acts; "
                "`/medic killswitch off` lets them act again."
            )
        await self._authorize(Verb.KILL_SWITCH, user, None)
        on = cmd.state == "on"
        reason = cmd.reason or "from Slack"
        switch = await self._controls.set_kill_switch(
            KillSwitchRequest(on=on, actor=user.id, actor_name=user.name, reason=reason)
        )
        word = "ON: no remediation will act" if switch.on else "off: remediations act again"
        return Reply(text=f":octagonal_sign: {user.mention} turned the kill switch {word}.", public=True)

    async def _list(self, cmd: List) -> Reply:
        status, include_resolved = cmd.status, cmd.include_resolved
        if cmd.service and cmd.service not in self._services:
            # Not in the catalog: still a service if some incident names it (alerts outside the catalog).
            recent = await self._reader.list(IncidentFilter(limit=200))
            known = self._services | {name for item in recent for name in item.services}
            if cmd.service not in known:
                return Reply(text=f":warning: {_echo(unknown_list_filter(cmd.service, services=known))}")
        flt = IncidentFilter(
            status=status,
            service=cmd.service,
            priority=cmd.priority,
            limit=50,
            unresolved=not status and not include_resolved,
        )
        items = await self._reader.list(flt)
        items.sort(key=lambda i: (i.priority, -(i.opened_at or self._now()).timestamp()))
        heading = "Incidents" if include_resolved or status else "Open incidents"
        return render_list(items[:15], heading=heading, now=self._now())

    async def _ack_or_resolve(self, verb: str, incident_id: str, reason: str, user: SlackUser) -> Reply:
        await self._authorize(Verb.ACK if verb == "ack" else Verb.RESOLVE, user, incident_id)
        handle: WorkflowHandle[Any, Any] = self._client.get_workflow_handle(incident_id)
        if verb == "ack":
            result: UpdateResult = await self._update(
                handle,
                incident_id,
                lambda: handle.execute_update(
                    IncidentWorkflow.acknowledge,
                    AckRequest(actor=user.id, actor_name=user.name, source="slack"),
                ),
            )
            if result is not None and not result.changed:
                # acknowledged already (a second press, someone else first): not news for the channel;
                # after a reopen an acknowledgement changes it again, and is
                first = result.acknowledged_by or ""
                who = (
                    "you"
                    if first == user.id
                    else (f"<@{first}>" if _SLACK_ID.fullmatch(first) else _echo(first))
                )
                by = f" by {who}" if first else ""
                return Reply(text=f":eyes: `{escape(incident_id)}` was already acknowledged{by}.")
            return Reply(
                text=f":eyes: {user.mention} acknowledged `{escape(incident_id)}`: escalation stopped.",
                public=True,
            )
        result = await self._update(
            handle,
            incident_id,
            lambda: handle.execute_update(
                IncidentWorkflow.resolve,
                ResolveRequest(actor=user.id, actor_name=user.name, source="slack", reason=reason or ""),
            ),
        )
        resolved = escape(result.incident_id)
        return Reply(text=f":white_check_mark: {user.mention} resolved `{resolved}`.", public=True)

    async def _decide_command(
        self, incident_id: str, *, approve: bool, action: str | None, user: SlackUser, reason: str
    ) -> Reply:
        detail = await self._detail(incident_id)
        waiting: list[RemediationOutcome] = []
        for rid, track in detail.remediations.items():
            if track.outcome in ("started",):
                status = await self._remediation(rid)
                if status is not None and status.awaiting is not None:
                    waiting.append(status)
        if action:
            chosen = [
                w
                for w in waiting
                if action in (w.remediation_id, w.runbook, w.awaiting.action if w.awaiting else "")
            ]
        else:
            chosen = waiting
        if not waiting:
            raise _Refused(f"Nothing in `{incident_id}` is waiting for an approval.")
        if not chosen:
            names = ", ".join(f"`{w.awaiting.action if w.awaiting else '?'}` ({w.runbook})" for w in waiting)
            raise _Refused(f"No waiting step matches `{action}`; waiting: {names}.")
        if len(chosen) > 1:
            names = ", ".join(f"`{w.remediation_id}`" for w in chosen)
            example = f"/medic approve {incident_id} {chosen[0].remediation_id}"
            raise _Refused(f"Several steps wait for a decision ({names}): name one, e.g. `{example}`.")
        return await self._decide(chosen[0], approve=approve, user=user, reason=reason)

    async def _decide(
        self, status: RemediationOutcome, *, approve: bool, user: SlackUser, reason: str
    ) -> Reply:
        awaiting = status.awaiting
        if awaiting is None:
            raise _Refused(
                f"`{status.remediation_id}` is not waiting for an approval (it is {status.outcome})."
            )
        verb = Verb.APPROVE if approve else Verb.DENY
        groups = await self._authorize(verb, user, status.incident_id, risk=awaiting.risk)
        try:
            outcome = await self._controls.decide(
                status.remediation_id,
                Decision(approve=approve, actor=user.id, actor_name=user.name, reason=reason, groups=groups),
            )
        except WorkflowUpdateFailedError as err:
            raise _Refused(f"Temporal refused the decision: {err.cause or err}") from err
        word = ":white_check_mark: approved" if outcome == "approved" else ":x: denied"
        return Reply(
            text=f"{user.mention} {word} {escape(awaiting.action)} ({escape(awaiting.risk)} risk) "
            f"of `{escape(status.remediation_id)}` for `{escape(status.incident_id)}`.",
            public=True,
        )

    async def _silence_command(self, cmd: Silence, user: SlackUser) -> Reply:
        incident_id = cmd.incident_id
        await self._authorize(Verb.SILENCE, user, incident_id)
        matchers, duration = cmd.matchers, cmd.duration
        comment = cmd.comment or f"/medic silence by {user.name or user.id}"
        # Where to record it is settled first: nothing may fail once Alertmanager holds the silence (a
        # retry would make a second one). Unknown ids fail here, before Alertmanager is touched.
        if incident_id:
            detail = await self._detail(incident_id)
            # The same command again within minutes (run again after "Working on it...", or resent by a
            # proxy): the silence it made holds; a second one would only stack.
            now = self._now()
            same = [
                s
                for s in detail.silences
                if s.matchers == matchers
                and s.created_by == user.id
                and s.comment == redact(comment)
                and abs((s.ends_at - s.starts_at) - duration) <= timedelta(minutes=1)
                and s.active(now)
                and now - s.starts_at <= _RESENT_WITHIN
            ]  # (the same matchers for longer, or another reason: a silence of its own)
            if same:
                held = same[-1]
                shown_link = link(held.url, f"silence {held.id}") if held.url else f"silence `{held.id}`"
                return Reply(
                    text=f":mute: Already silenced by your {shown_link} until {held.ends_at:%Y-%m-%d %H:%M}Z "
                    f"(made {format_duration(now - held.starts_at)} ago); nothing new was created."
                )
        targets = [incident_id] if incident_id else await self._incidents_matching(matchers)
        record = await self._create_silence(matchers, duration, user, comment)
        recorded = [t for t in targets if await self._record_silence(t, record)]
        where = f" Recorded on {', '.join(f'`{escape(t)}`' for t in recorded)}." if recorded else ""
        if len(recorded) < len(targets):
            missed = ", ".join(f"`{escape(t)}`" for t in targets if t not in recorded)
            where += f" Could not record it on {missed} just now (the silence itself is in place)."
        return Reply(
            text=f":mute: Silenced `{escape(' '.join(str(m) for m in matchers))}` for "
            f"{format_duration(duration)} (until {record.ends_at:%Y-%m-%d %H:%M}Z), "
            f"{link(record.url, f'silence {record.id}')}.{where}",
            public=True,
        )

    async def _postmortem_command(self, incident_id: str, user: SlackUser) -> Reply:
        if self._postmortem is None:
            raise _Refused("Postmortems are not available in this process.")
        markdown, url = await self._postmortem(incident_id)
        await self._note(
            incident_id,
            TimelineKind.COMMAND_POSTMORTEM,
            user,
            f"{user.id} asked for the postmortem in Slack.",
        )
        excerpt = markdown if len(markdown) <= 2500 else markdown[:2500] + "\n…"
        return Reply(
            text=f"*Postmortem for `{escape(incident_id)}`*: {link(url, 'full document')}\n"
            f"```{escape(excerpt)}```"
        )

    # ---- buttons -----------------------------------------------------------------------------------

    async def _button(self, verb: str, value: str, user: SlackUser) -> Reply:
        if verb in ("approve", "deny"):
            remediation_id, _, rest = value.partition(":")
            step, _, run_id = rest.partition(":")
            status = await self._remediation(remediation_id)
            if status is None:
                raise _Refused(f"`{remediation_id}` has finished; nothing to decide.")
            waiting = status.awaiting
            if waiting is None or str(waiting.step) != step or (run_id and run_id != status.run_id):
                raise _Refused(
                    f"This request is no longer current: `{remediation_id}` is not waiting on that step. "
                    f"`/medic show {status.incident_id}` shows what it is doing."
                )
            return await self._decide(status, approve=verb == "approve", user=user, reason="")
        if verb == "kill_switch":
            on_text, _, incident_id = value.partition("|")
            on = on_text == "on"
            await self._authorize(Verb.KILL_SWITCH, user, incident_id or None)
            switch = await self._controls.set_kill_switch(
                KillSwitchRequest(
                    on=on,
                    actor=user.id,
                    actor_name=user.name,
                    reason=f"from Slack{' on ' + incident_id if incident_id else ''}",
                )
            )
            if incident_id:
                word = "ON: no remediation will act" if switch.on else "off"
                await self._note(
                    incident_id,
                    TimelineKind.COMMAND_KILL_SWITCH,
                    user,
                    f"{user.id} turned the kill switch {word}.",
                )
            again = " `/medic killswitch off` lets remediations act again." if switch.on else ""
            return Reply(
                text=f":octagonal_sign: {user.mention} turned the kill switch {_on_off(switch.on)}.{again}",
                public=True,
            )
        incident_id = _incident_id(value)
        if verb == "silence":
            await self._authorize(Verb.SILENCE, user, incident_id)
            detail = await self._detail(incident_id)
            groups = _silence_matchers([a for a in detail.alerts if a.status.value == "firing"])
            if not groups:
                raise _Refused(f"Nothing in `{incident_id}` is firing; nothing to silence.")
            # A second press (or a replay) must not stack silences: skip what an active one covers.
            active = [s.matchers for s in detail.silences if s.active(self._now())]
            groups = [g for g in groups if g not in active]
            if not groups:
                raise _Refused(f"`{incident_id}` is already silenced; `/medic show {incident_id}` lists how.")
            made = []
            for matchers in groups[:_MAX_BUTTON_SILENCES]:
                record = await self._create_silence(
                    matchers, _BUTTON_SILENCE, user, f"Silence 1h from Slack on {incident_id}"
                )
                note = (
                    ""
                    if await self._record_silence(incident_id, record)
                    else " (not recorded on the incident)"
                )
                made.append(f"{link(record.url, ' '.join(str(m) for m in matchers))}{note}")
            return Reply(text=f":mute: {user.mention} silenced for 1h: " + "; ".join(made), public=True)
        if verb == "false_positive":
            await self._authorize(Verb.FALSE_POSITIVE, user, incident_id)
            try:
                rules = await self._client.get_workflow_handle(incident_id).query(IncidentWorkflow.rules)
            except RPCError as err:
                if err.status is RPCStatusCode.NOT_FOUND:
                    raise _Refused(f"There is no incident `{incident_id}`.") from err
                raise
            mark = FalsePositive(
                at=self._now(), actor=user.id, actor_name=user.name, rules=rules, incident_id=incident_id
            )
            await self._signal(incident_id, people.FALSE_POSITIVE_SIGNAL, mark)
            await self._controls.mark_false_positive(mark)
            named = ", ".join(f"`{escape(r)}`" for r in mark.rules) or "its alerts"
            return Reply(
                text=f":ok_hand: Noted: {named} of `{escape(incident_id)}` marked as a false positive. "
                "Thanks."
            )
        raise _Refused(f"Medic does not know the button {verb!r}.")

    # ---- plumbing ----------------------------------------------------------------------------------

    async def _authorize(
        self, verb: Verb, user: SlackUser, incident_id: str | None, *, risk: str | None = None
    ) -> list[str]:
        """Allowed: the Slack user groups the decision used (an approval carries them to the workflow's
        own check). Refused: explained to the person and recorded on the incident."""
        groups = await self._authz.groups_of(user.id)
        decision = self._authz.policy.check(
            verb, user=user.id, user_groups=groups, risk=risk, external=user.external
        )
        if decision.allowed:
            return groups
        unread = self._authz.unread()
        if unread:  # membership not known: not the same as "not a member"
            said = "; ".join(f"{g} ({why})" for g, why in sorted(unread.items()))
            decision = AccessDecision(
                False,
                f"{decision.reason} Medic could not read Slack group {said} just now, so it "
                "does not know whether you are in them: try again in a minute; if it keeps failing, the "
                "Slack app may lack the usergroups:read scope.",
            )
        if incident_id:
            await self._note(
                incident_id,
                TimelineKind.COMMAND_REFUSED,
                user,
                f"Refused {verb.value} by {user.id}: {decision.reason}",
                verb=verb.value,
            )
        raise _Refused(decision.reason)

    async def _detail(self, incident_id: str, *, whole: bool = True) -> IncidentDetail:
        """``whole``: the command acts on what the incident holds (its alerts, its remediations), so
        a summary from visibility alone (``partial``: its workflow could not answer) is refused."""
        try:
            detail = await self._reader.get(incident_id, alerts=200, timeline=20)
        except IncidentNotFound as err:
            raise _Refused(
                f"There is no incident `{incident_id}`. `/medic list` shows the open ones."
            ) from err
        if whole and detail.partial:
            raise _Refused(
                f"Medic can read only the summary of `{incident_id}` ({detail.partial}), not its alerts "
                "or remediations, so it changes nothing there."
            )
        return detail

    async def _update(
        self, handle: WorkflowHandle[Any, Any], incident_id: str, call: Callable[[], Awaitable[T]]
    ) -> T:
        try:
            return await call()
        except WorkflowUpdateFailedError as err:
            raise _Refused(f"`{incident_id}`: {getattr(err.cause, 'message', None) or err}") from err
        except RPCError as err:
            if err.status is not RPCStatusCode.NOT_FOUND:
                raise
            try:
                described = await handle.describe()
            except RPCError:
                raise _Refused(
                    f"There is no incident `{incident_id}`. `/medic list` shows the open ones."
                ) from err
            if described.status is not WorkflowExecutionStatus.RUNNING:
                raise _Refused(f"`{incident_id}` is already closed.") from err
            raise

    async def _remediation(self, remediation_id: str) -> RemediationOutcome | None:
        handle: WorkflowHandle[Any, Any] = self._client.get_workflow_handle(remediation_id)
        try:
            described = await handle.describe()
            if described.status is not WorkflowExecutionStatus.RUNNING:
                return None
            return await handle.query(RemediationWorkflow.status)
        except RPCError as err:
            if err.status is RPCStatusCode.NOT_FOUND:
                return None
            raise

    async def _note(
        self, incident_id: str, kind: TimelineKind, user: SlackUser, message: str, **data: Any
    ) -> None:
        note = people.Note(
            kind=kind, actor=user.id, actor_name=user.name, message=message, data={"via": "slack", **data}
        )
        await self._signal(incident_id, people.NOTE_SIGNAL, note)

    async def _signal(self, incident_id: str, signal: str, payload: BaseModel) -> bool:
        """Whether the incident took it (False: it has closed)."""
        try:
            await self._client.get_workflow_handle(incident_id).signal(signal, payload)
        except RPCError as err:
            if err.status is not RPCStatusCode.NOT_FOUND:
                raise
            log.info("incident %s is closed; %s not recorded on it", incident_id, signal)
            return False
        return True

    async def _record_silence(self, incident_id: str, record: SilenceRecord) -> bool:
        """Put a silence Alertmanager already holds on the incident, or say it could not: once it exists,
        nothing may fail (the person would try again and make a second silence)."""
        try:
            return await self._signal(incident_id, people.SILENCE_SIGNAL, record)  # closed: not recorded
        except UNREACHABLE as err:
            log.warning("silence %s not recorded on %s: %s", record.id, incident_id, err)
            return False

    async def _create_silence(
        self, matchers: list[Matcher], duration: timedelta, user: SlackUser, comment: str
    ) -> SilenceRecord:
        if self._silences is None:
            raise _Refused("Silences need MEDIC_ALERTMANAGER_URL; it is not set.")
        start = self._now()
        silence_id = await self._silences.create(
            matchers,
            starts_at=start,
            ends_at=start + duration,
            created_by=user.name or user.id,
            comment=comment,
        )
        return SilenceRecord(
            id=silence_id,
            matchers=matchers,
            starts_at=start,
            ends_at=start + duration,
            created_by=user.id,
            created_by_name=user.name,
            comment=comment,
            url=self._silences.link(silence_id),
        )

    async def _incidents_matching(self, matchers: list[Matcher]) -> list[str]:
        """Open incidents of the services an exact ``service`` matcher names (where to record a silence)."""
        services = [m.value for m in matchers if m.name == "service" and m.is_equal and not m.is_regex]
        found: list[str] = []
        for service in services:
            try:
                flt = IncidentFilter(service=service, limit=10, unresolved=True)
            except ValidationError:
                continue  # not a name any incident carries
            found += [item.id for item in await self._reader.list(flt) if item.id not in found]
        return found


_TRY_AGAIN: tuple[type[Exception], ...] = (
    *UNREACHABLE,
    TransientError,
)  # Temporal, or a tool Medic needs, is not there just now


def _echo(text: object) -> Markup:
    """Text that repeats what the person typed (an error quoting a mistyped command, a help topic):
    redacted first, so a secret pasted into a mistyped command does not come back in the reply."""
    return escape(redact(str(text)))


async def _answered(work: Awaitable[Reply], *, what: str) -> Reply:
    """Every way a command can fail, as a sentence for the person (never a stack trace or a 500)."""
    try:
        return await work
    except _Refused as err:
        return Reply(text=f":no_entry: {_echo(err)}")
    except CommandError as err:
        return Reply(text=f":warning: {_echo(err)}")
    except IncidentNotFound as err:
        return Reply(text=f":warning: There is no incident `{_echo(err)}` any more (or it never existed).")
    except (IncidentUnreadable, WorkflowQueryFailedError) as err:
        return Reply(
            text=f":hourglass: Medic could not read it just now ({_echo(err)}). Try again in a moment."
        )
    except TransientError as err:  # a tool said what is wrong ("Alertmanager answered 503"): said so
        log.warning("%s failed: %s", what, err)
        return Reply(text=f":hourglass: {_echo(err)}; try again in a moment.")
    except _TRY_AGAIN as err:
        log.warning("%s failed: %s", what, err)
        return Reply(
            text=":hourglass: Medic could not reach Temporal or a tool it needs; try again in a moment."
        )
    except PermanentError as err:
        return Reply(text=f":warning: {_echo(err)}")
    except Exception:
        log.exception("%s failed", what)
        return Reply(text=f":boom: {what} failed inside Medic; the error is in Medic's log.")


def _on_off(on: bool) -> str:
    return "ON" if on else "off"


def _incident_id(value: str) -> str:
    if not INCIDENT_ID_PATTERN.match(value):
        raise CommandError(f"The button carried {value[:60]!r}, which is not an incident id.", "")
    return value


def _silence_matchers(alerts: list[AlertRecord]) -> list[list[Matcher]]:
    """One silence per alert rule and service, matching the labels all its alerts share: precise
    enough not to hide anything else, wide enough to cover every replica of the symptom."""
    groups: dict[tuple[str, str], dict[str, str]] = {}
    for alert in alerts:
        key = (alert.name, alert.service or "")
        held = groups.get(key)
        groups[key] = (
            dict(alert.labels)
            if held is None
            else {k: v for k, v in held.items() if alert.labels.get(k) == v}
        )
    matchers = [
        [m for k, v in sorted(labels.items()) if (m := _label_matcher(k, v)) is not None]
        for _, labels in sorted(groups.items())
    ]
    return [group for group in matchers if group]


def _max_length(field: str) -> int:
    limits = [m.max_length for m in Matcher.model_fields[field].metadata if hasattr(m, "max_length")]
    return int(limits[0])


_MATCHER_NAME_MAX, _MATCHER_VALUE_MAX = _max_length("name"), _max_length("value")
_ANY_REST = "(?s:.*)"  # Alertmanager anchors a regex matcher: this matches whatever follows the prefix


def _label_matcher(name: str, value: str) -> Matcher | None:
    """A matcher for one shared label. A value too long for a matcher is matched by its beginning (a
    regex, escaped for Alertmanager's RE2); a name too long is left out (the silence still names the
    rule, the service and every other shared label)."""
    if len(name) > _MATCHER_NAME_MAX:
        return None
    if REDACTED in name or REDACTED in value:
        return None  # redacted as the alert came in (medic.redact): Medic cannot match the real value
    if len(value) <= _MATCHER_VALUE_MAX:
        return Matcher(name=name, value=value)
    budget, prefix = _MATCHER_VALUE_MAX - len(_ANY_REST), []
    for char in value:
        escaped = promql_regex_escape(char)
        budget -= len(escaped)
        if budget < 0:
            break
        prefix.append(escaped)
    return Matcher(name=name, value="".join(prefix) + _ANY_REST, is_regex=True)
