"""Where every Kubernetes adapter (remediations, the owner lookup, scan state) gets its connection:
one load order, one error."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from kubernetes import config as kube_config
from kubernetes.client import Configuration
from kubernetes.config.config_exception import ConfigException

from medic.ports import PermanentError

__all__ = ["kube_configuration"]

# Untyped in the client; bound here with the types they have.
_load_kube_config: Callable[..., None] = kube_config.load_kube_config
_load_incluster_config: Callable[..., None] = kube_config.load_incluster_config


def kube_configuration(kubeconfig: Path | None = None) -> Configuration:
    """``kubeconfig`` when given (MEDIC_KUBECONFIG); else the default kubeconfig (``$KUBECONFIG``,
    ``~/.kube/config``); else the in-cluster service account. :class:`PermanentError` when none works."""
    configuration = Configuration()
    if kubeconfig is not None:
        try:
            _load_kube_config(
                config_file=str(kubeconfig), client_configuration=configuration, persist_config=False
            )
        except (ConfigException, OSError) as err:
            raise PermanentError(f"cannot load kubeconfig {kubeconfig}: {err}") from err
        return configuration
    try:
        _load_kube_config(client_configuration=configuration, persist_config=False)
    except (ConfigException, OSError) as kube_err:
        try:
            _load_incluster_config(client_configuration=configuration)
        except (ConfigException, OSError) as cluster_err:
            where = os.environ.get("KUBECONFIG", "~/.kube/config")
            raise PermanentError(
                f"no Kubernetes configuration: kubeconfig ({where}): {kube_err}; in-cluster: {cluster_err}"
            ) from cluster_err
    return configuration
