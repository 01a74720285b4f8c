"""Cluster add-ons are Helm releases with pinned chart versions, each switchable in the bundle."""

from __future__ import annotations

import json

from platform_helpers import helm_release, one

from mlrig.platform import versions

RELEASE = "kubernetes:helm.sh/v3:Release"
ALL_RELEASES = {
    "karpenter",
    "nvidia-device-plugin",
    "dcgm-exporter",
    "argo-workflows",
    "cert-manager",
    "kserve-crd",
    "kserve",
    "kube-prometheus-stack",
    "external-secrets",
    "metrics-server",
}


def test_every_add_on_of_the_example_is_installed_with_a_pinned_chart(example_plans):
    releases = example_plans["prod"].of_type(RELEASE)
    assert {r["inputs"]["name"] for r in releases} == ALL_RELEASES
    for release in releases:
        assert release["inputs"]["version"], release["name"]
    pins = {v.chart for v in vars(versions).values() if isinstance(v, versions.Chart)}
    assert {r["inputs"]["chart"] for r in releases} == pins


def test_switched_off_add_ons_are_not_installed_and_the_flags_say_so(minimal_plan):
    names = {r["inputs"]["name"] for r in minimal_plan.of_type(RELEASE)}
    assert names == ALL_RELEASES - {"kserve", "kserve-crd", "cert-manager", "kube-prometheus-stack", "argo-workflows"}
    flags = minimal_plan.outputs["addons"]
    assert flags["kserve"] is False and flags["monitoring"] is False and flags["argoWorkflows"] is False
    assert flags["karpenter"] is True
    assert minimal_plan.outputs["monitoringNamespace"] == ""


def test_a_bundle_version_overrides_the_pinned_chart(minimal_plan, example_plans):
    assert helm_release(minimal_plan, "external-secrets")["inputs"]["version"] == "0.16.0"
    assert (
        helm_release(example_plans["dev"], "external-secrets")["inputs"]["version"] == versions.EXTERNAL_SECRETS.version
    )


def test_kserve_is_installed_after_cert_manager_and_its_crds(example_plans):
    plan = example_plans["dev"]
    kserve = helm_release(plan, "kserve")
    assert helm_release(plan, "cert-manager")["urn"] in kserve["options"]["dependsOn"]
    assert helm_release(plan, "kserve-crd")["urn"] in kserve["options"]["dependsOn"]
    assert kserve["inputs"]["values"]["kserve"]["controller"]["deploymentMode"] == "RawDeployment"


def test_external_secrets_may_read_only_mlrig_secrets(example_plans):
    plan = example_plans["staging"]
    association = one(plan, "aws:eks/podIdentityAssociation:PodIdentityAssociation", "external-secrets")["inputs"]
    assert (association["namespace"], association["serviceAccount"]) == ("external-secrets", "external-secrets")
    policy = json.loads(one(plan, "aws:iam/rolePolicy:RolePolicy", "external-secrets")["inputs"]["policy"])
    (statement,) = policy["Statement"]
    assert "secretsmanager:GetSecretValue" in statement["Action"]
    assert statement["Resource"] == "arn:aws:secretsmanager:us-east-1:222222222222:secret:mlrig/*"


def test_add_ons_wait_for_nodes_to_run_on(example_plans):
    plan = example_plans["dev"]
    node_group = one(plan, "aws:eks/nodeGroup:NodeGroup")["urn"]
    for release in plan.of_type(RELEASE):
        assert node_group in release["options"]["dependsOn"], release["name"]


def test_grafana_never_runs_with_the_charts_default_admin_password(example_plans):
    plan = example_plans["dev"]
    secret = one(plan, "kubernetes:core/v1:Secret", "grafana-admin")["inputs"]
    assert (secret["metadata"]["namespace"], secret["metadata"]["name"]) == ("monitoring", "grafana-admin")
    password = one(plan, "random:index/randomPassword:RandomPassword", "grafana-admin")["inputs"]
    assert password["length"] >= 32
    grafana = helm_release(plan, "kube-prometheus-stack")["inputs"]["values"]["grafana"]
    assert grafana["admin"]["existingSecret"] == "grafana-admin"
