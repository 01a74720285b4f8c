"""`mlrig graph`: the architecture drawn from the plan, and the committed diagram of the examples."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from mlrig import cli as cli_module
from mlrig import examples
from mlrig.bundle.validate import ValidationResult
from mlrig.graph import architecture_doc, graph_text
from mlrig.plan.command import CommandError
from mlrig.plan.runner import Planner

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def diagram(example_planner: Planner) -> str:
    return graph_text([str(examples.DIRECTORY)], "prod", "mermaid", Console(file=io.StringIO()), example_planner)


def test_the_committed_architecture_diagram_is_what_graph_prints_for_the_examples(example_planner: Planner) -> None:
    committed = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    assert committed == architecture_doc(example_planner), (
        "regenerate: .venv/bin/python -c 'from mlrig.graph import architecture_doc as a; "
        'open("docs/architecture.md", "w").write(a())\''
    )


def test_the_diagram_shows_every_pipeline_endpoint_and_pool_of_every_project(
    diagram: str, example_result: ValidationResult
) -> None:
    for project in example_result.projects.values():
        spec = project.environments["prod"].spec
        for name in spec.pipelines:
            assert f'"pipeline {name}"' in diagram
        for endpoint in spec.serving.endpoints:
            assert f'"endpoint {endpoint.name}"' in diagram
        for pool in spec.compute.pools:
            assert f'"pool {pool.name}"' in diagram
        for registry in spec.registries:
            assert f'"ECR {registry}"' in diagram


def test_the_platforms_cluster_hosts_each_project_and_work_runs_on_its_pool(diagram: str) -> None:
    assert re.search(r"acme_ml_prod_Cluster\S* -->\|hosts namespace\| fraud_detection_prod_Workspace", diagram)
    assert re.search(r"acme_ml_prod_Cluster\S* -->\|hosts namespace\| rag_assistant_prod_Workspace", diagram)
    assert (
        "fraud_detection_prod_pipeline_pipeline_train -->|runs on| fraud_detection_prod_pool_pool_gpu_train" in diagram
    )
    assert "rag_assistant_prod_endpoint_endpoint_llm -->|runs on| rag_assistant_prod_pool_pool_gpu_serve" in diagram
    assert diagram.startswith("flowchart LR\n")


def test_dot_draws_the_same_organisation(example_planner: Planner) -> None:
    dot = graph_text([str(examples.DIRECTORY)], "prod", "dot", Console(file=io.StringIO()), example_planner)
    assert dot.startswith("digraph mlrig {") and dot.rstrip().endswith("}")
    assert 'label="pipeline train"' in dot and '[label="hosts namespace"]' in dot


def test_one_bundle_draws_one_stack(example_planner: Planner) -> None:
    text = graph_text(
        [examples.path("fraud-detection.yaml")], "staging", "mermaid", Console(file=io.StringIO()), example_planner
    )
    assert "Project fraud-detection.staging" in text and "Platform acme-ml" not in text


def test_bad_input_gets_validates_diagnostics_and_an_unknown_environment_exits_1(tmp_path: Path) -> None:
    examples.copy_to(tmp_path / "bundles")
    with pytest.raises(CommandError, match="has no environment 'qa'"):
        graph_text([str(tmp_path / "bundles")], "qa", "mermaid", Console(file=io.StringIO()))
    bad = tmp_path / "bundles/rag-assistant.yaml"
    bad.write_text(bad.read_text().replace("runtime: vllm", "runtime: vlm"))
    result = CliRunner().invoke(cli_module.cli, ["graph", str(bad)], standalone_mode=False)
    assert result.exit_code == 1 and "rag-assistant.yaml:" in result.stderr and "runtime" in result.stderr
