"""Registries, databases, LLMOps services and alarms of a project environment."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from mlrig.bundle.validate import ValidationResult
from mlrig.plan.engine import StackPlan

from .conftest import ENVIRONMENTS

pytestmark = pytest.mark.slow


def inputs(plan: StackPlan, token: str) -> list[dict[str, Any]]:
    return [r["inputs"] for r in plan.of_type(token)]


def key_arn(plan: StackPlan) -> str:
    (key,) = plan.of_type("aws:kms/key:Key")
    return str(key["outputs"]["arn"])


# --- registries -------------------------------------------------------------------------------


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_each_registry_is_an_immutable_scanned_kms_encrypted_repository(
    environment: str, project_plan: Callable[[str, str], StackPlan], example_result: ValidationResult
) -> None:
    plan = project_plan("fraud-detection", environment)
    spec = example_result.projects["fraud-detection"].environments[environment].spec
    repositories = {r["name"]: r for r in inputs(plan, "aws:ecr/repository:Repository")}
    assert set(repositories) == {f"fraud-detection/{environment}/{r}" for r in spec.registries}
    for repository in repositories.values():
        assert repository["imageTagMutability"] == "IMMUTABLE"
        assert repository["imageScanningConfiguration"] == {"scanOnPush": True}
        assert repository["encryptionConfigurations"] == [{"encryptionType": "KMS", "kmsKey": key_arn(plan)}]
    for lifecycle in inputs(plan, "aws:ecr/lifecyclePolicy:LifecyclePolicy"):
        rules = json.loads(lifecycle["policy"])["rules"]
        counts = {r["selection"]["tagStatus"]: r["selection"]["countNumber"] for r in rules}
        # every image of the examples is built for amd64 only: one image per build
        assert counts == {"untagged": spec.registry.untagged_expiry_days, "any": spec.registry.keep_last_images}


def test_only_the_ci_deployer_pushes_and_the_nodes_pull(
    project_plan: Callable[[str, str], StackPlan], platform_plan: Callable[[str], StackPlan]
) -> None:
    plan = project_plan("fraud-detection", "prod")
    ci_deployer = "arn:aws:iam::333333333333:role/fraud-detection--prod--ci-deployer"
    for policy in inputs(plan, "aws:ecr/repositoryPolicy:RepositoryPolicy"):
        statements = {s["Sid"]: s for s in json.loads(policy["policy"])["Statement"]}
        assert statements["CiDeployerPushes"]["Principal"] == {"AWS": ci_deployer}
        assert "ecr:PutImage" in statements["CiDeployerPushes"]["Action"]
        deny = statements["OnlyCiDeployerPushes"]
        assert deny["Effect"] == "Deny" and deny["Principal"] == "*" and "ecr:PutImage" in deny["Action"]
        assert deny["Condition"] == {"StringNotEquals": {"aws:PrincipalArn": ci_deployer}}
        pullers = statements["NodesPull"]["Principal"]["AWS"]
        assert platform_plan("prod").outputs["nodeRoleArn"] in pullers
        assert "ecr:PutImage" not in statements["NodesPull"]["Action"]


# --- databases ----------------------------------------------------------------------------------


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_tracking_store_is_private_encrypted_backed_up_and_guarded_in_prod(
    environment: str, project_plan: Callable[[str, str], StackPlan], platform_plan: Callable[[str], StackPlan]
) -> None:
    plan = project_plan("fraud-detection", environment)
    platform = platform_plan(environment).outputs
    (database,) = [
        d for d in plan.of_type("aws:rds/instance:Instance") if d["inputs"]["identifier"].endswith("-mlflow")
    ]
    db = database["inputs"]
    prod = environment == "prod"
    assert db["engine"] == "postgres"
    assert db["storageEncrypted"] is True and db["kmsKeyId"] == key_arn(plan)
    assert db["publiclyAccessible"] is False
    assert db["dbSubnetGroupName"] == platform["databaseSubnetGroupName"]
    assert db["backupRetentionPeriod"] == (30 if prod else 7)
    assert db["deletionProtection"] is prod
    assert database["options"]["protect"] is prod
    assert db["skipFinalSnapshot"] is not prod
    assert ("finalSnapshotIdentifier" in db) is prod

    (rule,) = [
        r for r in inputs(plan, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule") if r["fromPort"] == 5432
    ]
    assert (rule["toPort"], rule["ipProtocol"]) == (5432, "tcp")
    assert rule["referencedSecurityGroupId"] == platform["clusterSecurityGroupId"]
    assert "cidrIpv4" not in rule


@pytest.mark.parametrize("project", ["fraud-detection", "rag-assistant"])
def test_a_prod_databases_final_snapshot_is_named_for_that_database_alone(
    project: str, project_plan: Callable[[str, str], StackPlan]
) -> None:
    """A final snapshot outlives its database: under a fixed `<identifier>-final` the deletion of a
    database created again after one deletion failed (`DBSnapshotAlreadyExists`). The suffix is a
    RandomId made and deleted with the database's component, so each database gets its own name."""
    plan = project_plan(project, "prod")
    databases = plan.of_type("aws:rds/instance:Instance")
    suffixes = {r["parent"]: r for r in plan.of_type("random:index/randomId:RandomId")}
    names = []
    for database in databases:
        identifier = database["inputs"]["identifier"]
        suffix = suffixes[database["parent"]]  # a child of the same component: made and deleted with it
        assert suffix["inputs"]["keepers"] == {"identifier": identifier}
        name = database["inputs"]["finalSnapshotIdentifier"]
        assert name == f"{identifier}-final-{suffix['outputs']['hex']}"
        # RDS: 1-255 letters, digits and hyphens, a letter first, no "--", no hyphen last
        assert re.fullmatch(r"[a-z][a-z0-9-]{0,254}", name) and "--" not in name and not name.endswith("-")
        names.append(name)
    assert len(set(names)) == len(names) == len(suffixes)


def test_database_passwords_are_managed_by_rds_and_never_pass_through_pulumi(
    project_plan: Callable[[str, str], StackPlan],
) -> None:
    """No generated password in state: RDS creates and keeps the master password in a secret of
    its own, encrypted with the project key (issue 8: previews could read state)."""
    plan = project_plan("rag-assistant", "prod")
    assert plan.of_type("random:index/randomPassword:RandomPassword") == []
    for database in inputs(plan, "aws:rds/instance:Instance"):
        assert database["manageMasterUserPassword"] is True
        assert database["masterUserSecretKmsKeyId"] == key_arn(plan)
        assert "password" not in database
    # Only the secrets a person fills are created by mlrig, and none of them gets a value here.
    assert plan.of_type("aws:secretsmanager/secretVersion:SecretVersion") == []
    names = {s["name"] for s in inputs(plan, "aws:secretsmanager/secret:Secret")}
    assert not any(n.endswith(("/mlflow-db", "/vector-db")) for n in names)
    assert plan.outputs["trackingDatabaseSecret"].split(":secret:")[1].startswith("rds!db-")


# --- LLMOps ---------------------------------------------------------------------------------------


def test_pgvector_runs_on_its_own_encrypted_postgres(
    project_plan: Callable[[str, str], StackPlan], example_result: ValidationResult
) -> None:
    plan = project_plan("rag-assistant", "dev")
    vdb = example_result.projects["rag-assistant"].environments["dev"].spec.llm.vector_database
    assert vdb is not None
    (database,) = [
        d["inputs"] for d in plan.of_type("aws:rds/instance:Instance") if d["inputs"]["identifier"].endswith("-vectors")
    ]
    assert database["allocatedStorage"] == vdb.storage_gib
    assert database["storageEncrypted"] is True and database["publiclyAccessible"] is False


def test_gateway_provider_keys_are_empty_secrets_readable_by_the_gateway_only(
    project_plan: Callable[[str, str], StackPlan],
) -> None:
    plan = project_plan("rag-assistant", "staging")
    names = {s["name"] for s in inputs(plan, "aws:secretsmanager/secret:Secret")}
    assert {f"mlrig/rag-assistant/staging/llm-gateway/{p}" for p in ("openai", "anthropic")} <= names
    readers = [p["role"] for p in inputs(plan, "aws:iam/rolePolicy:RolePolicy") if "llm-gateway" in p["policy"]]
    assert readers == ["rag-assistant--staging--wl--gateway"]


def test_feedback_lands_in_the_logs_bucket_partitioned_by_date_and_encrypted(
    project_plan: Callable[[str, str], StackPlan],
) -> None:
    plan = project_plan("rag-assistant", "prod")
    (stream,) = inputs(plan, "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream")
    s3 = stream["extendedS3Configuration"]
    assert s3["bucketArn"] == "arn:aws:s3:::rag-assistant--prod--logs--333333333333"
    assert s3["prefix"] == "feedback/!{timestamp:yyyy/MM/dd}/"
    assert s3["errorOutputPrefix"].startswith("feedback/")
    assert s3["kmsKeyArn"] == key_arn(plan)
    assert s3["roleArn"].endswith(":role/rag-assistant--prod--firehose-feedback")
    assert stream["serverSideEncryption"] == {
        "enabled": True,
        "keyType": "CUSTOMER_MANAGED_CMK",
        "keyArn": key_arn(plan),
    }
    senders = [p["role"] for p in inputs(plan, "aws:iam/rolePolicy:RolePolicy") if "firehose:PutRecord" in p["policy"]]
    assert senders == ["rag-assistant--prod--wl--feedback"]


def test_a_project_without_llm_features_gets_no_llm_services(project_plan: Callable[[str, str], StackPlan]) -> None:
    plan = project_plan("fraud-detection", "prod")
    assert plan.of_type("aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream") == []
    assert [d for d in inputs(plan, "aws:rds/instance:Instance") if d["identifier"].endswith("-vectors")] == []


# --- alarms ---------------------------------------------------------------------------------------


def test_aws_side_alarms_go_to_the_projects_encrypted_topic(project_plan: Callable[[str, str], StackPlan]) -> None:
    plan = project_plan("rag-assistant", "prod")
    (topic,) = plan.of_type("aws:sns/topic:Topic")
    assert topic["inputs"]["kmsMasterKeyId"] == key_arn(plan)
    alarms = {a["name"]: a for a in inputs(plan, "aws:cloudwatch/metricAlarm:MetricAlarm")}
    assert {
        "rag-assistant--prod--tracking-db-cpu",
        "rag-assistant--prod--vector-db-storage",
        "rag-assistant--prod--feedback-delivery-failures",
    } <= set(alarms)
    assert all(a["alarmActions"] == [topic["outputs"]["arn"]] for a in alarms.values())
    secrets = {s["name"] for s in inputs(plan, "aws:secretsmanager/secret:Secret")}
    assert "mlrig/rag-assistant/prod/alerts/genai-oncall" in secrets  # PagerDuty routing key, set by hand


def test_free_storage_alarms_fire_near_the_autoscaling_ceiling_not_at_a_fixed_size(
    project_plan: Callable[[str, str], StackPlan],
) -> None:
    """Storage autoscales (20 GiB up to 4× that): "10% free" means 10% of the ceiling RDS can grow
    to, not a fixed 2 GiB of the initial size."""
    plan = project_plan("rag-assistant", "prod")
    alarms = {a["name"]: a for a in inputs(plan, "aws:cloudwatch/metricAlarm:MetricAlarm")}
    databases = {d["identifier"]: d for d in inputs(plan, "aws:rds/instance:Instance")}
    for signal, identifier in (
        ("tracking-db", "rag-assistant-prod-mlflow"),
        ("vector-db", "rag-assistant-prod-vectors"),
    ):
        alarm = alarms[f"rag-assistant--prod--{signal}-storage"]
        ceiling_bytes = databases[identifier]["maxAllocatedStorage"] * 1024**3
        assert alarm["metricName"] == "FreeStorageSpace" and alarm["comparisonOperator"] == "LessThanThreshold"
        assert alarm["threshold"] == pytest.approx(0.1 * ceiling_bytes)
