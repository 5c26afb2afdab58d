"""What `medic check` says of a routing policy held against the secrets' names (the problems, as lines)."""

import yaml

from medic.catalog import load_catalog
from medic.routing import RoutingPolicy, load_routing
from medic.routing_secrets import SecretNames, secret_problems
from medic.yamldoc import ConfigError, ConfigProblem

__all__ = ["routing_problems"]


def routing_problems(policy: str, names: SecretNames, *, catalog: str) -> list[str]:
    known = load_catalog(catalog)

    def check(p: RoutingPolicy, root: yaml.Node | None) -> list[ConfigProblem]:
        return secret_problems(p, root, "routing.yaml", known, names)

    try:
        load_routing(policy, catalog=known, extra_check=check)
    except ConfigError as err:
        return [str(p) for p in err.problems]
    return []
