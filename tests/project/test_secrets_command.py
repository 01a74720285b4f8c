"""`mlrig secrets` through the real entry point on the example bundles: every secret a person must
fill, with its account, region, purpose and the exact command, derived from the code that
creates the secrets (the offline plan leaves exactly these without a value)."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from mlrig.plan.engine import StackPlan
from mlrig.project.vector_roles import generated_secret_purposes


def mlrig(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlrig.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_the_examples_list_the_provider_keys_and_alert_credentials_of_each_environment(example_repo: Path):
    result = mlrig("secrets", "--env", "prod", "--format", "json", cwd=example_repo)
    assert result.returncode == 0, result.stderr
    secrets = json.loads(result.stdout)["secrets"]
    assert {(s["stack"], s["name"]) for s in secrets} == {
        ("fraud-detection.prod", "mlrig/fraud-detection/prod/alerts/slack"),
        ("rag-assistant.prod", "mlrig/rag-assistant/prod/llm-gateway/openai"),
        ("rag-assistant.prod", "mlrig/rag-assistant/prod/llm-gateway/anthropic"),
        ("rag-assistant.prod", "mlrig/rag-assistant/prod/model-hub/huggingface"),
        ("rag-assistant.prod", "mlrig/rag-assistant/prod/alerts/genai-oncall"),
    }
    for secret in secrets:
        assert (secret["account"], secret["region"]) == ("333333333333", "us-east-1")
        assert secret["awaitedByPulumi"] is False
        assert shlex.split(secret["command"]) == [
            "aws",
            "secretsmanager",
            "put-secret-value",
            "--region",
            "us-east-1",
            "--secret-id",
            secret["name"],
            "--secret-string",
            "$SECRET_VALUE",
        ]
    openai = next(s for s in secrets if s["name"].endswith("/openai"))
    assert "OPENAI_API_KEY" in openai["readBy"]
    assert "kubectl -n rag-assistant rollout restart deployment/llm-gateway" in openai["afterFilling"]


@pytest.mark.slow
@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
def test_the_list_is_exactly_what_the_plan_creates_without_a_value(
    example_repo: Path, project_plan, example_result, environment
):
    secrets = json.loads(mlrig("secrets", "--env", environment, "--format", "json", cwd=example_repo).stdout)
    listed = {s["name"] for s in secrets["secrets"]}
    empty: set[str] = set()
    for project in ("fraud-detection", "rag-assistant"):
        plan: StackPlan = project_plan(project, environment)
        valued = {v["inputs"]["secretId"] for v in plan.of_type("aws:secretsmanager/secretVersion:SecretVersion")}
        empty |= {
            s["inputs"]["name"]
            for s in plan.of_type("aws:secretsmanager/secret:Secret")
            if s["outputs"]["arn"] not in valued and s["id"] not in valued
        }
        # What a Job of the stack fills (the pgvector reader's password) is nobody's to set.
        spec = example_result.projects[project].environments[environment].spec
        empty -= {f"mlrig/{project}/{environment}/{p}" for p in generated_secret_purposes(spec)}
    assert listed == empty


def test_the_text_report_names_each_stack_and_how_to_fill(example_repo: Path):
    result = mlrig("secrets", "bundles/rag-assistant.yaml", "--env", "dev", cwd=example_repo)
    assert result.returncode == 0, result.stderr
    assert "rag-assistant.dev (account 111111111111, us-east-1)" in result.stdout
    assert "fraud-detection" not in result.stdout  # only the bundles named
    assert "read -rs SECRET_VALUE" in result.stdout
    assert (
        "aws secretsmanager put-secret-value --region us-east-1 --secret-id "
        "mlrig/rag-assistant/dev/llm-gateway/anthropic" in result.stdout
    )


def test_the_platform_bundle_alone_has_nothing_to_fill(example_repo: Path):
    """Grafana's admin password and database passwords are generated, never typed by a person."""
    result = mlrig("secrets", "bundles/platform.yaml", cwd=example_repo)
    assert result.returncode == 0, result.stderr
    assert "No secret to fill" in result.stdout


def test_an_unknown_environment_is_a_usage_error(example_repo: Path):
    result = mlrig("secrets", "--env", "qa", cwd=example_repo)
    assert result.returncode == 2
    assert "no environment qa" in result.stderr and "Traceback" not in result.stderr


def test_an_invalid_bundle_is_reported_with_its_position_and_exit_1(example_repo: Path):
    path = example_repo / "bundles" / "rag-assistant.yaml"
    path.write_text(path.read_text().replace("kind: Project", "kind: Project\nbogus: 1"))
    result = mlrig("secrets", cwd=example_repo)
    assert result.returncode == 1
    assert "rag-assistant.yaml:" in result.stderr and "Traceback" not in result.stderr
