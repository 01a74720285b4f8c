"""CODEOWNERS, generated: each team owns its bundle and its stack configs; the platform team owns
the platform bundle, the program, the CI, the schema and the workflows."""

from __future__ import annotations

from mlrig.bundle.validate import ValidationResult
from mlrig.ci.render import GENERATED_HEADER, render_codeowners


def owners_of(codeowners: str) -> dict[str, list[str]]:
    """The effective rule per pattern (later lines win, as on GitHub)."""
    rules: dict[str, list[str]] = {}
    for line in codeowners.splitlines():
        if line.strip() and not line.startswith("#"):
            pattern, *owners = line.split()
            rules[pattern] = owners
    return rules


def example_codeowners(result: ValidationResult) -> str:
    platforms = list(result.platforms.values())
    projects = list(result.projects.values())
    paths = {p.name: f"bundles/{'platform' if p in platforms else p.name}.yaml" for p in [*platforms, *projects]}
    return render_codeowners(platforms, projects, paths)


def test_each_team_owns_its_bundle_and_its_stack_configs(example_result: ValidationResult) -> None:
    rules = owners_of(example_codeowners(example_result))
    assert rules["/bundles/fraud-detection.yaml"] == ["@acme/risk-ml"]
    assert rules["/bundles/rag-assistant.yaml"] == ["@acme/genai"]
    for env in ("dev", "staging", "prod"):
        assert rules[f"/Pulumi.fraud-detection.{env}.yaml"] == ["@acme/risk-ml"]
        assert rules[f"/Pulumi.rag-assistant.{env}.yaml"] == ["@acme/genai"]
        assert rules[f"/Pulumi.acme-ml.{env}.yaml"] == ["@acme/platform"]


def test_the_platform_team_owns_the_platform_bundle_program_ci_schema_and_workflows(
    example_result: ValidationResult,
) -> None:
    text = example_codeowners(example_result)
    assert text.startswith(f"# {GENERATED_HEADER}\n")
    rules = owners_of(text)
    for pattern in ("/bundles/platform.yaml", "/infra/", "/ci/", "/schemas/", "/.github/", "/Pulumi.yaml", "/bundles/"):
        assert rules[pattern] == ["@acme/platform"], pattern
    lines = text.splitlines()
    assert lines.index("/bundles/ @acme/platform") < lines.index("/bundles/fraud-detection.yaml @acme/risk-ml"), (
        "the directory rule comes first, so each team's own file rule wins"
    )


def test_a_project_without_owners_falls_back_to_the_platform_team(example_result: ValidationResult) -> None:
    project = example_result.projects["rag-assistant"]
    bundle = project.bundle.model_copy(update={"metadata": project.bundle.metadata.model_copy(update={"owners": []})})
    orphan = type(project)(project.file, bundle, project.platform, project.environments)
    platform = project.platform
    text = render_codeowners(
        [platform], [orphan], {platform.name: "bundles/platform.yaml", orphan.name: "bundles/rag-assistant.yaml"}
    )
    assert owners_of(text)["/bundles/rag-assistant.yaml"] == ["@acme/platform"]
