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
    "keda",
    "kube-prometheus-stack",
    "external-secrets",
    "metrics-server",
    "kueue",
    "aws-efa-k8s-device-plugin",
    "aws-mountpoint-s3-csi-driver",
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
    assert names == ALL_RELEASES - {
        "kserve",
        "kserve-crd",
        "cert-manager",
        "keda",
        "kube-prometheus-stack",
        "argo-workflows",
    }
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


def test_external_secrets_reads_project_and_rds_managed_secrets_and_seeds_only_grafanas(example_plans):
    plan = example_plans["staging"]
    association = one(plan, "aws:eks/podIdentityAssociation:PodIdentityAssociation", "external-secrets")["inputs"]
    assert (association["namespace"], association["serviceAccount"]) == ("external-secrets", "external-secrets")
    policy = json.loads(one(plan, "aws:iam/rolePolicy:RolePolicy", "external-secrets")["inputs"]["policy"])
    statements = {s["Sid"]: s for s in policy["Statement"]}
    secrets = "arn:aws:secretsmanager:us-east-1:222222222222:secret:"
    assert statements["ReadMlrigSecrets"]["Resource"] == f"{secrets}mlrig/*"
    assert statements["ReadDatabaseMasterSecrets"]["Resource"] == f"{secrets}rds!db-*"
    for sid in ("ReadMlrigSecrets", "ReadDatabaseMasterSecrets"):
        assert not any(a.startswith(("secretsmanager:Put", "secretsmanager:Create")) for a in statements[sid]["Action"])
    assert statements["SeedPlatformSecrets"]["Resource"] == [
        f"{secrets}mlrig-platform/acme-ml/staging/grafana-admin-??????"
    ]
    decrypt = statements["DecryptThroughSecretsManager"]
    assert decrypt["Condition"] == {"StringEquals": {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"}}


def test_only_the_platforms_own_namespaces_may_use_the_cluster_secret_store(example_plans):
    store = one(example_plans["dev"], "kubernetes:external-secrets.io/v1:ClusterSecretStore")["inputs"]
    assert store["spec"]["conditions"] == [{"namespaces": ["monitoring"]}]


def test_add_ons_wait_for_nodes_to_run_on(example_plans):
    plan = example_plans["dev"]
    node_group = one(plan, "aws:eks/nodeGroup:NodeGroup")["urn"]
    for release in plan.of_type(RELEASE):
        assert node_group in release["options"]["dependsOn"], release["name"]


def test_grafanas_admin_password_is_generated_in_cluster_kept_in_secrets_manager_and_never_in_state(example_plans):
    plan = example_plans["dev"]
    assert plan.of_type("random:index/randomPassword:RandomPassword") == []
    assert [s for s in plan.of_type("kubernetes:core/v1:Secret") if "grafana" in s["name"]] == []
    remote = "mlrig-platform/acme-ml/dev/grafana-admin"
    generator = one(plan, "kubernetes:generators.external-secrets.io/v1alpha1:Password", "grafana-admin")["inputs"]
    assert generator["spec"]["length"] >= 32
    seed = one(plan, "kubernetes:external-secrets.io/v1alpha1:PushSecret", "grafana-admin")["inputs"]["spec"]
    assert seed["updatePolicy"] == "IfNotExists" and seed["deletionPolicy"] == "None"
    assert seed["selector"]["generatorRef"]["name"] == generator["metadata"]["name"]
    assert seed["data"][0]["match"]["remoteRef"]["remoteKey"] == remote
    synced = one(plan, "kubernetes:external-secrets.io/v1:ExternalSecret", "grafana-admin")
    assert synced["inputs"]["spec"]["data"][0]["remoteRef"]["key"] == remote
    assert synced["inputs"]["spec"]["target"]["name"] == "grafana-admin"
    release = helm_release(plan, "kube-prometheus-stack")
    assert release["inputs"]["values"]["grafana"]["admin"]["existingSecret"] == "grafana-admin"
    assert synced["urn"] in release["options"]["dependsOn"]


def test_without_external_secrets_grafana_keeps_the_chart_generated_password(custom_plans):
    plan = custom_plans(WITHOUT_EXTERNAL_SECRETS)["dev"]
    assert plan.of_type("random:index/randomPassword:RandomPassword") == []
    values = helm_release(plan, "kube-prometheus-stack")["inputs"]["values"]
    assert "grafana" not in values  # kube-prometheus-stack 79 sets no adminPassword: the chart generates one


WITHOUT_EXTERNAL_SECRETS = """
apiVersion: mlrig/v1
kind: Platform
metadata: {name: plain}
spec:
  cluster:
    addons:
      externalSecrets: {enabled: false}
  environments:
    dev: {tier: dev, region: eu-west-1}
"""


def test_each_alertmanager_config_receives_only_its_own_namespaces_alerts(example_plans):
    values = helm_release(example_plans["prod"], "kube-prometheus-stack")["inputs"]["values"]
    assert values["alertmanager"]["alertmanagerSpec"]["alertmanagerConfigMatcherStrategy"] == {"type": "OnNamespace"}


def test_argo_serves_its_metrics_and_prometheus_scrapes_them(example_plans, minimal_plan):
    plan = example_plans["dev"]
    argo = helm_release(plan, "argo-workflows")
    controller = argo["inputs"]["values"]["controller"]
    assert controller["metricsConfig"]["enabled"] is True
    assert controller["serviceMonitor"]["enabled"] is True
    # The ServiceMonitor is a CRD of the Prometheus operator: installed first.
    assert helm_release(plan, "kube-prometheus-stack")["urn"] in argo["options"]["dependsOn"]


def test_endpoints_scale_on_concurrency_through_keda_installed_with_kserve(example_plans):
    plan = example_plans["dev"]
    kserve = helm_release(plan, "kserve")
    assert helm_release(plan, "keda")["urn"] in kserve["options"]["dependsOn"]
    assert helm_release(plan, "keda")["inputs"]["version"] == versions.KEDA.version


def test_hook_jobs_and_controllers_that_run_before_karpenter_nodes_tolerate_the_system_nodes(example_plans):
    plan = example_plans["dev"]
    system = [{"key": "CriticalAddonsOnly", "operator": "Exists", "effect": "NoSchedule"}]
    kps = helm_release(plan, "kube-prometheus-stack")["inputs"]["values"]
    assert kps["prometheusOperator"]["admissionWebhooks"]["patch"]["tolerations"] == system
    assert helm_release(plan, "cert-manager")["inputs"]["values"]["startupapicheck"]["tolerations"] == system
    assert helm_release(plan, "kserve")["inputs"]["values"]["kserve"]["controller"]["tolerations"] == system


def test_add_ons_wait_for_the_default_node_pool_karpenter_provisions_their_pods_from(example_plans):
    plan = example_plans["dev"]
    (general,) = [
        r for r in plan.of_type("kubernetes:karpenter.sh/v1:NodePool") if r["inputs"]["metadata"]["name"] == "general"
    ]
    for release in plan.of_type(RELEASE):
        if release["inputs"]["name"] != "karpenter":
            assert general["urn"] in release["options"]["dependsOn"], release["name"]


def test_releases_and_objects_wait_for_the_namespace_they_go_into(example_plans):
    plan = example_plans["dev"]
    namespaces = {n["inputs"]["metadata"]["name"]: n["urn"] for n in plan.of_type("kubernetes:core/v1:Namespace")}
    for release in plan.of_type(RELEASE):
        namespace = release["inputs"]["namespace"]
        if namespace in namespaces:
            assert namespaces[namespace] in release["options"]["dependsOn"], release["name"]
    grafana = one(plan, "kubernetes:external-secrets.io/v1:ExternalSecret", "grafana-admin")
    assert namespaces["monitoring"] in grafana["options"]["dependsOn"]


# --- Kueue and Mountpoint for S3 -------------------------------------------------------------------


def kueue_configuration(plan) -> dict:
    import yaml

    values = helm_release(plan, "kueue")["inputs"]["values"]
    return yaml.safe_load(values["managerConfig"]["controllerManagerConfigYaml"])


def test_kueue_manages_pods_of_opted_in_project_namespaces_only(example_plans):
    config = kueue_configuration(example_plans["prod"])
    assert config["apiVersion"] == "config.kueue.x-k8s.io/v1beta2"
    # the chart gives its webhooks the same selector: kube-system and the add-ons never wait for Kueue
    assert config["managedJobsNamespaceSelector"] == {"matchLabels": {"mlrig.io/kueue": "enabled"}}
    assert config["manageJobsWithoutQueueName"] is False
    # Argo steps are plain pods; Deployments (serving) are never queued
    assert config["integrations"]["frameworks"] == ["pod"]


def test_kueue_evicts_a_job_whose_pods_do_not_all_start_and_ignores_efa(example_plans):
    config = kueue_configuration(example_plans["prod"])
    assert config["waitForPodsReady"]["timeout"] == "20m"
    assert config["resources"]["excludeResourcePrefixes"] == ["vpc.amazonaws.com/efa"]


def test_team_priorities_never_order_another_teams_borrowing(example_plans):
    values = helm_release(example_plans["prod"], "kueue")["inputs"]["values"]
    assert {"name": "PrioritySortingWithinCohort", "enabled": False} in values["controllerManager"]["featureGates"]


def test_the_platform_counts_whole_gpus_in_one_flavor_per_cluster(example_plans, namespace_plans):
    for plans in (example_plans, namespace_plans):
        flavors = [
            r for plan in plans.values() for r in plan.of_type("kubernetes:kueue.x-k8s.io/v1beta2:ResourceFlavor")
        ]
        assert flavors and all(f["inputs"]["spec"] == {"nodeLabels": {"mlrig.io/gpu-sharing": "none"}} for f in flavors)
    # namespace isolation: one cluster, one flavor, created by the stack that owns the cluster
    assert (
        sum(len(p.of_type("kubernetes:kueue.x-k8s.io/v1beta2:ResourceFlavor")) for p in namespace_plans.values()) == 1
    )


def test_mountpoint_for_s3_runs_on_every_node_and_holds_no_credentials_of_its_own(example_plans):
    values = helm_release(example_plans["prod"], "aws-mountpoint-s3-csi-driver")["inputs"]["values"]
    assert values["node"]["tolerateAllTaints"] is True
    assert "serviceAccount" not in values["node"]  # no driver-level role: volumes use pod identities
