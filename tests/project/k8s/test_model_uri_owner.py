"""The model an InferenceService serves has one value whoever writes it: the promote step records
the URI it points each InferenceService at, the stack builds the InferenceService with that URI,
and forces its apply only once it knows every value another writer writes there (the model URI
and, for a custom server, the image tag), so a bundle change after a promotion applies cleanly and
never puts back an older model or image."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from mlrig import naming
from mlrig.checks import catalogue, run_check
from mlrig.checks.graph import StackGraph, as_list
from mlrig.plan.engine import StackPlan
from mlrig.plan.mocks import PlanMocks
from mlrig.project.release_records import records_of
from mlrig.project.serving import STORAGE_URI_PATHS

from .conftest import named
from .test_image_owner import GET_PARAMETERS_BY_PATH, ROLLED

PARAMETER = "aws:ssm/parameter:Parameter"
ISVC = "kubernetes:serving.kserve.io/v1beta1:InferenceService"


# The example platform's accounts, by environment.
ACCOUNTS = {"dev": "111111111111", "staging": "222222222222", "prod": "333333333333"}
Record = Callable[..., None]


@pytest.fixture
def record(monkeypatch: pytest.MonkeyPatch) -> Record:
    """`record(tag=..., uris={isvc: uri})`: what the release CI and the promote step recorded, in
    every environment (a URI may name the environment's artifacts bucket as `{artifacts}`)."""

    def recorded(tag: str | None = None, uris: dict[str, str] | None = None) -> None:
        call = PlanMocks.call

        def with_records(self: PlanMocks, args: Any) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
            if args.token != GET_PARAMETERS_BY_PATH:
                return call(self, args)
            path = args.args["path"]
            project, environment = path.split("/")[2:4]
            bucket = f"s3://{naming.join(project, environment, 'artifacts', ACCOUNTS[environment])}"
            names = [f"{path}/rolled-image-tag"] if tag else []
            values = [tag] if tag else []
            for isvc, uri in (uris or {}).items():
                names.append(f"{path}/model-uri/{isvc}")
                values.append(uri.format(artifacts=bucket))
            return {"id": path, "path": path, "names": names, "values": values, "types": ["String"] * len(names)}, None

        monkeypatch.setattr(PlanMocks, "call", with_records)

    return recorded


def isvc_record(plan: StackPlan, name: str) -> dict[str, Any]:
    (found,) = [r for r in plan.of_type(ISVC) if r["inputs"]["metadata"]["name"] == name]
    return found


def model_uri_env(isvc: dict[str, Any]) -> str:
    (container,) = isvc["spec"]["predictor"]["containers"]
    return next(e["value"] for e in container["env"] if e["name"] == "MODEL_URI")


def forced(isvc: dict[str, Any]) -> bool:
    return (isvc["metadata"].get("annotations") or {}).get(naming.PATCH_FORCE_ANNOTATION) == "true"


def bucket_of(plan: StackPlan) -> str:
    (artifacts,) = [
        r["inputs"]["bucket"]
        for r in plan.of_type("aws:s3/bucket:Bucket")
        if r["inputs"].get("tags", {}).get(naming.TAG_DATA_CLASS) == "artifacts"
    ]
    return artifacts


def test_before_any_promotion_the_stack_keeps_the_uri_it_set_and_never_forces(project_plan) -> None:
    plan = project_plan("fraud-detection", "prod")
    for name in ("scorer-stable", "scorer-canary"):
        isvc = isvc_record(plan, name)
        assert not forced(isvc["inputs"])
        assert isvc["options"]["ignoreChanges"] == STORAGE_URI_PATHS
        assert model_uri_env(isvc["inputs"]).endswith("/models/fraud-detection/champion/")


def test_after_a_promotion_and_a_roll_out_the_stack_writes_what_they_wrote_and_forces(
    record: Record, plan_variant: Callable[..., StackPlan]
) -> None:
    # The canary was promoted to version 8, the stable one is still on 7 (the promote step stops
    # between the two until the canary is healthy): each keeps its own model.
    record(
        tag=ROLLED,
        uris={
            "scorer-canary": "{artifacts}/models/fraud-detection/v8/",
            "scorer-stable": "{artifacts}/models/fraud-detection/v7/",
        },
    )
    plan = plan_variant("fraud-detection", None, "prod")
    bucket = bucket_of(plan)
    for name, version in (("scorer-canary", "v8"), ("scorer-stable", "v7")):
        isvc = isvc_record(plan, name)
        assert model_uri_env(isvc["inputs"]) == f"s3://{bucket}/models/fraud-detection/{version}/"
        assert isvc["inputs"]["spec"]["predictor"]["containers"][0]["image"].endswith(f":{ROLLED}")
        # The stack now writes the whole containers list as the writers left it, and takes it back.
        assert forced(isvc["inputs"])
        assert isvc["options"]["ignoreChanges"] == []


def test_a_recorded_uri_without_a_recorded_tag_does_not_force_a_custom_server(
    record: Record, plan_variant: Callable[..., StackPlan]
) -> None:
    # Forcing would put back `mlrig:imageTag` over an image a roll-out may have moved.
    record(uris={"scorer-canary": "{artifacts}/models/fraud-detection/v8/"})
    plan = plan_variant("fraud-detection", None, "prod")
    canary = isvc_record(plan, "scorer-canary")
    assert model_uri_env(canary["inputs"]).endswith("/models/fraud-detection/v8/")
    assert not forced(canary["inputs"])


def test_a_recorded_tag_without_a_recorded_uri_does_not_force_where_a_promote_step_writes(
    record: Record, plan_variant: Callable[..., StackPlan]
) -> None:
    # Forcing would put back the URI the stack set over the model the promote step moved to.
    record(tag=ROLLED)
    plan = plan_variant("fraud-detection", None, "prod")
    for name in ("scorer-stable", "scorer-canary"):
        isvc = isvc_record(plan, name)
        assert not forced(isvc["inputs"])
        assert isvc["options"]["ignoreChanges"] == STORAGE_URI_PATHS


def test_without_a_model_cd_pipeline_the_tag_alone_lets_the_stack_force(
    record: Record, plan_variant: Callable[..., StackPlan]
) -> None:
    # Nothing may patch the model location (no Role `promote-model`): the stack's URI is the one.
    def without_cd(document: dict[str, Any]) -> None:
        del document["spec"]["pipelines"]["deploy-model"]

    record(tag=ROLLED)
    plan = plan_variant("fraud-detection", without_cd, "prod")
    assert all(forced(isvc_record(plan, n)["inputs"]) for n in ("scorer-stable", "scorer-canary"))


def test_without_a_model_cd_pipeline_a_renamed_model_is_served(plan_variant: Callable[..., StackPlan]) -> None:
    """Nothing may move the model location, so the stack is its one writer: it never ignores the
    field after creation (it did, and a team's new model was never applied, without a diff)."""

    def renamed_without_cd(document: dict[str, Any]) -> None:
        del document["spec"]["pipelines"]["deploy-model"]
        document["spec"]["serving"]["endpoints"][0]["model"] = "fraud-model-v2"

    plan = plan_variant("fraud-detection", renamed_without_cd, "prod")
    for name in ("scorer-stable", "scorer-canary"):
        isvc = isvc_record(plan, name)
        assert model_uri_env(isvc["inputs"]).endswith("/models/fraud-model-v2/champion/")
        assert isvc["options"]["ignoreChanges"] == []


def test_a_built_in_runtime_is_forced_once_its_uri_is_recorded(
    record: Record, plan_variant: Callable[..., StackPlan]
) -> None:
    # vLLM runs KServe's image, which no roll-out moves: the model URI is all another writer writes.
    record(uris={"llm-canary": "pvc://model-hub/llama-3-8b-v2"})
    plan = plan_variant("rag-assistant", None, "prod")
    canary = isvc_record(plan, "llm-canary")
    assert canary["inputs"]["spec"]["predictor"]["model"]["storageUri"] == "pvc://model-hub/llama-3-8b-v2"
    assert forced(canary["inputs"])
    assert not forced(isvc_record(plan, "llm-stable")["inputs"])


def test_every_inference_service_has_its_model_uri_parameter_owned_by_the_stack(project_plan) -> None:
    plan = project_plan("fraud-detection", "prod")
    prefix = "/mlrig/fraud-detection/prod/release/model-uri/"
    parameters = {r["inputs"]["name"]: r for r in plan.of_type(PARAMETER) if r["inputs"]["name"].startswith(prefix)}
    expected = {f"{prefix}{n}" for n in ("scorer-stable", "scorer-canary")}
    assert set(parameters) == expected
    for parameter in parameters.values():
        # A String (no key to grant), created as "nothing recorded"; the promote step owns the value,
        # the stack its life: destroying the environment deletes it.
        assert parameter["inputs"]["type"] == "String"
        assert parameter["inputs"]["insecureValue"] == naming.NOT_RECORDED
        assert parameter["options"]["ignoreChanges"] == ["insecureValue"]
        assert not parameter["options"]["protect"] and not parameter["options"]["retainOnDelete"]


def test_the_promote_step_may_record_exactly_its_inference_services_model_uris(project_plan) -> None:
    plan = project_plan("fraud-detection", "prod")
    policies = {
        r["inputs"]["role"]: json.loads(r["inputs"]["policy"]) for r in plan.of_type("aws:iam/rolePolicy:RolePolicy")
    }
    ssm = {
        role: [s for s in doc["Statement"] if any(str(a).startswith("ssm:") for a in as_list(s["Action"]))]
        for role, doc in policies.items()
    }
    (statement,) = ssm["fraud-detection--prod--wl--deploy-model"]
    assert statement["Action"] == "ssm:PutParameter"
    assert sorted(statement["Resource"]) == [
        f"arn:aws:ssm:us-east-1:333333333333:parameter/mlrig/fraud-detection/prod/release/model-uri/scorer-{v}"
        for v in ("canary", "stable")
    ]
    # No other workload writes a record.
    writers = {role for role, statements in ssm.items() if statements and "--wl--" in role}
    assert writers == {"fraud-detection--prod--wl--deploy-model"}


def test_the_promote_step_is_told_where_to_record_and_which_field_manager_to_patch_with(project_plan) -> None:
    plan = project_plan("fraud-detection", "prod")
    template = named(plan, "WorkflowTemplate", "deploy-model")
    promote = next(t for t in template["spec"]["templates"] if t["name"] == "step")
    env = {e["name"]: e["value"] for e in promote["container"]["env"]}
    assert json.loads(env["MLRIG_MODEL_URI_PARAMETERS"]) == {
        "scorer-canary": "/mlrig/fraud-detection/prod/release/model-uri/scorer-canary",
        "scorer-stable": "/mlrig/fraud-detection/prod/release/model-uri/scorer-stable",
    }
    assert env["MLRIG_PROMOTE_FIELD_MANAGER"] == naming.PROMOTE_FIELD_MANAGER


NAMES = naming.ProjectNames("p", "prod", "333333333333", "us-east-1", "account")
ARTIFACTS = f"s3://{NAMES.bucket('artifacts')}"


@pytest.mark.parametrize(
    "value",
    [
        naming.NOT_RECORDED,
        "s3://another-team--prod--artifacts--333333333333/models/x/",
        f"{ARTIFACTS}/models/../../x",
        f"{ARTIFACTS}/models/x/ --privileged",
        "https://example.com/model",
        "pvc://other-claim/model",
        "",
    ],
)
def test_a_recorded_value_that_is_no_model_location_of_the_environment_is_ignored(value: str) -> None:
    parameter = NAMES.model_uri_parameter("scorer")
    assert records_of({parameter: value}, NAMES).model_uris == {}


def test_recorded_model_uris_are_read_by_inference_service_beside_the_tag() -> None:
    recorded = {
        NAMES.image_tag_parameter(): ROLLED,
        NAMES.model_uri_parameter("scorer"): f"{ARTIFACTS}/models/p/v3/",
        NAMES.model_uri_parameter("llm"): "pvc://model-hub/llama",
        "/mlrig/p/prod/release/other": f"{ARTIFACTS}/x",
    }
    records = records_of(recorded, NAMES)
    assert records.image_tag == ROLLED
    assert records.model_uris == {"scorer": f"{ARTIFACTS}/models/p/v3/", "llm": "pvc://model-hub/llama"}


def test_the_stack_reads_the_records_below_its_own_release_path_only(monkeypatch, plan_variant) -> None:
    asked: list[dict[str, Any]] = []
    call = PlanMocks.call

    def recording(self: PlanMocks, args: Any) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
        if args.token == GET_PARAMETERS_BY_PATH:
            asked.append(dict(args.args))
        return call(self, args)

    monkeypatch.setattr(PlanMocks, "call", recording)
    plan_variant("fraud-detection", None, "staging")
    assert [(a["path"], a.get("recursive")) for a in asked] == [("/mlrig/fraud-detection/staging/release", True)]


@pytest.mark.parametrize(
    "tag, uris",
    [
        (None, {}),
        (ROLLED, {}),
        (None, {"scorer-canary": "{artifacts}/models/fraud-detection/v8/"}),
        (ROLLED, {"scorer-canary": "{artifacts}/models/fraud-detection/v8/"}),
    ],
)
def test_whatever_was_recorded_every_written_field_has_one_writer(
    tag: str | None, uris: dict[str, str], record: Record, plan_variant: Callable[..., StackPlan]
) -> None:
    record(tag=tag, uris=uris)
    plan = plan_variant("fraud-detection", None, "prod")
    graph = StackGraph.of(plan.stack, plan.resources, tier="prod")
    assert run_check(catalogue()["MLRIG-DEP-106"], graph) == []
