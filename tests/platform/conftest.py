"""Fixtures of the platform tests: small Platform bundles for each isolation pattern, planned once
per session (owner environment first, so the other stacks' StackReferences resolve), and helpers
that read IAM documents and Kubernetes objects out of plans."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from mlrig import outputs
from mlrig.bundle.resolved import Platform
from mlrig.bundle.validate import validate_paths
from mlrig.plan.engine import StackPlan, plan_stack
from mlrig.platform.stack import deploy_platform, platform_dependencies

CLUSTER_ISOLATION = """
apiVersion: mlrig/v1
kind: Platform
metadata: {name: shared}
spec:
  isolation: cluster
  github: {organization: acme}
  environments:
    dev: {tier: dev, region: eu-west-1}
    staging: {tier: staging, region: eu-west-1}
    prod: {tier: prod, region: eu-west-1}
"""

NAMESPACE_ISOLATION = """
apiVersion: mlrig/v1
kind: Platform
metadata: {name: tenancy}
spec:
  isolation: namespace
  github: {organization: acme, repository: acme/platform-bundles}
  environments:
    dev: {tier: dev, region: us-west-2, account: "444444444444"}
    staging: {tier: staging, region: us-west-2, account: "444444444444"}
    prod: {tier: prod, region: us-west-2, account: "444444444444"}
"""

# Only the required fields, a single environment, no GitHub organisation, some add-ons off.
MINIMAL_NO_GITHUB = """
apiVersion: mlrig/v1
kind: Platform
metadata: {name: lean}
spec:
  cluster:
    version: "1.33"
    addons:
      kserve: {enabled: false}
      monitoring: {enabled: false}
      argoWorkflows: {enabled: false, version: "0.45.1"}
      externalSecrets: {version: "0.16.0"}
  environments:
    sandbox:
      tier: dev
      region: us-east-2
      network: {availabilityZones: 3, natGateways: per-az, flowLogs: true}
"""


def load_platform(tmp: Path, text: str) -> Platform:
    path = tmp / "platform.yaml"
    path.write_text(textwrap.dedent(text))
    result = validate_paths([path], with_context=False)
    assert result.valid, [d.message for d in result.diagnostics]
    return next(iter(result.platforms.values()))


def plan_all(platform: Platform) -> dict[str, StackPlan]:
    """Every environment's plan; dependencies (the shared owner) first."""
    plans: dict[str, StackPlan] = {}

    def plan(name: str) -> StackPlan:
        if name not in plans:
            env = platform.environments[name]
            references = {
                outputs.platform_stack_reference(platform.name, dep): plan(dep).outputs
                for dep in platform_dependencies(platform, env)
            }
            plans[name] = plan_stack(lambda: deploy_platform(platform, env), stack=env.stack, stack_outputs=references)
        return plans[name]

    for name in platform.environments:
        plan(name)
    return plans


@pytest.fixture(scope="session")
def custom_plans(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], dict[str, StackPlan]]:
    """`custom_plans(YAML)`: plans of every environment of a Platform bundle, cached per session."""
    cache: dict[str, dict[str, StackPlan]] = {}

    def plans(text: str) -> dict[str, StackPlan]:
        if text not in cache:
            cache[text] = plan_all(load_platform(tmp_path_factory.mktemp("platform"), text))
        return cache[text]

    return plans


@pytest.fixture(scope="session")
def cluster_plans(custom_plans: Callable[[str], dict[str, StackPlan]]) -> dict[str, StackPlan]:
    return custom_plans(CLUSTER_ISOLATION)


@pytest.fixture(scope="session")
def namespace_plans(custom_plans: Callable[[str], dict[str, StackPlan]]) -> dict[str, StackPlan]:
    return custom_plans(NAMESPACE_ISOLATION)


@pytest.fixture(scope="session")
def minimal_plan(custom_plans: Callable[[str], dict[str, StackPlan]]) -> StackPlan:
    return custom_plans(MINIMAL_NO_GITHUB)["sandbox"]


@pytest.fixture(scope="session")
def example_plans(platform_plan: Callable[[str], StackPlan], example_platform: Platform) -> dict[str, StackPlan]:
    return {name: platform_plan(name) for name in example_platform.environments}


@pytest.fixture(scope="session")
def every_plan(
    example_plans: dict[str, StackPlan],
    cluster_plans: dict[str, StackPlan],
    namespace_plans: dict[str, StackPlan],
    minimal_plan: StackPlan,
    static_plan: StackPlan,
) -> list[StackPlan]:
    return [*example_plans.values(), *cluster_plans.values(), *namespace_plans.values(), minimal_plan, static_plan]


# Karpenter off: the system node group is then the cluster's only capacity.
WITHOUT_KARPENTER = """
apiVersion: mlrig/v1
kind: Platform
metadata: {name: static}
spec:
  cluster:
    addons:
      karpenter: {enabled: false}
      nvidiaDevicePlugin: {enabled: false}
      dcgmExporter: {enabled: false}
  environments:
    dev: {tier: dev, region: eu-central-1}
"""


@pytest.fixture(scope="session")
def static_plan(custom_plans: Callable[[str], dict[str, StackPlan]]) -> StackPlan:
    return custom_plans(WITHOUT_KARPENTER)["dev"]
