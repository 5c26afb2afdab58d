"""Several pagers behind one Pager port (PagerDuty and Opsgenie at once, MEDIC_PAGER=both, or a pager
chosen per team by the routing policy's ``teams: {<team>: {pager: ...}}``).

Each page, change and note names its routing key by name; ``routes`` maps a name to the pager kinds that
receive it, every other name goes to the ``default`` kinds (MEDIC_PAGER). So the workflow, which only
ever sees names, needs to know nothing about which pager a team uses.

Every pager a call goes to is tried, whatever the others did; then the first failure is raised,
transient ones first so Temporal retries. A retry repeats the calls that succeeded, which is harmless:
both pagers de-duplicate (PagerDuty by the incident id, its dedup key; Opsgenie by the alias the
workflow recorded for the routing key)."""

from collections.abc import Collection, Mapping, Sequence

from medic.ports import Change, NotePager, Page, Pager, TransientError

__all__ = ["FanOutPager"]


class FanOutPager:
    def __init__(
        self,
        pagers: Mapping[str, Pager] | Sequence[Pager],
        *,
        routes: Mapping[str, Collection[str]] | None = None,
        default: Collection[str] | None = None,
    ) -> None:
        """``pagers`` by kind (a sequence: every one is a default); ``routes``: routing-key name -> the
        kinds that page it; ``default``: the kinds for every other name (all of them when not given)."""
        self._pagers = (
            dict(pagers) if isinstance(pagers, Mapping) else {str(i): p for i, p in enumerate(pagers)}
        )
        if not self._pagers:
            raise ValueError("FanOutPager needs at least one pager")
        self._default = [k for k in self._pagers if default is None or k in default]
        self._routes = {
            name: [k for k in self._pagers if k in kinds] for name, kinds in (routes or {}).items()
        }
        for name, kinds in [*self._routes.items(), ("(default)", self._default)]:
            if not kinds:
                raise ValueError(f"FanOutPager: no pager for {name!r} among {sorted(self._pagers)}")
        # Notes go to the pagers that keep them (Opsgenie); none of them: the plan says no notes.
        self.keeps_notes = any(isinstance(p, NotePager) for p in self._pagers.values())

    def label_for(self, routing_key_name: str) -> str:
        """How the timeline names the pagers this routing-key name pages: ``PagerDuty and Opsgenie``."""
        return " and ".join(
            str(getattr(p, "label", k))
            for k, p in zip(self.kinds_for(routing_key_name), self._for(routing_key_name), strict=True)
        )

    def kinds_for(self, routing_key_name: str) -> list[str]:
        """The pager kinds that receive what is sent for this routing-key name."""
        return self._routes.get(routing_key_name, self._default)

    def _for(self, routing_key_name: str) -> list[Pager]:
        return [self._pagers[k] for k in self.kinds_for(routing_key_name)]

    def _told_at(self, kind: str, told_by: Sequence[str]) -> list[str]:
        """The keys of ``told_by`` that page ``kind`` too: only those told that pager's alert."""
        return [k for k in told_by if kind in self.kinds_for(k)]

    def send(self, page: Page) -> str:
        results: list[str] = []
        errors: list[Exception] = []
        for kind in self.kinds_for(page.routing_key_name):
            pager = self._pagers[kind]
            told = self._told_at(kind, page.told_by)
            try:
                results.append(
                    pager.send(page.model_copy(update={"told_by": told}) if page.told_by else page)
                )
            except Exception as err:  # every pager gets its chance; the failure is raised below
                errors.append(err)
        _raise_first(errors)
        return results[0]

    def change(self, change: Change) -> None:
        errors: list[Exception] = []
        for pager in self._for(change.routing_key_name):
            try:
                pager.change(change)
            except Exception as err:
                errors.append(err)
        _raise_first(errors)

    def note(self, routing_key_name: str, dedup_key: str, text: str, *, told_by: Sequence[str] = ()) -> None:
        errors: list[Exception] = []
        for kind in self.kinds_for(routing_key_name):
            pager = self._pagers[kind]
            if isinstance(pager, NotePager):
                try:
                    pager.note(routing_key_name, dedup_key, text, told_by=self._told_at(kind, told_by))
                except Exception as err:
                    errors.append(err)
        _raise_first(errors)


def _raise_first(errors: list[Exception]) -> None:
    if errors:
        raise next((e for e in errors if isinstance(e, TransientError)), errors[0])
