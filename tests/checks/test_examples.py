"""The example bundles against the whole catalogue, through `mlrig plan`'s own graphs."""

from __future__ import annotations

import pytest

from mlrig.checks import run_checks
from mlrig.checks.runner import principal_owners, stack_graph

STACKS = [(None, env) for env in ("dev", "staging", "prod")] + [
    (project, env) for project in ("fraud-detection", "rag-assistant") for env in ("dev", "staging", "prod")
]


@pytest.fixture(scope="module")
def example_findings(example_result, example_planner):
    targets = [*example_result.platforms.values(), *example_result.projects.values()]
    owners = principal_owners(targets)
    found = {}
    for project, env in STACKS:
        target = example_result.projects[project] if project else next(iter(example_result.platforms.values()))
        found[target.environments[env].stack] = run_checks(stack_graph(target, env, example_planner, owners))
    return found


@pytest.mark.slow
def test_the_example_stacks_pass_every_check(example_findings):
    mandatory = {
        stack: sorted({f.check for f in found if f.enforcement == "mandatory"})
        for stack, found in example_findings.items()
    }
    assert all(not ids for ids in mandatory.values()), mandatory


@pytest.mark.slow
def test_every_role_the_examples_create_is_attributed_to_the_stack_that_creates_it(example_result, example_planner):
    """MLRIG-DEP-005 (and `mlrig policy-pack config`) learns which stack creates a role from the
    role name's prefix: every role mlrig derives must map back to the stack that creates it, or a
    policy naming another stack's role is taken for a pre-existing principal and never reported."""
    from mlrig.checks.principals import created_here, owner_of

    targets = [*example_result.platforms.values(), *example_result.projects.values()]
    owners = principal_owners(targets)
    misattributed = {}
    for project, env in STACKS:
        target = example_result.projects[project] if project else next(iter(example_result.platforms.values()))
        graph = stack_graph(target, env, example_planner, owners)
        for role in sorted(created_here(graph)):
            if owner_of(graph, role) != graph.stack:
                misattributed[role] = (owner_of(graph, role), graph.stack)
    assert misattributed == {}
