"""The dependency graph decides the SDK's cycle check from an order, searching only when an edge
goes against it.

`DependencyGraph.declare` must answer exactly as the SDK's `resource_cycle_breaker` does (skip an
edge that closes a cycle, record every other), and after every edge the order must still put
each resource above everything it depends on: that order is what lets an edge along it skip the
search. The random programs of `test_runtime.py` compare whole plans with the SDK's; the ones
here also wait for resources made after them, so their edges go against construction order.
"""

from __future__ import annotations

import asyncio
from contextlib import nullcontext

import pulumi
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pulumi.runtime import resource_cycle_breaker

from mlrig.plan import runtime
from mlrig.plan.dependencies import DependencyGraph
from mlrig.plan.engine import plan_stack

from .test_runtime import CYCLE_ERROR, STALLED_ERROR, outcome


class Node:
    """A stand-in for a resource: the SDK's cycle breaker keeps its edges as an attribute."""

    def __init__(self, index: int) -> None:
        self.index = index

    def __repr__(self) -> str:
        return f"n{self.index}"


def follows_the_order(graph: DependencyGraph, nodes: list[Node]) -> bool:
    return all(
        graph.position(dependency) < graph.position(node) for node in nodes for dependency in graph.dependencies(node)
    )


edges = st.lists(st.tuples(st.integers(0, 11), st.integers(0, 11)), max_size=60)


@settings(max_examples=300, deadline=None)
@given(constructed=st.permutations(range(12)).flatmap(lambda p: st.lists(st.sampled_from(p), unique=True)), edges=edges)
def test_declaring_edges_answers_as_the_sdks_cycle_breaker_and_keeps_the_order(constructed, edges):
    """Some resources are announced (in any order: a later one may be depended on first),
    others are first seen in an edge; edges go along the order and against it, cycles
    included."""
    ours, theirs = [Node(i) for i in range(12)], [Node(i) for i in range(12)]
    graph = DependencyGraph()
    for index in constructed:
        graph.constructed(ours[index])
    for source, target in edges:
        expected = resource_cycle_breaker.declare_dependency(theirs[source], theirs[target])
        assert graph.declare(ours[source], ours[target]) is expected, (source, target)
        assert follows_the_order(graph, ours)
    for node, their in zip(ours, theirs, strict=True):
        assert {d.index for d in graph.dependencies(node)} == {d.index for d in resource_cycle_breaker._deps(their)}


def test_an_edge_against_the_order_that_closes_a_cycle_is_refused_and_changes_nothing():
    first, second, third = Node(0), Node(1), Node(2)
    graph = DependencyGraph()
    for node in (first, second, third):
        graph.constructed(node)
    assert graph.declare(second, first) and graph.declare(third, second)
    before = [graph.position(n) for n in (first, second, third)]
    assert not graph.declare(first, third)  # third → second → first: a cycle
    assert [graph.position(n) for n in (first, second, third)] == before
    assert list(graph.dependencies(first)) == []


def test_an_edge_against_the_order_moves_only_what_it_must():
    """`late` was made after `early` but `early` depends on it: `late` and what it depends on
    move below `early` and what depends on it."""
    base, early, top, late = Node(0), Node(1), Node(2), Node(3)
    graph = DependencyGraph()
    for node in (base, early, top, late):
        graph.constructed(node)
    assert graph.declare(top, early) and graph.declare(late, base)
    assert graph.declare(early, late)
    assert graph.position(base) < graph.position(late) < graph.position(early) < graph.position(top)


# --- whole programs whose edges go against construction order ------------------------------------


@st.composite
def programs_waiting_for_later_resources(draw: st.DrawFn) -> list[tuple[bool, int | None, tuple[int, ...]]]:
    """(component, parent, depends_on) per resource, where depends_on may name any resource,
    made before or after: the program hands it over as an output resolved once all are made."""
    size = draw(st.integers(2, 9))
    specs: list[tuple[bool, int | None, tuple[int, ...]]] = []
    for index in range(size):
        components = [i for i, (component, _, _) in enumerate(specs) if component]
        specs.append(
            (
                draw(st.booleans()),
                draw(st.sampled_from([None, *components])),
                tuple(draw(st.sets(st.integers(0, size - 1).filter(lambda i, index=index: i != index), max_size=3))),
            )
        )
    return specs


def program_waiting_for(specs: list[tuple[bool, int | None, tuple[int, ...]]]):
    def program() -> None:
        loop = asyncio.get_event_loop()
        later: list[asyncio.Future[pulumi.Resource]] = [loop.create_future() for _ in specs]
        made: list[pulumi.Resource] = []
        for index, (component, parent, depends_on) in enumerate(specs):
            opts = pulumi.ResourceOptions(
                parent=made[parent] if parent is not None else None,
                depends_on=[pulumi.Output.from_input(later[i]) for i in depends_on],
            )
            if component:
                made.append(pulumi.ComponentResource("test:index:Group", f"r{index}", None, opts))
            else:
                made.append(pulumi.CustomResource("test:index:Thing", f"r{index}", {}, opts))
        for future, resource in zip(later, made, strict=True):
            future.set_result(resource)
        for resource in made:
            if isinstance(resource, pulumi.ComponentResource):
                resource.register_outputs({})

    return program


@pytest.mark.slow
@settings(max_examples=60, deadline=None)
@given(programs_waiting_for_later_resources())
def test_programs_that_wait_for_later_resources_get_the_sdks_dependencies_and_cycle_errors(specs):
    ours = outcome(program_waiting_for(specs))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runtime, "installed", nullcontext)
        stock = outcome(program_waiting_for(specs))
    if STALLED_ERROR in (ours, stock):
        assert {ours, stock} <= {CYCLE_ERROR, STALLED_ERROR}, (ours, stock)
    else:
        assert ours == stock


def test_a_resource_that_waits_for_one_made_after_it_gets_the_sdks_cycle_error_on_a_cycle():
    """`first` waits for `second`, made after it, and `second` depends on `first`: a cycle
    against construction order, found by the search."""

    def program() -> None:
        loop = asyncio.get_event_loop()
        later: asyncio.Future[pulumi.Resource] = loop.create_future()
        first = pulumi.CustomResource(
            "test:index:Thing", "first", {}, pulumi.ResourceOptions(depends_on=[pulumi.Output.from_input(later)])
        )
        second = pulumi.CustomResource("test:index:Thing", "second", {}, pulumi.ResourceOptions(depends_on=[first]))
        later.set_result(second)

    assert outcome(program) in (CYCLE_ERROR, STALLED_ERROR)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runtime, "installed", nullcontext)
        assert outcome(program) in (CYCLE_ERROR, STALLED_ERROR)


@pytest.mark.slow
@pytest.mark.parametrize("project", ["fraud-detection", "rag-assistant"])
def test_every_edge_of_the_example_projects_follows_construction_order_so_none_is_searched(
    example_result, platform_plan, project, monkeypatch
):
    def searched(graph, dependency, resource):
        raise AssertionError(f"searched for a cycle: {resource._name} → {dependency._name}")

    monkeypatch.setattr(DependencyGraph, "_reorder", searched)
    target = example_result.projects[project]
    from mlrig.outputs import platform_stack_reference
    from mlrig.plan.runner import stack_config
    from mlrig.program import stack_program

    plan = plan_stack(
        stack_program(target, "dev"),
        stack=target.environments["dev"].stack,
        config=stack_config(target, "dev"),
        stack_outputs={platform_stack_reference(target.platform.name, "dev"): platform_plan("dev").outputs},
    )
    assert plan.resources
