"""Render the Helm chart offline, like ``helm template``, with Helm's own engine.

Helm's Go SDK comes as a library in the ``helm-python-sdk`` wheel (``pip install -e '.[dev]'``), so
no ``helm`` binary is needed:

    python deploy/helm/render.py [-f VALUES.yaml]... [--set-file KEY=PATH]... [--name N] [--namespace NS]
    python deploy/helm/render.py --manifests [--check]

``--manifests`` writes the plain manifests in deploy/kubernetes/ (medic.yaml, rbac.yaml) from the
chart and deploy/helm/plain-manifests.values.yaml; with ``--check`` it only says whether they are up to date
(exit 1 when not). `make manifests` runs it.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
CHART = HERE / "medic"
MANIFESTS = HERE.parent / "kubernetes"
MANIFEST_VALUES = HERE / "plain-manifests.values.yaml"
RBAC_KINDS = frozenset({"Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"})
# Helm's install order (pkg/release/util/kind_sorter.go), so the output reads like `helm template`.
INSTALL_ORDER = [
    "PriorityClass",
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
]
_SEPARATOR = re.compile(r"^---\s*$", re.MULTILINE)


def render(
    values: dict[str, Any] | None = None, *, name: str = "medic", namespace: str = "medic"
) -> list[tuple[str, str, dict[str, Any]]]:
    """Every object the chart renders: (template, its YAML text, the parsed object), in install order.
    NOTES.txt is left out; schema validation of ``values`` happens here as in `helm template`."""
    import helm_python  # noqa: PLC0415 - a clear message below when missing

    with helm_python.Chart.load(CHART) as chart:
        rendered = chart.render(values or {}, name=name, namespace=namespace, is_install=True)
    docs: list[tuple[str, str, dict[str, Any]]] = []
    for template, text in sorted(rendered.items()):
        if template.endswith("NOTES.txt"):
            continue
        for chunk in _SEPARATOR.split(text):
            obj = yaml.safe_load(chunk)
            if obj:
                docs.append((template, chunk.strip("\n"), obj))

    def order(doc: tuple[str, str, dict[str, Any]]) -> tuple[int, str, str]:
        kind = doc[2]["kind"]
        rank = INSTALL_ORDER.index(kind) if kind in INSTALL_ORDER else len(INSTALL_ORDER)
        return rank, kind, doc[2]["metadata"]["name"]

    return sorted(docs, key=order)


def stream(docs: list[tuple[str, str, dict[str, Any]]]) -> str:
    return "".join(f"---\n# Source: {template}\n{text}\n" for template, text, _ in docs)


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge(base[key], value)
        else:
            base[key] = value
    return base


def set_path(values: dict[str, Any], dotted: str, value: Any) -> None:
    """``a.b\\.c`` -> values["a"]["b.c"], like Helm's --set-file keys."""
    keys = [k.replace("\\.", ".") for k in re.split(r"(?<!\\)\.", dotted)]
    for key in keys[:-1]:
        values = values.setdefault(key, {})
    values[keys[-1]] = value


def manifests() -> dict[Path, str]:
    """deploy/kubernetes/*.yaml as the chart renders them with plain-manifests.values.yaml."""
    values = yaml.safe_load(MANIFEST_VALUES.read_text()) or {}
    namespace = "medic"
    docs = render(values, name="medic", namespace=namespace)
    header = (
        "# Rendered from the Helm chart deploy/helm/medic with deploy/helm/plain-manifests.values.yaml\n"
        "# by `make manifests` (deploy/helm/render.py): do not edit, change the chart or the values.\n"
    )
    namespace_doc = (
        "templates (plain manifests only)",
        f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {namespace}",
        {},
    )
    # a `helm test` pod is Helm's to run on request, not an object to apply
    docs = [
        d
        for d in docs
        if "test" not in str((d[2]["metadata"].get("annotations") or {}).get("helm.sh/hook", ""))
    ]
    main = [namespace_doc] + [d for d in docs if d[2]["kind"] not in RBAC_KINDS]
    rbac = [d for d in docs if d[2]["kind"] in RBAC_KINDS]
    return {
        MANIFESTS / "medic.yaml": header + stream(main),
        MANIFESTS / "rbac.yaml": header + stream(rbac),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-f", "--values", action="append", default=[], type=Path, help="a values file")
    parser.add_argument(
        "--set-file", action="append", default=[], metavar="KEY=PATH", help="a value from a file"
    )
    parser.add_argument("--name", default="medic", help="release name")
    parser.add_argument("--namespace", default="medic")
    parser.add_argument("--manifests", action="store_true", help="write deploy/kubernetes/ from the chart")
    parser.add_argument(
        "--check", action="store_true", help="with --manifests: only compare, exit 1 on a change"
    )
    args = parser.parse_args(argv)
    try:
        import helm_python  # noqa: F401, PLC0415
    except ImportError:
        print("helm-python-sdk is not installed: pip install -e '.[dev]' (or `make test`)", file=sys.stderr)
        return 2
    if args.manifests:
        stale = []
        for path, text in manifests().items():
            if path.exists() and path.read_text() == text:
                continue
            stale.append(path)
            if not args.check:
                path.write_text(text)
                print(f"wrote {path}")
        if args.check and stale:
            print(f"out of date, run `make manifests`: {', '.join(map(str, stale))}", file=sys.stderr)
            return 1
        return 0
    values: dict[str, Any] = {}
    for file in args.values:
        merge(values, yaml.safe_load(file.read_text()) or {})
    for item in args.set_file:
        key, _, path = item.partition("=")
        set_path(values, key, Path(path).read_text())
    sys.stdout.write(stream(render(values, name=args.name, namespace=args.namespace)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
