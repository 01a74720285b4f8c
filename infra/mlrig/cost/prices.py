"""The price snapshot shipped in the package: `infra/mlrig/data/prices.json`.

The file names its snapshot date, its source (the AWS Price List API and the exact filters per
service) and its units. `mlrig cost refresh-prices` rewrites it (`refresh.py`). A price that is
not in the file is *unknown*: callers report it, never count it as zero.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

HOURS_PER_MONTH = 730  # AWS's own convention for monthly estimates (8760 / 12)
DEFAULT_SPOT_DISCOUNT = 0.65  # spot is typically 60–70 % below on-demand for the families mlrig uses


@dataclass(frozen=True)
class PriceBook:
    data: dict[str, Any]

    @property
    def snapshot(self) -> str:
        return str(self.data.get("snapshot", "unknown"))

    @property
    def currency(self) -> str:
        return str(self.data.get("currency", "USD"))

    def regions(self) -> list[str]:
        return sorted(self.data.get("regions", {}))

    def region(self, region: str) -> dict[str, Any] | None:
        found = self.data.get("regions", {}).get(region)
        return found if isinstance(found, dict) else None

    def hourly(self, region: str, table: str, key: str) -> float | None:
        """A per-hour (or per-unit) price from one of the region's tables, or None."""
        prices = self.region(region)
        if prices is None:
            return None
        value = prices.get(table, {}).get(key) if isinstance(prices.get(table), dict) else None
        return float(value) if isinstance(value, int | float) else None

    def unit(self, region: str, key: str) -> float | None:
        prices = self.region(region)
        value = prices.get(key) if prices else None
        return float(value) if isinstance(value, int | float) else None


def snapshot_path() -> Path:
    return Path(str(resources.files("mlrig") / "data" / "prices.json"))


@cache
def price_book(path: str | None = None) -> PriceBook:
    text = Path(path).read_text(encoding="utf-8") if path else snapshot_path().read_text(encoding="utf-8")
    return PriceBook(json.loads(text))
