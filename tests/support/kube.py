"""A kubeconfig pointing at the Kubernetes API double, so the real worker finds "its cluster" the way
it would in production (MEDIC_KUBECONFIG)."""

from pathlib import Path

import yaml
from kubernetes.client import Configuration

from activities.adapters.kubernetes import KubernetesCluster

__all__ = ["adapter", "write_kubeconfig"]


def write_kubeconfig(path: Path, server: str) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "double", "cluster": {"server": server}}],
        "users": [{"name": "medic", "user": {"token": "test-token"}}],
        "contexts": [
            {"name": "double", "context": {"cluster": "double", "user": "medic", "namespace": "shop"}}
        ],
        "current-context": "double",
    }
    path.write_text(yaml.safe_dump(config))
    return path


def adapter(url: str) -> KubernetesCluster:
    """Medic's real Kubernetes adapter against the double at ``url`` (short timeouts: loopback)."""
    configuration = Configuration()
    configuration.host = url
    return KubernetesCluster(configuration, timeout=2.0, connect_timeout=1.0)
