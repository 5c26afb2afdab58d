"""A small catalog for tests: frontend -> checkout -> payments -> orders-db, checkout -> orders-db,
and an unrelated search service."""

from functools import cache

from medic.catalog import Catalog, load_catalog
from medic.topology import ServiceContext, context_for

__all__ = ["SHOP_YAML", "ctx", "shop"]

SHOP_YAML = """
services:
  - name: frontend
    team: web
    tier: 2
    calls: [checkout]
    business: {revenue_per_minute: 100, users_per_minute: 2000, criticality: high}
  - name: checkout
    team: checkout
    tier: 1
    calls: [payments, orders-db]
    business: {revenue_per_minute: 1200, users_per_minute: 800, criticality: critical}
    routing: {slack_channel: "#checkout-oncall", pagerduty: checkout, jira_project: CHK}
  - name: payments
    team: payments
    tier: 1
    calls: [orders-db]
    aliases: [payment-service]
    business: {revenue_per_minute: 1200, criticality: critical}
  - name: orders-db
    team: data
    tier: 1
    business: {revenue_per_minute: 1200, criticality: critical}
    routing: {slack_channel: "#data-oncall", pagerduty: data, jira_project: DATA}
  - name: search
    team: catalog
    tier: 3
    business: {revenue_per_minute: 50, criticality: low}
"""


@cache
def shop() -> Catalog:
    return load_catalog(SHOP_YAML, source="shop.yaml")


def ctx(name: str) -> ServiceContext:
    return context_for(shop(), name)
