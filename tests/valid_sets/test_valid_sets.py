"""Valid bundle sets mlrig's authors had not seen: each validates, plans, passes every one of its
own plan checks, and what it plans passes the independent checkers (kubernetes-validate,
parliament, zizmor, check-jsonschema). A valid bundle whose plan fails a check means either the
validator should have rejected it with a message, or the program is wrong."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate
import parliament
import pytest
import yaml
from click.testing import CliRunner
from kubernetes_validate.utils import all_versions
from parliament import analyze_policy_string, enhance_finding, override_config

from ci.checkers import assert_workflows_pass_both_checkers
from mlrig.bundle.validate import validate_paths
from mlrig.cli import cli
from project.aws.test_least_privilege import IamDocument, allowed, iam_documents

from .conftest import PLANNED, PlannedSet

SETS = sorted(PLANNED)
TESTS = Path(__file__).resolve().parents[1]
# Kubernetes' own API groups, whose schemas kubernetes-validate has; CRDs are not its to check.
CORE_GROUPS = {"core", "apps", "batch", "policy", "autoscaling", "rbac.authorization.k8s.io", "networking.k8s.io"}
CORE_GROUPS |= {"storage.k8s.io", "scheduling.k8s.io", "node.k8s.io", "admissionregistration.k8s.io"}
SEVERITY = {"MUTE": -1, "INFO": 0, "LOW": 1, "MEDIUM": 2, "HIGH": 3, "CRITICAL": 4}
# As `parliament --include-community-auditors` does on the platform's documents.
override_config(str(Path(parliament.__file__).parent / "community_auditors" / "config_override.yaml"))


def kind_of(plan_set: PlannedSet, stack: str) -> str:
    return "Platform" if stack.split(".")[0] in plan_set.result.platforms else "Project"


@pytest.mark.parametrize("name", SETS)
def test_a_valid_set_plans_with_every_check_passing(planned, name: str) -> None:
    plan_set = planned(name)
    assert len(plan_set.plans) == len(plan_set.result.platforms) + len(plan_set.result.projects)
    failing = [f"{f.stack} {f.check} {f.resource}: {f.message}" for found in plan_set.findings.values() for f in found]
    assert failing == []


def schema_version(cluster_version: str) -> str:
    wanted = tuple(int(x) for x in cluster_version.split(".")[:2])
    return max(
        (v for v in all_versions() if tuple(int(x) for x in v.split(".")[:2]) <= wanted),
        key=lambda v: tuple(int(x) for x in v.split(".")[:2]),
    )


def core_objects(resources: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for resource in resources:
        match = re.fullmatch(r"kubernetes:([^/]+)/([^:]+):(\w+)", resource["type"])
        if match and match.group(1) in CORE_GROUPS:
            group, version, kind = match.groups()
            body = {k: v for k, v in resource["inputs"].items() if k not in ("apiVersion", "kind")}
            for field in ("stringData", "data"):  # generated values the mocks leave unknown
                if isinstance(body.get(field), dict):
                    body[field] = {key: "(computed)" if value is None else value for key, value in body[field].items()}
            api_version = version if group == "core" else f"{group}/{version}"
            found.append((resource["name"], {"apiVersion": api_version, "kind": kind, **body}))
    return found


@pytest.mark.parametrize("name", SETS)
def test_every_core_kubernetes_object_passes_strict_validation(planned, name: str) -> None:
    plan_set = planned(name)
    platform = next(iter(plan_set.result.platforms.values()))
    version = schema_version(platform.environments[plan_set.environment].spec.cluster.version)
    failures, checked = [], 0
    for stack, plan in plan_set.plans.items():
        for resource, manifest in core_objects(plan.resources):
            checked += 1
            try:
                kubernetes_validate.validate(manifest, version, strict=True)
            except kubernetes_validate.ValidationError as error:
                failures.append(f"{stack} {resource}: {error.message} at {list(error.path)}")
    assert checked > 10
    assert failures == []


@cache
def parliament_findings(document: str, community: bool) -> list[tuple[str, str, str]]:
    policy = analyze_policy_string(document, include_community_auditors=community)
    return [(f.issue, f.severity, str(f.detail)) for f in map(enhance_finding, policy.findings)]


@cache
def platform_allowlist() -> list[dict[str, str]]:
    return yaml.safe_load((TESTS / "platform" / "parliament_allowlist.yaml").read_text())


def platform_allowed(document: IamDocument, issue: str, detail: str) -> bool:
    """The platform tests' allowlist: entries match by issue and regexes of name, type and detail."""
    return any(
        entry["issue"] == issue
        and re.search(entry["resource"], document.resource)
        and re.search(entry.get("type", ""), document.resource_type)
        and re.search(entry.get("detail", ""), detail)
        for entry in platform_allowlist()
    )


@pytest.mark.parametrize("name", SETS)
def test_every_iam_document_passes_parliament(planned, name: str) -> None:
    """Project documents as tests/project/aws checks them, platform documents as tests/platform
    does (community auditors included), each with its allowlist of justified findings."""
    plan_set = planned(name)
    problems = []
    for stack, plan in plan_set.plans.items():
        platform = kind_of(plan_set, stack) == "Platform"
        for document in iam_documents(plan):
            text = json.dumps(document.document)
            for issue, severity, detail in parliament_findings(text, platform):
                if SEVERITY.get(severity, 4) < SEVERITY["MEDIUM"]:
                    continue
                justified = platform_allowed(document, issue, detail) if platform else allowed(document, issue, detail)
                if not justified:
                    problems.append(f"{stack} {document.resource} ({document.kind}): {severity} {issue} {detail}")
    assert problems == []


def test_generated_files_of_every_set_pass_zizmor_and_the_workflow_schema(
    set_directories: dict[str, Path], tmp_path: Path
) -> None:
    """`mlrig generate` in a platform repository holding each set writes workflows both checkers
    accept."""
    runner = CliRunner()
    workflows: list[Path] = []
    for name, bundles in set_directories.items():
        repo = tmp_path / name
        (repo / "bundles").mkdir(parents=True)
        (repo / "Pulumi.yaml").write_text("name: mlrig\nruntime: python\nmain: infra/\n")
        for bundle in bundles.glob("*.yaml"):
            (repo / "bundles" / bundle.name).write_text(bundle.read_text())
        generated = runner.invoke(cli, ["generate", "--root", str(repo)])
        assert generated.exit_code == 0, f"{name}: {generated.output}"
        found = sorted(repo.glob(".github/**/workflows/*.yml"))
        assert found, f"{name}: no workflows"
        workflows += found
    assert_workflows_pass_both_checkers(workflows)


# --- what the sets showed, one behaviour each ----------------------------------------------------


ISVC = "kubernetes:serving.kserve.io/v1beta1:InferenceService"


def resources_of(plan_set: PlannedSet, type_: str) -> list[dict[str, Any]]:
    return [r for plan in plan_set.plans.values() for r in plan.resources if r["type"] == type_]


def test_graviton_system_nodes_boot_the_arm64_image(planned) -> None:
    [group] = resources_of(planned("arm64"), "aws:eks/nodeGroup:NodeGroup")
    assert group["inputs"]["instanceTypes"] == ["m7g.large", "m6g.large"]
    assert group["inputs"]["amiType"] == "AL2023_ARM_64_STANDARD", "EKS rejects arm64 types on an x86_64 AMI"


def test_a_network_spans_the_four_zones_of_us_west_2(planned) -> None:
    subnets = resources_of(planned("arm64"), "aws:ec2/subnet:Subnet")
    zones = {s["inputs"]["availabilityZone"] for s in subnets}
    assert zones == {"us-west-2a", "us-west-2b", "us-west-2c", "us-west-2d"}


def test_a_dev_project_under_namespace_isolation_is_checked_against_the_shared_clusters_pools(planned) -> None:
    """The dev platform stack reads the shared cluster (owned by prod's stack): the pods of a dev
    project land on that cluster's general nodes, so the fit check must see them."""
    plan_set = planned("namespace")
    assert resources_of(plan_set, "aws:eks/cluster:Cluster") == [], "dev does not own the shared cluster"
    assert plan_set.findings["churn.dev"] == [] and plan_set.findings["pricing.dev"] == []


def test_a_gateway_with_bedrock_may_invoke_bedrock_models_with_its_own_identity(planned) -> None:
    """Bedrock takes no API key: LiteLLM calls it with the pod's AWS identity, which must be allowed
    to invoke models (and has no key secret to read)."""
    plan_set = planned("llm-opensearch")
    [policy] = [
        json.loads(p["inputs"]["policy"])
        for p in resources_of(plan_set, "aws:iam/rolePolicy:RolePolicy")
        if p["inputs"]["role"] == "chat--prod--wl--gateway"
    ]
    statements = {s.get("Sid"): s for s in policy["Statement"]}
    invoke = statements["InvokeBedrockModels"]
    assert invoke["Action"] == ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"]
    assert "arn:aws:bedrock:*::foundation-model/*" in invoke["Resource"]
    keys = statements["ReadProviderKeys"]["Resource"]
    assert len(keys) == 7 and not any("llm-gateway/bedrock" in k for k in keys)


def test_the_azure_openai_provider_gets_its_resource_endpoint_as_well_as_its_key(planned) -> None:
    """LiteLLM sends Azure OpenAI requests to the resource's own endpoint: without it every request
    fails. The provider's secret holds both, and the gateway's config reads both."""
    plan_set = planned("llm-opensearch")
    [external] = [
        r["inputs"]["spec"]
        for r in resources_of(plan_set, "kubernetes:external-secrets.io/v1:ExternalSecret")
        if r["inputs"]["metadata"]["name"] == "llm-gateway-azure-openai"
    ]
    assert [(d["secretKey"], d["remoteRef"].get("property")) for d in external["data"]] == [
        ("AZURE_API_KEY", "AZURE_API_KEY"),
        ("AZURE_API_BASE", "AZURE_API_BASE"),
    ]
    [config] = [
        yaml.safe_load(r["inputs"]["data"]["config.yaml"])
        for r in resources_of(plan_set, "kubernetes:core/v1:ConfigMap")
        if "config.yaml" in (r["inputs"].get("data") or {}) and "model_list" in r["inputs"]["data"]["config.yaml"]
    ]
    azure = next(m["litellm_params"] for m in config["model_list"] if m["model_name"] == "azure/*")
    assert azure["api_base"] == "os.environ/AZURE_API_BASE"


def test_a_repository_of_a_second_organisation_is_the_teams_to_manage_and_plans(planned, tmp_path: Path) -> None:
    """mlrig's GitHub provider acts in the platform's organisation: with `manageRepository: false`
    the prod stack administers nothing on GitHub and plans; left to the default, validation says
    so (the staging and prod plans used to fail with the provider's error instead)."""
    plan_set = planned("second-org")
    assert [r for r in plan_set.plans["omega.prod"].resources if r["type"].startswith("github:")] == []
    for bundle in plan_set.directory.glob("*.yaml"):
        (tmp_path / bundle.name).write_text(bundle.read_text().replace(" manageRepository: false,", ""))
    result = validate_paths([tmp_path])
    assert {d.rule for d in result.diagnostics} == {
        "managed_repository_in_platform_organization",
    }, "\n".join(d.text() for d in result.diagnostics)


def test_prod_imports_stagings_champion_from_its_region_and_account(planned) -> None:
    """The importer reads staging's bucket in us-west-1 from ap-northeast-2: S3 decrypts there with
    staging's key, so the grant names that region's S3 and key, and the step names the bucket."""
    plan_set = planned("cross-region-import")
    [policy] = [
        json.loads(p["inputs"]["policy"])
        for p in resources_of(plan_set, "aws:iam/rolePolicy:RolePolicy")
        if p["inputs"]["role"] == "tides--live--wl--model-import"
    ]
    decrypt = next(s for s in policy["Statement"] if s.get("Sid") == "DecryptPreprodData")
    assert decrypt["Resource"] == "arn:aws:kms:us-west-1:510000000002:key/*"
    assert decrypt["Condition"]["StringEquals"]["kms:ViaService"] == "s3.us-west-1.amazonaws.com"
    [template] = [
        t
        for w in resources_of(plan_set, "kubernetes:argoproj.io/v1alpha1:WorkflowTemplate")
        if w["inputs"]["metadata"]["name"] == "ship"
        for t in w["inputs"]["spec"]["templates"]
        if t["name"] == "import"
    ]
    env = {e["name"]: e["value"] for e in template["container"]["env"]}
    assert env["MLRIG_SOURCE_MODEL_URI"] == "s3://tides--preprod--artifacts--510000000002/models/tides/champion/"


def test_a_thirty_percent_shadow_is_sent_thirty_percent_of_the_requests(planned) -> None:
    """Vector's `rate` (1 in N) sent it a third; `ratio` sends what the bundle says."""
    [config] = [
        yaml.safe_load(r["inputs"]["data"]["vector.yaml"])
        for r in resources_of(planned("cross-region-import"), "kubernetes:core/v1:ConfigMap")
        if r["inputs"]["metadata"]["name"] == "inference-logger"
    ]
    assert config["transforms"]["shadow_embed_sample"]["ratio"] == 0.3


def test_names_at_their_limits_plan_objects_kserve_and_argo_accept(planned) -> None:
    """A 41-character canary endpoint, a 48-character direct one and a 52-character scheduled
    pipeline: the longest names validation admits, exactly at KServe's and Argo's limits."""
    plan_set = planned("long-names")
    services = [r["inputs"]["metadata"]["name"] for r in resources_of(plan_set, ISVC)]
    assert max(len(f"isvc.{name}-predictor") for name in services) == 63
    crons = resources_of(plan_set, "kubernetes:argoproj.io/v1alpha1:CronWorkflow")
    assert max(len(c["inputs"]["metadata"]["name"]) for c in crons) == 52
