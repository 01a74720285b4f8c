"""Pods stay on their own project's nodes and priorities.

Taints keep a pod off a pool only while it does not tolerate them, and a data scientist in dev (the
`edit` role) writes the tolerations of the Deployments they create. Before this policy a pod in
fraud-detection's namespace could tolerate `mlrig.io/project=rag-assistant` and select its GPU
pool: Karpenter launched rag-assistant's nodes for it, within rag-assistant's limits and on its
capacity reservations. It could tolerate the system nodes' taint and sit beside Karpenter and
CoreDNS, and name any PriorityClass (`system-cluster-critical`, another team's) to preempt them.
The namespace's admission policy, evaluated here by an independent CEL implementation, refuses all
of that and admits every pod spec mlrig itself writes."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from .admission import named, objects, passes

POLICY = "fraud-detection--pod-placement"
OWN_POOL = {"mlrig.io/project": "fraud-detection", "mlrig.io/pool": "gpu-train"}
OWN_TOLERATIONS = [
    {"key": "mlrig.io/project", "operator": "Equal", "value": "fraud-detection", "effect": "NoSchedule"},
    {"key": "nvidia.com/gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"},
]


def admitted(policy: dict[str, Any], pod_spec: dict[str, Any], operation: str = "CREATE") -> bool:
    return passes(policy, {"apiVersion": "v1", "kind": "Pod", "spec": pod_spec}, operation)


def scheduling_specs(value: Any) -> Iterator[dict[str, Any]]:
    """Every part of an object that says where its pods run (a pod spec, a KServe predictor, an
    Argo template): whatever carries tolerations, a node selector or a priority class."""
    if isinstance(value, dict):
        if {"tolerations", "nodeSelector", "priorityClassName"} & value.keys():
            yield value
        for item in value.values():
            yield from scheduling_specs(item)
    elif isinstance(value, list):
        for item in value:
            yield from scheduling_specs(item)


def test_the_policy_guards_every_pod_of_the_projects_namespace_only(dev_plan, policy):
    binding = named(dev_plan, "ValidatingAdmissionPolicyBinding", POLICY)["spec"]
    assert binding["policyName"] == POLICY and binding["validationActions"] == ["Deny"]
    assert binding["matchResources"]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "fraud-detection"
    }
    assert policy["spec"]["failurePolicy"] == "Fail"
    (rule,) = policy["spec"]["matchConstraints"]["resourceRules"]
    assert rule["resources"] == ["pods", "pods/ephemeralcontainers"] and set(rule["operations"]) == {"CREATE", "UPDATE"}


@pytest.mark.parametrize(
    ("project", "environment"),
    [("fraud-detection", "dev"), ("fraud-detection", "prod"), ("rag-assistant", "dev"), ("rag-assistant", "prod")],
)
def test_every_pod_mlrig_writes_is_admitted(project_plan, project, environment):
    plan = project_plan(project, environment)
    own_policy = named(plan, "ValidatingAdmissionPolicy", f"{project}--pod-placement")
    kinds = ("Deployment", "StatefulSet", "Job", "CronJob", "InferenceService", "WorkflowTemplate", "CronWorkflow")
    specs = [spec for kind in kinds for obj in objects(plan, kind) for spec in scheduling_specs(obj.get("spec"))]
    assert any(spec.get("tolerations") for spec in specs), "expected pods on the project's pools"
    for spec in specs:
        assert admitted(own_policy, spec), spec


HOSTILE: dict[str, dict[str, Any]] = {
    "another project's GPU pool": {
        "nodeSelector": {"mlrig.io/project": "rag-assistant"},
        "tolerations": [{"key": "mlrig.io/project", "operator": "Equal", "value": "rag-assistant"}],
    },
    "every project's pools": {"tolerations": [{"key": "mlrig.io/project", "operator": "Exists"}]},
    "every taint at once": {"tolerations": [{"operator": "Exists"}]},
    "the system nodes": {
        "nodeSelector": {"mlrig.io/node-role": "system"},
        "tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists"}],
    },
    "a node by name": {"nodeName": "ip-10-0-1-1.ec2.internal"},
    "the cluster's critical priority": {"priorityClassName": "system-cluster-critical"},
    "another project's serving priority": {"priorityClassName": "rag-assistant--serving"},
    "its own serving priority on the shared nodes": {"priorityClassName": "fraud-detection--serving"},
}


def images(value: Any) -> Iterator[str]:
    """Every image an object's pods run (pod specs, KServe predictors, Argo templates)."""
    if isinstance(value, dict):
        if isinstance(value.get("image"), str):
            yield value["image"]
        for item in value.values():
            yield from images(item)
    elif isinstance(value, list):
        for item in value:
            yield from images(item)


@pytest.mark.parametrize(
    ("project", "environment"),
    [("fraud-detection", "dev"), ("fraud-detection", "prod"), ("rag-assistant", "dev"), ("rag-assistant", "prod")],
)
def test_every_image_mlrig_runs_is_admitted(project_plan, project, environment):
    plan = project_plan(project, environment)
    own_policy = named(plan, "ValidatingAdmissionPolicy", f"{project}--pod-placement")
    found = sorted({i for r in plan.resources if r["type"].startswith("kubernetes:") for i in images(r["inputs"])})
    assert any(".dkr.ecr." in i for i in found), found
    for image in found:
        assert admitted(own_policy, {"containers": [{"name": "x", "image": image}]}), image


OTHER_TEAMS_IMAGE = "111111111111.dkr.ecr.us-east-1.amazonaws.com/rag-assistant/dev/serving:latest"
IMAGE_ATTACKS = {
    "another team's image": {"containers": [{"name": "x", "image": OTHER_TEAMS_IMAGE}]},
    "another team's image as an init container": {
        "containers": [{"name": "x", "image": "busybox"}],
        "initContainers": [{"name": "y", "image": OTHER_TEAMS_IMAGE}],
    },
    "the project's prod image from dev": {
        "containers": [
            {"name": "x", "image": "333333333333.dkr.ecr.us-east-1.amazonaws.com/fraud-detection/prod/serving:v1"}
        ]
    },
    "another team's image, host in capitals": {
        "containers": [
            {
                "name": "x",
                "image": OTHER_TEAMS_IMAGE.upper().replace(
                    "/RAG-ASSISTANT/DEV/SERVING:LATEST", "/rag-assistant/dev/serving"
                ),
            }
        ]
    },
    "another team's image through the dual-stack endpoint": {
        "containers": [{"name": "x", "image": "111111111111.dkr-ecr.us-east-1.on.aws/rag-assistant/dev/serving:latest"}]
    },
    "another team's image through the FIPS endpoint": {
        "containers": [
            {"name": "x", "image": "111111111111.dkr.ecr-fips.us-east-1.amazonaws.com/rag-assistant/dev/serving:latest"}
        ]
    },
    "a debug container with another team's image": {
        "containers": [{"name": "x", "image": "busybox"}],
        "ephemeralContainers": [{"name": "d", "image": OTHER_TEAMS_IMAGE}],
    },
    # containerd starts an image a node already holds by its ID, without pulling: whatever pulled it.
    "an image a node holds, by its ID": {"containers": [{"name": "x", "image": "sha256:" + "4f" * 32}]},
    "an image a node holds, by the start of its ID": {"containers": [{"name": "x", "image": "sha256:4f4f4f4f4f4f"}]},
    "an init container by image ID": {
        "containers": [{"name": "x", "image": "busybox"}],
        "initContainers": [{"name": "y", "image": "sha512:" + "0a" * 64}],
    },
    "a debug container by image ID": {
        "containers": [{"name": "x", "image": "busybox"}],
        "ephemeralContainers": [{"name": "d", "image": "sha256:" + "4f" * 32}],
    },
}


@pytest.mark.parametrize("attack", list(IMAGE_ATTACKS))
def test_a_data_scientist_cannot_pull_another_teams_images_with_the_node_role(policy, attack):
    # Nodes pull with the shared node role (AmazonEC2ContainerRegistryPullOnly, and every project
    # repository's policy names it): before this, any pod could run any team's image.
    assert not admitted(policy, IMAGE_ATTACKS[attack])


def test_the_projects_own_images_and_public_ones_are_admitted(policy):
    own = "111111111111.dkr.ecr.us-east-1.amazonaws.com/fraud-detection/dev/training:abc"
    assert admitted(policy, {"containers": [{"name": "x", "image": own}, {"name": "y", "image": "python:3.12"}]})


@pytest.mark.parametrize(
    "image",
    [
        "111111111111.dkr.ecr.us-east-1.amazonaws.com/fraud-detection/dev/training@sha256:" + "4f" * 32,
        "python@sha256:" + "4f" * 32,
        "docker.io/library/python:3.12@sha256:" + "4f" * 32,
        "ghcr.io/acme/sha256-tools:1.0",
    ],
)
def test_images_pinned_by_digest_are_not_taken_for_image_ids(policy, image):
    # A digest after a repository is checked by the registry it is pulled from; only a bare ID is local.
    assert admitted(policy, {"containers": [{"name": "x", "image": image}]})


@pytest.mark.parametrize("attack", list(HOSTILE))
def test_a_data_scientist_in_dev_cannot_place_pods_outside_the_projects_nodes_and_priorities(policy, attack):
    pod = {"containers": [{"name": "x", "image": "x"}], **copy.deepcopy(HOSTILE[attack])}
    assert not admitted(policy, pod)


@pytest.mark.parametrize(
    "pod",
    [
        {"containers": [{"name": "x", "image": "x"}]},
        {"nodeSelector": OWN_POOL, "tolerations": OWN_TOLERATIONS},
        {"nodeSelector": OWN_POOL, "tolerations": OWN_TOLERATIONS, "priorityClassName": "fraud-detection--serving"},
        {"tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "tolerationSeconds": 300}]},
        {"priorityClassName": "fraud-detection-placeholder", "nodeSelector": OWN_POOL},
    ],
)
def test_pods_on_the_projects_own_nodes_are_admitted(policy, pod):
    assert admitted(policy, pod)


def test_a_scheduled_pod_may_still_be_updated(policy):
    """The scheduler binds a pod by setting its nodeName; later updates (labels, Kueue's gates)
    carry it and must pass."""
    assert admitted(policy, {"nodeName": "ip-10-0-1-1.ec2.internal", **{"tolerations": OWN_TOLERATIONS}}, "UPDATE")
