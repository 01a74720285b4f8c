"""Small planned stacks for the checks' passing and failing fixtures."""

from __future__ import annotations

import json
from typing import Any

from mlrig.checks import catalogue, run_check
from mlrig.checks.graph import StackGraph

STACK = "demo.prod"


def record(
    type_: str, name: str, inputs: dict[str, Any] | None = None, outputs: dict[str, Any] | None = None, **options: Any
) -> dict[str, Any]:
    return {
        "urn": f"urn:pulumi:{STACK}::mlrig::{type_}::{name}",
        "type": type_,
        "name": name,
        "inputs": inputs or {},
        "outputs": outputs or {},
        "options": {"protect": False, "retainOnDelete": False, "dependsOn": [], "provider": None, **options},
        "parent": None,
    }


def k8s(
    kind: str, api: str, name: str, spec: dict[str, Any], namespace: str | None = "demo", **metadata: Any
) -> dict[str, Any]:
    meta = {"name": name, **({"namespace": namespace} if namespace else {}), **metadata}
    return record(f"kubernetes:{api}:{kind}", name, {"apiVersion": api, "kind": kind, "metadata": meta, "spec": spec})


def policy(statements: list[dict[str, Any]]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def findings(
    check_id: str,
    *records: dict[str, Any],
    context: tuple = (),
    tier: str | None = "prod",
    owners: dict[str, str] | None = None,
    stack: str = STACK,
):
    graph = StackGraph.of(stack, records, context=context, tier=tier, principal_owners=owners)
    return run_check(catalogue()[check_id], graph)


def nodepool(
    name: str,
    instance_types: list[str],
    *,
    taints: list[dict[str, str]] | None = None,
    labels: dict[str, str] | None = None,
    limits: dict[str, str] | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "template": {
            "metadata": {"labels": labels or {"mlrig.io/pool": name}},
            "spec": {
                "requirements": [
                    {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": instance_types},
                    {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["on-demand"]},
                ],
                "taints": taints or [],
            },
        }
    }
    if limits:
        spec["limits"] = limits
    return k8s("NodePool", "karpenter.sh/v1", name, spec, namespace=None)


def core_addons() -> list[dict[str, Any]]:
    """The EKS add-ons mlrig's platform installs: their DaemonSets take 135m CPU and 40Mi per node;
    and the NVIDIA device plugin (no requests), without which GPU nodes advertise no GPUs."""
    return [
        *(
            record("aws:eks/addon:Addon", f"addon-{a}", {"addonName": a})
            for a in ("eks-pod-identity-agent", "vpc-cni", "kube-proxy", "coredns", "aws-ebs-csi-driver")
        ),
        record(
            "kubernetes:helm.sh/v3:Release", "nvidia-device-plugin", {"chart": "nvidia-device-plugin", "values": {}}
        ),
    ]


def efa_device_plugin() -> dict[str, Any]:
    """The EFA device plugin's release (10m CPU, 20Mi on EFA nodes), which advertises their interfaces."""
    return record("kubernetes:helm.sh/v3:Release", "efa", {"chart": "aws-efa-k8s-device-plugin", "values": {}})
