"""The policy pack: loadable by CrossGuard, and the same verdict as `mlrig plan` for every check."""

from __future__ import annotations

import runpy
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from pulumi_policy import StackValidationPolicy
from pulumi_policy.policy import PolicyProviderResource, PolicyResource, PolicyResourceOptions
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from mlrig.checks import load_all, run_check
from mlrig.checks.adapter import graph_from_policy_resources, plain
from mlrig.checks.graph import StackGraph


def policy_resources(records: list[dict[str, Any]]) -> list[PolicyResource]:
    """What CrossGuard hands a stack policy for these plan records: props behind its proxies."""
    providers = {
        r["urn"]: PolicyProviderResource(r["type"], unknown_checking_proxy(dict(r["inputs"])), r["urn"], r["name"])
        for r in records
        if r["type"].startswith("pulumi:providers:")
    }
    out = []
    for r in records:
        ignored = list(r["options"].get("ignoreChanges") or [])
        options = PolicyResourceOptions(r["options"].get("protect", False), ignored, False, [], None, [], None)  # type: ignore[arg-type]
        provider = providers.get(r["options"].get("provider") or "")
        out.append(
            PolicyResource(
                r["type"],
                unknown_checking_proxy(dict(r["inputs"])),
                r["urn"],
                r["name"],
                options,
                provider,
                None,
                [],
                {},
            )
        )
    # The engine's resolved dependencies (the SDK already expanded components into their
    # resources, as the plan records them).
    by_urn = {resource.urn: resource for resource in out}
    for resource, r in zip(out, records, strict=True):
        resource.dependencies = [by_urn[urn] for urn in r["options"].get("dependsOn") or [] if urn in by_urn]
    return out


def test_the_pack_ships_in_the_package_with_its_pulumi_policy_file():
    pack = resources.files("mlrig") / "policypack"
    assert (pack / "PulumiPolicy.yaml").is_file() and "runtime: python" in (pack / "PulumiPolicy.yaml").read_text()
    namespace = runpy.run_path(str(pack / "__main__.py"), run_name="not_main")
    policies = namespace["policies"]()
    assert all(isinstance(p, StackValidationPolicy) for p in policies)
    assert [p.name for p in policies] == [c.id.lower() for c in load_all()]


def test_unknown_values_of_a_preview_become_none():
    props = unknown_checking_proxy({"a": UNKNOWN_STRING_VALUE, "b": [{"c": UNKNOWN_STRING_VALUE, "d": 1}]})
    assert plain(props) == {"a": None, "b": [{"c": None, "d": 1}]}


@pytest.mark.slow
@pytest.mark.parametrize("stack", [("platform", "prod"), ("rag-assistant", "prod"), ("fraud-detection", "staging")])
def test_every_check_gives_the_same_verdict_through_the_pack_and_through_the_plan(stack, platform_plan, project_plan):
    project, env = stack
    plan = platform_plan(env) if project == "platform" else project_plan(project, env)
    # The pack sees one stack: compare with the plan's graph of that stack alone.
    records = [{**r, "outputs": r["inputs"]} for r in plan.resources]
    direct = StackGraph.of(plan.stack, records, tier=env)
    through_pack = graph_from_policy_resources(policy_resources(records))
    assert through_pack.stack == plan.stack and through_pack.tier == env
    for item in load_all():
        expected = sorted((f.urn, f.message) for f in run_check(item, direct))
        reported: list[tuple[str, str]] = []
        pack_policy = StackValidationPolicy(item.id.lower(), item.name, validate=_validator(item))
        pack_policy.validate(
            _Args(policy_resources(records)),
            lambda message, urn=None, reported=reported: reported.append((urn, message)),
        )
        assert sorted((urn, message.split("; fix: ")[0]) for urn, message in reported) == expected, item.id


class _Args:
    def __init__(self, resources: list[PolicyResource], config: dict | None = None):
        self.resources = resources
        self.config = config or {}

    def get_config(self) -> dict:
        return self.config


def test_the_pack_config_from_mlrig_lets_a_stack_see_which_stack_creates_a_principal(example_result):
    from mlrig.checks.adapter import policy_pack_config
    from mlrig.checks.runner import principal_owners

    from .helpers import policy, record

    dev_role = "arn:aws:iam::111111111111:role/rag-assistant--dev--data-scientist"  # as naming derives it
    statement = {
        "Sid": "CrossAccountList",
        "Effect": "Allow",
        "Principal": {"AWS": dev_role},
        "Action": "s3:ListBucket",
    }
    bucket_policy = record("aws:s3/bucketPolicy:BucketPolicy", "p", {"policy": policy([statement])})
    bucket_policy["urn"] = bucket_policy["urn"].replace("demo.prod", "rag-assistant.prod")
    item = next(c for c in load_all() if c.id == "MLRIG-DEP-005")
    config = policy_pack_config(principal_owners(list(example_result.projects.values())))["mlrig-dep-005"]
    verdicts = []
    for given in (None, config):
        reported: list[str] = []
        _validator(item)(
            _Args(policy_resources([bucket_policy]), given),
            lambda message, urn=None, reported=reported: reported.append(message),
        )
        verdicts.append(reported)
    assert verdicts[0] == []  # alone, the stack cannot tell who creates the dev role
    assert len(verdicts[1]) == 1 and "stack rag-assistant.dev creates" in verdicts[1][0]


def _validator(item):
    from mlrig.checks.adapter import policy_validator

    return policy_validator(item)


def test_mlrig_prints_where_the_pack_is():
    from click.testing import CliRunner

    from mlrig.cli import cli

    result = CliRunner().invoke(cli, ["policy-pack", "path"])
    assert result.exit_code == 0
    assert (Path(result.output.strip()) / "PulumiPolicy.yaml").is_file()
