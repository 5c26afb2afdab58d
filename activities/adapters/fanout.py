"""Several pagers behind one Pager port (PagerDuty and Opsgenie at once, MEDIC_PAGER=both).

Every pager is tried, whatever the others did; then the first failure is raised, transient ones first so
Temporal retries. A retry repeats the calls that succeeded, which is harmless: both pagers de-duplicate
by the incident id (PagerDuty's dedup key, Opsgenie's alias)."""

from collections.abc import Sequence

from medic.ports import Change, NotePager, Page, Pager, TransientError

__all__ = ["FanOutPager"]


class FanOutPager:
    def __init__(self, pagers: Sequence[Pager]) -> None:
        if not pagers:
            raise ValueError("FanOutPager needs at least one pager")
        self._pagers = list(pagers)
        # Notes go to the pagers that keep them (Opsgenie); none of them: the plan says no notes.
        self.keeps_notes = any(isinstance(p, NotePager) for p in self._pagers)

    def send(self, page: Page) -> str:
        results: list[str] = []
        errors: list[Exception] = []
        for pager in self._pagers:
            try:
                results.append(pager.send(page))
            except Exception as err:  # every pager gets its chance; the failure is raised below
                errors.append(err)
        _raise_first(errors)
        return results[0]

    def change(self, change: Change) -> None:
        errors: list[Exception] = []
        for pager in self._pagers:
            try:
                pager.change(change)
            except Exception as err:
                errors.append(err)
        _raise_first(errors)

    def note(self, routing_key_name: str, dedup_key: str, text: str) -> None:
        errors: list[Exception] = []
        for pager in self._pagers:
            if isinstance(pager, NotePager):
                try:
                    pager.note(routing_key_name, dedup_key, text)
                except Exception as err:
                    errors.append(err)
        _raise_first(errors)


def _raise_first(errors: list[Exception]) -> None:
    if errors:
        raise next((e for e in errors if isinstance(e, TransientError)), errors[0])
