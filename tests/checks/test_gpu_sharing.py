"""GPU sharing facts: how many `nvidia.com/gpu` a shared node advertises, and the device-plugin
configurations the platform ships for pools to select."""

from __future__ import annotations

import pytest
import yaml

from mlrig import gpu_sharing
from mlrig.instance_facts import facts_of


@pytest.mark.parametrize(
    ("instance_type", "profile", "per_gpu"),
    [
        ("p4d.24xlarge", "1g.5gb", 7),  # A100 40 GiB
        ("p4de.24xlarge", "1g.10gb", 7),  # A100 80 GiB
        ("p5.48xlarge", "3g.40gb", 2),  # H100 80 GiB
        ("p5en.48xlarge", "1g.18gb", 7),  # H200 141 GiB
    ],
)
def test_a_mig_profile_fits_as_many_instances_as_nvidia_documents(instance_type, profile, per_gpu):
    facts = facts_of(instance_type)
    assert gpu_sharing.slices_per_gpu("mig", None, profile, facts) == per_gpu
    labels = gpu_sharing.node_labels("mig", None, profile)
    assert gpu_sharing.advertised_gpus(facts, labels) == facts.nvidia_gpus * per_gpu


@pytest.mark.parametrize("instance_type", ["g5.2xlarge", "g6e.12xlarge", "p3.16xlarge", "p6-b200.48xlarge"])
def test_gpus_without_mig_have_no_profiles(instance_type):
    assert gpu_sharing.mig_profiles(facts_of(instance_type)) == {}


def test_time_slicing_multiplies_every_gpu_by_its_replicas_and_serves_one_slice_per_pod():
    labels = gpu_sharing.node_labels("time-slicing", 4, None)
    assert labels[gpu_sharing.CONFIG_LABEL] == "time-slicing-4"
    assert gpu_sharing.advertised_gpus(facts_of("g5.12xlarge"), labels) == 16
    assert gpu_sharing.max_request_per_pod(labels) == 1
    assert gpu_sharing.max_request_per_pod(gpu_sharing.node_labels("none", None, None)) is None


def test_every_named_configuration_is_a_device_plugin_config_file():
    configs = {name: yaml.safe_load(text) for name, text in gpu_sharing.device_plugin_configs().items()}
    assert configs["default"] == {"version": "v1", "flags": {"migStrategy": "none"}}
    assert configs["mig-single"]["flags"] == {"migStrategy": "single"}
    sliced = configs["time-slicing-4"]["sharing"]["timeSlicing"]
    assert sliced["failRequestsGreaterThanOne"] is True
    assert sliced["resources"] == [{"name": "nvidia.com/gpu", "replicas": 4}]
    # every replica count a bundle may ask for has a configuration to select
    for replicas in range(gpu_sharing.MIN_REPLICAS, gpu_sharing.MAX_REPLICAS + 1):
        assert gpu_sharing.time_slicing_config(replicas) in configs


def test_mig_user_data_is_a_shell_part_for_nodeadm_that_cuts_the_profile():
    data = gpu_sharing.mig_user_data("2g.20gb")
    assert data.startswith("MIME-Version: 1.0") and "Content-Type: text/x-shellscript" in data
    assert "nvidia-smi -mig 1" in data and "MIG 2g.20gb " in data and data.rstrip().endswith("--MLRIGMIG--")
