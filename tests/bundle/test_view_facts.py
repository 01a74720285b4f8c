"""The compute rules derive a view's workloads and pool offers once for all of them
(`rules.compute._derived`), and a pool's offers once for everything they depend on
(`rules.compute._offers_of`): judging views in any order gives each view exactly the findings it
gets judged alone, and each pool the offers derived from the pool itself, however the
environments' pools, endpoints and add-ons differ."""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

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


def offers_judged_pool_by_pool(view: rules.ProjectView, pool: Any) -> list[Any]:
    """A pool's offers as the rules derived them for each pool of each view, before they were
    shared by what they depend on."""
    for instance_type in pool.instance_types:
        facts = compute.facts_of(instance_type)
        if not compute.is_instance_type(instance_type) or facts is None or facts.architecture != pool.architecture:
            return []
        if (pool.gpu is None) != (facts.nvidia_gpus == 0) or (pool.gpu and facts.nvidia_gpus < pool.gpu.count):
            return []
    offers = []
    for instance_type in pool.instance_types:
        facts = compute.facts_of(instance_type)
        if facts is None:
            continue
        sharing = pool.sharing
        slices = compute.gpu_sharing.slices_per_gpu(sharing.mode, sharing.replicas, sharing.profile, facts)
        offer = compute._offer(view, facts, prepull=compute._prepulls(view, pool))
        offers.append((facts, offer.with_gpus(offer.gpus * slices)))
    return offers


def test_pools_that_differ_in_anything_their_offers_depend_on_get_their_own_offers():
    views = views_of_differing_environments()
    base = views[0]
    pools = list(base.spec.compute.pools)
    variants = []
    for pool in pools:
        variants += [
            pool,
            pool.model_copy(update={"architecture": "arm64"}),
            pool.model_copy(update={"instance_types": [*pool.instance_types, "m7g.large"]}),
            pool.model_copy(update={"instance_types": ["g5.12xlarge", "p4d.24xlarge"]}),
        ]
        if pool.gpu is not None:
            variants += [
                pool.model_copy(update={"gpu": pool.gpu.model_copy(update={"count": 4})}),
                pool.model_copy(update={"gpu": None}),
                pool.model_copy(update={"sharing": pool.sharing.model_copy(update={"mode": "none", "replicas": None})}),
                pool.model_copy(update={"sharing": pool.sharing.model_copy(update={"replicas": 8})}),
            ]
    cluster = base.platform.bundle.spec.cluster if base.platform else None
    assert cluster is not None
    addons = cluster.addons
    bare = addons.model_copy(
        update={name: getattr(addons, name).model_copy(update={"enabled": False}) for name in type(addons).model_fields}
    )
    platform_envs = [v.platform_environment for v in views if v.platform_environment is not None]
    bare_env = dataclasses.replace(
        platform_envs[0],
        spec=platform_envs[0].spec.model_copy(update={"cluster": cluster.model_copy(update={"addons": bare})}),
    )
    judged = [*views, dataclasses.replace(base, platform_environment=bare_env)]
    for view, pool in itertools.product(judged, variants):
        compute._last_view = compute._ViewFacts()
        assert list(compute._pool_offers(view, pool)) == offers_judged_pool_by_pool(view, pool), pool
