"""`mlrig cost refresh-prices`: rewrite the price snapshot from the AWS Price List API.

Needs network and AWS credentials that may call `pricing:GetProducts` (the API answers only in
us-east-1, ap-south-1 and eu-central-1; prices of every region come from there). For each table
of instance prices (`ec2`, `rds`, `opensearch`) it asks for exactly the filters the file records
under `source.filters`, and takes
the on-demand USD price of the first price dimension. The per-unit prices (EKS, NAT, IPv4,
endpoints, KMS, Secrets Manager, Firehose, storage) are kept: check them by hand. Keys the API does not answer are kept with
their old price and listed, so a refresh never silently drops a price.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator
from typing import Any

PRICING_REGION = "us-east-1"

# table → (service code, the attribute naming each key, fixed filters)
TABLES: dict[str, tuple[str, str, dict[str, str]]] = {
    "ec2": (
        "AmazonEC2",
        "instanceType",
        {
            "operatingSystem": "Linux",
            "tenancy": "Shared",
            "preInstalledSw": "NA",
            "capacitystatus": "Used",
            "licenseModel": "No License required",
        },
    ),
    "rds": ("AmazonRDS", "instanceType", {"databaseEngine": "PostgreSQL", "deploymentOption": "Single-AZ"}),
    "opensearch": ("AmazonES", "instanceType", {"productFamily": "Amazon OpenSearch Service Instance"}),
}


def _filters(region: str, fixed: dict[str, str], key_field: str, key: str) -> list[dict[str, str]]:
    terms = {"regionCode": region, **fixed, key_field: key}
    return [{"Type": "TERM_MATCH", "Field": field, "Value": value} for field, value in terms.items()]


def on_demand_usd(price_item: str) -> float | None:
    """The on-demand USD price per unit of one `PriceList` entry (a JSON string)."""
    item = json.loads(price_item)
    for term in (item.get("terms", {}).get("OnDemand") or {}).values():
        for dimension in (term.get("priceDimensions") or {}).values():
            usd = dimension.get("pricePerUnit", {}).get("USD")
            if usd is not None and float(usd) > 0:
                return float(usd)
    return None


def _price(client: Any, service: str, filters: list[dict[str, str]]) -> float | None:
    answer = client.get_products(ServiceCode=service, Filters=filters, FormatVersion="aws_v1", MaxResults=10)
    for item in answer.get("PriceList", []):
        price = on_demand_usd(item)
        if price is not None:
            return price
    return None


def refresh(data: dict[str, Any], client: Any, regions: list[str] | None = None) -> tuple[dict[str, Any], list[str]]:
    """A new snapshot (same keys) and the keys that kept their old price."""
    kept: list[str] = []
    fresh = json.loads(json.dumps(data))
    for region in regions or sorted(fresh.get("regions", {})):
        prices = fresh.setdefault("regions", {}).setdefault(region, {})
        for table, (service, key_field, fixed) in TABLES.items():
            for key in sorted(prices.get(table, {})):
                price = _price(client, service, _filters(region, fixed, key_field, key))
                if price is None:
                    kept.append(f"{table} {key} in {region}")
                else:
                    prices[table][key] = price
    fresh["snapshot"] = datetime.date.today().isoformat()
    return fresh, kept


def changes(old: dict[str, Any], new: dict[str, Any]) -> Iterator[str]:
    for region, prices in new.get("regions", {}).items():
        for table in TABLES:
            for key, price in prices.get(table, {}).items():
                before = old.get("regions", {}).get(region, {}).get(table, {}).get(key)
                if before != price:
                    yield f"{region} {table} {key}: {before} → {price}"
