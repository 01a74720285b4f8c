"""The compute rules derive a view's workloads and pool offers once for all of them
(`rules.compute._derived`): judging views in any order gives each view exactly the findings it
gets judged alone, however the environments' pools, endpoints and add-ons differ."""

from __future__ import annotations

import itertools

from mlrig.bundle import rules
from mlrig.bundle.rules import compute

from .helpers import admitting, example, project_with, validate

COMPUTE_RULES = [compute.workloads_fit_pool_nodes, compute.pool_max_holds_workloads]


def views_of_differing_environments() -> list[rules.ProjectView]:
    """A project whose environments differ in pools, GPU sharing and workload sizes, with
    findings in some of them: its views, as validation builds them."""
    project = project_with(
        {
            "spec.pipelines.train.resources": {"cpu": "8", "memory": "32Gi", "gpu": 1},
            "spec.environments.prod": {"compute": {"pools": [{"name": "gpu-train", "max": 1}]}},
        }
    )
    built: list[rules.ProjectView] = []
    real_rules = list(rules.PROJECT_RULES)

    def keep(view: rules.ProjectView) -> list[rules.Finding]:
        built.append(view)
        return []

    rules.PROJECT_RULES[:] = [keep]
    try:
        validate(admitting(example("platform"), project), project)
    finally:
        rules.PROJECT_RULES[:] = real_rules
    assert len(built) == 3 and len({id(view.spec) for view in built}) == 3
    return built


def alone(rule: rules.ProjectRule, view: rules.ProjectView) -> list[rules.Finding]:
    compute._last_view = compute._ViewFacts()
    return list(rule(view))


def test_views_judged_in_any_order_get_the_findings_each_gets_alone():
    views = views_of_differing_environments()
    expected = {(rule, id(view)): alone(rule, view) for rule in COMPUTE_RULES for view in views}
    assert any(expected.values()) and not all(expected.values())  # the environments differ
    for order in itertools.permutations(views):
        for view, rule in itertools.product(order, COMPUTE_RULES):
            assert list(rule(view)) == expected[(rule, id(view))]
        for rule, view in itertools.product(COMPUTE_RULES, [*order, *reversed(order)]):
            assert list(rule(view)) == expected[(rule, id(view))]
