"""MLRIG-DEP-106: a field the release CI or the promote step patches is left to that writer, or
written by the stack with the value that writer recorded; never shared through an atomic list."""

from __future__ import annotations

import json
from typing import Any

from mlrig import naming

from .helpers import findings, k8s, policy, record

ACCOUNT = "111111111111"
REGISTRY = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com"
IMAGE = f"{REGISTRY}/demo/prod/serving:0f3c2a9"
TAG_PARAMETER = "/mlrig/demo/prod/release/rolled-image-tag"
URI_PARAMETER = "/mlrig/demo/prod/release/model-uri/scorer"
PROMOTER = "demo--prod--wl--deploy"
DEPLOYER = "demo--prod--ci-deployer"


def parameter_arn(parameter: str) -> str:
    return f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter{parameter}"


def may_put(role: str, *parameters: str) -> dict[str, Any]:
    statements = [{"Effect": "Allow", "Action": "ssm:PutParameter", "Resource": [parameter_arn(p) for p in parameters]}]
    return record("aws:iam/rolePolicy:RolePolicy", f"{role}-policy", {"role": role, "policy": policy(statements)})


def writers(*, deployer_puts: tuple[str, ...] = (TAG_PARAMETER,), promoter_puts: tuple[str, ...] = (URI_PARAMETER,)):
    """The repository the CI rolls, its CI deployer, and a pipeline allowed to patch `scorer`."""
    role_rule = {
        "apiGroups": ["serving.kserve.io"],
        "resources": ["inferenceservices"],
        "resourceNames": ["scorer"],
        "verbs": ["get", "patch"],
    }
    promote_role = k8s("Role", "rbac.authorization.k8s.io/v1", "promote-model", {})
    promote_role["inputs"]["rules"] = [role_rule]
    binding = k8s("RoleBinding", "rbac.authorization.k8s.io/v1", "promote-model", {})
    binding["inputs"].update(
        roleRef={"kind": "Role", "name": "promote-model"},
        subjects=[{"kind": "ServiceAccount", "name": "wl-deploy", "namespace": "demo"}],
    )
    return [
        record("aws:ecr/repository:Repository", "serving", {"name": "demo/prod/serving"}),
        record("aws:iam/role:Role", DEPLOYER, {"name": DEPLOYER, "tags": {naming.TAG_PERSONA: "ci-deployer"}}),
        may_put(DEPLOYER, *deployer_puts),
        promote_role,
        binding,
        record(
            "aws:eks/podIdentityAssociation:PodIdentityAssociation",
            "wl-deploy",
            {"namespace": "demo", "serviceAccount": "wl-deploy", "roleArn": f"arn:aws:iam::{ACCOUNT}:role/{PROMOTER}"},
        ),
        may_put(PROMOTER, *promoter_puts),
    ]


def custom_server(*, recorded: dict[str, str] | None = None, forced: bool = False, ignored: list[str] | None = None):
    container = {
        "name": "kserve-container",
        "image": IMAGE,
        "env": [{"name": "MODEL_NAME", "value": "scorer"}, {"name": "MODEL_URI", "value": "s3://a/models/x/"}],
    }
    annotations = {}
    if recorded is not None:
        annotations[naming.RECORDED_FIELDS_ANNOTATION] = json.dumps(recorded)
    if forced:
        annotations[naming.PATCH_FORCE_ANNOTATION] = "true"
    isvc = k8s(
        "InferenceService",
        "serving.kserve.io/v1beta1",
        "scorer",
        {"predictor": {"containers": [container]}},
        annotations=annotations,
    )
    isvc["options"]["ignoreChanges"] = ignored or []
    return isvc


def builtin_server(*, ignored: list[str]):
    isvc = k8s(
        "InferenceService",
        "serving.kserve.io/v1beta1",
        "scorer",
        {"predictor": {"model": {"modelFormat": {"name": "sklearn"}, "storageUri": "s3://a/models/x/"}}},
    )
    isvc["options"]["ignoreChanges"] = ignored
    return isvc


BOTH_RECORDS = {naming.RELEASE_FIELD_MANAGER: TAG_PARAMETER, naming.PROMOTE_FIELD_MANAGER: URI_PARAMETER}


def test_a_custom_server_the_stack_builds_from_both_records_has_one_writer_per_field():
    assert findings("MLRIG-DEP-106", custom_server(recorded=BOTH_RECORDS, forced=True), *writers()) == []


def test_ignoring_the_model_uri_inside_the_atomic_containers_list_still_conflicts():
    # What the stack did before: the promote step owns the whole `containers` list once it patched
    # MODEL_URI, whatever Pulumi ignores in it.
    isvc = custom_server(
        recorded={naming.RELEASE_FIELD_MANAGER: TAG_PARAMETER}, ignored=["spec.predictor.containers[0].env[1].value"]
    )
    [found] = findings("MLRIG-DEP-106", isvc, *writers())
    assert naming.PROMOTE_FIELD_MANAGER in found.message and "spec.predictor.containers" in found.message
    assert "conflict" in found.message


def test_a_project_image_the_roll_out_moves_without_its_record_is_reported():
    [found] = findings(
        "MLRIG-DEP-106", custom_server(recorded={naming.PROMOTE_FIELD_MANAGER: URI_PARAMETER}), *writers()
    )
    assert naming.RELEASE_FIELD_MANAGER in found.message and "containers[0].image" in found.message


def test_forcing_without_a_writers_record_would_put_back_an_older_value():
    isvc = custom_server(recorded={naming.RELEASE_FIELD_MANAGER: TAG_PARAMETER}, forced=True)
    [found] = findings("MLRIG-DEP-106", isvc, *writers())
    assert "forces" in found.message and naming.PROMOTE_FIELD_MANAGER in found.message


def test_a_record_the_promote_identity_may_not_put_stays_empty():
    [found] = findings("MLRIG-DEP-106", custom_server(recorded=BOTH_RECORDS), *writers(promoter_puts=()))
    assert URI_PARAMETER in found.message and PROMOTER in found.message


def test_a_record_of_another_inference_service_does_not_count():
    other = "/mlrig/demo/prod/release/model-uri/other"
    [found] = findings("MLRIG-DEP-106", custom_server(recorded=BOTH_RECORDS), *writers(promoter_puts=(other,)))
    assert URI_PARAMETER in found.message


def test_a_storage_uri_outside_any_list_that_the_stack_ignores_is_left_to_the_promote_step():
    ignored = builtin_server(ignored=["spec.predictor.model.storageUri"])
    assert findings("MLRIG-DEP-106", ignored, *writers()) == []
    [found] = findings("MLRIG-DEP-106", builtin_server(ignored=[]), *writers())
    assert "storageUri" in found.message


def test_an_inference_service_no_pipeline_may_patch_has_only_the_roll_out_as_other_writer():
    isvc = custom_server(recorded={naming.RELEASE_FIELD_MANAGER: TAG_PARAMETER}, forced=True)
    stack = [r for r in writers() if "rbac" not in r["type"]]  # no promote-model Role
    assert findings("MLRIG-DEP-106", isvc, *stack) == []


def test_a_workflow_template_whose_images_the_roll_out_moves_reads_the_tag_record():
    spec = {"templates": [{"name": "main", "container": {"image": IMAGE}}]}
    recorded = {naming.RECORDED_FIELDS_ANNOTATION: json.dumps({naming.RELEASE_FIELD_MANAGER: TAG_PARAMETER})}
    template = k8s("WorkflowTemplate", "argoproj.io/v1alpha1", "train", spec, annotations=recorded)
    assert findings("MLRIG-DEP-106", template, *writers()) == []
    bare = k8s("WorkflowTemplate", "argoproj.io/v1alpha1", "train", spec)
    [found] = findings("MLRIG-DEP-106", bare, *writers())
    assert "spec.templates" in found.message


def test_an_object_whose_ignored_fields_are_unknown_is_not_reported_on_them():
    # What a CrossGuard resource without options looks like: nothing is known of `ignoreChanges`.
    isvc = builtin_server(ignored=[])
    del isvc["options"]["ignoreChanges"]
    assert findings("MLRIG-DEP-106", isvc, *writers()) == []
