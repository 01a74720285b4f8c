"""Instance facts: the data file, its generator, and what a node offers pods."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

from mlrig import instance_facts
from mlrig.aws_catalog import ec2_instance_types
from mlrig.instance_facts import all_facts, facts_of, node_allocatable

TOOL = Path(__file__).resolve().parents[2] / "tools" / "instance_facts.py"


def tool():
    spec = importlib.util.spec_from_file_location("instance_facts_tool", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


DOC = """
### `g5.2xlarge`
#### Labels
 | Label | Value |
 |--|--|
 |karpenter.k8s.aws/instance-cpu|8|
 |karpenter.k8s.aws/instance-gpu-count|1|
 |karpenter.k8s.aws/instance-gpu-manufacturer|nvidia|
 |karpenter.k8s.aws/instance-gpu-memory|22888|
 |karpenter.k8s.aws/instance-gpu-name|a10g|
 |karpenter.k8s.aws/instance-memory|32768|
 |kubernetes.io/arch|amd64|
#### Resources
 | Resource | Quantity |
 |--|--|
 |cpu|7910m|
 |pods|58|
"""
LIMITS = """
	"g5.2xlarge": {
		ENILimit:                4,
		IPv4Limit:               15,
"""


def test_the_generator_reads_karpenters_reference_and_the_vpc_cni_limits():
    module = tool()
    facts = module.merge(module.parse_karpenter_doc(DOC), module.parse_vpc_limits(LIMITS))
    assert facts == {
        "g5.2xlarge": {
            "vcpus": 8,
            "memoryMiB": 32768,
            "architecture": "amd64",
            "gpus": 1,
            "gpuManufacturer": "nvidia",
            "gpuName": "a10g",
            "gpuMemoryMiB": 22888,
            "efa": 0,
            "networkInterfaces": 4,
            "ipv4PerInterface": 15,
        }
    }
    assert module.dump({"source": "s", "instanceTypes": facts}).count("\n") == 4  # one line per type


def test_the_data_file_names_its_source_and_covers_the_families_mlrig_uses():
    assert "karpenter-provider-aws v1.8.1" in instance_facts.source()
    for name in ("m6i.2xlarge", "c7i.large", "g6e.12xlarge", "p5.48xlarge", "g5g.xlarge"):
        assert facts_of(name) is not None, name
    assert facts_of("p4d.24xlarge").efa == 4 and facts_of("g5g.xlarge").architecture == "arm64"


def test_every_type_with_facts_is_a_valid_name():
    assert set(all_facts()) <= ec2_instance_types()


def test_max_pods_follow_the_eni_formula_and_agree_with_karpenter():
    assert facts_of("g5.2xlarge").max_pods == 58 and facts_of("p4d.24xlarge").max_pods == 737


def test_arm64_nodes_offer_what_karpenters_reference_lists():
    assert node_allocatable(facts_of("a1.large")).memory_mib == 3055  # the reference's figure


# --- instance type names: the snapshot shipped in the package ---------------------------------

NAMES_TOOL = Path(__file__).resolve().parents[2] / "tools" / "ec2_instance_type_names.py"


def test_the_shipped_instance_type_names_are_botocores():
    """The snapshot lets `mlrig validate` skip loading botocore; it must hold nothing botocore
    does not (a hand-edited name would be accepted without EC2 knowing it)."""
    from mlrig.aws_catalog import botocore_instance_type_names, shipped_instance_type_names

    shipped = shipped_instance_type_names()
    assert len(shipped) > 1000 and {"m6i.large", "g6e.12xlarge", "p5.48xlarge"} <= shipped
    assert shipped <= botocore_instance_type_names()


def test_the_snapshot_is_what_its_tool_writes_from_the_installed_botocore():
    spec = importlib.util.spec_from_file_location("ec2_instance_type_names_tool", NAMES_TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    written = module.OUT.read_text(encoding="utf-8")
    snapshot = module.snapshot()
    assert json.loads(written)["names"] == snapshot["names"], "run tools/ec2_instance_type_names.py"


def test_a_name_the_snapshot_lacks_is_still_looked_up_in_botocore(monkeypatch):
    from mlrig import aws_catalog

    monkeypatch.setattr(aws_catalog, "known_without_botocore", lambda: frozenset())
    assert aws_catalog.is_instance_type("m6i.large")  # newer than a snapshot: botocore knows it
    assert not aws_catalog.is_instance_type("m6i.larg")


def test_a_valid_instance_type_is_recognised_without_loading_botocore():
    probe = (
        "import sys\n"
        "from mlrig.aws_catalog import is_instance_type\n"
        "assert is_instance_type('g5.2xlarge') and is_instance_type('m7i.4xlarge')\n"
        "print('botocore' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "False", done.stderr
