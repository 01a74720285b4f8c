"""Facts about AWS that validation needs: regions and NVIDIA GPU instance types.

Kept as data so that a new region or GPU family is a one-line change with a test beside it.
"""

from __future__ import annotations

REGIONS: frozenset[str] = frozenset(
    {
        "us-east-1",
        "us-east-2",
        "us-west-1",
        "us-west-2",
        "af-south-1",
        "ap-east-1",
        "ap-east-2",
        "ap-south-1",
        "ap-south-2",
        "ap-southeast-1",
        "ap-southeast-2",
        "ap-southeast-3",
        "ap-southeast-4",
        "ap-southeast-5",
        "ap-southeast-6",
        "ap-southeast-7",
        "ap-northeast-1",
        "ap-northeast-2",
        "ap-northeast-3",
        "ca-central-1",
        "ca-west-1",
        "eu-central-1",
        "eu-central-2",
        "eu-west-1",
        "eu-west-2",
        "eu-west-3",
        "eu-south-1",
        "eu-south-2",
        "eu-north-1",
        "il-central-1",
        "me-south-1",
        "me-central-1",
        "mx-central-1",
        "sa-east-1",
        "us-gov-east-1",
        "us-gov-west-1",
        "cn-north-1",
        "cn-northwest-1",
    }
)

# NVIDIA GPUs per instance size, by family. Sizes not listed have one GPU when the family is
# listed in SINGLE_GPU_SIZES_DEFAULT.
_SINGLE = {"xlarge": 1, "2xlarge": 1, "4xlarge": 1, "8xlarge": 1, "16xlarge": 1}
NVIDIA_GPUS: dict[str, dict[str, int]] = {
    "g4dn": {**_SINGLE, "12xlarge": 4, "metal": 8},
    "g5": {**_SINGLE, "12xlarge": 4, "24xlarge": 4, "48xlarge": 8},
    "g5g": {"xlarge": 1, "2xlarge": 1, "4xlarge": 1, "8xlarge": 1, "16xlarge": 2, "metal": 2},
    "g6": {**_SINGLE, "12xlarge": 4, "24xlarge": 4, "48xlarge": 8},
    "g6e": {**_SINGLE, "12xlarge": 4, "24xlarge": 4, "48xlarge": 8},
    "gr6": {"4xlarge": 1, "8xlarge": 1},
    "p3": {"2xlarge": 1, "8xlarge": 4, "16xlarge": 8},
    "p3dn": {"24xlarge": 8},
    "p4d": {"24xlarge": 8},
    "p4de": {"24xlarge": 8},
    "p5": {"4xlarge": 1, "48xlarge": 8},
    "p5e": {"48xlarge": 8},
    "p5en": {"48xlarge": 8},
    "p6-b200": {"48xlarge": 8},
}
ARM64_GPU_FAMILIES = frozenset({"g5g"})
NON_NVIDIA_ACCELERATORS = {
    "g4ad": "AMD Radeon GPUs",
    "inf1": "AWS Inferentia",
    "inf2": "AWS Inferentia2",
    "trn1": "AWS Trainium",
    "trn1n": "AWS Trainium",
    "trn2": "AWS Trainium2",
    "dl1": "Habana Gaudi",
    "dl2q": "Qualcomm AI 100",
    "f1": "FPGAs",
    "f2": "FPGAs",
}


def split_instance_type(instance_type: str) -> tuple[str, str]:
    family, _, size = instance_type.partition(".")
    return family, size


def nvidia_gpus(instance_type: str) -> int | None:
    """GPUs of an instance type, 0 for a known non-GPU family size, None when unknown."""
    family, size = split_instance_type(instance_type)
    if family in NVIDIA_GPUS:
        return NVIDIA_GPUS[family].get(size)
    return 0


def is_gpu_family(instance_type: str) -> bool:
    return split_instance_type(instance_type)[0] in NVIDIA_GPUS
