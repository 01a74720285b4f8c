"""The SDK's dependency bookkeeping, with the same answers in linear time and memory.

For every dependency of every resource (an input carrying another resource's output, or an entry
of `depends_on`; a local component stands for itself and all of its descendants), the SDK
records an edge `resource → dependency`, after checking that the edge closes no cycle
(`pulumi.runtime.resource_cycle_breaker`, called from `rpc._add_dependency`). As shipped, each
edge costs a walk over everything the dependency transitively depends on and a copy of the
resource's whole set of dependencies, and each resource keeps its own set of every descendant
of every component it depends on. A stack whose Kubernetes objects each wait for an AWS side of
n resources thus costs O(n²) time and memory per object.

`DependencyGraph.add_dependency` replaces `rpc._add_dependency` with the same answers:

- the same edges: when a resource depends on a component, it depends on the component and each
  of its descendants. The descendants of a component are walked once and shared (an
  `Expansion`) by every resource that depends on the component, until the component grows;
- the same cycle check, decided by an order: the graph keeps every resource numbered so that
  each one comes after everything it depends on (construction order to start with: a program
  can only hand a resource outputs of resources made before it). A new edge `r → d` with `d`
  before `r` cannot close a cycle (`d` reaches only what comes before it), so it needs no
  search (so it is for every edge of the example and benchmark projects). An edge against the
  order is decided by a search confined to the resources numbered between the two ends, which
  then renumbers them so the order holds again (Pearce and Kelly's dynamic topological order).
  When an edge would close a cycle, the component's edges are declared one by one, in the SDK's
  order, and a cycle fails with the SDK's error;
- the same URNs, in the same order, awaited only while they are not known yet.

The graph lives for one program run (see `runtime.installed`).
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import os
from collections.abc import Iterable, Iterator
from typing import Any

from pulumi import ComponentResource, Resource
from pulumi.runtime import rpc

ERROR_ON_CYCLES = rpc.ERROR_ON_DEPENDENCY_CYCLES_VAR


class Expansion:
    """A local component and its descendants, breadth first as the SDK walks them."""

    __slots__ = ("awaitable", "dependents", "highest", "nodes", "resolving", "shape", "urns")

    def __init__(self, component: Any) -> None:
        nodes: list[Any] = []
        awaitable: list[Any] = []
        shape: list[tuple[Any, int]] = []
        pending: collections.deque[Any] = collections.deque([component])
        while pending:
            node = pending.popleft()
            nodes.append(node)
            if _is_local_component(node):
                children = node._childResources.copy()
                shape.append((node, len(children)))
                pending.extend(children)
            else:
                awaitable.append(node)
        self.nodes: tuple[Any, ...] = tuple(nodes)
        self.awaitable: tuple[Any, ...] = tuple(awaitable)
        self.shape: tuple[tuple[Any, int], ...] = tuple(shape)
        self.dependents: list[Any] = []  # resources that depend on every node
        # urn → resource once all are known: a dict, so that each dependent's `deps` is filled
        # by one `dict.update` (a copy of the table when `deps` is empty, as it mostly is)
        self.urns: dict[str, Any] | None = None
        self.resolving: asyncio.Future[None] | None = None  # while the first dependent awaits them
        self.highest: tuple[int, int] | None = None  # (renumbering, highest position of a node)

    def current(self) -> bool:
        """No component below has gained a child since the walk."""
        return all(len(component._childResources) == count for component, count in self.shape)


class DependencyGraph:
    """The dependency edges of one program run, who depends on whom, and an order that puts
    every resource after everything it depends on."""

    def __init__(self) -> None:
        self._depends_on: dict[Any, set[Any]] = {}  # single edges, forward
        self._depended_on_by: dict[Any, set[Any]] = {}  # single edges, backward
        self._expansions_of: dict[Any, list[Expansion]] = {}  # resource → expansions it depends on
        self._expansions_holding: dict[Any, list[Expansion]] = {}  # node → expansions it is in
        self._latest: dict[Any, Expansion] = {}  # component → its latest expansion
        self._urns: dict[Any, str] = {}
        self._admission = Admission()
        # The order: a resource's position is above the position of everything it depends on.
        # New resources are placed above everything (`constructed`), or, when first seen as a
        # dependency and so without edges, below everything.
        self._position: dict[Any, int] = {}
        self._above = itertools.count()
        self._below = itertools.count(-1, -1)
        self._renumberings = 0  # positions moved up so far: an expansion's highest may be stale

    # --- the graph --------------------------------------------------------------------------------

    def dependencies(self, resource: Any) -> Iterator[Any]:
        yield from self._depends_on.get(resource, ())
        for expansion in self._expansions_of.get(resource, ()):
            yield from expansion.nodes

    def dependents(self, resource: Any) -> Iterator[Any]:
        yield from self._depended_on_by.get(resource, ())
        for expansion in self._expansions_holding.get(resource, ()):
            yield from expansion.dependents

    def has_dependents(self, resource: Any) -> bool:
        return resource in self._depended_on_by or any(e.dependents for e in self._expansions_holding.get(resource, ()))

    def declare(self, from_resource: Any, to_resource: Any) -> bool:
        """`resource_cycle_breaker.declare_dependency`: record `from_resource → to_resource`
        unless `to_resource` already reaches `from_resource`; False when that edge was skipped."""
        if not self.order_before(to_resource, from_resource):
            return False
        self._depends_on.setdefault(from_resource, set()).add(to_resource)
        self._depended_on_by.setdefault(to_resource, set()).add(from_resource)
        return True

    # --- the order --------------------------------------------------------------------------------

    def constructed(self, resource: Any) -> None:
        """`resource` was just constructed: it goes above everything made before it."""
        if resource not in self._position:
            self._position[resource] = next(self._above)

    def position(self, resource: Any) -> int:
        return self._position[resource]

    def order_before(self, dependency: Any, resource: Any) -> bool:
        """Put `dependency` before `resource` in the order, unless `dependency` reaches
        `resource` (is it, or transitively depends on it): False then, the order untouched.

        The answer of a search for a path, without one in the common case: everything
        `dependency` reaches comes before it, so when it already comes before `resource` no
        path can lead to `resource`."""
        if dependency is resource:
            return False
        position = self._position
        if resource not in position:
            position[resource] = next(self._above)  # no edges yet: anywhere will do
        if dependency not in position:
            position[dependency] = next(self._below)
        if position[dependency] < position[resource]:
            return True
        if not self.has_dependents(resource):
            # nothing reaches `resource` but itself, and nothing above it depends on it
            position[resource] = next(self._above)
            self._renumberings += 1
            return True
        return self._reorder(dependency, resource)

    def _reorder(self, dependency: Any, resource: Any) -> bool:
        """Pearce and Kelly's insertion of an edge against the order: what `dependency` reaches
        among the resources placed after `resource` must move below what reaches `resource`
        among those placed before `dependency`. Only resources between the two are visited."""
        position = self._position
        low, high = position[resource], position[dependency]
        reached = {dependency}
        todo = [dependency]
        while todo:
            for node in self.dependencies(todo.pop()):
                if node is resource:
                    return False  # `dependency` reaches `resource`: the edge would close a cycle
                if position[node] > low and node not in reached:
                    reached.add(node)
                    todo.append(node)
        reaching = {resource}
        todo = [resource]
        while todo:
            for node in self.dependents(todo.pop()):
                if position[node] < high and node not in reaching:
                    reaching.add(node)
                    todo.append(node)
        moved = sorted(reached, key=position.__getitem__) + sorted(reaching, key=position.__getitem__)
        for node, slot in zip(moved, sorted(position[node] for node in moved), strict=True):
            position[node] = slot
        self._renumberings += 1
        return True

    def highest(self, expansion: Expansion) -> int:
        """The highest position of a node of `expansion`."""
        if expansion.highest is None or expansion.highest[0] != self._renumberings:
            position = self._position
            expansion.highest = (self._renumberings, max(position[node] for node in expansion.nodes))
        return expansion.highest[1]

    def expansion(self, component: Any) -> Expansion:
        latest = self._latest.get(component)
        if latest is not None and latest.current():
            return latest
        expansion = Expansion(component)
        self._latest[component] = expansion
        for node in expansion.nodes:
            self._expansions_holding.setdefault(node, []).append(expansion)
            if node not in self._position:
                self._position[node] = next(self._below)  # no edges yet: anywhere will do
        return expansion

    # --- the SDK's rpc._add_dependency -----------------------------------------------------------

    async def add_dependency(self, deps: dict[str, Any], res: Any, from_resource: Any) -> None:
        """Add `res` (a local component: it and each of its descendants) to `deps`, keyed by
        URN, declaring each edge from `from_resource` unless it would close a cycle."""
        if from_resource and isinstance(res, Resource) and _is_local_component(res):
            expansion = self.expansion(res)
            self.constructed(from_resource)
            if self._orders_before(expansion, from_resource):
                expansion.dependents.append(from_resource)
                self._expansions_of.setdefault(from_resource, []).append(expansion)
                await self._collect(deps, expansion)
                return
        await self._add_one_by_one(deps, res, from_resource)

    def _orders_before(self, expansion: Expansion, resource: Any) -> bool:
        """Put every node of `expansion` before `resource`; False when one of them reaches it.
        The edges all leave `resource`, so what reaches it is the same for each of them."""
        position = self._position
        if self.highest(expansion) < position[resource]:
            return True
        return all(position[node] < position[resource] or self.order_before(node, resource) for node in expansion.nodes)

    async def _add_one_by_one(self, deps: dict[str, Any], res: Any, from_resource: Any) -> None:
        """The SDK's walk, edge by edge (`rpc._add_dependency`), with `declare` for its check."""
        pending: collections.deque[Any] = collections.deque([res])
        awaitable: list[Any] = []
        while pending:
            res = pending.popleft()
            if not isinstance(res, Resource):
                raise TypeError(f"'depends_on' was passed a value {res} that was not a Resource.")
            if from_resource and not self.declare(from_resource, res):
                if os.getenv(ERROR_ON_CYCLES, "true").lower() != "true":
                    continue
                raise RuntimeError(
                    "We have detected a circular dependency involving a resource of type"
                    + f" {res._type} named {res._name}.\n"
                    + "Please review any `depends_on`, `parent` or other dependency relationships between your resources to ensure "
                    + "no cycles have been introduced in your program."
                )
            if _is_local_component(res):
                pending.extend(res._childResources.copy())
            else:
                awaitable.append(res)
        for urn, resource in await self._urns_of(awaitable):
            deps[urn] = resource

    async def _collect(self, deps: dict[str, Any], expansion: Expansion) -> None:
        """The URNs of an expansion: resolved once, by the first resource that needs them; the
        others wait for that (and get its error, as each would awaiting the same URN)."""
        if expansion.urns is None:
            if expansion.resolving is None:
                expansion.resolving = asyncio.get_running_loop().create_future()
                try:
                    expansion.urns = dict(await self._urns_of(expansion.awaitable))
                except BaseException as error:
                    _fail(expansion.resolving, error)
                    expansion.resolving = None
                    raise
                expansion.resolving.set_result(None)
            else:
                await asyncio.shield(expansion.resolving)
                await self._admission.turn()
        if expansion.urns:
            deps.update(expansion.urns)

    async def _urns_of(self, resources: Iterable[Any]) -> list[tuple[str, Any]]:
        """(urn, resource) for each resource whose URN is not empty, as `await res.urn.future()`
        gives it; known URNs are read, not awaited."""
        known = self._urns
        found: list[tuple[str, Any]] = []
        waited = False
        for resource in resources:
            urn = known.get(resource)
            if urn is None:
                urn = resolved_urn(resource)
                if urn is None:
                    urn = await resource.urn.future()
                    waited = True
                if isinstance(urn, str) and urn:
                    known[resource] = urn
            if urn:
                found.append((urn, resource))
        if waited:
            await self._admission.turn()
        return found


class Admission:
    """Wakes waiting registrations one per turn of the event loop.

    When the last resource of an AWS side registers, every Kubernetes object waiting for it
    wakes at once, and each builds its registration request (with every dependency's URN)
    before any of them is answered: a front as wide as the stack, each request as long as the
    stack. Let in one per turn, each is answered within a few turns, so only a few requests are
    alive at a time. Nothing waits on anything new: every waiter is let in, in order."""

    def __init__(self) -> None:
        self._waiting: collections.deque[asyncio.Future[None]] = collections.deque()

    def turn(self) -> asyncio.Future[None]:
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiting.append(waiter)
        if len(self._waiting) == 1:
            loop.call_soon(self._admit)
        return waiter

    def _admit(self) -> None:
        waiter = self._waiting.popleft()
        if not waiter.done():
            waiter.set_result(None)
        if self._waiting:
            asyncio.get_running_loop().call_soon(self._admit)


def _fail(future: asyncio.Future[None], error: BaseException) -> None:
    if isinstance(error, asyncio.CancelledError):
        future.cancel()
    elif isinstance(error, Exception):
        future.set_exception(error)
    else:
        future.cancel()


def _is_local_component(resource: Any) -> bool:
    return isinstance(resource, ComponentResource) and not resource._remote


def resolved_urn(resource: Any) -> str | None:
    """What `await resource.urn.future()` gives once the URN is known (a string never holds an
    unknown), without the round through a coroutine; None when it is not known yet."""
    data = getattr(resource.urn, "_data", None)
    if data is None or not data.done() or data.cancelled() or data.exception() is not None:
        return None
    urn = data.result().value
    return urn if type(urn) is str else None
