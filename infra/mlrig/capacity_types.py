"""The Karpenter NodePools a compute pool needs for its capacity types, in the order it uses them.

Within one NodePool Karpenter picks the capacity type itself: reserved offerings (the pool's
capacity reservations) first, then spot, then on-demand (only when no spot offering is left). A
pool whose order agrees with Karpenter's is one NodePool, and its `max` holds, for Karpenter's
limits hold per NodePool: `[spot, on-demand]` after the reservations is one NodePool of all three.
Only an order Karpenter would not follow, on-demand before spot, needs a second NodePool of lower
weight; each NodePool then holds the pool's limits, so that pool may launch twice its `max`, and
the platform's tenancy bounds and `mlrig preflight` count it so.
"""

from __future__ import annotations

from .bundle.model import ComputePool

RESERVED = "reserved"
# The order Karpenter launches capacity types in when one NodePool allows several.
KARPENTER_ORDER = (RESERVED, "spot", "on-demand")


def node_pool_capacity_types(pool: ComputePool) -> list[list[str]]:
    """Capacity types of each NodePool of the pool, in the order Karpenter tries the NodePools:
    without reservations one NodePool of `capacity`; with them `reserved` then `fallback`, in as
    few NodePools as keep that order."""
    if pool.reservations is None:
        return [[pool.capacity]]
    fallback = pool.reservations.fallback if pool.reservations.fallback is not None else [pool.capacity]
    groups: list[list[str]] = [[RESERVED]]
    for kind in fallback:
        if KARPENTER_ORDER.index(kind) > KARPENTER_ORDER.index(groups[-1][-1]):
            groups[-1].append(kind)  # Karpenter would try it after the others anyway
        else:
            groups.append([kind])  # it would try it before: a NodePool of lower weight
    return groups
