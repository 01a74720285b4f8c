"""mlrig's runtime for the SDK during a plan: the SDK's own bookkeeping, with the same answers,
in linear time and memory.

The program is the one `pulumi up` runs, and it registers the same resources, inputs,
dependencies and options under this runtime as under the SDK's stock one (the tests plan the
examples both ways and compare the plans byte for byte). What changes is how the SDK keeps its
books while the program runs:

- `rpc._add_dependency` (which resources a registration depends on, checked for cycles):
  `dependencies.DependencyGraph`, linear instead of quadratic in the number of dependencies;
- the resource constructor's call to `register_resource` (or `read_resource`, `get_resource`),
  which tells the dependency graph the order resources are made in: the SDK's own function runs
  unchanged right after;
- `rpc.contains_unknowns` (asked for every output the program reads): the same answer without
  the recursive closure the SDK builds per call, a reference cycle per call that only the cyclic
  collector frees, and the collector waits while a plan runs (`engine._gc_paused`);
- `resource._get_stack_trace` (the call stack of every registration, each frame with its source
  line read back, for the engine to show where a failing resource was declared): an empty trace.
  The registration request still carries the fields; no monitor a plan runs against reads them
  (`monitor.py`, the SDK's MockMonitor), and the deep stacks of components inside the command
  line made them about an eighth of a platform's plan.

`installed()` swaps them in for one program run and restores the SDK's own functions after.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pulumi.resource
from pulumi.output import Unknown
from pulumi.runtime import resource, rpc
from pulumi.runtime.proto import source_pb2

from .dependencies import DependencyGraph


def contains_unknowns(val: Any) -> bool:
    """`rpc.contains_unknowns`: whether `val` is, or holds in a dict or list, an unknown."""
    if type(val) is str:
        return False
    seen: set[int] = set()
    todo = [val]
    while todo:
        current = todo.pop()
        if isinstance(current, Unknown):
            return True
        identity = id(current)
        if identity in seen:
            continue
        seen.add(identity)
        if isinstance(current, dict):
            todo.extend([current[key] for key in current])
        elif isinstance(current, list):
            todo.extend(current)
    return False


def no_stack_trace() -> source_pb2.StackTrace:
    """`resource._get_stack_trace` for a plan: no frames, so no source position either."""
    return source_pb2.StackTrace()


# The functions `pulumi.Resource.__init__` ends with, one per way a resource comes to be; each
# takes the resource first.
CONSTRUCTORS = ("register_resource", "read_resource", "get_resource")


def announcing(graph: DependencyGraph, stock: Callable[..., Any]) -> Callable[..., Any]:
    """`stock`, telling `graph` first which resource was constructed."""

    @functools.wraps(stock)
    def constructed(res: Any, *args: Any, **kwargs: Any) -> Any:
        graph.constructed(res)
        return stock(res, *args, **kwargs)

    return constructed


@contextmanager
def installed() -> Iterator[DependencyGraph]:
    """Use mlrig's bookkeeping, with a fresh dependency graph, until the block ends."""
    graph = DependencyGraph()
    stock = (rpc._add_dependency, rpc.contains_unknowns, resource._get_stack_trace)
    constructors = {name: getattr(pulumi.resource, name) for name in CONSTRUCTORS}
    rpc._add_dependency = graph.add_dependency  # type: ignore[assignment]
    rpc.contains_unknowns = contains_unknowns
    resource._get_stack_trace = no_stack_trace
    for name, function in constructors.items():
        setattr(pulumi.resource, name, announcing(graph, function))
    try:
        yield graph
    finally:
        rpc._add_dependency, rpc.contains_unknowns, resource._get_stack_trace = stock
        for name, function in constructors.items():
            setattr(pulumi.resource, name, function)
