"""`defaults.copied` is `model_copy(update=...)` without pydantic's generic path: every copy it
makes must be what `model_copy` makes (type, values, fields set, no extra, no private), the
original must stay as it was, and validation must resolve and report exactly as with
`model_copy`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from unittest import mock

from hypothesis import HealthCheck, given, settings
from pydantic import BaseModel, PrivateAttr

from mlrig.bundle import defaults
from mlrig.bundle import validate as validate_module
from mlrig.bundle.defaults import copied
from mlrig.bundle.model import Strict

from .helpers import example, validate
from .test_fuzz import mutated_bundle_sets
from .test_shared_defaults import outcome


def state(model: BaseModel) -> Any:
    return (
        type(model),
        dict(model.__dict__),
        set(model.__pydantic_fields_set__),
        model.__pydantic_extra__,
        model.__pydantic_private__,
    )


def models_in(value: Any) -> Iterator[BaseModel]:
    """Every model reachable from `value`, itself included."""
    if isinstance(value, BaseModel):
        yield value
        for name in type(value).model_fields:
            yield from models_in(getattr(value, name))
    elif isinstance(value, dict):
        for item in value.values():
            yield from models_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from models_in(item)


def test_a_copy_of_every_model_of_the_examples_is_what_model_copy_makes(example_result):
    """Each field of each model updated in turn (with its own value and with another model's
    value of the same field), and with no update at all."""
    seen = 0
    for project in example_result.projects.values():
        for environment in project.environments.values():
            for model in models_in(environment.spec):
                before = state(model)
                assert state(copied(model, {})) == state(model.model_copy(update={}))
                for name in type(model).model_fields:
                    for update in ({name: getattr(model, name)}, {name: None}):
                        assert state(copied(model, update)) == state(model.model_copy(update=update))
                assert state(model) == before  # the original is untouched
                seen += 1
    assert seen > 100


def test_a_copy_is_a_new_object_whose_updates_do_not_reach_the_original(example_result):
    spec = example_result.projects["fraud-detection"].environments["dev"].spec
    copy = copied(spec, {"registries": ["other"]})
    assert copy is not spec and copy.registries == ["other"] and spec.registries != ["other"]
    assert "registries" in copy.model_fields_set
    assert copy.compute is spec.compute  # shallow, as model_copy


class WithPrivate(Strict):
    value: int = 0
    _note: str = PrivateAttr(default="kept")


def test_a_model_with_private_attributes_takes_pydantics_path():
    model = WithPrivate(value=1)
    model._note = "changed"
    copy = copied(model, {"value": 2})
    assert copy.value == 2 and copy._note == "changed"
    assert state(copy) == state(model.model_copy(update={"value": 2}))


def with_model_copy(result_of: Any) -> Any:
    """`result_of()` with every copy made by pydantic's `model_copy`."""

    def slow(model: BaseModel, update: dict[str, Any]) -> BaseModel:
        return model.model_copy(update=update)

    with mock.patch.object(defaults, "copied", slow), mock.patch.object(validate_module, "copied", slow):
        return result_of()


def test_the_examples_resolve_as_with_model_copy():
    documents = (example("platform"), example("fraud"), example("rag"))
    fast = outcome(validate(*documents))
    assert fast == with_model_copy(lambda: outcome(validate(*documents)))
    assert fast[1]  # resolved projects were compared, field by field


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_bundle_sets())
def test_mutated_bundle_sets_resolve_and_fail_as_with_model_copy(documents: list[dict[str, Any]]):
    try:
        fast = outcome(validate(*documents))
    except Exception:  # a document the helpers cannot dump or load: the loader's fuzzing covers it
        return
    assert fast == with_model_copy(lambda: outcome(validate(*documents)))
