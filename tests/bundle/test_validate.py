"""The validation pipeline as a whole: every error of every file, context files, resolved output."""

from __future__ import annotations

from pathlib import Path

from mlrig.bundle.validate import validate_paths

from .helpers import check_project, dump, example, explain, platform_with, set_path, validate


def test_a_platform_with_a_broken_environment_still_has_its_other_environments_checked():
    platform = platform_with({"spec.environments.dev.tier": "develop", "spec.environments.staging.region": "us-east-7"})
    result = validate(platform)
    assert [(e.path, e.rule) for e in result.diagnostics] == [
        ("spec.environments.dev.tier", "schema"),
        ("spec.environments.staging.region", "regions_exist"),
    ], explain(result)
    assert result.platforms == {}


def test_a_project_with_schema_errors_still_has_its_overrides_checked():
    fraud = example("fraud")
    set_path(fraud, "spec.compute.pools[0].max", "eight")
    set_path(fraud, "spec.environments.prod.compute.pools[0].capacity", "reserved")
    result = validate(example("platform"), fraud)
    assert sorted(e.path for e in result.diagnostics) == [
        "spec.compute.pools[0].max",
        "spec.environments.prod.compute.pools[0].capacity",
    ], explain(result)


def test_validating_one_file_resolves_references_from_its_directory_without_reporting_them(tmp_path: Path):
    platform = example("platform")
    set_path(platform, "spec.environments.staging.region", "us-east-7")  # broken, but not asked about
    (tmp_path / "platform.yaml").write_text(dump(platform))
    (tmp_path / "fraud-detection.yaml").write_text(dump(example("fraud")))
    result = validate_paths([tmp_path / "fraud-detection.yaml"])
    [own] = [r for r in result.reports if not r.context]
    assert own.file == str(tmp_path / "fraud-detection.yaml") and result.diagnostics == []
    assert own.blocked_by == str(tmp_path / "platform.yaml") and not result.valid


def test_the_resolved_examples_hold_one_environment_per_platform_environment(example_result):
    assert set(example_result.projects) == {"fraud-detection", "rag-assistant"}
    for project in example_result.projects.values():
        assert [e.stack for e in project.environments.values()] == [
            f"{project.name}.{env}" for env in ("dev", "staging", "prod")
        ]
        assert all(e.platform_environment.platform_name == "acme-ml" for e in project.environments.values())


def test_the_validator_leaves_the_collector_as_it_found_it(tmp_path: Path):
    import gc

    (tmp_path / "p.yaml").write_text(dump(example("platform")))
    validate_paths([tmp_path])
    assert gc.isenabled()
    gc.disable()
    try:
        validate_paths([tmp_path])
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_what_validation_keeps_is_left_in_the_oldest_generation_not_rescanned_at_once(tmp_path: Path):
    import gc

    (tmp_path / "p.yaml").write_text(dump(example("platform")))
    result = validate_paths([tmp_path])
    assert any(o is result.reports for o in gc.get_objects(generation=2))
    assert gc.isenabled() and gc.get_freeze_count() == 0


def test_a_programs_own_frozen_objects_stay_frozen(tmp_path: Path):
    import gc

    (tmp_path / "p.yaml").write_text(dump(example("platform")))
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        validate_paths([tmp_path])
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()


def test_a_missing_pipeline_type_lists_the_allowed_types():
    result = check_project({}, deletions=("spec.pipelines.train.type",))
    [error] = result.diagnostics
    assert error.path == "spec.pipelines.train.type" and "missing required key 'type'" in error.message
    assert "use one of 'feature-refresh', 'training', 'model-deployment'" in error.message


def test_a_missing_repository_shows_an_example_of_its_form():
    [error] = check_project({}, deletions=("spec.repository",)).diagnostics
    assert error.message == "missing required key 'repository'; for example `repository: acme/fraud-detection`"


def test_an_invalid_platform_is_reported_once_and_first_not_once_per_project():
    platform = platform_with({"spec.environments.staging.network.cidr": "10.10.128.0/17"})
    result = validate(
        example("fraud"),
        example("rag"),
        platform,
        files=["fraud-detection.yaml", "rag-assistant.yaml", "platform.yaml"],
    )
    assert [(e.file, e.path) for e in result.diagnostics] == [
        ("platform.yaml", "spec.environments.staging.network.cidr")
    ], explain(result)
    assert {r.file for r in result.blocked} == {"fraud-detection.yaml", "rag-assistant.yaml"} and not result.valid
