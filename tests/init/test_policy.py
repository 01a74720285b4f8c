"""The deployer-role policy mlrig writes lets `pulumi up` do everything the program does: every
AWS resource type and data source of every planned stack belongs to a service it grants."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlrig.bundle.validate import validate_paths
from mlrig.init import policy
from mlrig.plan import mocks
from mlrig.plan.runner import Planner

from .conftest import run_init


def granted() -> set[str]:
    actions = {a for s in policy.permissions_policy()["Statement"] for a in s["Action"]}
    return {a.split(":")[0] for a in actions if a.endswith(":*")} | {a for a in actions if not a.endswith(":*")}


def test_a_module_mlrig_does_not_know_is_an_error_not_a_silent_gap():
    with pytest.raises(KeyError):
        policy.service_of("aws:lambda/function:Function")


def test_services_map_to_their_iam_prefixes():
    assert policy.service_of("aws:cloudwatch/logGroup:LogGroup") == "logs"
    assert policy.service_of("aws:cloudwatch/eventRule:EventRule") == "events"
    assert policy.service_of("aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream") == "firehose"
    assert policy.service_of("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule") == "ec2"
    assert policy.service_of("aws:iam/getPolicyDocument:getPolicyDocument") is None


@pytest.mark.slow
def test_every_resource_and_data_source_of_every_planned_stack_is_granted(platform_repo: Path, monkeypatch):
    """The example bundles and every project template, in every environment."""
    for name, template in (("tab", "tabular"), ("gen", "llm"), ("cv", "vision")):
        result = run_init(
            "project", name, "--no-input", "--repository", f"acme/{name}", "--template", template, cwd=platform_repo
        )
        assert result.exit_code == 0, result.output
    invoked: set[str] = set()
    original = mocks.PlanMocks.call

    def recording(self, args):
        invoked.add(args.token)
        return original(self, args)

    monkeypatch.setattr(mocks.PlanMocks, "call", recording)
    result = validate_paths([platform_repo / "bundles"])
    planner = Planner()
    tokens: set[str] = set()
    for target in [*result.platforms.values(), *result.projects.values()]:
        for environment in target.environments:
            tokens |= {r["type"] for r in planner.plan(target, environment).resources}
    aws_tokens = {t for t in tokens | invoked if t.startswith("aws:")}
    assert len(aws_tokens) > 40
    services = {t: policy.service_of(t) for t in aws_tokens}
    missing = {t: s for t, s in services.items() if s is not None and s not in granted() and f"{s}:*" not in granted()}
    assert "sts" in {s for s in services.values()} and "sts:GetCallerIdentity" in granted()
    assert {t: s for t, s in missing.items() if s != "sts"} == {}


def test_the_policy_files_are_valid_iam_documents(platform_repo: Path):
    permissions = json.loads((platform_repo / policy.POLICY_FILE).read_text())
    assert permissions["Version"] == "2012-10-17"
    for statement in permissions["Statement"]:
        assert statement["Effect"] == "Allow" and statement["Resource"] == "*" and statement["Action"]
    assert len(json.dumps(permissions, separators=(",", ":"))) < 10_240, "fits an inline role policy"
