"""Reading the configuration files (catalog; later routing policy and runbooks) from disk.

Parsing and validation are pure (``medic``); this module only finds and reads the files.
"""

import logging
from collections.abc import Collection, Mapping
from pathlib import Path

import yaml

from medic.catalog import Catalog, load_catalog
from medic.routing import RoutingPolicy, load_routing
from medic.routing_secrets import PAGER_SETTINGS, SecretNames, secret_problems, teams_channels_used
from medic.runbook import Runbook, load_runbook
from medic.scan import ScanSpec, load_anomaly_config
from medic.yamldoc import ConfigError, ConfigProblem
from service.chats import CHAT_KINDS
from service.settings import Settings

__all__ = [
    "check_all",
    "load_anomaly_file",
    "load_catalog_file",
    "load_routing_file",
    "load_runbooks",
    "secret_names",
]

log = logging.getLogger(__name__)


def load_catalog_file(path: Path, *, named_by: str | None = None) -> Catalog:
    """The catalog at ``path``; an empty one (with a warning) when it does not exist, unless ``named_by``
    (the setting or option that named it on purpose, said in the ConfigError)."""
    if (problem := _file_problem(path, named_by, setting="MEDIC_CATALOG")) is not None:
        raise ConfigError([problem])
    if not path.exists():
        log.warning("no service catalog at %s: correlation falls back to Alertmanager groups", path)
        return Catalog()
    catalog = load_catalog(path.read_text(), source=str(path))
    if not catalog.services:  # an empty file is a mistake, not "no catalog": say so rather than run blind
        raise ConfigError(
            [ConfigProblem(str(path), 1, "services", "the catalog lists no services (is the file empty?)")]
        )
    return catalog


def _file_problem(path: Path, named_by: str | None, *, setting: str) -> ConfigProblem | None:
    """What keeps ``path`` from being read as a file: a directory (an empty setting reads as ``.``, the
    current directory: said as set but empty), or, when ``named_by`` (the setting or option that named
    it on purpose), missing. None when it is a file, or missing where its default stands in."""
    if path.is_file():
        return None
    if path.is_dir():
        if named_by is not None and str(path) == ".":
            said = f"{named_by} is set but empty (unset it for its default, or name a file)"
        else:
            said = f"is a directory ({named_by or setting})"
        return ConfigProblem(str(path), 1, "", said)
    if named_by is not None:
        return ConfigProblem(str(path), 1, "", f"file not found ({named_by})")
    return None


def load_routing_file(
    path: Path,
    catalog: Catalog | None = None,
    *,
    named_by: str | None = None,
    key_names: Collection[str] | None = None,
    secrets: SecretNames | None = None,
    strict: bool = False,
) -> RoutingPolicy:
    """The routing policy at ``path``; the built-in default (with a warning) when it does not exist,
    unless ``named_by`` (the setting or option that named it on purpose, said in the ConfigError).
    With ``key_names`` (the secrets' routing-key names) every ``page:`` entry is checked too; with
    ``secrets`` the pagers and Teams channels it names are checked against the configured ones.

    Problems that are only warnings are logged and the policy is used, as ``medic check`` (the chart's
    init container) passes it; ``strict`` (``medic check``) raises them too, to be said. Before, a
    warning alone (a heartbeat's service outside the catalog) stopped the worker and the API at start."""
    if (problem := _file_problem(path, named_by, setting="MEDIC_ROUTING")) is not None:
        raise ConfigError([problem])
    if not path.exists():
        log.warning("no routing policy at %s: using the default (team channels; P1/P2 page)", path)
        return RoutingPolicy.default()
    source = str(path)
    extra = (lambda p, root: secret_problems(p, root, source, catalog, secrets)) if secrets else None
    text = path.read_text()
    try:
        return load_routing(text, source=source, catalog=catalog, key_names=key_names, extra_check=extra)
    except ConfigError as err:
        if strict or not all(p.warning for p in err.problems):
            raise
        for problem in err.problems:
            log.warning("%s", problem)
        return load_routing(text, source=source)  # (the warnings are the cross-checks': it parses)


def secret_names(settings: Settings) -> SecretNames:
    """The names (never the values) of the pager keys and Teams webhooks the settings configure, and the
    chat kinds the worker posts to."""
    defaults = [
        kind
        for kind, key in (
            ("pagerduty", settings.pagerduty_routing_key),
            ("opsgenie", settings.opsgenie_api_key),
        )
        if key is not None
    ]
    keys = {"pagerduty": list(settings.pagerduty_routing_keys), "opsgenie": list(settings.opsgenie_api_keys)}
    wanted = {"auto": ("pagerduty", "opsgenie"), "both": ("pagerduty", "opsgenie")}.get(
        settings.pager, (settings.pager,)
    )
    return SecretNames(
        pager_keys=keys,
        pager_defaults=defaults,
        default_pagers=[k for k in wanted if k in defaults or keys.get(k)],
        teams_webhooks=list(settings.teams_webhooks),
        chat_kinds=CHAT_KINDS,
    )


def load_runbooks(folder: Path) -> list[Runbook]:
    """Every ``*.yaml`` runbook in the folder; all problems of all files in one ConfigError. An empty
    MEDIC_RUNBOOKS_DIR reads as the current folder (``.``): said as set but empty, where its catalog
    and routing policy were read as runbooks (`catalog.yaml:7: name: Field required`)."""
    if str(folder) == ".":
        said = "MEDIC_RUNBOOKS_DIR is set but empty (unset it for its default, or name a folder)"
        raise ConfigError([ConfigProblem(".", 1, "", said)])
    if not folder.is_dir():
        log.warning("no runbooks folder at %s: no remediations", folder)
        return []
    runbooks: list[Runbook] = []
    problems: list[ConfigProblem] = []
    names: dict[str, Path] = {}
    for path in sorted(folder.glob("*.y*ml")):
        try:
            runbook = load_runbook(path.read_text(), source=str(path))
        except ConfigError as err:
            problems += err.problems
            continue
        if runbook.name in names:
            problems.append(
                ConfigProblem(
                    str(path), 1, "name", f"runbook {runbook.name!r} is also in {names[runbook.name]}"
                )
            )
            continue
        names[runbook.name] = path
        runbooks.append(runbook)
    if problems:
        raise ConfigError(problems)
    return runbooks


def load_anomaly_file(
    path: Path,
    *,
    named_by: str | None = None,
    catalog: Catalog | None = None,
    queries: bool = False,
    near_misses: bool = False,
) -> dict[str, ScanSpec]:
    """The anomaly scans at ``path`` by name; none when the file does not exist, unless ``named_by``
    (the setting or option that named it on purpose): then a missing file is a ConfigError naming it
    (a typo'd ``MEDIC_ANOMALY`` read as "no scans" and the worker deleted every scan's schedule).
    With the ``catalog`` (``medic check``), a scan's ``service:`` it does not know is a problem too;
    with ``queries``, a query whose brackets or quotes do not balance; with ``near_misses``, a missing
    default file with a misnamed one beside it (``anomaly_near_miss``) is a ConfigError."""
    if (problem := _file_problem(path, named_by, setting="MEDIC_ANOMALY")) is not None:
        raise ConfigError([problem])
    if not path.is_file():
        if near_misses and (near := anomaly_near_miss(path)) is not None:
            raise ConfigError([ConfigProblem(str(near), 1, "", _near_miss_said(path, near))])
        return {}
    config = load_anomaly_config(path.read_text(), source=str(path), catalog=catalog, queries=queries)
    return {scan.name: scan for scan in config.scans}


# What a misnamed anomaly file is called: these stems, with these suffixes, in any case (a backup,
# anomaly.yaml.bak, or another file, anomaly-rules.yaml, is none: an owner review)
_NEAR_STEMS = ("anomaly", "anomalies", "anomaly_scans", "anomaly-scans")
_NEAR_SUFFIXES = ("", ".yaml", ".yml", ".json")


def anomaly_near_miss(path: Path) -> Path | None:
    """Where the anomaly file is missing, a file beside it named as it might be by mistake
    (``anomaly.yml``, ``Anomaly.yaml``, ``anomalies.yaml``): a ConfigMap of one's own (the chart's
    ``config.existingConfigMap``) with its key misnamed mounts it so, and the scans were read as
    none, said nowhere (a field review)."""
    if path.exists() or not path.parent.is_dir():
        return None
    try:
        names = sorted(p.name for p in path.parent.iterdir() if p.is_file())
    except OSError:
        return None
    for name in names:
        stem, suffix = Path(name).stem.lower(), Path(name).suffix.lower()
        if suffix not in _NEAR_SUFFIXES:  # ("anomaly" alone: no suffix at all)
            stem, suffix = name.lower(), ""
        if (
            stem in _NEAR_STEMS
            and suffix in _NEAR_SUFFIXES
            and name != path.name
            and _has_scans(path.parent / name)
        ):
            return path.parent / name
    return None


def _has_scans(path: Path) -> bool:
    """Whether the file reads as anomaly scans (a mapping with ``scans``): an ``anomalies.json`` kept
    there for another purpose (an API answer saved) is no misnamed scans file (an owner review)."""
    try:
        with path.open(encoding="utf-8", errors="replace") as file:
            data = yaml.safe_load(file.read(1_000_000))  # (the head of a large file: read no more)
    except (OSError, yaml.YAMLError):
        return False
    return isinstance(data, dict) and "scans" in data


def _near_miss_said(path: Path, near: Path) -> str:
    return (
        f"there is no {path.name} here, but there is {near.name}: the anomaly scans are read from"
        f" {path.name} only (name the key {path.name} in your ConfigMap, or set MEDIC_ANOMALY); as it"
        " is, the workers leave the scans' schedules as they are, and their runs fail"
    )


# The settings that name files, by field: a path one of them names on purpose must be there.
_PATH_SETTINGS = {
    "catalog": "MEDIC_CATALOG",
    "routing": "MEDIC_ROUTING",
    "runbooks_dir": "MEDIC_RUNBOOKS_DIR",
    "anomaly": "MEDIC_ANOMALY",
}


def named_paths(settings: Settings, options: Mapping[str, str] | None = None) -> dict[str, str]:
    """The configuration paths set on purpose, by field, with what set them: their setting (in the
    settings' ``model_fields_set``: the environment, .env, or a keyword) or one of ``options`` (by
    field, ``{"catalog": "--catalog"}``)."""
    return {
        field: (options or {}).get(field, setting)
        for field, setting in _PATH_SETTINGS.items()
        if getattr(settings, field) is not None
        and (field in settings.model_fields_set or field in (options or {}))
    }


def missing_on_purpose(settings: Settings) -> list[ConfigProblem]:
    """The routing policy and anomaly file when set on purpose (MEDIC_ROUTING, MEDIC_ANOMALY) and not
    readable (not there, a directory): what the API and worker refuse to start on. A typo in
    MEDIC_ROUTING ran with the built-in routing (every team's alerts to its channel, P1/P2 paged by
    the default rule), one in MEDIC_ANOMALY with no scans, a warning in the log the only word of it.
    The catalog and runbooks folder stay warnings at run time (errors in `medic check`): the chart
    names them whether it mounts them or not, for Medic runs without either."""
    named = named_paths(settings)
    files = {"routing": settings.routing_file, "anomaly": settings.anomaly_file}
    return [
        problem
        for field, path in files.items()
        if field in named and (problem := _file_problem(path, named[field], setting=named[field])) is not None
    ]


def _open_access(policy: RoutingPolicy, settings: Settings) -> list[ConfigProblem]:
    """A warning when Slack commands are on (its signing secret set) and remediations may act, while
    nobody is named for approving or the kill switch: left out, a command is open to the whole workspace
    (medic/access.py), so anyone there could approve a rollback or turn the kill switch."""
    if settings.slack_signing_secret is None or settings.remediation_mode == "dry-run":
        return []
    access = policy.access
    opened = [
        verb
        for verb, who in (
            ("approve", access.approve or policy.approvers or None),
            ("kill_switch", access.kill_switch),
        )
        if who is None
    ]
    if not opened:
        return []
    said = (
        f"access: {', '.join(opened)} left out, so open to everyone in the Slack workspace while "
        f"MEDIC_REMEDIATION_MODE is {settings.remediation_mode}: name who may (docs/slack.md, access)"
    )
    return [ConfigProblem(str(settings.routing_file), 1, "access", said, warning=True)]


def check_all(
    settings: Settings, *, options: Mapping[str, str] | None = None
) -> tuple[list[str], list[ConfigProblem]]:
    """Validate every configuration file; returns what was checked and every problem found.

    A path set on purpose (its setting among the settings' ``model_fields_set``: the environment,
    .env, or a keyword; or, by field, one of ``options``: ``{"catalog": "--catalog"}``) that is not
    there is an error naming what set it: a typo is not "use the default". A default path missing is
    what the runtime makes of it: no catalog and no runbooks folder are warnings (correlation falls
    back to Alertmanager groups; no remediations), no routing file the built-in default, no anomaly
    file no scans."""
    checked: list[str] = []
    problems: list[ConfigProblem] = []
    named = named_paths(settings, options)
    catalog: Catalog | None = None
    try:
        if "catalog" not in named and not settings.catalog.exists():
            catalog = Catalog()  # as the runtime runs: the routing policy is checked against no services
            said = "no service catalog: correlation falls back to Alertmanager groups (MEDIC_CATALOG)"
            problems.append(ConfigProblem(str(settings.catalog), 1, "", said, warning=True))
        else:
            catalog = load_catalog_file(settings.catalog, named_by=named.get("catalog"))
            checked.append(f"{settings.catalog}: {len(catalog.services)} services")
    except ConfigError as err:
        problems += err.problems
    try:
        secrets = secret_names(settings)
        try:
            policy = load_routing_file(
                settings.routing_file,
                catalog,
                named_by=named.get("routing"),
                key_names=list(settings.pagerduty_routing_keys),
                secrets=secrets,
                strict=True,
            )
        except ConfigError as err:
            if not all(p.warning for p in err.problems):
                raise
            problems += err.problems  # said (once); the worker runs it all the same
            policy = load_routing(settings.routing_file.read_text(), source=str(settings.routing_file))
        _warn_unchecked(policy, catalog, secrets)
        problems += _open_access(policy, settings)
        source = settings.routing_file if settings.routing_file.exists() else "built-in default"
        checked.append(
            f"{source}: {len(policy.rules)} routing rules, {len(policy.escalations)} escalation chains"
        )
    except ConfigError as err:
        problems += err.problems
    folder = settings.runbooks_dir
    if folder.is_dir():  # (an empty setting, the current folder, is said set but empty by load_runbooks)
        try:
            checked.append(f"{folder}: {len(load_runbooks(folder))} runbooks")
        except ConfigError as err:
            problems += err.problems
    elif "runbooks_dir" in named:
        said = "not a folder" if folder.exists() else "not found"
        problems.append(ConfigProblem(str(folder), 1, "", f"{said} ({named['runbooks_dir']})"))
    else:
        said = "no runbooks folder: no remediations (MEDIC_RUNBOOKS_DIR)"
        problems.append(ConfigProblem(str(folder), 1, "", said, warning=True))
    try:
        named_by = named.get("anomaly")
        scans = load_anomaly_file(settings.anomaly_file, named_by=named_by, catalog=catalog, queries=True)
        if settings.anomaly_file.exists():
            checked.append(f"{settings.anomaly_file}: {len(scans)} anomaly scans")
        elif (near := anomaly_near_miss(settings.anomaly_file)) is not None:
            said = _near_miss_said(settings.anomaly_file, near)
            problems.append(ConfigProblem(str(near), 1, "", said, warning=True))
    except ConfigError as err:
        problems += err.problems
        if all(p.warning for p in err.problems):  # the scans load, as the worker loads them: say so
            scans = load_anomaly_file(settings.anomaly_file, named_by=named_by)
            checked.append(f"{settings.anomaly_file}: {len(scans)} anomaly scans")
    return checked, problems


def _warn_unchecked(policy: RoutingPolicy, catalog: Catalog | None, secrets: SecretNames) -> None:
    """What could not be checked because its setting is empty here (the console notifier stands in)."""
    used = teams_channels_used(policy, catalog)
    if used and not secrets.teams_webhooks:
        log.warning(
            "MEDIC_TEAMS_WEBHOOKS is empty: Teams channels %s are not checked (the console notifier posts)",
            ", ".join(sorted(used)),
        )
    named = any(o.pager for o in policy.teams.values())
    if named and not any(secrets.pager_configured(kind) for kind in PAGER_SETTINGS):
        log.warning("no pager credentials: the pagers named in teams: are not checked (the console pages)")
