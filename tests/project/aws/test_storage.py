"""Project storage per environment: buckets by data class, encrypted with the project key, private,
TLS only, versioned and expiring as the tier asks, logged in prod; one Glue database each."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from mlrig.bundle.validate import ValidationResult
from mlrig.plan.engine import StackPlan

from .conftest import ENVIRONMENTS, PROJECTS, VARIANT_RETENTION_DAYS

pytestmark = pytest.mark.slow
STACKS = [(p, e) for p in PROJECTS for e in ENVIRONMENTS]
IDS = [f"{p}.{e}" for p, e in STACKS]
BUCKET = "aws:s3/bucket:Bucket"


def of_bucket(plan: StackPlan, token: str, bucket: str) -> list[dict[str, Any]]:
    return [r["inputs"] for r in plan.of_type(token) if r["inputs"]["bucket"] == bucket]


def project_buckets(plan: StackPlan) -> dict[str, str]:
    return {r["inputs"]["tags"]["mlrig:data-class"]: r["inputs"]["bucket"] for r in plan.of_type(BUCKET)}


@pytest.fixture(params=STACKS, ids=IDS)
def stack(request: pytest.FixtureRequest, project_plan: Callable[[str, str], StackPlan]) -> tuple[str, str, StackPlan]:
    project, environment = request.param
    return project, environment, project_plan(project, environment)


def test_every_environment_has_a_bucket_per_data_class_named_after_its_account(
    stack: tuple[str, str, StackPlan],
) -> None:
    project, environment, plan = stack
    buckets = project_buckets(plan)
    expected = {"data", "artifacts", "logs"} | ({"access-logs"} if environment == "prod" else set())
    assert set(buckets) == expected
    account = plan.outputs["accountId"]
    assert all(name == f"{project}--{environment}--{c}--{account}" for c, name in buckets.items())


def test_project_buckets_are_encrypted_with_the_project_key_and_bucket_keys(stack: tuple[str, str, StackPlan]) -> None:
    _, _, plan = stack
    (key,) = plan.of_type("aws:kms/key:Key")
    assert key["inputs"]["enableKeyRotation"] is True
    for data_class in ("data", "artifacts", "logs"):
        (sse,) = of_bucket(
            plan,
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            project_buckets(plan)[data_class],
        )
        (rule,) = sse["rules"]
        assert rule["applyServerSideEncryptionByDefault"] == {
            "sseAlgorithm": "aws:kms",
            "kmsMasterKeyId": key["outputs"]["arn"],
        }
        assert rule["bucketKeyEnabled"] is True


def test_every_bucket_is_private_owner_enforced_and_tls_only(stack: tuple[str, str, StackPlan]) -> None:
    _, _, plan = stack
    for bucket in project_buckets(plan).values():
        (block,) = of_bucket(plan, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", bucket)
        assert all(
            block[k] is True
            for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
        )
        (ownership,) = of_bucket(plan, "aws:s3/bucketOwnershipControls:BucketOwnershipControls", bucket)
        assert ownership["rule"] == {"objectOwnership": "BucketOwnerEnforced"}
        (policy,) = of_bucket(plan, "aws:s3/bucketPolicy:BucketPolicy", bucket)
        deny_plain_http = [
            s
            for s in json.loads(policy["policy"])["Statement"]
            if s["Effect"] == "Deny"
            and s["Principal"] == "*"
            and s["Action"] == "s3:*"
            and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        ]
        assert deny_plain_http and deny_plain_http[0]["Resource"] == [
            f"arn:aws:s3:::{bucket}",
            f"arn:aws:s3:::{bucket}/*",
        ]


def test_buckets_are_versioned_in_staging_and_prod_only(stack: tuple[str, str, StackPlan]) -> None:
    _, environment, plan = stack
    for bucket in project_buckets(plan).values():
        versioning = of_bucket(plan, "aws:s3/bucketVersioning:BucketVersioning", bucket)
        if environment == "dev":
            assert versioning == []
        else:
            assert [v["versioningConfiguration"]["status"] for v in versioning] == ["Enabled"]


def lifecycle(plan: StackPlan, bucket: str) -> dict[str, dict[str, Any]]:
    (config,) = of_bucket(plan, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", bucket)
    return {rule["id"]: rule for rule in config["rules"]}


def test_staging_data_and_logs_expire_after_the_bundles_retention(
    stack: tuple[str, str, StackPlan], example_result: ValidationResult
) -> None:
    project, environment, plan = stack
    retention = example_result.projects[project].environments[environment].spec.storage.staging_retention_days
    for data_class in ("data", "artifacts", "logs"):
        expiring = [
            r
            for r in lifecycle(plan, project_buckets(plan)[data_class]).values()
            if r.get("expiration") and r["filter"]["prefix"] == ""
        ]
        if environment == "staging" and data_class != "artifacts":
            assert [r["expiration"]["days"] for r in expiring] == [retention]
        else:
            assert expiring == []


def test_a_changed_staging_retention_changes_the_expiration(variant_plans: dict[str, StackPlan]) -> None:
    plan = variant_plans["staging"]
    for data_class in ("data", "logs"):
        rules = lifecycle(plan, project_buckets(plan)[data_class])
        assert rules["staging-retention"]["expiration"] == {"days": VARIANT_RETENTION_DAYS}, data_class


def test_old_versions_expire_and_incomplete_uploads_are_aborted(
    stack: tuple[str, str, StackPlan], example_result: ValidationResult
) -> None:
    project, environment, plan = stack
    days = example_result.projects[project].environments[environment].spec.storage.noncurrent_version_retention_days
    for data_class in ("data", "artifacts", "logs"):
        rules = lifecycle(plan, project_buckets(plan)[data_class])
        assert rules["abort-incomplete-uploads"]["abortIncompleteMultipartUpload"]["daysAfterInitiation"] >= 1
        if environment != "dev":
            assert rules["expire-old-versions"]["noncurrentVersionExpiration"] == {"noncurrentDays": days}


def test_prod_buckets_log_access_to_the_access_log_bucket(stack: tuple[str, str, StackPlan]) -> None:
    _, environment, plan = stack
    buckets = project_buckets(plan)
    logging = {r["inputs"]["bucket"]: r["inputs"] for r in plan.of_type("aws:s3/bucketLogging:BucketLogging")}
    if environment != "prod":
        assert logging == {}
        return
    assert set(logging) == {buckets[c] for c in ("data", "artifacts", "logs")}
    assert {entry["targetBucket"] for entry in logging.values()} == {buckets["access-logs"]}
    (sse,) = of_bucket(
        plan,
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        buckets["access-logs"],
    )
    # S3 server access logging delivers only to SSE-S3 buckets.
    assert sse["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "AES256"


def test_each_environment_has_its_glue_catalog_database(stack: tuple[str, str, StackPlan]) -> None:
    project, environment, plan = stack
    (database,) = plan.of_type("aws:glue/catalogDatabase:CatalogDatabase")
    # Glue allows no '-': hyphens become '_' and the parts are joined with '__' (never in a name).
    assert database["inputs"]["name"] == f"{project.replace('-', '_')}__{environment}"
    assert database["inputs"]["locationUri"] == f"s3://{project_buckets(plan)['data']}/"


def key_statements(plan: StackPlan) -> dict[str, dict[str, Any]]:
    (key,) = plan.of_type("aws:kms/key:Key")
    return {s["Sid"]: s for s in json.loads(key["inputs"]["policy"])["Statement"]}


def test_the_key_policy_admits_only_this_projects_roles_to_its_data(stack: tuple[str, str, StackPlan]) -> None:
    """Data-use statements name roles of this project only; the administrator cannot decrypt S3."""
    project, environment, plan = stack
    statements = key_statements(plan)
    assert "WriteProjectData" in statements
    for sid in ("ReadProjectData", "WriteProjectData"):
        if sid not in statements:  # in dev every persona writes: nobody only reads
            continue
        principals = statements[sid]["Principal"]["AWS"]
        assert principals and all(f":role/{project}--{environment}--" in p for p in principals), principals
    assert "kms:Decrypt" not in statements["AdministerKey"]["Action"]
    account = plan.outputs["accountId"]
    assert statements["AdministerKey"]["Principal"] == {"AWS": [f"arn:aws:iam::{account}:role/mlrig-deployer"]}
    via = statements["DeployEncryptedResources"]["Condition"]["StringEquals"]["kms:ViaService"]
    assert not any(v.startswith("s3.") for v in via)
    if environment == "prod":
        readers_only = set(statements["ReadProjectData"]["Principal"]["AWS"])  # in prod, personas read and never write
        assert {p.rsplit("/", 1)[1] for p in readers_only} >= {
            f"{project}--prod--data-scientist",
            f"{project}--prod--ml-engineer",
        }
        assert not any(
            "--prod--data-scientist" in p or "--prod--ml-engineer" in p
            for p in statements["WriteProjectData"]["Principal"]["AWS"]
        )


def test_every_project_key_keeps_the_account_root_so_iam_can_delegate_its_use(
    stack: tuple[str, str, StackPlan],
) -> None:
    """Without it IAM cannot grant use of the key (the platform team could not fill the secrets
    it is told to fill) and a recreated deployer role would leave the key unmanageable."""
    _, _, plan = stack
    root = key_statements(plan)["EnableIamPolicies"]
    assert root["Principal"] == {"AWS": f"arn:aws:iam::{plan.outputs['accountId']}:root"}
    assert root["Effect"] == "Allow" and root["Action"] == "kms:*" and "Condition" not in root


def principals_of(document: dict[str, Any]) -> set[str]:
    found: set[str] = set()
    for statement in document["Statement"]:
        principal = statement.get("Principal", {})
        if isinstance(principal, dict):
            found |= set(_as_list(principal.get("AWS", [])))
    return found


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_no_key_or_bucket_policy_names_a_principal_another_stack_creates(stack: tuple[str, str, StackPlan]) -> None:
    """KMS and S3 reject a policy naming a principal that does not exist yet: staging and prod
    must apply before dev (or alone). Only this stack's roles, the account principals and the
    administrators that run Pulumi may be named; other environments' roles come in through
    `aws:PrincipalArn` conditions."""
    _, _, plan = stack
    own_roles = {r["outputs"]["arn"] for r in plan.of_type("aws:iam/role:Role")}
    administrators = set(_as_list(key_statements(plan)["AdministerKey"]["Principal"]["AWS"]))
    documents = [json.loads(k["inputs"]["policy"]) for k in plan.of_type("aws:kms/key:Key")]
    documents += [json.loads(p["inputs"]["policy"]) for p in plan.of_type("aws:s3/bucketPolicy:BucketPolicy")]
    foreign = {
        p
        for document in documents
        for p in principals_of(document)
        if p not in own_roles and p not in administrators and not p.endswith(":root")
    }
    assert foreign == set()


def test_prod_admits_dev_readers_by_condition_on_their_role_arns(project_plan: Callable[[str, str], StackPlan]) -> None:
    plan = project_plan("fraud-detection", "prod")
    dev_readers = [
        "arn:aws:iam::111111111111:role/fraud-detection--dev--data-scientist",
        "arn:aws:iam::111111111111:role/fraud-detection--dev--ml-engineer",
    ]
    foreign = key_statements(plan)["ReadFromOtherEnvironments"]
    assert foreign["Principal"] == {"AWS": ["arn:aws:iam::111111111111:root"]}
    assert foreign["Condition"]["ArnEquals"] == {"aws:PrincipalArn": dev_readers}
    assert foreign["Action"] == ["kms:Decrypt", "kms:DescribeKey"]
    (data_policy,) = [
        json.loads(p["inputs"]["policy"])
        for p in plan.of_type("aws:s3/bucketPolicy:BucketPolicy")
        if "--prod--data--" in p["inputs"]["bucket"]
    ]
    read = next(s for s in data_policy["Statement"] if s["Sid"] == "CrossAccountRead")
    assert read["Principal"] == {"AWS": ["arn:aws:iam::111111111111:root"]}
    assert read["Condition"] == {"ArnEquals": {"aws:PrincipalArn": dev_readers}}
