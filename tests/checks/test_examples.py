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
