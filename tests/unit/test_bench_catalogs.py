"""The cascade benchmark runs on copies of the shipped catalog: they must stay a catalog Medic loads
(a field added to the catalog that must be unique, e.g. workloads, once broke every run)."""

from pathlib import Path

import yaml

from bench.cascade_noise import copy_catalog
from medic.catalog import load_catalog

REPO = Path(__file__).resolve().parents[2]


def test_copies_of_the_shipped_catalog_load() -> None:
    raw = yaml.safe_load((REPO / "catalog.yaml").read_text())
    catalog = load_catalog(yaml.safe_dump(copy_catalog(raw, 3)), source="copies.yaml")
    assert len(catalog.services) == 3 * len(raw["services"])
    checkout = catalog.by_name["checkout-c2"]
    assert checkout.calls and all(c.endswith("-c2") for c in checkout.calls)
