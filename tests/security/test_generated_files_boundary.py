"""The generated files' boundary, as a table: for every bundle value that reaches a generated file
(workflows, stack configs, CODEOWNERS), a hostile value is either rejected (by validation, or by
the renderer when it slips past validation) or inert: the generated files keep exactly the
structure and the GitHub expressions they have for the example bundles, and free text never
reaches them.

A team's bundle is reviewed by that team alone; the platform bundle is trusted but was
team-editable through CODEOWNERS injection (F3), so its fields are covered too (F8)."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlrig import examples
from mlrig.bundle.resolved import Platform, Project
from mlrig.bundle.validate import ValidationResult, validate_paths
from mlrig.ci.render import UnsafeValue, render_codeowners, render_platform_workflows, render_project_workflows
from mlrig.generate import generated_files

EXPRESSION = re.compile(r"\$\{\{.*?\}\}", re.DOTALL)
# Files whose content is the schema or its documentation, not derived from bundle values.
NOT_DERIVED = ("schemas/", "docs/")
INJECTED = "${{ secrets.PROD_TOKEN }}"

Edit = tuple[str, str, str]  # bundle file, old text, new text


def bundles_with(tmp_path: Path, edits: list[Edit]) -> Path:
    root = tmp_path / "repo"
    examples.copy_to(root / "bundles")
    for file, old, new in edits:
        path = root / "bundles" / file
        text = path.read_text()
        assert old in text, f"{old!r} not in {file}"
        path.write_text(text.replace(old, new, 1))
    return root


def generate_in_memory(root: Path) -> tuple[ValidationResult, dict[str, str]]:
    result = validate_paths([root / "bundles"])
    if not result.valid:
        return result, {}
    files = {f.path: f.content for f in generated_files(root, result) if not f.path.startswith(NOT_DERIVED)}
    return result, files


def parse(text: str) -> Any:
    return yaml.safe_load(text)


def shape(node: Any) -> Any:
    """The structure of a YAML document: keys and nesting, leaves reduced to their type."""
    if isinstance(node, dict):
        return {str(k): shape(v) for k, v in node.items()}
    if isinstance(node, list):
        return [shape(v) for v in node]
    return type(node).__name__


def expressions(node: Any) -> set[str]:
    if isinstance(node, dict):
        return set().union(*(expressions(k) | expressions(v) for k, v in node.items())) if node else set()
    if isinstance(node, list):
        return set().union(*(expressions(v) for v in node)) if node else set()
    return set(EXPRESSION.findall(node)) if isinstance(node, str) else set()


def codeowners_shape(text: str) -> list[tuple[str, int]]:
    """Each rule as (its pattern's kind, how many owners): a literal path or a platform pattern."""
    rules = [line.split() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return [("glob" if set("*?[!") & set(rule[0]) else "path", len(rule) - 1) for rule in rules]


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    result, files = generate_in_memory(bundles_with(tmp_path_factory.mktemp("baseline"), []))
    assert result.valid
    return files


def assert_structurally_identical(baseline: dict[str, str], files: dict[str, str]) -> None:
    assert set(files) == set(baseline), "the same files"
    for path, text in files.items():
        if path.endswith("CODEOWNERS"):
            assert codeowners_shape(text) == codeowners_shape(baseline[path]), path
            continue
        document, original = parse(text), parse(baseline[path])
        assert shape(document) == shape(original), f"{path}: structure changed"
        assert expressions(document) == expressions(original), f"{path}: expressions changed"


# --- rows: hostile values that validation rejects ----------------------------------------------------

REJECTED: dict[str, list[Edit]] = {
    # F8: a GitHub expression in the state backend, read by every apply job
    "state.backend with an expression": [
        (
            "platform.yaml",
            "backend: s3://acme-pulumi-state",
            'backend: "https://x ${{ github.event.pull_request.title }}"',
        )
    ],
    # F8: a newline that adds keys, and a secret, to the apply jobs' env
    "state.secretsProvider with new keys": [
        (
            "platform.yaml",
            "backend: s3://acme-pulumi-state",
            'backend: s3://acme-pulumi-state\n    secretsProvider: "awskms://alias/{environment}\\n          AWS_SECRET: '
            + INJECTED
            + '"',
        )
    ],
    "state.secretsProvider shared by every environment": [
        (
            "platform.yaml",
            "backend: s3://acme-pulumi-state",
            "backend: s3://acme-pulumi-state\n    secretsProvider: awskms://alias/acme-ml-pulumi-secrets",
        )
    ],
    "state.backend with a space": [("platform.yaml", "backend: s3://acme-pulumi-state", 'backend: "s3://acme x"')],
    "github.defaultBranch with an expression": [
        ("platform.yaml", "defaultBranch: main", 'defaultBranch: "main${{ github.head_ref }}"')
    ],
    "github.releaseBranch with a newline": [("platform.yaml", "releaseBranch: release", 'releaseBranch: "r\\n  x: y"')],
    "github.organization with a quote": [("platform.yaml", "organization: acme", "organization: 'ac\"me'")],
    "ci.releaseBranch of a project with a flow sequence": [
        ("fraud-detection.yaml", "releaseBranch: release", 'releaseBranch: "release\\"]\\n  x: ["')
    ],
    "ci.pythonVersion of a project with a newline": [
        ("fraud-detection.yaml", "releaseBranch: release", 'releaseBranch: release\n    pythonVersion: "3.11\\n  x: y"')
    ],
    "repository with a space": [("fraud-detection.yaml", "repository: acme/fraud-detection", 'repository: "acme/a b"')],
    "owners with a newline rule": [
        ("fraud-detection.yaml", 'owners: ["@acme/risk-ml"]', 'owners: ["@acme/risk-ml\\n* @attacker"]')
    ],
    "prodApprovers with a space": [
        ("fraud-detection.yaml", 'prodApprovers: ["@acme/ml-leads"]', 'prodApprovers: ["@acme/ml-leads @attacker"]')
    ],
    "registry name with a shell word": [("fraud-detection.yaml", "registries: [", 'registries: ["x;id", ')],
}


@pytest.mark.parametrize("edits", REJECTED.values(), ids=REJECTED.keys())
def test_a_hostile_value_is_rejected_before_anything_is_generated(tmp_path: Path, edits: list[Edit]) -> None:
    result, files = generate_in_memory(bundles_with(tmp_path, edits))
    assert not result.valid and files == {}


# --- rows: hostile but schema-valid values, which must stay inert -----------------------------------

INERT: dict[str, list[Edit]] = {
    "branch names with slashes and dots": [
        ("platform.yaml", "defaultBranch: main", "defaultBranch: trunk/v1.2_x-y"),
        ("platform.yaml", "releaseBranch: release", "releaseBranch: releases/2026.11"),
        ("fraud-detection.yaml", "releaseBranch: release", "releaseBranch: release/prod.v2"),
    ],
    "a state backend with a prefix and query": [
        (
            "platform.yaml",
            "backend: s3://acme-pulumi-state",
            "backend: s3://acme-pulumi-state/ml/x.y?region=us-east-1&awssdk=v2",
        )
    ],
    "a per-environment secrets provider in a path": [
        (
            "platform.yaml",
            "backend: s3://acme-pulumi-state",
            "backend: s3://acme-pulumi-state\n    secretsProvider: awskms://alias/ml/{environment}/pulumi_x?region=eu-west-1",
        )
    ],
    "free text with expressions, quotes, newlines and comments": [
        (
            "fraud-detection.yaml",
            "description: Card-transaction fraud scoring",
            f"description: \"a\\n# b: '{INJECTED}'\"",
        ),
        # Tag values (costCenter, spec.tags) reach AWS, which allows no quotes, `$`, `{` or
        # newlines in them: validation refuses these (test_trust_boundary.py), so they never get here.
    ],
    "a repository name with dots and underscores": [
        ("fraud-detection.yaml", "repository: acme/fraud-detection", "repository: acme/fraud.detection_v2-x"),
        # the platform admits the project with that repository (a platform-owned change)
        ("platform.yaml", "repository: acme/fraud-detection", "repository: acme/fraud.detection_v2-x"),
    ],
    "a newer python version for a project": [
        ("fraud-detection.yaml", "releaseBranch: release", 'releaseBranch: release\n    pythonVersion: "3.13"')
    ],
}


@pytest.mark.parametrize("edits", INERT.values(), ids=INERT.keys())
def test_a_schema_valid_hostile_value_leaves_the_generated_files_structurally_identical(
    tmp_path: Path, baseline: dict[str, str], edits: list[Edit]
) -> None:
    result, files = generate_in_memory(bundles_with(tmp_path, edits))
    assert result.valid, [d.text() for d in result.diagnostics]
    assert_structurally_identical(baseline, files)
    for path, text in files.items():
        assert "secrets.PROD_TOKEN" not in text, f"{path}: free text reached a generated file"


@pytest.mark.slow
def test_the_generated_workflows_of_every_inert_row_at_once_pass_zizmor_pedantic(tmp_path: Path) -> None:
    edits = [
        *INERT["branch names with slashes and dots"],
        *INERT["free text with expressions, quotes, newlines and comments"],
        *INERT["a repository name with dots and underscores"],
        (
            "platform.yaml",
            "backend: s3://acme-pulumi-state",
            "backend: s3://acme-pulumi-state/ml?region=us-east-1\n    secretsProvider: awskms://alias/ml/{environment}/x",
        ),
    ]
    result, files = generate_in_memory(bundles_with(tmp_path, edits))
    assert result.valid, [d.text() for d in result.diagnostics]
    written = []
    for path, text in files.items():
        if path.endswith(".yml"):
            target = tmp_path / "out" / path.replace("/", "_")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            written.append(str(target))
    zizmor = Path(sys.executable).parent / "zizmor"
    done = subprocess.run(
        [str(zizmor), "--offline", "--persona", "pedantic", "--format", "json", "--no-progress", *written],
        capture_output=True,
        text=True,
        check=False,
    )
    assert json.loads(done.stdout or "[]") == [] and done.returncode == 0, done.stdout[:3000]


# --- rows: values that slip past validation are refused by the renderer -----------------------------


def platform_with(platform: Platform, section: str, **values: Any) -> Platform:
    spec = platform.bundle.spec
    updated = getattr(spec, section).model_copy(update=values)
    return dataclasses.replace(
        platform, bundle=platform.bundle.model_copy(update={"spec": spec.model_copy(update={section: updated})})
    )


def project_with(project: Project, **ci: Any) -> Project:
    spec = project.bundle.spec.model_copy(update={"ci": project.bundle.spec.ci.model_copy(update=ci)})
    return dataclasses.replace(project, bundle=project.bundle.model_copy(update={"spec": spec}))


Render = Callable[[ValidationResult], object]


def _platform(result: ValidationResult) -> Platform:
    return result.platforms["acme-ml"]


RENDER_REFUSES: dict[str, Render] = {
    # F8 exactly as the review found it, had the model's pattern been bypassed
    "state.backend F8 payload": lambda r: render_platform_workflows(
        platform_with(_platform(r), "state", backend="https://x ${{ github.event.pull_request.title }}"), []
    ),
    "state.secretsProvider F8 payload": lambda r: render_platform_workflows(
        platform_with(
            _platform(r),
            "state",
            secrets_provider="awskms://alias/k\n          AWS_SECRET: " + INJECTED + "\n          X: y",
        ),
        [],
    ),
    "github.defaultBranch with an expression": lambda r: render_platform_workflows(
        platform_with(_platform(r), "github", default_branch="main${{ github.head_ref }}"), []
    ),
    "github.organization with a newline": lambda r: render_platform_workflows(
        platform_with(_platform(r), "github", organization="acme\n  x: y"), []
    ),
    "project releaseBranch with a newline": lambda r: render_project_workflows(
        project_with(r.projects["fraud-detection"], release_branch="release\non: push")
    ),
    "project pythonVersion with an expression": lambda r: render_project_workflows(
        project_with(r.projects["fraud-detection"], python_version="${{ secrets.X }}")
    ),
    # F3: bundle file names
    "a bundle file named *.yaml": lambda r: render_codeowners(
        [_platform(r)],
        list(r.projects.values()),
        {
            "acme-ml": "bundles/platform.yaml",
            "fraud-detection": "bundles/*.yaml",
            "rag-assistant": "bundles/rag-assistant.yaml",
        },
    ),
    "a bundle file name with a newline rule": lambda r: render_codeowners(
        [_platform(r)],
        list(r.projects.values()),
        {
            "acme-ml": "bundles/platform.yaml",
            "fraud-detection": "bundles/a\n* @attacker\n#.yaml",
            "rag-assistant": "bundles/r.yaml",
        },
    ),
    "a bundle file name with a space": lambda r: render_codeowners(
        [_platform(r)],
        list(r.projects.values()),
        {
            "acme-ml": "bundles/platform.yaml",
            "fraud-detection": "bundles/a @attacker b.yaml",
            "rag-assistant": "bundles/r.yaml",
        },
    ),
    "a platform bundle path outside bundles/": lambda r: render_codeowners(
        [_platform(r)], [], {"acme-ml": "../platform.yaml"}
    ),
}


@pytest.mark.parametrize("render", RENDER_REFUSES.values(), ids=RENDER_REFUSES.keys())
def test_a_value_that_slips_past_validation_is_refused_by_the_renderer(
    example_result: ValidationResult, render: Render
) -> None:
    with pytest.raises(UnsafeValue):
        render(example_result)
