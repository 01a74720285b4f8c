"""`deploymentPattern: deploy-models` (the Big Book of MLOps): the model is trained once, in dev, and
the artifact is promoted. Staging and prod run no training; their model CD imports the champion of
the tier below as its candidate, as the `model-import` workload, whose role reads exactly that
prefix of the lower environment (across accounts: its bucket and key policies admit exactly that
role) and writes nothing there. Proven on the plans of the fraud-detection example switched to
deploy-models, in moto like the access table.

(A module of its own: moto's mocked backend is process-wide, so this world must not overlap the
module-scoped worlds of the other modules.)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.core.authorization import disable_iam_authentication, enable_iam_authentication

from mlrig.bundle.validate import validate_paths
from mlrig.checks.runner import check_stack, principal_owners
from mlrig.plan.engine import StackPlan
from mlrig.plan.runner import Planner
from mlrig.project.model_import import IMPORT_SCRIPT

from .conftest import ENVIRONMENTS, REGION, AwsWorld, _account, moto_world, plan_variant
from .iam_eval import StackIam

WORKFLOW_TEMPLATE = "kubernetes:argoproj.io/v1alpha1:WorkflowTemplate"
CRON_WORKFLOW = "kubernetes:argoproj.io/v1alpha1:CronWorkflow"
# fraud-detection retrains on drift; under deploy-models only dev may (the rules say so).
DEPLOY_MODELS = [
    ("deploymentPattern: deploy-code", "deploymentPattern: deploy-models"),
    ("    retrainOnDrift: true\n", "    retrainOnDrift: false\n"),
    ("    dev:\n      compute:", "    dev:\n      monitoring: { retrainOnDrift: true }\n      compute:"),
]
CHAMPION = "models/fraud-detection/champion/model.pkl"
CANDIDATE = "models/fraud-detection/candidate/model.pkl"
IMPORTER = "fraud-detection--{env}--wl--model-import"


@pytest.fixture(scope="module")
def deploy_models_plans(tmp_path_factory: pytest.TempPathFactory, repo_root: Path) -> dict[str, StackPlan]:
    return plan_variant(
        tmp_path_factory.mktemp("deploy-models"), repo_root, "fraud-detection.yaml", DEPLOY_MODELS, "deploy-models"
    )


@pytest.fixture(scope="module")
def deploy_models_iam(deploy_models_plans: dict[str, StackPlan]) -> dict[str, StackIam]:
    return {e: StackIam.of(plan) for e, plan in deploy_models_plans.items()}


INTRUDER = "staging-account-admin"


def staging_account_admin(account: str) -> StackIam:
    """A role of the staging account outside the access table, whose own policy reads everything."""
    intruder = StackIam(stack="intruder", account=account)
    root = {"AWS": f"arn:aws:iam::{account}:root"}
    intruder.roles[INTRUDER] = {
        "trust": {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": root, "Action": "sts:AssumeRole"}],
        },
        "tags": {},
        "arn": f"arn:aws:iam::{account}:role/{INTRUDER}",
    }
    intruder.role_policies[INTRUDER] = [
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": "*"},
                {"Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": "*"},
            ],
        }
    ]
    return intruder


@pytest.fixture(scope="module")
def world(deploy_models_iam: dict[str, StackIam]) -> Iterator[AwsWorld]:
    stacks = [*deploy_models_iam.values(), staging_account_admin(deploy_models_iam["staging"].account)]
    with moto_world(stacks) as loaded:
        with disable_iam_authentication():
            for stack in deploy_models_iam.values():  # a champion and a candidate in every environment
                with _account(stack.account):
                    s3 = boto3.client("s3", region_name=REGION)
                    for key in (CHAMPION, CANDIDATE):
                        s3.put_object(Bucket=stack.bucket("artifacts"), Key=key, Body=b"model")
        yield loaded


def objects(plan: StackPlan, type_: str) -> dict[str, dict[str, Any]]:
    return {r["inputs"]["metadata"]["name"]: r["inputs"] for r in plan.resources if r["type"] == type_}


def cd_template(plan: StackPlan) -> dict[str, Any]:
    return objects(plan, WORKFLOW_TEMPLATE)["deploy-model"]["spec"]


def tasks(spec: dict[str, Any]) -> dict[str, list[str]]:
    main = next(t for t in spec["templates"] if t["name"] == "main")
    return {t["name"]: t.get("dependencies", []) for t in main["dag"]["tasks"]}


# --- which pipelines run where ------------------------------------------------------------------


def test_only_dev_trains_staging_and_prod_have_no_training_template_nor_schedule(deploy_models_plans):
    dev = deploy_models_plans["dev"]
    assert "train" in objects(dev, WORKFLOW_TEMPLATE)
    assert "train" in objects(dev, CRON_WORKFLOW)
    for env in ("staging", "prod"):
        plan = deploy_models_plans[env]
        assert "train" not in objects(plan, WORKFLOW_TEMPLATE), env
        assert "train" not in objects(plan, CRON_WORKFLOW), env
        # What does not train keeps running: features, batch scoring, monitoring, the model CD.
        assert {"features", "score-batch", "monitor", "deploy-model"} <= set(objects(plan, WORKFLOW_TEMPLATE))
        assert not any(r["inputs"]["name"].endswith("--wl--train") for r in plan.of_type("aws:iam/role:Role"))


def test_the_dev_model_cd_is_the_book_cd_and_a_finished_training_run_still_submits_it(deploy_models_plans):
    dev = cd_template(deploy_models_plans["dev"])
    assert "import" not in tasks(dev)
    train = objects(deploy_models_plans["dev"], WORKFLOW_TEMPLATE)["train"]["spec"]
    assert train["onExit"] == "release"


def test_staging_and_prod_cd_import_the_tier_belows_champion_before_any_check(deploy_models_plans):
    sources = {"staging": "dev", "prod": "staging"}
    for env, source in sources.items():
        spec = cd_template(deploy_models_plans[env])
        dag = tasks(spec)
        assert dag["import"] == []
        assert all(dag[t] == ["import"] for t in dag if t.startswith("compliance-"))
        assert list(dag)[-1] == "promote"
        (step,) = (t for t in spec["templates"] if t["name"] == "import")
        assert step["serviceAccountName"] == "wl-model-import"
        assert spec["serviceAccountName"] == "wl-deploy-model"  # the other steps keep the pipeline's
        variables = {e["name"]: e["value"] for e in step["container"]["env"]}
        assert variables["MLRIG_SOURCE_MODEL_URI"].startswith(f"s3://fraud-detection--{source}--artifacts--")
        assert variables["MLRIG_SOURCE_MODEL_URI"].endswith("/models/fraud-detection/champion/")
        assert variables["MLRIG_CANDIDATE_URI"].startswith(f"s3://fraud-detection--{env}--artifacts--")
        # The checks and the comparison are told where the imported candidate is.
        (compare,) = (t for t in spec["templates"] if t["name"] == "compare")
        assert {"name": "MLRIG_CANDIDATE_URI", "value": variables["MLRIG_CANDIDATE_URI"]} in compare["container"]["env"]


def test_monitoring_in_staging_and_prod_never_submits_training(deploy_models_plans):
    for env in ("staging", "prod"):
        monitor = objects(deploy_models_plans[env], WORKFLOW_TEMPLATE)["monitor"]["spec"]
        assert "retrain" not in {t["name"] for t in monitor["templates"]}, env
    dev_monitor = objects(deploy_models_plans["dev"], WORKFLOW_TEMPLATE)["monitor"]["spec"]
    assert "retrain" in {t["name"] for t in dev_monitor["templates"]}


def test_every_deployability_check_passes_in_every_environment(tmp_path: Path, repo_root: Path):
    plan_variant(tmp_path, repo_root, "fraud-detection.yaml", DEPLOY_MODELS, "checked")
    result = validate_paths([tmp_path / "checked"])
    (project,) = result.projects.values()
    planner = Planner()
    owners = principal_owners([*result.platforms.values(), project])
    for env in ENVIRONMENTS:
        assert check_stack(project, env, planner, owners) == [], env


# --- the import step's identity, in moto ----------------------------------------------------------


def test_the_staging_importer_reads_devs_champion_and_nothing_else_of_dev(world, deploy_models_iam):
    dev, importer = deploy_models_iam["dev"], IMPORTER.format(env="staging")
    artifacts = dev.bucket("artifacts")
    assert world.can(importer, "read", artifacts, CHAMPION, list_bucket=False)
    assert not world.can(importer, "read", artifacts, CANDIDATE, list_bucket=False)
    assert not world.can(importer, "read", artifacts, "mlflow/sample.json", list_bucket=False)
    assert not world.can(importer, "read", artifacts, "hub/sample.bin", list_bucket=False)
    assert not world.can(importer, "read", dev.bucket("data"), "gold/sample.parquet", list_bucket=False)
    assert not world.can(importer, "read", dev.bucket("logs"), "inference/sample.json", list_bucket=False)


def test_no_importer_writes_below_its_environment(world, deploy_models_iam):
    for env, source in (("staging", "dev"), ("prod", "staging")):
        lower = deploy_models_iam[source]
        for data_class in ("data", "artifacts", "logs"):
            assert not world.can(IMPORTER.format(env=env), "write", lower.bucket(data_class), CHAMPION)


def test_an_importer_writes_its_own_candidate_only(world, deploy_models_iam):
    for env in ("staging", "prod"):
        own, importer = deploy_models_iam[env].bucket("artifacts"), IMPORTER.format(env=env)
        assert world.can(importer, "write", own, CANDIDATE)
        assert not world.can(importer, "write", own, CHAMPION)  # promotion is the CD's promote step
        assert not world.can(importer, "read", deploy_models_iam[env].bucket("data"), "gold/sample.parquet")


def test_prod_imports_from_staging_never_from_dev(world, deploy_models_iam):
    importer = IMPORTER.format(env="prod")
    assert world.can(importer, "read", deploy_models_iam["staging"].bucket("artifacts"), CHAMPION, list_bucket=False)
    assert not world.can(importer, "read", deploy_models_iam["dev"].bucket("artifacts"), CHAMPION, list_bucket=False)


def test_the_cross_account_grant_admits_the_importer_alone(world, deploy_models_iam):
    """Dev's bucket and key policies admit the staging account only through `aws:PrincipalArn` on
    the importer: another staging role, even one whose own policy allows every read, gets nothing."""
    dev, staging = deploy_models_iam["dev"], deploy_models_iam["staging"]
    assert dev.account != staging.account
    assert world.can(IMPORTER.format(env="staging"), "read", dev.bucket("artifacts"), CHAMPION, list_bucket=False)
    assert not world.can(INTRUDER, "read", dev.bucket("artifacts"), CHAMPION, list_bucket=False)


def test_the_source_key_admits_the_importer_to_decrypt_through_s3_only(deploy_models_iam):
    dev = deploy_models_iam["dev"]
    importer_arn = deploy_models_iam["staging"].roles[IMPORTER.format(env="staging")]["arn"]
    (statement,) = (s for s in dev.key_policy["Statement"] if s.get("Sid") == "ReadFromOtherEnvironments")
    assert importer_arn in statement["Condition"]["ArnEquals"]["aws:PrincipalArn"]
    assert "kms:GenerateDataKey" not in statement["Action"]
    assert statement["Condition"]["StringEquals"]["kms:ViaService"] == [f"s3.{REGION}.amazonaws.com"]


def test_the_import_script_run_as_the_importer_replaces_stagings_candidate_with_devs_champion(
    world, deploy_models_iam, deploy_models_plans, monkeypatch
):
    """The step's own script, with the staging importer's credentials and IAM enforced: the
    candidate becomes dev's champion, and what the old candidate held besides is gone."""
    dev, staging = deploy_models_iam["dev"], deploy_models_iam["staging"]
    spec = cd_template(deploy_models_plans["staging"])
    (step,) = (t for t in spec["templates"] if t["name"] == "import")
    importer = IMPORTER.format(env="staging")
    with disable_iam_authentication():
        with _account(dev.account):
            boto3.client("s3", region_name=REGION).put_object(
                Bucket=dev.bucket("artifacts"), Key="models/fraud-detection/champion/weights.bin", Body=b"dev model"
            )
        with _account(staging.account):
            boto3.client("s3", region_name=REGION).put_object(
                Bucket=staging.bucket("artifacts"), Key="models/fraud-detection/candidate/stale.bin", Body=b"old"
            )
            credentials = boto3.client("sts", region_name=REGION).assume_role(
                RoleArn=staging.roles[importer]["arn"], RoleSessionName="import"
            )["Credentials"]
    for variable in step["container"]["env"]:
        monkeypatch.setenv(variable["name"], variable["value"])
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", credentials["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", credentials["SecretAccessKey"])
    monkeypatch.setenv("AWS_SESSION_TOKEN", credentials["SessionToken"])
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # it caches the credentials it first found
    with enable_iam_authentication():
        exec(compile(IMPORT_SCRIPT, "import-step", "exec"), {"__name__": "__main__"})
    with disable_iam_authentication(), _account(staging.account):
        s3 = boto3.client("s3", region_name=REGION)
        listed = s3.list_objects_v2(Bucket=staging.bucket("artifacts"), Prefix="models/fraud-detection/candidate/")
        keys = {o["Key"] for o in listed["Contents"]}
        assert keys == {CANDIDATE, "models/fraud-detection/candidate/weights.bin"}
        body = s3.get_object(Bucket=staging.bucket("artifacts"), Key="models/fraud-detection/candidate/weights.bin")
        assert body["Body"].read() == b"dev model"
