"""CI previews run as the read-only preview role: with MLRIG_ASSUME_DEPLOYMENT_ROLE=false the
program assumes no deployment role, neither for AWS nor for Kubernetes."""

from __future__ import annotations

import json

import pytest
from platform_helpers import as_json, one

from mlrig.plan.engine import plan_stack
from mlrig.platform.stack import deploy_platform
from mlrig.settings import DeploySettings


@pytest.fixture(scope="module")
def preview_plan(example_platform):
    env = example_platform.environments["prod"]
    return plan_stack(
        lambda: deploy_platform(example_platform, env, DeploySettings(assume_deployment_role=False)), stack=env.stack
    )


def kubeconfig_args(plan):
    kubeconfig = json.loads(one(plan, "pulumi:providers:kubernetes")["inputs"]["kubeconfig"])
    return kubeconfig["users"][0]["user"]["exec"]["args"]


def test_a_preview_assumes_no_deployment_role(preview_plan, example_plans):
    provider = one(preview_plan, "pulumi:providers:aws")["inputs"]
    assert "assumeRoles" not in provider
    assert as_json(provider["allowedAccountIds"]) == ["333333333333"], "still only the environment's account"
    assert "--role-arn" not in kubeconfig_args(preview_plan)
    # the apply of the same stack does assume it, for AWS and for kubectl
    args = kubeconfig_args(example_plans["prod"])
    assert args[args.index("--role-arn") + 1] == "arn:aws:iam::333333333333:role/mlrig-deployer"


def test_a_preview_plans_the_same_resources_as_an_apply(preview_plan, example_plans):
    assert sorted(r["urn"] for r in preview_plan.resources) == sorted(r["urn"] for r in example_plans["prod"].resources)


@pytest.mark.parametrize(
    ("value", "assume"), [(None, True), ("true", True), ("false", False), ("FALSE", False), ("0", False)]
)
def test_the_switch_is_read_from_mlrig_assume_deployment_role(value, assume):
    environ = {} if value is None else {"MLRIG_ASSUME_DEPLOYMENT_ROLE": value}
    assert DeploySettings.read(environ, None).assume_deployment_role is assume
