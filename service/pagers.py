"""Which pagers page (MEDIC_PAGER): PagerDuty, Opsgenie or both, from the credentials present."""

import logging

from medic.ports import Pager
from service.settings import Settings

__all__ = ["build_pager"]

log = logging.getLogger(__name__)


def _pagerduty(settings: Settings) -> Pager | None:
    if settings.pagerduty_routing_key is None and not settings.pagerduty_routing_keys:
        return None
    from activities.adapters.pagerduty import PagerDutyEvents  # noqa: PLC0415

    keys = {name: key.get_secret_value() for name, key in settings.pagerduty_routing_keys.items()}
    default = settings.pagerduty_routing_key.get_secret_value() if settings.pagerduty_routing_key else None
    return PagerDutyEvents(keys, default_key=default, events_url=settings.pagerduty_events_url)


def _opsgenie(settings: Settings) -> Pager | None:
    if settings.opsgenie_api_key is None and not settings.opsgenie_api_keys:
        return None
    from activities.adapters.opsgenie import OpsgeniePager  # noqa: PLC0415

    keys = {name: key.get_secret_value() for name, key in settings.opsgenie_api_keys.items()}
    default = settings.opsgenie_api_key.get_secret_value() if settings.opsgenie_api_key else None
    return OpsgeniePager(default, keys=keys, base_url=settings.opsgenie_url)


def build_pager(settings: Settings) -> Pager | None:
    """The pager MEDIC_PAGER asks for; ``None`` when none has credentials (the console notifier pages)."""
    wanted = {
        "auto": ("pagerduty", "opsgenie"),
        "pagerduty": ("pagerduty",),
        "opsgenie": ("opsgenie",),
        "both": ("pagerduty", "opsgenie"),
    }[settings.pager]
    built = {"pagerduty": _pagerduty(settings) if "pagerduty" in wanted else None}
    built["opsgenie"] = _opsgenie(settings) if "opsgenie" in wanted else None
    pagers = [p for p in built.values() if p is not None]
    for name in wanted:
        if built[name] is None and settings.pager != "auto":
            log.warning("MEDIC_PAGER=%s but %s has no credentials: it is not paged", settings.pager, name)
    if not pagers:
        return None
    if len(pagers) == 1:
        return pagers[0]
    from activities.adapters.fanout import FanOutPager  # noqa: PLC0415

    return FanOutPager(pagers)
