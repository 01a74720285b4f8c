"""rules/tenancy.py: a project stays within the bounds its platform sets (mlrig.tenancy), and every
error names both files: the project field and the platform bound it breaks."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from ..helpers import (
    admitting,
    example,
    explain,
    minimal_platform,
    minimal_project,
    only,
    platform_with,
    project_with,
    set_path,
    validate,
)

EVIL_ROOT = "arn:aws:iam::999999999999:root"


def admitted(project: dict[str, Any], platform: dict[str, Any] | None = None, **changes: Any) -> Any:
    """Validate `project` beside a platform (the example one by default) that admits it as it
    asks, with `changes` (dotted paths) applied to the platform afterwards."""
    platform = admitting(platform or example("platform"), project)
    for path, value in changes.items():
        set_path(platform, path, value)
    return validate(platform, project)


def errors_of(result: Any, rule: str) -> list[Any]:
    return [d for d in result.diagnostics if d.rule == rule]


# --- repository ----------------------------------------------------------------------------------


def test_a_repository_in_another_organisation_is_rejected_even_when_admitted_by_mistake():
    # F1: `repository: attacker-org/evil` made the prod CI deployer trust the attacker's repository.
    project = project_with({"metadata.name": "evil", "spec.repository": "attacker-org/evil"})
    error = only(admitted(project), "repository_within_tenancy")
    assert error.path == "spec.repository"
    assert "'attacker-org' is not one of the platform's GitHub organisations (acme)" in error.message
    assert "acme-ml.yaml:" in error.message and "spec.tenancy.githubOrganizations" in error.message


@pytest.mark.parametrize(
    ("repository", "expected"),
    [
        ("acme/ml-platform", "the platform's own repository"),
        ("ACME/ML-Platform", "the platform's own repository"),
        ("acme/.github", "organisation-wide .github repository"),
    ],
)
def test_the_platform_repository_and_the_org_github_repository_are_never_a_projects(repository: str, expected: str):
    project = project_with({"metadata.name": "evil", "spec.repository": repository})
    error = only(admitted(project), "repository_within_tenancy")
    assert expected in error.message


def test_without_any_github_organisation_the_admission_alone_pins_the_repository():
    project = minimal_project(repository="elsewhere/churn")
    assert admitted(project, minimal_platform()).valid


def test_a_repository_in_an_allowed_organisation_is_fine():
    project = project_with({"metadata.name": "churn", "spec.repository": "acme/churn"})
    result = admitted(project)
    assert result.valid, explain(result)


def test_two_projects_with_one_repository_are_both_told_about_the_other():
    other = project_with({"metadata.name": "copycat", "spec.repository": "ACME/Fraud-Detection"})
    result = validate(admitting(example("platform"), other), example("fraud"), other)
    found = {d.file: d for d in errors_of(result, "repositories_unique")}
    assert set(found) == {"fraud-detection.yaml", "copycat.yaml"}
    assert "copycat.yaml:" in found["fraud-detection.yaml"].message
    assert "fraud-detection.yaml:" in found["copycat.yaml"].message


def test_a_repository_spelt_in_another_case_than_its_admission_is_refused_before_ci_cannot_assume_its_role():
    """GitHub sees one repository; IAM compares the OIDC sub case-sensitively, so the CI role
    (trusting the project's spelling) fails for one of the two spellings."""
    fraud = example("fraud")
    fraud["spec"]["repository"] = "acme/Fraud-Detection"
    error = only(validate(example("platform"), fraud), "repository_spelt_as_admitted")
    assert error.path == "spec.repository"
    assert "admitted as 'acme/fraud-detection' (acme-ml.yaml:" in error.message
    assert "case-sensitively" in error.message and "exactly as GitHub names it" in error.message


def test_an_owner_spelt_in_another_case_than_the_platforms_organisation_is_refused():
    project = project_with({"metadata.name": "churn", "spec.repository": "Acme/churn"})
    error = only(admitted(project), "repository_spelt_as_admitted")
    assert "its owner is the platform's GitHub organisation 'acme'" in error.message


def test_projects_with_their_own_repositories_are_fine():
    assert validate(example("platform"), example("fraud"), example("rag")).valid


TIERS = {tier: {"tier": tier, "region": "us-east-1"} for tier in ("dev", "staging", "prod")}


def second_organisation(**ci: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """A platform of organisation `acme` that also admits repositories of `acme-labs`, and a
    project there."""
    project = minimal_project(repository="acme-labs/churn", ci=ci)
    platform = admitting(minimal_platform(github={"organization": "acme"}, environments=TIERS), project)
    platform["spec"]["tenancy"]["githubOrganizations"] = ["acme", "acme-labs"]
    return platform, project


def test_a_managed_repository_of_another_admitted_organisation_is_refused_before_its_staging_stack_fails():
    """mlrig's GitHub provider acts in the platform's organisation: the staging and prod stacks of
    a project whose repository lives in a second admitted organisation failed to plan."""
    platform, project = second_organisation()
    error = only(validate(platform, project), "managed_repository_in_platform_organization")
    assert error.path == "spec.repository"
    assert "'acme-labs/churn' belongs to another one" in error.message
    assert "spec.github.organization" in error.message and "`spec.ci.manageRepository: false`" in error.message


def test_a_repository_of_another_admitted_organisation_the_team_manages_itself_is_fine():
    platform, project = second_organisation(manageRepository=False)
    result = validate(platform, project)
    assert result.valid, explain(result)


def test_a_prod_approver_team_of_another_organisation_is_refused_before_the_prod_stack_fails():
    """GitHub takes only teams of the repository's organisation as an environment's reviewers."""
    project = minimal_project(repository="acme/churn")
    platform = admitting(minimal_platform(github={"organization": "acme"}, environments=TIERS), project)
    platform["spec"]["tenancy"]["projects"]["churn"]["prodApprovers"] = ["@acme/leads", "@acme-labs/leads"]
    error = only(validate(platform, project), "prod_approver_teams_in_platform_organization")
    assert error.path == "spec.ci.prodApprovers"
    assert "@acme-labs/leads are not teams of the platform's GitHub organisation 'acme'" in error.message
    assert "spec.tenancy.projects.churn.prodApprovers" in error.message
    platform["spec"]["tenancy"]["projects"]["churn"]["prodApprovers"] = ["@acme/leads", "@alice"]
    result = validate(platform, project)
    assert result.valid, explain(result)


# --- admission -----------------------------------------------------------------------------------


def test_a_project_the_platform_never_admitted_gets_the_exact_line_to_add():
    result = validate(example("platform"), project_with({"metadata.name": "churn", "spec.repository": "acme/churn"}))
    error = only(result, "project_admitted")
    assert error.path == "metadata.name" and "acme-ml.yaml:" in error.message
    snippet = error.message.split(" with: ", 1)[1]
    platform = example("platform")
    platform["spec"]["tenancy"]["projects"].update(yaml.safe_load(snippet))
    assert validate(platform, project_with({"metadata.name": "churn", "spec.repository": "acme/churn"})).valid


def test_a_project_whose_repository_differs_from_its_admission_points_at_both_files():
    fraud = example("fraud")
    fraud["spec"]["repository"] = "acme/fraud-detection-fork"
    error = only(validate(example("platform"), fraud), "project_admitted")
    assert error.path == "spec.repository"
    assert "'acme/fraud-detection'" in error.message
    assert "acme-ml.yaml:" in error.message and "spec.tenancy.projects.fraud-detection.repository" in error.message


def test_an_admitted_project_is_fine():
    assert validate(example("platform"), example("fraud")).valid


# --- principals ----------------------------------------------------------------------------------


def test_a_foreign_account_root_as_a_prod_only_override_is_rejected_at_the_override():
    # F4: `environments.prod.access.mlEngineers: [arn:aws:iam::999999999999:root]` validated.
    fraud = example("fraud")
    fraud["spec"]["environments"]["prod"]["access"] = {"mlEngineers": [EVIL_ROOT]}
    result = validate(admitting(example("platform"), fraud), fraud)
    [error] = errors_of(result, "access_principals_within_tenancy")
    assert error.path == "spec.environments.prod.access.mlEngineers[0]"
    assert "whole account (:root)" in error.message


def test_the_root_of_the_platforms_own_prod_account_is_rejected():
    fraud = project_with({"spec.access.mlEngineers": ["arn:aws:iam::333333333333:root"]})
    error = only(
        admitted(fraud, **{"spec.tenancy.principalAccounts": ["111111111111", "333333333333"]}),
        "access_principals_within_tenancy",
    )
    assert "whole account (:root)" in error.message


def test_a_role_of_an_account_outside_the_principal_accounts_is_rejected():
    fraud = project_with({"spec.access.dataScientists": ["arn:aws:iam::999999999999:role/ds"]})
    error = only(admitted(fraud), "access_principals_within_tenancy")
    assert error.path == "spec.access.dataScientists[0]"
    assert "account 999999999999, not one of the platform's accounts (111111111111)" in error.message
    assert "spec.tenancy.principalAccounts" in error.message


def test_principal_accounts_default_to_the_platforms_environment_accounts():
    fraud = project_with({"spec.access.dataScientists": ["arn:aws:iam::222222222222:role/ds"]})
    platform = admitting(example("platform"), fraud)
    del platform["spec"]["tenancy"]["principalAccounts"]
    assert validate(platform, fraud).valid
    fraud["spec"]["access"]["dataScientists"] = ["arn:aws:iam::444444444444:role/ds"]
    assert only(validate(admitting(platform, fraud), fraud), "access_principals_within_tenancy")


def test_a_platform_that_names_no_accounts_asks_for_principal_accounts():
    project = minimal_project(access={"dataScientists": ["arn:aws:iam::111111111111:role/ds"]})
    error = only(admitted(project, minimal_platform()), "access_principals_within_tenancy")
    assert "set its spec.tenancy.principalAccounts" in error.message


def sso_roles(count: int) -> list[str]:
    return [f"arn:aws:iam::111111111111:role/AWSReservedSSO_DataScientist_{i:016x}" for i in range(count)]


def test_a_persona_whose_trust_policy_would_exceed_iams_quota_is_rejected():
    """25 SSO role ARNs make a 2,080-character trust policy: IAM refuses the role (2,048)."""
    fraud = project_with({"spec.access.dataScientists": sso_roles(25)})
    error = only(admitted(fraud), "persona_trust_fits_iam")
    assert error.path == "spec.access.dataScientists"
    assert "trust policy of 2080 characters; IAM allows 2048" in error.message


def test_a_persona_whose_trust_policy_fits_iams_quota_is_fine():
    assert admitted(project_with({"spec.access.dataScientists": sso_roles(24)})).valid


def test_a_principal_of_another_partition_is_rejected():
    fraud = project_with({"spec.access.dataScientists": ["arn:aws-cn:iam::111111111111:role/ds"]})
    assert "partition aws-cn" in only(admitted(fraud), "access_principals_within_tenancy").message


def test_a_principal_the_platform_did_not_admit_for_the_project_is_rejected():
    fraud = example("fraud")
    fraud["spec"]["access"]["dataScientists"].append("arn:aws:iam::111111111111:role/genai-scientists")
    error = only(validate(example("platform"), fraud), "access_principals_within_tenancy")
    assert error.path == "spec.access.dataScientists[1]" and "not admitted for this project" in error.message
    assert "spec.tenancy.projects.fraud-detection.principals" in error.message


def test_admitted_principals_of_the_platforms_accounts_are_fine():
    assert validate(example("platform"), example("rag")).valid


# --- prod approvers ------------------------------------------------------------------------------


def test_a_self_chosen_prod_approver_is_rejected():
    # F6: `ci.prodApprovers: ["@mallory"]` was accepted.
    fraud = project_with({"spec.ci.prodApprovers": ["@acme/ml-leads", "@mallory"]})
    error = only(validate(example("platform"), fraud), "prod_approvers_within_tenancy")
    assert error.path == "spec.ci.prodApprovers[1]" and "'@mallory'" in error.message


def test_a_prod_environment_without_reviewers_is_rejected():
    project = minimal_project()
    platform = admitting(minimal_platform(), project)
    platform["spec"]["tenancy"]["projects"]["churn"]["prodApprovers"] = []
    error = only(validate(platform, project), "prod_approvers_within_tenancy")
    assert "0 required reviewer(s), fewer than the platform's minimum of 1" in error.message


def test_the_platform_may_require_more_prod_approvers():
    fraud = example("fraud")
    result = admitted(fraud, **{"spec.tenancy.minProdApprovers": 2})
    assert "fewer than the platform's minimum of 2" in only(result, "prod_approvers_within_tenancy").message
    both = admitted(
        fraud,
        **{
            "spec.tenancy.minProdApprovers": 2,
            "spec.tenancy.projects.fraud-detection.prodApprovers": ["@acme/ml-leads", "@acme/risk-leads"],
        },
    )
    assert only(both, "prod_approvers_within_tenancy")  # the project still asks for one only
    del fraud["spec"]["ci"]["prodApprovers"]
    assert admitted(
        fraud,
        **{
            "spec.tenancy.minProdApprovers": 2,
            "spec.tenancy.projects.fraud-detection.prodApprovers": ["@acme/ml-leads", "@acme/risk-leads"],
        },
    ).valid


def test_without_its_own_approvers_a_project_gets_the_admitted_ones():
    assert admitted(minimal_project(), minimal_platform()).valid


# --- dev reading prod ----------------------------------------------------------------------------


def forbidding(platform: dict[str, Any]) -> dict[str, Any]:
    platform["spec"]["tenancy"]["prodReadAccessFromDev"] = False
    return platform


def test_a_project_cannot_open_prod_reads_the_platform_forbids():
    # F7: the project decided alone (`prodReadAccessFromDev`, default true).
    error = only(validate(forbidding(example("platform")), example("fraud")), "prod_read_within_tenancy")
    assert error.path == "spec.storage.prodReadAccessFromDev"
    assert "acme-ml.yaml:" in error.message and "spec.tenancy.prodReadAccessFromDev" in error.message


def test_a_project_that_says_nothing_follows_the_platform():
    fraud = example("fraud")
    del fraud["spec"]["storage"]["prodReadAccessFromDev"]
    closed = validate(forbidding(example("platform")), fraud)
    opened = validate(example("platform"), fraud)
    assert closed.valid and opened.valid
    assert closed.projects["fraud-detection"].environments["prod"].spec.storage.prod_read_access_from_dev is False
    assert opened.projects["fraud-detection"].environments["prod"].spec.storage.prod_read_access_from_dev is True


def test_a_project_may_narrow_what_the_platform_allows():
    result = validate(example("platform"), project_with({"spec.storage.prodReadAccessFromDev": False}))
    assert result.projects["fraud-detection"].environments["prod"].spec.storage.prod_read_access_from_dev is False


def test_by_default_the_platform_forbids_dev_reading_prod():
    project = minimal_project(storage={"prodReadAccessFromDev": True})
    assert only(admitted(project, minimal_platform()), "prod_read_within_tenancy")


# --- alert targets -------------------------------------------------------------------------------

F9_ROUTES = [
    ({"type": "webhook", "target": "http://feedback-collector.rag-assistant.svc.cluster.local/"}, "must use https"),
    ({"type": "webhook", "target": "https://feedback-collector.rag-assistant.svc.cluster.local/"}, "in-cluster"),
    ({"type": "webhook", "target": "https://hooks.acme.example/T000/B000?token=abc123"}, "holds no credentials"),
    ({"type": "webhook", "target": "https://169.254.169.254/latest/meta-data/"}, "IP address"),
    ({"type": "webhook", "target": "https://hooks.example.com/x"}, "not allowed by the platform"),
    ({"type": "webhook", "target": "https://hooks.acme.example:8443/x"}, "port 443"),
    ({"type": "sns", "target": "arn:aws:sns:us-east-1:999999999999:exfil"}, "not the environment's own account"),
    ({"type": "sns", "target": "arn:aws:sns:eu-west-1:111111111111:alerts"}, "region us-east-1"),
    ({"type": "slack", "target": "https://hooks.slack.com/services/T000/B000/SECRET"}, "lives in Secrets Manager"),
    ({"type": "pagerduty", "target": "../../other-team/alerts/key"}, "must name the routing key's secret"),
    ({"type": "email", "target": "not an address"}, "not an email address"),
]


@pytest.mark.parametrize(
    ("route", "expected"), F9_ROUTES, ids=[f"{r['type']}-{i}" for i, (r, _) in enumerate(F9_ROUTES)]
)
def test_alert_routes_go_only_where_the_platform_allows(route: dict[str, str], expected: str):
    fraud = project_with({"spec.monitoring.alerts": [route]})
    result = validate(example("platform"), fraud)
    errors = errors_of(result, "alert_targets_within_tenancy")
    assert errors and errors[0].path == "spec.monitoring.alerts[0].target", explain(result)
    assert expected in errors[0].message


@pytest.mark.parametrize(
    "route",
    [
        {"type": "slack", "target": "fraud-alerts"},
        {"type": "pagerduty", "target": "Fraud Oncall"},
        {"type": "email", "target": "not an address"},
    ],
)
def test_a_malformed_alert_target_is_one_error_not_one_per_environment(route: dict[str, str]):
    result = validate(example("platform"), project_with({"spec.monitoring.alerts": [route]}))
    errors = errors_of(result, "alert_targets_within_tenancy")
    assert len(errors) == 1 and "bound:" not in errors[0].message and "in environment" not in errors[0].message


@pytest.mark.parametrize(
    "route",
    [
        {"type": "slack", "target": "#fraud-ml-alerts\n"},
        {"type": "pagerduty", "target": "fraud-oncall\n"},
        {"type": "email", "target": "fraud-ml@acme.example\n"},
    ],
)
def test_an_alert_target_with_a_trailing_newline_is_not_a_valid_target(route: dict[str, str]):
    # Python's `$` matches before a final newline: "fraud-oncall\n" passed as a secret name, then
    # named a secret Secrets Manager refuses, half-way through apply.
    result = validate(example("platform"), project_with({"spec.monitoring.alerts": [route]}))
    assert errors_of(result, "alert_targets_within_tenancy"), explain(result)


def test_an_sns_topic_is_checked_against_each_environments_own_account():
    topic = "arn:aws:sns:us-east-1:111111111111:alerts"  # the dev account's
    result = validate(example("platform"), project_with({"spec.monitoring.alerts": [{"type": "sns", "target": topic}]}))
    messages = sorted(d.message for d in errors_of(result, "alert_targets_within_tenancy"))
    assert len(messages) == len(result.diagnostics) == 2, explain(result)
    assert messages[0].startswith("in environment prod:") and "own account 333333333333" in messages[0]
    assert messages[1].startswith("in environment staging:") and "own account 222222222222" in messages[1]


def test_allowed_alert_routes_are_fine():
    routes = [
        {"type": "webhook", "target": "https://hooks.acme.example/alerts/fraud"},
        {"type": "slack", "target": "#fraud-ml-alerts"},
        {"type": "pagerduty", "target": "fraud-oncall"},
        {"type": "email", "target": "fraud-ml@acme.example"},
    ]
    result = validate(example("platform"), project_with({"spec.monitoring.alerts": routes}))
    assert result.valid, explain(result)


def test_sns_topics_of_the_environments_own_account_are_fine():
    fraud = example("fraud")
    for env, account in (("dev", "111111111111"), ("staging", "222222222222"), ("prod", "333333333333")):
        fraud["spec"]["environments"].setdefault(env, {})["monitoring"] = {
            "alerts": [{"type": "sns", "target": f"arn:aws:sns:us-east-1:{account}:alerts"}]
        }
    result = validate(example("platform"), fraud)
    assert result.valid, explain(result)


# --- namespaces ----------------------------------------------------------------------------------

RESERVED = [
    "kube-system",
    "kube-public",
    "kube-node-lease",
    "kube-anything",
    "default",
    "monitoring",
    "argo",
    "kserve",
    "cert-manager",
    "external-secrets",
    "ingress",
]


@pytest.mark.parametrize("name", RESERVED)
def test_a_project_named_like_a_system_or_add_on_namespace_is_rejected(name: str):
    # F5: `metadata.name: kube-system` put quotas, default-deny and `edit` bindings into kube-system.
    project = minimal_project(name=name)
    error = only(admitted(project, minimal_platform()), "namespace_not_reserved")
    assert error.path == "metadata.name"


@pytest.mark.parametrize("name", ["amazon-guardduty", "amazon-cloudwatch", "aws-observability"])
def test_a_project_cannot_take_a_namespace_aws_creates_in_the_cluster(name: str):
    # GuardDuty deploys its runtime monitoring agent into `amazon-guardduty` on its own: a project
    # there held the account's security agent under the team's quota, policies and `edit`.
    error = only(admitted(minimal_project(name=name), minimal_platform()), "namespace_not_reserved")
    assert "Kubernetes, AWS or the platform" in error.message


def test_an_ordinary_project_name_is_not_reserved():
    assert admitted(minimal_project(name="kubeflow-jobs"), minimal_platform()).valid


# --- capacity ------------------------------------------------------------------------------------

P5_POOLS = [
    {"name": f"p{i}", "instanceTypes": ["p5.48xlarge"], "gpu": {"count": 8}, "capacity": "on-demand", "max": 1000}
    for i in range(48)
]


def test_a_teams_bundle_alone_cannot_decide_how_many_gpus_the_platform_pays_for():
    # 48 pools of 1,000 p5.48xlarge validated: NodePool limits of 384,016 GPUs in prod, and a
    # namespace quota to match, with nothing the platform team could set against it.
    fraud = example("fraud")
    fraud["spec"]["compute"]["pools"] += P5_POOLS
    result = validate(example("platform"), fraud)
    errors = errors_of(result, "capacity_within_tenancy")
    assert {e.path for e in errors} >= {"spec.compute.pools"}, explain(result)
    gpus = next(e for e in errors if "GPUs" in e.message and e.message.startswith("in environment prod:"))
    assert "may launch 384016 GPUs" in gpus.message and "more than the 128 platform 'acme-ml' allows" in gpus.message
    assert "spec.tenancy.maxGpus" in gpus.message and any("nodes" in e.message for e in errors)


def test_a_prod_only_pool_override_is_held_to_the_bound_too():
    fraud = project_with({"spec.environments.prod.compute.pools": [{"name": "gpu-train", "max": 500}]})
    errors = errors_of(validate(example("platform"), fraud), "capacity_within_tenancy")
    assert [e.message[:22] for e in errors] == ["in environment prod: t"] * 2


def test_a_second_fallback_nodepool_counts_against_the_bound():
    pool = {"name": "big", "instanceTypes": ["p5.48xlarge"], "gpu": {"count": 8}, "max": 5}
    reserved = {**pool, "reservations": {"ids": ["cr-0123456789abcdef0"], "fallback": ["on-demand", "spot"]}}
    platform = minimal_platform(tenancy={"maxGpus": 79})
    project = minimal_project(compute={"pools": [reserved]})
    platform = admitting(platform, project)
    platform["spec"]["tenancy"]["projects"]["churn"]["capacityReservations"] = ["cr-0123456789abcdef0"]
    error = only(validate(platform, project), "capacity_within_tenancy")  # 2 NodePools x 5 x 8 = 80
    assert "may launch 80 GPUs" in error.message


def test_spot_then_on_demand_after_reservations_is_one_nodepool_and_counts_once():
    """reserved → spot → on-demand is Karpenter's own order: one NodePool, its max counted once."""
    pool = {"name": "big", "instanceTypes": ["p5.48xlarge"], "gpu": {"count": 8}, "max": 5, "capacity": "spot"}
    reserved = {**pool, "reservations": {"ids": ["cr-0123456789abcdef0"], "fallback": ["spot", "on-demand"]}}
    platform = minimal_platform(tenancy={"maxGpus": 40})
    project = minimal_project(compute={"pools": [reserved]})
    platform = admitting(platform, project)
    platform["spec"]["tenancy"]["projects"]["churn"]["capacityReservations"] = ["cr-0123456789abcdef0"]
    result = validate(platform, project)
    assert result.valid, explain(result)  # 1 NodePool x 5 x 8 = 40


def test_the_platform_team_raises_the_bound_for_one_project():
    fraud = example("fraud")
    fraud["spec"]["compute"]["pools"] += P5_POOLS[:1]
    assert errors_of(validate(example("platform"), fraud), "capacity_within_tenancy")
    platform = platform_with({"spec.tenancy.projects.fraud-detection.maxNodes": 2000})
    platform["spec"]["tenancy"]["projects"]["fraud-detection"]["maxGpus"] = 9000
    result = validate(platform, fraud)
    assert not errors_of(result, "capacity_within_tenancy"), explain(result)
    platform["spec"]["tenancy"]["projects"]["fraud-detection"]["maxGpus"] = 100
    errors = errors_of(validate(platform, fraud), "capacity_within_tenancy")
    assert len(errors) == 3 and all("spec.tenancy.projects.fraud-detection.maxGpus)" in e.message for e in errors)


def test_a_team_cannot_take_the_general_nodes_every_project_shares():
    # 50 endpoints without a pool, 1,000 replicas of 64 cores: the namespace quota allowed
    # 3.2 million cores on the general nodes (the platform's NodePool holds 1,000 for everyone);
    # plus fraud-detection's two unpooled pipeline steps (1 core each) and the 16 of its servers.
    endpoint = {"runtime": "sklearn", "resources": {"cpu": "64", "memory": "128Gi"}, "rollout": {"strategy": "direct"}}
    endpoints = [{**endpoint, "name": f"e{i}", "autoscaling": {"maxReplicas": 1000}} for i in range(50)]
    result = validate(example("platform"), project_with({"spec.serving.endpoints": endpoints}))
    errors = [e for e in errors_of(result, "capacity_within_tenancy") if "general nodes" in e.message]
    assert errors and errors[0].path == "spec", explain(result)
    assert "may use 3200018 CPU cores on the general nodes, more than the 256" in errors[0].message
    assert "spec.tenancy.maxGeneralCpu" in errors[0].message


def test_the_general_cpu_bound_counts_what_the_namespace_quota_allows():
    """The rule and the quota count alike: the quota's CPU is the pools' plus the general nodes'."""
    from mlrig.pool_sizing import node_capacity
    from mlrig.project.pools import pool_nodes
    from mlrig.project.workspace import quota_hard
    from mlrig.tenancy import general_cpu_requested

    for name in ("fraud", "rag"):
        result = validate(example("platform"), example(name))
        for project in result.projects.values():
            for env in project.environments.values():
                pooled = sum(pool_nodes(p, env.spec) * node_capacity(p)[0] for p in env.spec.compute.pools)
                assert int(quota_hard(env.spec)["requests.cpu"]) == pooled + general_cpu_requested(env.spec)


# --- tags ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["aws:cloudformation:stack-name", "AWS:Foo", "mlrig:persona"])
def test_reserved_tag_prefixes_are_rejected(key: str):
    error = only(validate(example("platform"), project_with({f"spec.tags.{key}": "x"})), "project_tags_within_limits")
    assert error.path == f'spec.tags["{key}"]'


@pytest.mark.parametrize(
    "key",
    [
        "karpenter.sh/discovery",
        "kubernetes.io/cluster/acme-ml-dev",
        "topology.kubernetes.io/region",
        "karpenter.k8s.aws/ec2nodeclass",
        "elbv2.k8s.aws/cluster",
        "k8s.io/cluster-autoscaler/enabled",
        "eks:eks-cluster-name",
        "Karpenter.SH/discovery",
    ],
)
def test_a_team_cannot_tag_its_resources_into_another_teams_nodes(key: str):
    # Karpenter's EC2NodeClasses take every security group tagged `karpenter.sh/discovery:
    # <cluster>`: a project tagging its stack so put its database's security group on every node
    # of the cluster, other teams' and the platform's (and past 5 groups, no node launches).
    project = project_with({"spec.tags": {key: "acme-ml-dev"}})
    error = only(validate(example("platform"), project), "project_tags_within_limits")
    assert error.path == f'spec.tags["{key}"]' and "every node of the cluster" in error.message


def test_a_prod_only_tag_override_cannot_smuggle_a_reserved_tag_key():
    project = project_with({"spec.environments.prod.tags": {"karpenter.sh/discovery": "acme-ml-prod"}})
    error = only(validate(example("platform"), project), "project_tags_within_limits")
    assert error.message.startswith("in environment prod:")


@pytest.mark.parametrize("key", ["data-owner", "team.example.com/owner", "kubernetes-team", "my.k8s.io.example/x"])
def test_ordinary_tag_keys_stay_allowed(key: str):
    assert validate(example("platform"), project_with({"spec.tags": {key: "x"}})).valid


@pytest.mark.parametrize("value", ["risk#ml", "line\nbreak", "cc\u202e4321", "50%"])
def test_a_tag_value_aws_refuses_is_an_error_not_a_failed_apply(value: str):
    error = only(
        validate(example("platform"), project_with({"spec.tags": {"owner": value}})), "project_tags_within_limits"
    )
    assert error.path == "spec.tags.owner" and "not an AWS tag value" in error.message
    error = only(
        validate(example("platform"), project_with({"metadata.costCenter": value})), "project_tags_within_limits"
    )
    assert error.path == "metadata.costCenter"


def test_unicode_letters_stay_allowed_in_tag_values():
    assert validate(example("platform"), project_with({"spec.tags": {"owner": "Zoë Grüße 42 a.b/c=d+e-f@g:h_i"}})).valid


def test_a_team_cannot_charge_its_resources_to_another_teams_cost_center():
    # metadata.team and costCenter became every resource's `team` and `cost-center` tags, chosen
    # by the team alone: rag-assistant's cost centre on fraud-detection's GPUs.
    platform = platform_with({"spec.tenancy.projects.fraud-detection.costCenter": "cc-1234"})
    platform["spec"]["tenancy"]["projects"]["fraud-detection"]["team"] = "risk-ml"
    assert validate(platform, example("fraud")).valid
    result = validate(platform, project_with({"metadata.costCenter": "cc-genai", "metadata.team": "genai"}))
    errors = errors_of(result, "cost_tags_admitted")
    assert sorted(e.path for e in errors) == ["metadata.costCenter", "metadata.team"], explain(result)
    assert all("it decides who is charged" in e.message for e in errors)
    unset = validate(platform, project_with({}, deletions=("metadata.costCenter",)))
    assert "'unassigned' is not the costCenter" in only(unset, "cost_tags_admitted").message


def test_the_admission_snippet_pins_who_is_charged():
    result = validate(example("platform"), project_with({"metadata.name": "newcomer"}))
    message = only(result, "project_admitted").message
    assert 'team: "risk-ml", costCenter: "cc-1234"}' in message


def test_project_tags_must_leave_room_for_mlrigs_and_the_platforms():
    # F16: 5000 tags validated although AWS allows 50 per resource.
    tags = {f"t{i}": "x" for i in range(42)}  # + platform's department + 5 defaults + 3 per resource = 51
    error = only(validate(example("platform"), project_with({"spec.tags": tags})), "project_tags_within_limits")
    assert "at most 41 fit" in error.message
    assert validate(example("platform"), project_with({"spec.tags": dict(list(tags.items())[:41])})).valid


def test_platform_tags_are_checked_too():
    platform = example("platform")
    platform["spec"]["tags"] = {"aws:x": "y"}
    assert only(validate(platform), "platform_tags_within_limits").path == 'spec.tags["aws:x"]'
    platform["spec"]["tags"] = {f"t{i}": "x" for i in range(43)}  # + 5 defaults + 3 per resource = 51
    assert only(validate(platform), "platform_tags_within_limits")
    platform["spec"]["tags"] = {"department": "ml"}
    assert validate(platform).valid


def test_a_platforms_bounds_are_its_tenancy_computed_once(example_result):
    """Every tenancy rule asks in every environment of every project; the bounds copy the
    platform's admissions, so asking anew made validation quadratic in the projects."""
    from mlrig import tenancy

    platform = example_result.platforms["acme-ml"]
    assert platform.tenancy_bounds is platform.tenancy_bounds
    assert platform.tenancy_bounds == tenancy.bounds(platform.bundle)


# --- bundle owners and the platform repository's CODEOWNERS ---------------------------------------


def test_a_project_owned_by_a_team_of_another_organisation_is_refused():
    """CODEOWNERS of the platform repository (acme/…) cannot name `@evil/ml`: GitHub skips the line,
    and the team's bundle file would have no owner of its own."""
    fraud = example("fraud")
    fraud["metadata"]["owners"] = ["@acme/risk-ml", "@evil/ml"]
    error = only(admitted(fraud), "owner_teams_in_platform_organization")
    assert error.path == "metadata.owners" and "@evil/ml" in error.message and "'acme'" in error.message
    assert "@acme/risk-ml" not in error.message


def test_project_owners_that_are_users_or_teams_of_the_platform_organisation_pass():
    fraud = example("fraud")
    fraud["metadata"]["owners"] = ["@ACME/risk-ml", "@alice"]
    result = admitted(fraud)
    assert not [d for d in result.diagnostics if d.rule == "owner_teams_in_platform_organization"], explain(result)


def test_a_platform_owned_by_a_team_of_another_organisation_is_refused():
    platform = example("platform")
    platform["metadata"]["owners"] = ["@other/platform"]
    result = validate(platform)
    error = only(result, "platform_owner_teams_in_platform_organization")
    assert error.path == "metadata.owners" and "@other/platform" in error.message
    assert "'acme', the organisation of the platform repository 'acme/ml-platform'" in error.message
