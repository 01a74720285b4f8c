"""CODEOWNERS, generated: everything is the platform team's, each team owns its own bundle file, and
the platform bundle, the program, the CI, the generated files and the lock are the platform team's
again at the end, where GitHub's later-wins rule protects them. No path or owner a bundle supplies
can add a line, a wildcard or an owner (F3)."""

from __future__ import annotations

import pytest

from mlrig.bundle.validate import ValidationResult
from mlrig.ci.render import GENERATED_HEADER, UnsafeValue, render_codeowners


def owners_of(codeowners: str) -> dict[str, list[str]]:
    """The effective rule per pattern (later lines win, as on GitHub)."""
    rules: dict[str, list[str]] = {}
    for line in codeowners.splitlines():
        if line.strip() and not line.startswith("#"):
            pattern, *owners = line.split()
            rules[pattern] = owners
    return rules


def rule_lines(codeowners: str) -> list[str]:
    return [line for line in codeowners.splitlines() if line.strip() and not line.startswith("#")]


def example_paths(result: ValidationResult, **override: str) -> dict[str, str]:
    platforms = list(result.platforms.values())
    paths = {p.name: f"bundles/{'platform' if p in platforms else p.name}.yaml" for p in result.platforms.values()}
    paths.update({p.name: f"bundles/{p.name}.yaml" for p in result.projects.values()})
    paths.update(override)
    return paths


def example_codeowners(result: ValidationResult, **override: str) -> str:
    platforms = list(result.platforms.values())
    projects = list(result.projects.values())
    return render_codeowners(platforms, projects, example_paths(result, **override))


def test_each_team_owns_its_own_bundle_file_and_nothing_else(example_result: ValidationResult) -> None:
    rules = owners_of(example_codeowners(example_result))
    assert rules["/bundles/fraud-detection.yaml"] == ["@acme/risk-ml"]
    assert rules["/bundles/rag-assistant.yaml"] == ["@acme/genai"]
    team_lines = [line for line in rule_lines(example_codeowners(example_result)) if "@acme/platform" not in line]
    assert team_lines == ["/bundles/fraud-detection.yaml @acme/risk-ml", "/bundles/rag-assistant.yaml @acme/genai"]


def test_the_platform_team_owns_everything_else_and_its_lines_come_last(example_result: ValidationResult) -> None:
    text = example_codeowners(example_result)
    assert text.startswith(f"# {GENERATED_HEADER}\n")
    lines = rule_lines(text)
    assert lines[0] == "* @acme/platform", "new bundles and any unlisted file are the platform team's"
    protected = (
        "/bundles/platform.yaml",
        "/infra/",
        "/ci/",
        "/schemas/",
        "/.github/",
        "/Pulumi.yaml",
        "/Pulumi.*.yaml",
        "/pyproject.toml",
        "/requirements.lock",
    )
    last_team_line = max(i for i, line in enumerate(lines) if "@acme/platform" not in line)
    for pattern in protected:
        index = lines.index(f"{pattern} @acme/platform")
        assert index > last_team_line, f"{pattern} must come after every team line (later lines win)"


def test_a_project_without_owners_leaves_its_bundle_to_the_platform_team(example_result: ValidationResult) -> None:
    project = example_result.projects["rag-assistant"]
    bundle = project.bundle.model_copy(update={"metadata": project.bundle.metadata.model_copy(update={"owners": []})})
    orphan = type(project)(project.file, bundle, project.platform, project.environments)
    platform = project.platform
    text = render_codeowners(
        [platform], [orphan], {platform.name: "bundles/platform.yaml", orphan.name: "bundles/rag-assistant.yaml"}
    )
    assert "/bundles/rag-assistant.yaml" not in owners_of(text)
    assert rule_lines(text)[0] == "* @acme/platform"


@pytest.mark.parametrize(
    "file_name",
    [
        "*.yaml",  # a wildcard: the team would own every bundle, the platform's too
        "a\n* @attacker\n#.yaml",  # a newline: a whole new rule
        "a @attacker b.yaml",  # a space: an extra owner
        "#x.yaml",  # a comment
        "!x.yaml",  # a negation
        "[ab].yaml",  # a character class
        "a\\ b.yaml",  # an escape
        "x?.yaml",
        "../infra.yaml",
    ],
    ids=repr,
)
def test_a_bundle_file_name_cannot_add_rules_wildcards_or_owners(
    example_result: ValidationResult, file_name: str
) -> None:
    """F3: `render.py` wrote `/{path} {owners}` verbatim."""
    with pytest.raises(UnsafeValue) as raised:
        example_codeowners(example_result, **{"fraud-detection": f"bundles/{file_name}"})
    assert "rename the bundle file to <metadata.name>.yaml" in str(raised.value)


def test_owners_are_plain_github_handles(example_result: ValidationResult) -> None:
    project = example_result.projects["rag-assistant"]
    metadata = project.bundle.metadata.model_copy(update={"owners": ["@acme/genai\n* @attacker"]})
    hostile = type(project)(project.file, project.bundle.model_copy(update={"metadata": metadata}), project.platform)
    with pytest.raises(UnsafeValue):
        render_codeowners(
            [project.platform], [hostile], {"acme-ml": "bundles/platform.yaml", "rag-assistant": "bundles/r.yaml"}
        )
