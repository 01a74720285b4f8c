"""MLRIG-DEP-107 and MLRIG-DEP-108: one resource per Kubernetes object, and names KServe can
derive its pods' labels from."""

from __future__ import annotations

from .helpers import findings, k8s

ISVC = ("InferenceService", "serving.kserve.io/v1beta1")
GRAPH = ("InferenceGraph", "serving.kserve.io/v1alpha1")


def named(resource: dict, pulumi_name: str) -> dict:
    """The same object under another Pulumi name (and URN)."""
    return {**resource, "name": pulumi_name, "urn": resource["urn"].rsplit("::", 1)[0] + "::" + pulumi_name}


def test_two_resources_declaring_one_inference_service_are_found():
    """An endpoint `api` with a canary runs `api-canary`; an endpoint called `api-canary` is the same
    object: the second create fails with AlreadyExists."""
    first = k8s(*ISVC, "api-canary", {"predictor": {}})
    [found] = findings("MLRIG-DEP-107", first, named(first, "serving-api-canary-endpoint"))
    assert found.resource == "serving-api-canary-endpoint"
    assert "InferenceService 'api-canary' in namespace demo is also declared by api-canary" in found.message


def test_objects_that_differ_in_namespace_kind_or_name_are_distinct():
    records = [
        k8s(*ISVC, "api", {"predictor": {}}),
        named(k8s(*ISVC, "api", {"predictor": {}}, namespace="other"), "api-other"),
        named(k8s(*GRAPH, "api", {"nodes": {}}), "api-graph"),
        named(k8s(*ISVC, "api-b", {"predictor": {}}), "api-b"),
    ]
    assert findings("MLRIG-DEP-107", *records) == []


def test_a_patch_of_an_object_another_resource_declares_is_no_second_owner():
    config = k8s("ConfigMap", "v1", "settings", {})
    patch = named(k8s("ConfigMapPatch", "v1", "settings", {}), "settings-patch")
    patch["type"] = "kubernetes:core/v1:ConfigMapPatch"
    assert findings("MLRIG-DEP-107", config, patch) == []


def test_an_object_the_platform_already_declares_is_found_in_the_project():
    platform = k8s("ClusterRole", "rbac.authorization.k8s.io/v1", "reader", {}, namespace=None)
    project = named(platform, "project-reader")
    [found] = findings("MLRIG-DEP-107", project, context=(platform,))
    assert found.resource == "project-reader" and "ClusterRole 'reader' is also declared" in found.message


def test_kserve_labels_and_addresses_the_pods_of_names_at_the_limits():
    """In namespace `demo` (4 characters): `<47>-predictor-demo` and `isvc.<48>-predictor` fit."""
    assert findings("MLRIG-DEP-108", k8s(*ISVC, "s" * 47, {"predictor": {}})) == []
    assert findings("MLRIG-DEP-108", k8s(*ISVC, "s" * 48, {"predictor": {}}, namespace=None)) == []
    assert findings("MLRIG-DEP-108", k8s(*GRAPH, "g" * 58, {"nodes": {}})) == []


def test_a_longer_inference_service_gets_no_pods():
    """`isvc.<49 characters>-predictor` is 64 characters: the API server refuses the Deployment."""
    [found] = findings("MLRIG-DEP-108", k8s(*ISVC, "s" * 49, {"predictor": {}}, namespace=None))
    assert f"pod label 'isvc.{'s' * 49}-predictor' (64 characters, over 63)" in found.message


def test_an_inference_service_whose_host_label_is_too_long_is_never_reconciled():
    """KServe derives `<service>-predictor-<namespace>.<domain>`: a 64-character first label fails
    its reconcile (`failed creating host name`) and no Deployment is made."""
    namespace = "customer-churn-prediction"
    service = "churn-scorer-realtime-stable"  # 28 + 11 + 25 = 64
    [found] = findings("MLRIG-DEP-108", k8s(*ISVC, service, {"predictor": {}}, namespace=namespace))
    assert f"host label '{service}-predictor-{namespace}' (64 characters" in found.message


def test_a_longer_inference_graph_gets_no_router():
    messages = " | ".join(f.message for f in findings("MLRIG-DEP-108", k8s(*GRAPH, "g" * 59, {"nodes": {}})))
    assert f"pod label 'isvc.{'g' * 59}' (64 characters" in messages
    assert f"host label '{'g' * 59}-demo' (64 characters" in messages


CRON = ("CronWorkflow", "argoproj.io/v1alpha1")


def test_argo_accepts_a_52_character_cron_workflow():
    assert findings("MLRIG-DEP-109", k8s(*CRON, "c" * 52, {"schedule": "0 3 * * *"})) == []


def test_a_53_character_cron_workflow_never_fires():
    [found] = findings("MLRIG-DEP-109", k8s(*CRON, "c" * 53, {"schedule": "0 3 * * *"}))
    assert "is 53 characters, over Argo's 52" in found.message
