"""Which pagers page: MEDIC_PAGER (PagerDuty, Opsgenie or both, from the credentials present) for every
routing-key name, except the names of a routing policy's ``teams:`` entry that names its own ``pager``."""

import logging

from medic.ports import Pager
from medic.routing import RoutingPolicy, pager_routes
from service.settings import Settings

__all__ = ["build_pager"]

log = logging.getLogger(__name__)

_KINDS = {
    "auto": ("pagerduty", "opsgenie"),
    "pagerduty": ("pagerduty",),
    "opsgenie": ("opsgenie",),
    "both": ("pagerduty", "opsgenie"),
}


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


def build_pager(settings: Settings, policy: RoutingPolicy | None = None) -> Pager | None:
    """The pagers MEDIC_PAGER and the policy's per-team ``pager`` ask for, behind one port; ``None`` when
    none has credentials (the console notifier pages). A team's pager without credentials falls back to
    MEDIC_PAGER's, with a warning (``medic check`` reports it): a page is never dropped for it."""
    wanted = _KINDS[settings.pager]
    named = {name: _KINDS[kind] for name, kind in (pager_routes(policy) if policy else {}).items()}
    needed = {*wanted, *(k for kinds in named.values() for k in kinds)}
    makers = {"pagerduty": _pagerduty, "opsgenie": _opsgenie}
    built: dict[str, Pager] = {k: p for k, make in makers.items() if k in needed and (p := make(settings))}
    for kind in wanted:
        if kind not in built and settings.pager != "auto":
            log.warning("MEDIC_PAGER=%s but %s has no credentials: it is not paged", settings.pager, kind)
    if not built:
        return None
    default = [k for k in wanted if k in built] or list(built)
    routes: dict[str, list[str]] = {}
    for name, kinds in named.items():
        missing = [k for k in kinds if k not in built]
        if missing:
            log.warning("routing key %s: pager %s has no credentials", name, ", ".join(missing))
        routes[name] = [k for k in kinds if k in built] or default
    used = {*default, *(k for kinds in routes.values() for k in kinds)}
    if len(used) == 1:
        return built[used.pop()]
    from activities.adapters.fanout import FanOutPager  # noqa: PLC0415

    return FanOutPager({k: built[k] for k in built if k in used}, routes=routes, default=default)
