"""What the program itself does about the tenant boundary, beyond validation: Kubernetes
providers never adopt existing objects, every namespace the platform uses is one no project may
take, and alarms never publish to another account's topic."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from pathlib import Path

import pulumi
import pytest

from mlrig import naming, tenancy
from mlrig.bundle.model import AlertRoute
from mlrig.plan.engine import StackPlan
from mlrig.project.alarms import own_account_topics

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def kubernetes_providers(plan: StackPlan) -> list[dict]:
    return [r["inputs"] for r in plan.resources if r["type"] == "pulumi:providers:kubernetes"]


@pytest.mark.parametrize("environment", ["dev", "prod"])
def test_kubernetes_providers_never_adopt_objects_that_already_exist(
    environment: str, platform_plan: Callable[[str], StackPlan], project_plan: Callable[[str, str], StackPlan]
):
    # F5: with upsert, a project named `kube-system` (or a NodePool named like another project's)
    # would take over the existing object instead of failing to create it.
    providers = kubernetes_providers(platform_plan(environment)) + kubernetes_providers(
        project_plan("fraud-detection", environment)
    )
    assert len(providers) >= 2
    assert all(p["upsertExistingObjects"] == "false" for p in providers), providers


def test_pulumi_kubernetes_is_at_least_the_release_whose_creates_fail_on_existing_objects():
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    (pin,) = [d for d in dependencies if d.startswith("pulumi-kubernetes")]
    lower = re.search(r">=([0-9]+)\.([0-9]+)", pin)
    assert lower and (int(lower[1]), int(lower[2])) >= (4, 29), pin


@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
def test_every_namespace_the_platform_creates_or_installs_into_is_reserved(
    environment: str, platform_plan: Callable[[str], StackPlan]
):
    # Reserved names come from naming.py, the platform code creates namespaces from the same
    # constants; this proves the plan has no namespace the list misses.
    used: set[str] = set()
    for resource in platform_plan(environment).resources:
        if not resource["type"].startswith("kubernetes:"):
            continue
        inputs = resource["inputs"]
        metadata = inputs.get("metadata") or {}
        if resource["type"] == "kubernetes:core/v1:Namespace":
            used.add(metadata["name"])
        used |= {n for n in (inputs.get("namespace"), metadata.get("namespace")) if isinstance(n, str)}
    assert used >= {"kube-system", "monitoring", "argo"}
    assert not [n for n in used if tenancy.reserved_namespace(n) is None], used


def route(kind: str, target: str) -> AlertRoute:
    return AlertRoute.model_validate({"type": kind, "target": target})


def test_alarms_publish_only_to_topics_of_the_stacks_own_account(monkeypatch: pytest.MonkeyPatch):
    warnings: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda message, *args, **kwargs: warnings.append(message))
    names = naming.ProjectNames("tiny", "prod", "123456789012", "eu-west-1", "cluster")
    own = "arn:aws:sns:eu-west-1:123456789012:ops"
    topics = own_account_topics(
        names,
        [route("sns", own), route("sns", "arn:aws:sns:eu-west-1:999999999999:exfil"), route("slack", "#ml")],
    )
    assert topics == [own]
    assert len(warnings) == 1 and "999999999999" in warnings[0]


def test_a_data_scientist_cannot_make_cert_manager_post_for_them(platform_plan: Callable[[str], StackPlan]):
    # cert-manager's chart aggregates Issuers into `edit` (upstream default `aggregateClusterRoles:
    # true`): an ACME Issuer in dev whose directory names `http://<prometheus>.monitoring:9090/-/quit`
    # as its newAccount URL made the controller POST there, past every project NetworkPolicy.
    (release,) = [
        r["inputs"]
        for r in platform_plan("dev").resources
        if r["type"] == "kubernetes:helm.sh/v3:Release" and r["inputs"]["name"] == "cert-manager"
    ]
    assert release["values"]["global"]["rbac"]["aggregateClusterRoles"] is False
