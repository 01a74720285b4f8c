"""rules/names.py: bundle and item names are unique, and every AWS name derived from them fits."""

from __future__ import annotations

import pytest

from mlrig import naming
from mlrig.bundle.diagnostics import format_path
from mlrig.bundle.rules.names import project_derived_names

from ..helpers import (
    admitting,
    check_platform,
    check_project,
    example,
    explain,
    minimal_platform,
    minimal_project,
    only,
    project_with,
    set_path,
    validate,
)


def test_two_projects_with_one_name_are_rejected_in_the_second_file():
    other = example("fraud")
    other["spec"]["repository"] = "acme/fraud-detection-2"
    files = ["platform.yaml", "a/fraud-detection.yaml", "b/fraud-detection.yaml"]
    result = validate(example("platform"), example("fraud"), other, files=files)
    [error] = [d for d in result.diagnostics if d.rule == "bundle_names_unique"]
    assert (error.file, error.path) == (files[2], "metadata.name") and f"already used by {files[1]}" in error.message


def test_two_platforms_with_one_name_are_rejected():
    result = validate(minimal_platform(), minimal_platform(), files=["a/acme-ml.yaml", "b/acme-ml.yaml"])
    assert only(result, "bundle_names_unique").file == "b/acme-ml.yaml"


def test_a_project_named_like_a_platform_is_rejected_because_stack_names_would_clash():
    project = minimal_project(name="acme-ml")
    result = validate(admitting(minimal_platform(), project), project, files=["platform.yaml", "acme-ml.yaml"])
    assert "also a platform's name" in only(result, "bundle_names_unique").message


def test_distinct_bundle_names_are_fine():
    a, b = minimal_project("a"), minimal_project("b")
    assert validate(admitting(minimal_platform(), a, b), a, b).valid


def test_a_pool_declared_twice_is_rejected():
    pool = example("fraud")["spec"]["compute"]["pools"][0]
    result = check_project({"spec.compute.pools[2]": pool})
    errors = [e for e in result.diagnostics if e.rule == "list_item_names_unique"]
    assert errors and errors[0].path == "spec.compute.pools[2].name", explain(result)


def test_a_copied_pool_left_with_the_old_name_is_one_error_that_names_the_missing_pool():
    """The second pool was meant to be `cpu-batch`: no "not a declared pool", no "has no GPUs"."""
    result = check_project({"spec.compute.pools[0].name": "gpu-train"})
    error = only(result, "list_item_names_unique")
    assert error.path == "spec.compute.pools[1].name"
    assert "'gpu-train' is declared twice" in error.message and "'cpu-batch'" in error.message


def test_either_pool_of_a_duplicated_name_may_be_the_gpu_one():
    pools = example("fraud")["spec"]["compute"]["pools"]
    result = check_project({"spec.compute.pools": [pools[1], {**pools[0], "name": "gpu-train"}]})
    assert [e.rule for e in result.diagnostics] == ["list_item_names_unique"], explain(result)


def test_an_endpoint_declared_twice_is_rejected():
    endpoint = example("fraud")["spec"]["serving"]["endpoints"][0]
    error = only(check_project({"spec.serving.endpoints[1]": endpoint}), "list_item_names_unique")
    assert error.path == "spec.serving.endpoints[1].name"


def test_a_registry_declared_twice_is_rejected():
    error = only(check_project({"spec.registries": ["training", "serving", "training"]}), "list_item_names_unique")
    assert error.path == "spec.registries[2]"


def test_a_quality_metric_declared_twice_is_rejected():
    metric = {"name": "auc", "threshold": 0.7}
    assert (
        only(check_project({"spec.monitoring.quality[1]": metric}), "list_item_names_unique").path
        == "spec.monitoring.quality[1].name"
    )


def test_a_project_name_too_long_for_its_derived_names_is_one_error_with_the_longest_allowed_name():
    name = "a" * 48  # a DNS label, but `<name>--staging--artifacts--<account>` exceeds 63

    def check(name: str):
        project = project_with({"metadata.name": name, "spec.repository": f"acme/{name}"})
        return validate(admitting(example("platform"), project), project)

    error = only(check(name), "derived_names_fit")
    assert error.path == "metadata.name"
    assert "over the limit of 63" in error.message and "s3-bucket" in error.message
    longest = int(error.message.rsplit("use at most ", 1)[1].split()[0])
    assert check("a" * longest).valid
    assert not check("a" * (longest + 1)).valid


def test_only_the_names_of_resources_the_project_has_count():
    """The access-logs bucket exists only in prod: in a dev environment named `development`, the
    name `<project>-development-access-logs-<account>` (65 characters) is never created."""
    platform = example("platform")
    environments = platform["spec"]["environments"]
    platform["spec"]["environments"] = {"development": environments.pop("dev"), **environments}
    project = example("fraud")
    project["spec"]["environments"]["development"] = project["spec"]["environments"].pop("dev")
    name = "p" * 25  # `<name>--development--artifacts--<account>` is exactly 63
    project["metadata"]["name"] = name
    result = validate(admitting(platform, project), project)
    assert not [e for e in result.diagnostics if e.rule == "derived_names_fit"], explain(result)
    project["metadata"]["name"] = name + "p"
    error = only(validate(admitting(platform, project), project), "derived_names_fit")
    assert "development--artifacts" in error.message and "use at most 25 characters" in error.message


def test_a_project_and_a_pipeline_too_long_together_are_told_either_can_be_shortened():
    """Neither name is too long alone: the pipeline's role joins them (`<project>--<env>--wl--<pipeline>`,
    64 characters at most), so the message names the pipeline as the other way out."""
    name, pipeline = "a" * 20, "p" * 30
    project = project_with({"metadata.name": name, "spec.repository": f"acme/{name}"})
    project["spec"]["pipelines"][pipeline] = project["spec"]["pipelines"].pop("features")
    result = validate(admitting(example("platform"), project), project)
    [error] = [e for e in result.diagnostics if e.rule == "derived_names_fit"]
    assert error.path == "metadata.name", explain(result)
    assert f"wl--{pipeline}" in error.message
    assert f"or shorten '{pipeline}', whose name it joins" in error.message


def test_a_pipeline_name_too_long_for_any_project_name_is_reported_on_the_pipeline():
    pipeline = example("fraud")["spec"]["pipelines"]["features"]
    long_name = "f" * 60
    result = check_project({f"spec.pipelines.{long_name}": pipeline})
    errors = [e for e in result.diagnostics if e.rule == "derived_names_fit"]
    assert [e.path for e in errors] == [f"spec.pipelines.{long_name}"], explain(result)
    assert "whatever the project is called" in errors[0].message


def test_a_long_but_fitting_project_name_is_fine():
    name = "a" * 20
    project = project_with({"metadata.name": name, "spec.repository": f"acme/{name}"})
    result = validate(admitting(example("platform"), project), project)
    assert result.valid, explain(result)


def test_a_pipeline_named_like_a_built_in_workload_is_rejected():
    fraud = example("fraud")
    pipelines = fraud["spec"]["pipelines"]
    pipelines["serving"] = pipelines.pop("monitor")
    error = only(validate(example("platform"), fraud), "pipeline_names_not_reserved")
    assert error.path == "spec.pipelines.serving" and "reserved" in error.message


def test_a_platform_name_too_long_for_its_derived_role_names_is_rejected():
    result = check_platform({"metadata.name": "p" * 45})
    errors = [e for e in result.diagnostics if e.rule == "platform_derived_names_fit"]
    assert errors, explain(result)
    assert {e.path for e in errors} <= {
        format_path(("spec", "environments", env)) for env in ("dev", "staging", "prod")
    }
    assert any("iam-role" in e.message for e in errors)


def test_a_platform_with_short_names_fits():
    assert check_platform({"metadata.name": "p" * 20}).valid


# --- derived names across the bundle set ----------------------------------------------------------


def two_projects(first: dict, second: dict, platform: dict | None = None):
    return validate(admitting(platform or example("platform"), first, second), first, second)


def test_a_project_can_no_longer_derive_another_projects_node_pool():
    # F5: project `fraud` with pool `detection-gpu-train` made NodePool `fraud-detection-gpu-train`,
    # identical to fraud-detection's `gpu-train` pool. Names now join their parts with `--`.
    squatter = project_with({"metadata.name": "fraud", "spec.repository": "acme/fraud"})
    squatter["spec"]["compute"]["pools"][1]["name"] = "detection-gpu-train"
    squatter["spec"]["pipelines"]["train"]["pool"] = "detection-gpu-train"
    squatter["spec"]["environments"] = {}
    result = two_projects(example("fraud"), squatter)
    assert result.valid, explain(result)
    names = {name: naming.ProjectNames(name, "dev", "111111111111", "us-east-1", "account") for name in result.projects}
    assert names["fraud"].node_pool("detection-gpu-train") == "fraud--detection-gpu-train"
    assert names["fraud-detection"].node_pool("gpu-train") == "fraud-detection--gpu-train"


def test_the_collision_check_catches_an_ambiguous_join(monkeypatch: pytest.MonkeyPatch):
    # The check looks at every derived name: with the old `-` join, F5's squatter is caught.
    monkeypatch.setattr(naming, "SEPARATOR", "-")
    squatter = project_with({"metadata.name": "fraud", "spec.repository": "acme/fraud"})
    squatter["spec"]["compute"]["pools"][1]["name"] = "detection-gpu-train"
    squatter["spec"]["pipelines"]["train"]["pool"] = "detection-gpu-train"
    squatter["spec"]["environments"] = {}
    result = two_projects(example("fraud"), squatter)
    errors = {d.file: d for d in result.diagnostics if d.rule == "derived_names_unique"}
    assert set(errors) == {"fraud-detection.yaml", "fraud.yaml"}, explain(result)
    assert "k8s-name 'fraud-detection-gpu-train'" in errors["fraud.yaml"].message
    assert (
        "fraud-detection.yaml:" in errors["fraud.yaml"].message
        and "fraud.yaml:" in errors["fraud-detection.yaml"].message
    )


def test_database_names_of_two_projects_cannot_collide_through_environment_names():
    # RDS identifiers cannot hold `--`: project `a` in `eu-prod` and `a-eu` in `prod` would both
    # name their MLflow database `a-eu-prod-mlflow` in the one account of `cluster` isolation.
    envs = {"prod": {"tier": "prod", "region": "us-east-1"}, "eu-prod": {"tier": "staging", "region": "us-east-1"}}
    a, a_eu = minimal_project("a"), minimal_project("a-eu")
    result = two_projects(a, a_eu, minimal_platform(environments=envs))
    errors = {d.file: d for d in result.diagnostics if d.rule == "derived_names_unique"}
    assert set(errors) == {"a.yaml", "a-eu.yaml"}, explain(result)
    assert "rds-instance 'a-eu-prod-mlflow'" in errors["a.yaml"].message
    assert errors["a.yaml"].path == "metadata.name"


def test_the_same_names_in_separate_accounts_do_not_collide():
    envs = {
        "prod": {"tier": "prod", "region": "us-east-1", "account": "111111111111"},
        "eu-prod": {"tier": "staging", "region": "us-east-1", "account": "222222222222"},
    }
    platform = minimal_platform(isolation="account", environments=envs)
    assert two_projects(minimal_project("a"), minimal_project("a-eu"), platform).valid


def test_different_projects_derive_different_names():
    assert validate(example("platform"), example("fraud"), example("rag")).valid


def test_names_holding_the_separator_are_rejected_by_the_schema():
    result = check_project({"spec.compute.pools[0].name": "cpu--batch"})
    assert any(d.path == "spec.compute.pools[0].name" and d.rule == "schema" for d in result.diagnostics)


def test_a_project_name_that_makes_an_s3_reserved_bucket_prefix_is_rejected():
    result = check_project({"metadata.name": "xn", "spec.repository": "acme/xn"})
    assert any(d.rule == "derived_names_fit" and "prefix S3 reserves" in d.message for d in result.diagnostics)


ACCOUNT_ISOLATED = {"dev": {"tier": "dev", "region": "us-east-1", "account": "111111111111"}}


@pytest.mark.parametrize("isolation", ["account", "namespace"])
@pytest.mark.parametrize("name", ["system", "system-ops"])
def test_a_project_whose_priority_classes_would_start_with_system_is_rejected(name: str, isolation: str):
    """The API server refuses PriorityClasses named `system-…`: the project's `<namespace>--serving`
    and `<namespace>-placeholder` (the namespace starts with the project's name under both
    isolations) would fail the first apply."""
    project = minimal_project(name)
    platform = minimal_platform(isolation=isolation, environments=ACCOUNT_ISOLATED)
    result = validate(admitting(platform, project), project)
    errors = [d for d in result.diagnostics if d.rule == "derived_names_fit"]
    assert errors and all(e.path == "metadata.name" for e in errors), explain(result)
    assert any(f"'{name}" in e.message and "starts with 'system-'" in e.message for e in errors), explain(result)
    assert all("rename the project" in e.message for e in errors)


@pytest.mark.parametrize("isolation", ["account", "namespace"])
def test_a_project_whose_name_only_begins_with_system_keeps_it(isolation: str):
    systems = minimal_project("systems")
    platform = minimal_platform(isolation=isolation, environments=ACCOUNT_ISOLATED)
    result = validate(admitting(platform, systems), systems)
    assert result.valid, explain(result)


# --- file names ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "file",
    ["*.yaml", "a\n* @attacker\n#.yaml", "a @attacker b.yaml", "evil.yaml", "bundles/fraud-detection.yaml.bak.yaml"],
)
def test_a_bundle_file_not_named_after_its_bundle_is_rejected(file: str):
    # F3: file names become CODEOWNERS paths (`/bundles/*.yaml @team` made a team own every bundle).
    result = validate(example("platform"), example("fraud"), files=["platform.yaml", file])
    error = only(result, "file_names_match_bundle_names")
    assert error.path == "metadata.name" and "must be named fraud-detection.yaml" in error.message
    assert "\n" not in error.file


@pytest.mark.parametrize(
    ("platform_file", "project_file"),
    [("platform.yaml", "fraud-detection.yaml"), ("acme-ml.yml", "bundles/fraud-detection.yml")],
)
def test_bundle_files_named_after_their_bundle_are_fine(platform_file: str, project_file: str):
    assert validate(example("platform"), example("fraud"), files=[platform_file, project_file]).valid


NAMED_TYPES = {
    "aws:s3/bucket:Bucket": ("s3-bucket", lambda i: i.get("bucket")),
    "aws:iam/role:Role": ("iam-role", lambda i: i.get("name")),
    "aws:ecr/repository:Repository": ("ecr-repository", lambda i: i.get("name")),
    "aws:rds/instance:Instance": ("rds-instance", lambda i: i.get("identifier")),
    "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream": ("firehose-stream", lambda i: i.get("name")),
    "aws:opensearch/domain:Domain": ("opensearch-domain", lambda i: i.get("domainName")),
    "kubernetes:core/v1:Namespace": ("k8s-namespace", lambda i: i["metadata"]["name"]),
    "kubernetes:karpenter.sh/v1:NodePool": ("k8s-name", lambda i: i["metadata"]["name"]),
}


@pytest.mark.slow
@pytest.mark.parametrize("project", ["fraud-detection", "rag-assistant"])
@pytest.mark.parametrize("environment", ["dev", "prod"])
def test_the_names_the_length_rule_checks_are_exactly_those_the_stack_creates(
    project_plan, example_result, project, environment
):
    """No phantom names (resources the project does not have) and none missed."""
    resolved = example_result.projects[project]
    env = resolved.environments[environment]
    kinds = {kind for kind, _ in NAMED_TYPES.values()}
    checked = {
        (d.limit_key, d.name)
        for d in project_derived_names(
            project,
            env.spec,
            environment,
            env.tier,
            env.platform_environment.account,
            resolved.platform.isolation,
        )
        if d.limit_key in kinds
    }
    created = {
        (NAMED_TYPES[r["type"]][0], NAMED_TYPES[r["type"]][1](r["inputs"]))
        for r in project_plan(project, environment).resources
        if r["type"] in NAMED_TYPES
    }
    assert checked == created


def test_environments_whose_overrides_change_sizes_not_names_share_one_derivation(example_result):
    from mlrig.bundle.rules.names import naming_inputs

    fraud = example_result.projects["fraud-detection"]  # dev and prod override pool sizes only
    assert len({naming_inputs(env.spec) for env in fraud.environments.values()}) == 1
    with_pool = fraud.bundle.spec.compute.model_copy(
        update={"pools": [*fraud.bundle.spec.compute.pools, fraud.bundle.spec.compute.pools[0]]}
    )
    assert naming_inputs(fraud.bundle.spec.model_copy(update={"compute": with_pool})) != naming_inputs(
        fraud.bundle.spec
    )


def test_the_model_importer_of_a_deploy_models_project_counts_above_dev_only():
    """Under deploy-models, staging and prod run the import step as `wl--model-import`: the length
    rule measures its role there (today the artifacts bucket binds first, but the rule measures
    exactly the names the stack creates), and not in dev, which trains and imports nothing."""
    spec = project_with(
        {
            "spec.deploymentPattern": "deploy-models",
            "spec.monitoring.retrainOnDrift": False,
            "spec.environments.dev.monitoring": {"retrainOnDrift": True},
        }
    )
    from mlrig.bundle.model import ProjectBundle

    model = ProjectBundle.model_validate(spec).spec
    role = naming.ProjectNames("p", "staging", "111111111111", "us-east-1", "account").workload_role(
        naming.MODEL_IMPORT
    )

    def roles(tier: str, environment: str) -> set[str]:
        return {
            d.name
            for d in project_derived_names("p", model, environment, tier, "111111111111", "account")
            if d.limit_key == "iam-role"
        }

    assert role in roles("staging", "staging")
    assert not any(name.endswith(naming.MODEL_IMPORT) for name in roles("dev", "dev"))


# --- what KServe derives from an endpoint's name -------------------------------------------------

SCORER = "spec.serving.endpoints[0]"  # fraud's `scorer`: a canary rollout


def test_a_canary_endpoint_name_leaves_room_for_kserves_host_in_the_projects_namespace():
    """KServe serves `<endpoint>-stable` at `<endpoint>-stable-predictor-fraud-detection.<domain>`:
    its first DNS label holds 63 characters, so in namespace `fraud-detection` a canary endpoint's
    name holds 30 (it used to be accepted up to 63, and KServe never created its Deployment)."""
    longest = "s" * 30
    assert check_project({f"{SCORER}.name": longest, "spec.environments.prod.serving": {}}).valid
    changes = {f"{SCORER}.name": longest + "x", "spec.environments.prod.serving": {}}
    error = only(check_project(changes), "inference_service_names_fit")
    assert error.path == f"{SCORER}.name"
    assert f"host label '{longest}x-stable-predictor-fraud-detection'" in error.message
    assert "use at most 30 characters (or shorten the project name)" in error.message


def test_a_realistic_endpoint_of_a_realistic_project_is_refused_when_kserve_cannot_address_it():
    project = project_with({"metadata.name": "customer-churn-prediction"}, "fraud")
    project["spec"]["repository"] = "acme/customer-churn-prediction"
    set_path(project, SCORER + ".name", "churn-scorer-realtime")
    project["spec"]["environments"]["prod"].pop("serving")
    result = validate(admitting(example("platform"), project), project)
    error = only(result, "inference_service_names_fit")
    assert "'churn-scorer-realtime-stable-predictor-customer-churn-prediction' (of " in error.message


def test_a_short_namespace_leaves_the_pod_label_as_the_limit():
    """Project `q`: the host label `<endpoint>-stable-predictor-q` fits longer names than the pod
    label `isvc.<endpoint>-stable-predictor` (63 characters), so that is what bounds the name: 41."""
    platform = minimal_platform(environments={"dev": {"tier": "dev", "region": "us-east-1"}})
    endpoint = {"runtime": "sklearn", "rollout": {"strategy": "canary", "percent": 10}}
    fits = minimal_project(name="q", serving={"endpoints": [{"name": "e" * 41, **endpoint}]})
    assert validate(admitting(platform, fits), fits).valid
    long = minimal_project(name="q", serving={"endpoints": [{"name": "e" * 42, **endpoint}]})
    error = only(validate(admitting(platform, long), long), "inference_service_names_fit")
    assert f"pod label 'isvc.{'e' * 42}-stable-predictor'" in error.message and "at most 41" in error.message


def test_a_direct_endpoint_may_be_longer_than_a_split_one():
    changes = {f"{SCORER}.name": "d" * 36, f"{SCORER}.rollout": {"strategy": "direct"}}
    assert check_project({**changes, "spec.environments.prod.serving": {}}).valid
    error = only(
        check_project({**changes, f"{SCORER}.name": "d" * 38, "spec.environments.prod.serving": {}}),
        "inference_service_names_fit",
    )
    assert "use at most 37 characters" in error.message


def test_an_endpoint_named_like_anothers_canary_is_refused():
    """`scorer` (canary) runs `scorer-canary`; an endpoint called `scorer-canary` would be the same
    InferenceService, so one create fails or one endpoint serves the other's model."""
    second = {"name": "scorer-canary", "runtime": "sklearn"}
    error = only(check_project({"spec.serving.endpoints[1]": second}), "kserve_object_names_unique")
    assert error.path == "spec.serving.endpoints[1].name"
    assert "'scorer' and 'scorer-canary' would both make the InferenceService 'scorer-canary'" in error.message


def test_an_inference_graph_named_like_anothers_predictor_is_refused():
    """A canary endpoint `x-predictor` runs its router as Deployment `x-predictor`: the Deployment
    KServe makes for a direct endpoint `x`."""
    changes = {
        f"{SCORER}.name": "x-predictor",
        "spec.serving.endpoints[1]": {"name": "x", "runtime": "sklearn"},
        "spec.environments.prod.serving": {},
    }
    error = only(check_project(changes), "kserve_object_names_unique")
    assert "would both make the Deployment 'x-predictor'" in error.message


def test_endpoints_with_distinct_kserve_objects_are_fine():
    second = {"name": "scorer-v2", "runtime": "sklearn", "rollout": {"strategy": "shadow", "percent": 10}}
    assert check_project({"spec.serving.endpoints[1]": second}).valid


def test_a_scheduled_pipeline_name_leaves_room_for_argos_run_names():
    """Project `ab` in environment `q` leaves a pipeline 53 characters for its role name, but a
    scheduled one runs as a CronWorkflow, which Argo caps at 52."""
    platform = minimal_platform(environments={"q": {"tier": "dev", "region": "us-east-1"}})
    fits = minimal_project(name="ab", pipelines={"p" * 52: {"type": "training"}}, registries=["img"])
    assert validate(admitting(platform, fits), fits).valid, explain(validate(admitting(platform, fits), fits))
    long = minimal_project(name="ab", pipelines={"p" * 53: {"type": "training"}}, registries=["img"])
    error = only(validate(admitting(platform, long), long), "scheduled_pipeline_names_fit_argo")
    assert error.path == f"spec.pipelines.{'p' * 53}" and "over 52 characters" in error.message
    triggered = minimal_project(name="ab", pipelines={"p" * 53: {"type": "fine-tuning"}}, registries=["img"])
    found = validate(admitting(platform, triggered), triggered).diagnostics
    assert "scheduled_pipeline_names_fit_argo" not in {d.rule for d in found}
