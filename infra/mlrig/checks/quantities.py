"""Kubernetes resource quantities ("500m", "8", "32Gi", "1G") as millicores and MiB."""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

_SUFFIX = {
    "": Decimal(1),
    "m": Decimal("0.001"),
    "k": Decimal(10**3),
    "M": Decimal(10**6),
    "G": Decimal(10**9),
    "T": Decimal(10**12),
    "P": Decimal(10**15),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(m|k|M|G|T|P|Ki|Mi|Gi|Ti|Pi)?$")


def parse(value: Any) -> Decimal | None:
    """The quantity in base units (cores, bytes); None when absent or not a quantity."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return Decimal(str(value))
    match = _QUANTITY.match(str(value).strip())
    if not match:
        return None
    try:
        return Decimal(match[1]) * _SUFFIX[match[2] or ""]
    except InvalidOperation:
        return None


def cpu_millis(value: Any) -> int | None:
    if isinstance(value, str):
        return _cpu_millis_of_text(value)
    amount = parse(value)
    return None if amount is None else math.ceil(amount * 1000)


def memory_mib(value: Any) -> int | None:
    if isinstance(value, str):
        return _memory_mib_of_text(value)
    amount = parse(value)
    return None if amount is None else math.ceil(amount / 2**20)


# Validation reads the same few quantities ("4", "16Gi") in every environment of every project.
@lru_cache(maxsize=1024)
def _cpu_millis_of_text(value: str) -> int | None:
    amount = parse(value)
    return None if amount is None else math.ceil(amount * 1000)


@lru_cache(maxsize=1024)
def _memory_mib_of_text(value: str) -> int | None:
    amount = parse(value)
    return None if amount is None else math.ceil(amount / 2**20)


def count(value: Any) -> int | None:
    amount = parse(value)
    return None if amount is None else math.ceil(amount)


def show_cpu(millis: int) -> str:
    return f"{millis / 1000:g}" if millis % 1000 == 0 else f"{millis}m"


def show_memory(mib: int) -> str:
    return f"{mib // 1024}Gi" if mib % 1024 == 0 else f"{mib}Mi"
