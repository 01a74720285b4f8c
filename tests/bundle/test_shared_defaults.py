"""A project's environments share the derived defaults of the blocks their overrides leave alone
(`ProjectDefaults`): deriving them once must give every environment exactly what deriving them
for each environment alone gives, whatever the overrides change, and so the same diagnostics."""

from __future__ import annotations

from typing import Any
from unittest import mock

from hypothesis import HealthCheck, given, settings

from mlrig.bundle.defaults import ProjectDefaults
from mlrig.bundle.model import ProjectSpec
from mlrig.bundle.validate import ValidationResult

from .helpers import admitting, example, validate
from .test_fuzz import mutated_bundle_sets


def every_field(model: Any) -> Any:
    """A model's values and, at every level, which fields count as set."""
    if hasattr(model, "model_fields_set"):
        return (
            type(model).__name__,
            sorted(model.model_fields_set),
            {name: every_field(getattr(model, name)) for name in type(model).model_fields},
        )
    if isinstance(model, dict):
        return {key: every_field(value) for key, value in model.items()}
    if isinstance(model, list):
        return [every_field(value) for value in model]
    return (type(model).__name__, model)


def unshared(result_of: Any) -> Any:
    """`result_of()` with every block's defaults derived anew for every environment."""

    def derive_each_time(self: ProjectDefaults, derive: Any, block: Any, *inputs: Any) -> Any:
        return derive(block, *inputs)

    with mock.patch.object(ProjectDefaults, "_once", derive_each_time):
        return result_of()


def outcome(result: ValidationResult) -> Any:
    return (
        [d.as_dict() for d in result.diagnostics],
        {
            name: {env: every_field(environment.spec) for env, environment in project.environments.items()}
            for name, project in result.projects.items()
        },
    )


def assert_shared_as_unshared(*documents: dict[str, Any]) -> None:
    shared = outcome(validate(*documents))
    assert shared == unshared(lambda: outcome(validate(*documents)))


def with_overrides(name: str, overrides: dict[str, Any], **spec: Any) -> dict[str, Any]:
    project = example(name)
    project["spec"].update(spec)
    project["spec"]["environments"] = overrides
    return project


def test_the_example_bundles_resolve_as_when_each_environment_resolves_alone():
    platform = example("platform")
    fraud, rag = example("fraud"), example("rag")
    result = validate(platform, fraud, rag)
    assert result.valid and len(result.projects) == 2
    assert_shared_as_unshared(platform, fraud, rag)


def test_environments_whose_overrides_change_what_defaults_depend_on_resolve_as_alone():
    """Overrides of the inputs of other blocks' defaults: the first registry (pipeline and endpoint
    images), the monitoring schedule (monitoring pipelines), GPU pools (endpoint pre-pulling and
    queueing), the tier (the vector database's size) and explicit values that stop a default."""
    rag = with_overrides(
        "rag",
        {
            "dev": {"registries": ["other-images", "app", "tuning"], "monitoring": {"schedule": "5 * * * *"}},
            "staging": {"llm": {"vectorDatabase": {"engine": "pgvector", "instanceClass": "db.r6g.xlarge"}}},
            "prod": {"serving": {"endpoints": []}},
        },
    )
    del rag["spec"]["pipelines"]["monitor"]["image"]  # the first registry's, by default
    fraud = with_overrides(
        "fraud",
        {
            "dev": {"storage": {"prodReadAccessFromDev": True}},
            "prod": {"compute": {"queueing": {"enabled": False}}, "pipelines": {"train": {"expectedMinutes": 7}}},
        },
    )
    platform = admitting(example("platform"), fraud, rag)
    assert_shared_as_unshared(platform, fraud, rag)
    result = validate(platform, fraud, rag)
    assert result.valid, [d.text() for d in result.diagnostics]
    rag_envs = result.projects["rag-assistant"].environments
    sizes = {env: e.spec.llm.vector_database.instance_class for env, e in rag_envs.items()}
    assert sizes == {"dev": "db.t4g.medium", "staging": "db.r6g.xlarge", "prod": "db.r6g.large"}
    monitor = {
        env: (e.spec.pipelines["monitor"].image, e.spec.pipelines["monitor"].schedule) for env, e in rag_envs.items()
    }
    schedule = rag_envs["staging"].spec.monitoring.schedule  # the model's default
    assert schedule != "5 * * * *"
    assert monitor == {"dev": ("other-images", "5 * * * *"), "staging": ("app", schedule), "prod": ("app", schedule)}


def test_a_spec_resolved_for_two_tiers_keeps_each_tiers_defaults():
    spec = ProjectSpec.model_validate(example("rag")["spec"] | {"environments": {}})
    defaults = ProjectDefaults("rag-assistant", None)
    dev, prod = defaults.resolve(spec, "dev"), defaults.resolve(spec, "prod")
    assert dev.llm.vector_database.instance_class == "db.t4g.medium"
    assert prod.llm.vector_database.instance_class == "db.r6g.large"
    assert dev.pipelines is prod.pipelines  # derived once: the tier does not change them
    alone = ProjectDefaults("rag-assistant", None).resolve(spec, "prod")
    assert every_field(prod) == every_field(alone)


FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(mutated_bundle_sets())
def test_mutated_bundle_sets_resolve_and_fail_as_when_each_environment_resolves_alone(documents: list[dict[str, Any]]):
    try:
        shared = outcome(validate(*documents))
    except Exception:  # a document the helpers cannot dump or load: the loader's fuzzing covers it
        return
    assert shared == unshared(lambda: outcome(validate(*documents)))
