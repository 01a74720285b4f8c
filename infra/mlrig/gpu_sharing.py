"""GPU sharing: how many `nvidia.com/gpu` a node of a shared pool advertises, and how it is set up.

A pool shares its GPUs in one of two ways (`compute.pools[].sharing`):

- **time-slicing**: the NVIDIA device plugin advertises every physical GPU `replicas` times; pods
  that get "a GPU" take turns on the same device. Nothing is isolated: the GPU's memory is shared
  (one pod can take all of it and the others fail to allocate), a fault (Xid error, a hung kernel)
  takes every pod on that GPU down, and there is no fair share of compute time.
- **mig** (Multi-Instance GPU, A100 / H100 / H200): every GPU of the node is cut into the same
  MIG profile (`1g.10gb`, …); each instance has its own memory and compute slices and its own
  fault domain (an Xid error stays in its instance), but PCIe / NVLink bandwidth and the host are
  shared, and a CUDA process can use one MIG instance only.

Both keep the resource name `nvidia.com/gpu` (the device plugin's `single` MIG strategy), so
pods, quotas, queues and tolerations need no other resource. The device plugin's configuration
is chosen per node by the label `nvidia.com/device-plugin.config` that the pool's NodePool puts on
its nodes; the platform's device plugin ships every configuration this module names
(`device_plugin_configs`). Karpenter does not know about sharing: it plans nodes in physical
GPUs, and NodePool limits count physical GPUs; quotas and queues count what pods request, i.e.
advertised GPUs.

MIG profiles and how many instances of each fit one GPU: NVIDIA Multi-Instance GPU User Guide,
"Supported MIG Profiles" (A100 40GB / 80GB, H100 80GB, H200 141GB).
"""

from __future__ import annotations

from collections.abc import Mapping

import yaml

from .bundle.model import ComputePool, ProjectSpec
from .instance_facts import InstanceFacts, facts_of

GPU_RESOURCE = "nvidia.com/gpu"
# The device plugin's config manager reads this node label and applies the named configuration.
CONFIG_LABEL = "nvidia.com/device-plugin.config"
DEFAULT_CONFIG = "default"
MIG_CONFIG = "mig-single"
TIME_SLICING_PREFIX = "time-slicing-"
# The MIG layout of the node (the NVIDIA GPU Operator's label convention: `all-<profile>`);
# mlrig's node user data reads it from the EC2NodeClass, the label records it on the node.
MIG_LAYOUT_LABEL = "nvidia.com/mig.config"
SHARING_LABEL = "mlrig.io/gpu-sharing"

MIN_REPLICAS = 2
MAX_REPLICAS = 16

# GPU name (Karpenter's `instance-gpu-name`) -> GPU memory in MiB -> MIG profile -> instances per GPU.
MIG_PROFILES: dict[str, dict[int, dict[str, int]]] = {
    "a100": {
        40960: {"1g.5gb": 7, "1g.10gb": 4, "2g.10gb": 3, "3g.20gb": 2, "4g.20gb": 1, "7g.40gb": 1},
        81920: {"1g.10gb": 7, "1g.20gb": 4, "2g.20gb": 3, "3g.40gb": 2, "4g.40gb": 1, "7g.80gb": 1},
    },
    "h100": {
        81920: {"1g.10gb": 7, "1g.20gb": 4, "2g.20gb": 3, "3g.40gb": 2, "4g.40gb": 1, "7g.80gb": 1},
    },
    "h200": {
        144384: {"1g.18gb": 7, "1g.35gb": 4, "2g.35gb": 3, "3g.71gb": 2, "4g.71gb": 1, "7g.141gb": 1},
    },
}
MIG_GPUS = tuple(MIG_PROFILES)


def mig_profiles(facts: InstanceFacts) -> dict[str, int]:
    """MIG profiles of the instance type's GPU ({} when it has no MIG-capable NVIDIA GPU)."""
    if facts.gpu_manufacturer != "nvidia" or facts.gpu_name is None or facts.gpu_memory_mib is None:
        return {}
    return MIG_PROFILES.get(facts.gpu_name, {}).get(facts.gpu_memory_mib, {})


def time_slicing_config(replicas: int) -> str:
    return f"{TIME_SLICING_PREFIX}{replicas}"


def config_name(mode: str, replicas: int | None) -> str:
    """The device-plugin configuration a pool's nodes use."""
    if mode == "time-slicing" and replicas:
        return time_slicing_config(replicas)
    if mode == "mig":
        return MIG_CONFIG
    return DEFAULT_CONFIG


def node_labels(mode: str, replicas: int | None, profile: str | None) -> dict[str, str]:
    """Labels a GPU pool's nodes carry for its sharing mode (pods select them too)."""
    labels = {SHARING_LABEL: mode, CONFIG_LABEL: config_name(mode, replicas)}
    if mode == "mig" and profile:
        labels[MIG_LAYOUT_LABEL] = f"all-{profile}"
    return labels


def slices_per_gpu(mode: str, replicas: int | None, profile: str | None, facts: InstanceFacts) -> int:
    """`nvidia.com/gpu` a node advertises per physical GPU."""
    if mode == "time-slicing" and replicas:
        return replicas
    if mode == "mig" and profile:
        return mig_profiles(facts).get(profile, 1)
    return 1


def slices_from_labels(labels: Mapping[str, str], facts: InstanceFacts) -> int:
    """The same, read back from a node's labels (what the checks see in a NodePool template)."""
    config = labels.get(CONFIG_LABEL, DEFAULT_CONFIG)
    if config.startswith(TIME_SLICING_PREFIX):
        try:
            return max(int(config[len(TIME_SLICING_PREFIX) :]), 1)
        except ValueError:
            return 1
    if config == MIG_CONFIG:
        layout = labels.get(MIG_LAYOUT_LABEL, "")
        return mig_profiles(facts).get(layout.removeprefix("all-"), 1)
    return 1


def advertised_gpus(facts: InstanceFacts, labels: Mapping[str, str]) -> int:
    """`nvidia.com/gpu` a node of this type with these labels advertises to the kube-scheduler."""
    return facts.nvidia_gpus * slices_from_labels(labels, facts)


def max_request_per_pod(labels: Mapping[str, str]) -> int | None:
    """The most `nvidia.com/gpu` one pod may request on a shared node (None: no such limit).
    Time-slicing: the device plugin fails larger requests (`failRequestsGreaterThanOne`), since
    two replicas may be the same GPU. MIG: a CUDA process can use one MIG instance only."""
    config = labels.get(CONFIG_LABEL, DEFAULT_CONFIG)
    if config.startswith(TIME_SLICING_PREFIX) or config == MIG_CONFIG:
        return 1
    return None


# --- a pool's GPUs in its project's queue ---------------------------------------------------------


def pool_slices_per_node(pool: ComputePool) -> int | None:
    """`nvidia.com/gpu` the pool's largest node type advertises (0 for a CPU pool; None when an
    instance type is unknown)."""
    if pool.gpu is None:
        return 0
    best = 0
    for instance_type in pool.instance_types:
        facts = facts_of(instance_type)
        if facts is None:
            return None
        sharing = pool.sharing
        best = max(best, facts.nvidia_gpus * slices_per_gpu(sharing.mode, sharing.replicas, sharing.profile, facts))
    return best


def serving_gpus(spec: ProjectSpec, pool: ComputePool) -> int:
    """GPUs the pool's endpoints take at `maxReplicas` (both variants of a split or shadow):
    serving is never queued, so the queue leaves them room."""
    return sum(
        e.autoscaling.max_replicas * (1 if e.rollout.strategy == "direct" else 2) * e.resources.gpu
        for e in spec.serving.endpoints
        if e.pool == pool.name
    )


def queue_gpu_share(spec: ProjectSpec, pool: ComputePool, nodes: int | None = None) -> int | None:
    """The pool's GPUs in the project's queue (its nominal quota): `queue.nominalGpus`, at most
    what `nodes` (default `max`) nodes hold less what the pool's endpoints need."""
    per_node = pool_slices_per_node(pool)
    if per_node is None:
        return None
    room = max(per_node * (pool.max if nodes is None else nodes) - serving_gpus(spec, pool), 0)
    return room if pool.queue.nominal_gpus is None else min(room, pool.queue.nominal_gpus)


def _config(flags: dict[str, str], sharing: dict[str, object] | None = None) -> str:
    document: dict[str, object] = {"version": "v1", "flags": flags}
    if sharing:
        document["sharing"] = sharing
    return yaml.safe_dump(document, sort_keys=False)


def device_plugin_configs() -> dict[str, str]:
    """Every named configuration of the platform's device plugin (its `config.map`)."""
    configs = {DEFAULT_CONFIG: _config({"migStrategy": "none"}), MIG_CONFIG: _config({"migStrategy": "single"})}
    for replicas in range(MIN_REPLICAS, MAX_REPLICAS + 1):
        configs[time_slicing_config(replicas)] = _config(
            {"migStrategy": "none"},
            {
                "timeSlicing": {
                    "renameByDefault": False,
                    "failRequestsGreaterThanOne": True,
                    "resources": [{"name": GPU_RESOURCE, "replicas": replicas}],
                }
            },
        )
    return configs


def mig_user_data(profile: str) -> str:
    """Node user data (a MIME part AL2023 runs before nodeadm starts the kubelet) that turns MIG
    mode on and cuts every GPU into as many `profile` instances as fit (7 × `1g.10gb` on an H100),
    so the device plugin (strategy `single`) advertises each instance as one `nvidia.com/gpu`.
    Idempotent: a rebooted node drops its old instances first."""
    script = [
        "#!/bin/bash",
        "set -euo pipefail",
        f"# mlrig: MIG layout all-{profile}",
        "nvidia-smi -mig 1",
        "nvidia-smi --gpu-reset || true",
        "nvidia-smi mig -dci || true",
        "nvidia-smi mig -dgi || true",
        "for gpu in $(nvidia-smi --query-gpu=index --format=csv,noheader); do",
        # `nvidia-smi mig -lgip` lists `| 0  MIG 1g.10gb  19  7/7 …`: the sixth field is free/total.
        f"  total=$(nvidia-smi mig -i \"$gpu\" -lgip | awk '/MIG {profile} /{{print $6; exit}}' | cut -d/ -f2)",
        f"  profiles=$(printf '{profile},%.0s' $(seq 1 \"${{total:-1}}\"))",
        '  nvidia-smi mig -i "$gpu" -cgi "${profiles%,}" -C',
        "done",
    ]
    return "\n".join(
        [
            "MIME-Version: 1.0",
            'Content-Type: multipart/mixed; boundary="MLRIGMIG"',
            "",
            "--MLRIGMIG",
            'Content-Type: text/x-shellscript; charset="us-ascii"',
            "",
            *script,
            "",
            "--MLRIGMIG--",
            "",
        ]
    )
