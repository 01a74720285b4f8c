"""The trust boundary as a table: every field a team writes that reaches IAM, Kubernetes RBAC,
GitHub or a generated file, with a hostile value and the error that stops it.

A Project bundle is reviewed by its own team only, so each row is an attack a team member could
commit. Each row starts from the valid example bundles (platform, fraud-detection and
rag-assistant), applies its change to the attacker's project (`fraud-detection`, or a new one
with `new_project`) and, where it says so, to the platform; the set must then fail with
`rule` and a message containing `fragment`, in the attacker's file.

To add a row: append a `Row` to ROWS (or to a list of your own concern below and add it to ROWS).
`project` maps dotted paths (helpers.set_path) to values; `edit` is a function for changes a
path cannot express. Rows about generated files (workflows, CODEOWNERS) can assert on the same
failing validation: a bundle that fails never reaches `mlrig generate`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from tests.bundle.helpers import EXAMPLE_FILES, example, explain, file_names, set_path, validate


@dataclass(frozen=True)
class Row:
    id: str
    reaches: str  # what the field reaches: IAM, RBAC, GitHub, generated files, cost
    rule: str  # the rule that must stop it ("schema" for the bundle schema)
    fragment: str  # part of the expected message
    project: dict[str, Any] = field(default_factory=dict)  # dotted path -> hostile value
    platform: dict[str, Any] = field(default_factory=dict)  # platform changes that set the bound
    edit: Callable[[dict[str, Any]], None] | None = None  # further changes to the project
    file: str | None = None  # the attacker's file name (default: <metadata.name>.yaml)
    new_project: bool = False  # the attacker adds a project of its own instead of editing fraud-detection


def newcomer(name: str = "evil", **changes: Any) -> dict[str, Any]:
    """A new project `name` the platform admitted (repository acme/<name>, fraud's principals)."""
    return {"metadata.name": name, "spec.repository": f"acme/{name}", **changes}


def override_principal(persona: str, arn: str, environment: str = "prod") -> Callable[[dict[str, Any]], None]:
    def edit(project: dict[str, Any]) -> None:
        project["spec"]["environments"].setdefault(environment, {})["access"] = {persona: [arn]}

    return edit


def many(count: int, make: Callable[[int], Any]) -> list[Any]:
    return [make(i) for i in range(count)]


def add_unknown_key(key: str) -> Callable[[dict[str, Any]], None]:
    def edit(project: dict[str, Any]) -> None:
        project["spec"][key] = 1

    return edit


ADMIT_EVIL = {
    "spec.tenancy.projects.evil": {
        "repository": "acme/evil",
        "principals": ["arn:aws:iam::111111111111:role/AWSReservedSSO_DataScientist_0123456789abcdef"],
        "prodApprovers": ["@acme/evil-leads"],
    }
}

REPOSITORY = [
    Row(
        "repository in an attacker's organisation",
        "IAM (ci-deployer trust), GitHub",
        "repository_within_tenancy",
        "is not one of the platform's GitHub organisations",
        project={"spec.repository": "attacker-org/fraud-detection"},
    ),
    Row(
        "repository is the platform's own",
        "GitHub (platform workflows, prod reviewers)",
        "repository_within_tenancy",
        "the platform's own repository",
        project={"spec.repository": "acme/ml-platform"},
    ),
    Row(
        "repository is the org's .github",
        "GitHub (org-wide workflow templates)",
        "repository_within_tenancy",
        "organisation-wide .github repository",
        project={"spec.repository": "acme/.github"},
    ),
    Row(
        "repository is another team's",
        "IAM, GitHub (their environments)",
        "repositories_unique",
        "rag-assistant.yaml:",
        project={"spec.repository": "acme/rag-assistant"},
    ),
    Row(
        "repository differs from the admitted one",
        "IAM, GitHub",
        "project_admitted",
        "is not the one platform 'acme-ml' admits",
        project={"spec.repository": "acme/fraud-detection-fork"},
    ),
    Row(
        "a project the platform never admitted",
        "everything",
        "project_admitted",
        "is not admitted by platform",
        project=newcomer("stranger"),
        new_project=True,
    ),
]

PRINCIPALS = [
    Row(
        "a foreign account's root",
        "IAM (persona trust)",
        "access_principals_within_tenancy",
        "whole account (:root)",
        project={"spec.access.mlEngineers": ["arn:aws:iam::999999999999:root"]},
    ),
    Row(
        "the platform's prod account root",
        "IAM (persona trust)",
        "access_principals_within_tenancy",
        "whole account (:root)",
        project={"spec.access.dataScientists": ["arn:aws:iam::333333333333:root"]},
    ),
    Row(
        "a role of a foreign account",
        "IAM (persona trust)",
        "access_principals_within_tenancy",
        "not one of the platform's accounts",
        project={"spec.access.dataScientists": ["arn:aws:iam::999999999999:role/x"]},
    ),
    Row(
        "a foreign root as a prod-only override",
        "IAM (prod persona trust)",
        "access_principals_within_tenancy",
        "whole account (:root)",
        edit=override_principal("mlEngineers", "arn:aws:iam::999999999999:root"),
    ),
    Row(
        "another team's people",
        "IAM, RBAC (edit in dev)",
        "access_principals_within_tenancy",
        "not admitted for this project",
        project={"spec.access.dataScientists": ["arn:aws:iam::111111111111:role/genai-scientists"]},
    ),
    Row(
        "an unadmitted person as a dev-only override",
        "IAM, RBAC",
        "access_principals_within_tenancy",
        "not admitted for this project",
        edit=override_principal("dataScientists", "arn:aws:iam::111111111111:role/x", "dev"),
    ),
    Row(
        "a wildcard principal",
        "IAM",
        "schema",
        "IAM user or role ARN",
        project={"spec.access.dataScientists": ["arn:aws:iam::111111111111:role/*"]},
    ),
]

APPROVERS = [
    Row(
        "a self-chosen prod approver",
        "GitHub (prod environment reviewers)",
        "prod_approvers_within_tenancy",
        "not an approver the platform admits",
        project={"spec.ci.prodApprovers": ["@mallory"]},
    ),
    Row(
        "a prod environment nobody must approve",
        "GitHub (prod environment reviewers)",
        "prod_approvers_within_tenancy",
        "fewer than the platform's minimum",
        platform={"spec.tenancy.projects.fraud-detection.prodApprovers": []},
        project={"spec.ci.prodApprovers": []},
    ),
    Row(
        "more approvers than GitHub allows",
        "GitHub",
        "schema",
        "at most 6",
        project={"spec.ci.prodApprovers": many(7, lambda i: f"@acme/leads-{i}")},
    ),
]

DATA = [
    Row(
        "dev reads prod where the platform forbids it",
        "IAM (bucket and key policies)",
        "prod_read_within_tenancy",
        "does not let dev read prod data",
        platform={"spec.tenancy.prodReadAccessFromDev": False},
    ),
]

NAMES = [
    Row(
        "project named kube-system",
        "RBAC (edit in kube-system)",
        "namespace_not_reserved",
        "Kubernetes, AWS or the platform",
        project=newcomer("kube-system"),
        platform={"spec.tenancy.projects.kube-system": {"repository": "acme/kube-system", "prodApprovers": ["@a/b"]}},
        new_project=True,
    ),
    Row(
        "project named like an add-on namespace",
        "RBAC, quotas in the monitoring namespace",
        "namespace_not_reserved",
        "Kubernetes, AWS or the platform",
        project=newcomer("monitoring"),
        platform={"spec.tenancy.projects.monitoring": {"repository": "acme/monitoring", "prodApprovers": ["@a/b"]}},
        new_project=True,
    ),
    Row(
        "project named kube-*",
        "RBAC",
        "namespace_not_reserved",
        "starts with 'kube-'",
        project=newcomer("kube-fraud"),
        platform={"spec.tenancy.projects.kube-fraud": {"repository": "acme/kube-fraud", "prodApprovers": ["@a/b"]}},
        new_project=True,
    ),
    Row(
        "a name holding the separator",
        "every derived name",
        "schema",
        "single '-'",
        project={"spec.compute.pools[0].name": "cpu--batch"},
    ),
    Row(
        "a pipeline named like a built-in workload",
        "IAM (workload role)",
        "pipeline_names_not_reserved",
        "reserved",
        edit=lambda p: p["spec"]["pipelines"].__setitem__("serving", p["spec"]["pipelines"].pop("monitor")),
    ),
    Row(
        "a registry holding the separator",
        "ECR",
        "schema",
        "DNS label",
        project={"spec.registries": ["training", "serving--x"]},
    ),
    Row(
        "an endpoint holding the separator",
        "KServe",
        "schema",
        "DNS label",
        project={"spec.serving.endpoints[0].name": "a--b"},
    ),
]

ALERTS = [
    Row(
        "webhook into another team's namespace",
        "Alertmanager (shared)",
        "alert_targets_within_tenancy",
        "must use https",
        project={
            "spec.monitoring.alerts": [
                {"type": "webhook", "target": "http://feedback-collector.rag-assistant.svc.cluster.local/"}
            ]
        },
    ),
    Row(
        "webhook to the instance metadata address",
        "Alertmanager",
        "alert_targets_within_tenancy",
        "IP address",
        project={"spec.monitoring.alerts": [{"type": "webhook", "target": "https://169.254.169.254/"}]},
    ),
    Row(
        "webhook token in the bundle",
        "plan, state",
        "alert_targets_within_tenancy",
        "holds no credentials",
        project={"spec.monitoring.alerts": [{"type": "webhook", "target": "https://hooks.acme.example/T0?token=abc"}]},
    ),
    Row(
        "webhook to a host the platform did not allow",
        "Alertmanager",
        "alert_targets_within_tenancy",
        "not allowed by the platform",
        project={"spec.monitoring.alerts": [{"type": "webhook", "target": "https://exfil.example.net/x"}]},
    ),
    Row(
        "alarms published to a foreign SNS topic",
        "CloudWatch alarm actions",
        "alert_targets_within_tenancy",
        "not the environment's own account",
        project={"spec.monitoring.alerts": [{"type": "sns", "target": "arn:aws:sns:us-east-1:999999999999:exfil"}]},
    ),
    Row(
        "a Slack webhook URL in the bundle",
        "plan, state",
        "alert_targets_within_tenancy",
        "lives in Secrets Manager",
        project={
            "spec.monitoring.alerts": [{"type": "slack", "target": "https://hooks.slack.com/services/T/B/SECRET"}]
        },
    ),
    Row(
        "a secret path out of the project",
        "Secrets Manager",
        "alert_targets_within_tenancy",
        "routing key's secret",
        project={"spec.monitoring.alerts": [{"type": "pagerduty", "target": "../rag-assistant/alerts/key"}]},
    ),
]

TAGS = [
    Row(
        "an aws: tag",
        "AWS tags",
        "project_tags_within_limits",
        "reserves",
        project={"spec.tags": {"aws:createdBy": "x"}},
    ),
    Row(
        "a case-changed AWS: tag",
        "AWS tags",
        "project_tags_within_limits",
        "reserves",
        project={"spec.tags": {"AWS:x": "y"}},
    ),
    Row(
        "an mlrig: tag",
        "persona and data-class tags",
        "project_tags_within_limits",
        "reserves",
        project={"spec.tags": {"mlrig:persona": "ci-deployer"}},
    ),
    Row(
        "a Karpenter discovery tag",
        "every node of the cluster (its security groups)",
        "project_tags_within_limits",
        "every node of the cluster",
        project={"spec.tags": {"karpenter.sh/discovery": "acme-ml-dev"}},
    ),
    Row(
        "a cluster ownership tag, prod only",
        "the load balancer controller's security groups",
        "project_tags_within_limits",
        "reserves",
        edit=lambda p: p["spec"]["environments"]["prod"].__setitem__(
            "tags", {"kubernetes.io/cluster/acme-ml-prod": "owned"}
        ),
    ),
    Row(
        "a cost centre with an expression and a newline",
        "AWS tags, generated files",
        "project_tags_within_limits",
        "not an AWS tag value",
        project={"metadata.costCenter": "${{ secrets.PROD_TOKEN }}\nx: y"},
    ),
    Row(
        "another team's cost centre",
        "who is charged (the cost-center tag)",
        "cost_tags_admitted",
        "it decides who is charged",
        project={"metadata.costCenter": "cc-genai"},
        platform={"spec.tenancy.projects.fraud-detection.costCenter": "cc-1234"},
    ),
    Row(
        "more tags than AWS allows with mlrig's",
        "every AWS resource",
        "project_tags_within_limits",
        "at most",
        project={"spec.tags": {f"t{i}": "x" for i in range(45)}},
    ),
    Row(
        "thousands of tags",
        "every AWS resource",
        "schema",
        "at most 50",
        project={"spec.tags": {f"t{i}": "x" for i in range(5000)}},
    ),
]

SIZES = [
    Row(
        "48 pools of 1,000 p5.48xlarge",
        "cost: NodePool limits and quota",
        "capacity_within_tenancy",
        "more than the 128 platform 'acme-ml' allows",
        edit=lambda p: p["spec"]["compute"]["pools"].extend(
            {"name": f"p{i}", "instanceTypes": ["p5.48xlarge"], "gpu": {"count": 8}, "max": 1000} for i in range(48)
        ),
    ),
    Row(
        "50 endpoints of 1,000 replicas on the general nodes",
        "the general nodes every team shares",
        "capacity_within_tenancy",
        "CPU cores on the general nodes",
        project={
            "spec.serving.endpoints": [
                {
                    "name": f"e{i}",
                    "runtime": "sklearn",
                    "resources": {"cpu": "64"},
                    "autoscaling": {"maxReplicas": 1000},
                }
                for i in range(50)
            ]
        },
    ),
    Row(
        "a prod-only pool of 500 nodes",
        "cost: NodePool limits and quota",
        "capacity_within_tenancy",
        "more than the 200 platform 'acme-ml' allows",
        edit=lambda p: p["spec"]["environments"]["prod"]["compute"].__setitem__(
            "pools", [{"name": "gpu-train", "max": 500}]
        ),
    ),
    Row(
        "600 pipelines",
        "cluster, plan time",
        "schema",
        "at most 100",
        project={"spec.pipelines": {f"p{i}": {"type": "training", "image": "training"} for i in range(600)}},
    ),
    Row(
        "200 endpoints",
        "cluster, plan time",
        "schema",
        "at most 50",
        project={"spec.serving.endpoints": many(200, lambda i: {"name": f"e{i}", "image": "serving"})},
    ),
    Row(
        "60 pools",
        "NodePools",
        "schema",
        "at most 50",
        project={"spec.compute.pools": many(60, lambda i: {"name": f"p{i}"})},
    ),
    Row("60 registries", "ECR", "schema", "at most 50", project={"spec.registries": many(60, lambda i: f"r{i}")}),
    Row(
        "30 alert routes",
        "Alertmanager",
        "schema",
        "at most 20",
        project={"spec.monitoring.alerts": many(30, lambda i: {"type": "slack", "target": f"#c{i}"})},
    ),
    Row(
        "500 principals",
        "IAM trust size",
        "schema",
        "at most 100",
        project={"spec.access.dataScientists": many(500, lambda i: f"arn:aws:iam::111111111111:role/r{i}")},
    ),
    Row(
        "500 parameters",
        "workflow templates",
        "schema",
        "at most 100",
        project={"spec.pipelines.train.parameters": {f"k{i}": i for i in range(500)}},
    ),
    Row(
        "100 quality metrics",
        "alert rules",
        "schema",
        "at most 50",
        project={"spec.monitoring.quality": many(100, lambda i: {"name": f"m{i}", "threshold": 0.5})},
    ),
]

FILES = [
    Row(
        "a file named *.yaml",
        "CODEOWNERS",
        "file_names_match_bundle_names",
        "must be named fraud-detection.yaml",
        file="*.yaml",
    ),
    Row(
        "a file name holding a CODEOWNERS line",
        "CODEOWNERS",
        "file_names_match_bundle_names",
        "must be named fraud-detection.yaml",
        file="a\n* @attacker\n#.yaml",
    ),
    Row(
        "a file name holding an owner",
        "CODEOWNERS",
        "file_names_match_bundle_names",
        "must be named fraud-detection.yaml",
        file="a @attacker b.yaml",
    ),
]

OUTPUT = [
    Row(
        "a key holding a fake CI log command",
        "CI logs",
        "schema",
        "unknown key 'x\\n::warning::pwned'",
        edit=add_unknown_key("x\n::warning::pwned"),
    ),
    Row(
        "an override changing the repository",
        "IAM, GitHub",
        "schema",
        "the same in every environment",
        edit=lambda p: p["spec"]["environments"]["prod"].__setitem__("repository", "attacker-org/x"),
    ),
]

ROWS: list[Row] = [*REPOSITORY, *PRINCIPALS, *APPROVERS, *DATA, *NAMES, *ALERTS, *TAGS, *SIZES, *FILES, *OUTPUT]


def attack(row: Row) -> tuple[Any, str]:
    """The example set with the row's changes: (validation result, the attacker's file)."""
    platform = example("platform")
    for path, value in {**(ADMIT_EVIL if row.new_project else {}), **row.platform}.items():
        set_path(platform, path, value)
    attacker = example("fraud")
    for path, value in row.project.items():
        set_path(attacker, path, value)
    if row.edit:
        row.edit(attacker)
    documents = [platform, example("rag"), attacker]
    files = ["platform.yaml", EXAMPLE_FILES["rag"], row.file or file_names((attacker,))[0]]
    if row.new_project:
        documents.append(example("fraud"))
        files.append(EXAMPLE_FILES["fraud"])
    return validate(*documents, files=files), files[2]


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_a_hostile_value_is_stopped_in_the_attackers_file(row: Row):
    result, attacker_file = attack(row)
    assert not result.valid
    mine = [d for d in result.diagnostics if d.rule == row.rule]
    assert mine, f"{row.id}: expected {row.rule}\n{explain(result)}"
    assert any(row.fragment in d.message for d in mine), f"{row.id}\n{explain(result)}"
    assert any(d.file == result_file(attacker_file) for d in mine), f"{row.id}\n{explain(result)}"
    assert "fraud-detection" not in result.projects or row.new_project


def result_file(file: str) -> str:
    """Diagnostics show file names with control characters escaped."""
    from mlrig.bundle.diagnostics import sanitize

    return sanitize(file)


def test_the_unchanged_examples_pass_so_every_row_fails_for_its_own_change():
    result, _ = attack(Row("none", "-", "-", "-"))
    assert result.valid, explain(result)


def test_the_table_covers_every_project_field_that_reaches_trust():
    covered = " ".join(f"{path} {row.id}" for row in ROWS for path in row.project) + " ".join(r.id for r in ROWS)
    for field_ in (
        "spec.repository",
        "spec.access",
        "spec.ci.prodApprovers",
        "metadata.name",
        "spec.monitoring.alerts",
        "spec.tags",
        "spec.compute.pools",
        "spec.pipelines",
        "spec.registries",
        "spec.serving.endpoints",
        "file name",
        "override",
    ):
        assert field_ in covered, field_
