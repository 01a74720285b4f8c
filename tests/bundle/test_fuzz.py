"""Property-based fuzzing: whatever the input, the loader and the validator give a clean,
positioned error or a valid result, never a crash."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlrig.bundle.loader import LoadError, load_bytes, load_text
from mlrig.bundle.validate import ValidationResult, validate_documents

from .helpers import dump, example, paths_of

FUZZ = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)

YAML_ALPHABET = st.sampled_from([*"abcxyz019 -:[]{},&*!|>'\"#%@`?\n\t.~", "\u00e9", "\ufeff", "\x00", "\x85"])


def assert_clean(result: ValidationResult) -> None:
    for d in result.diagnostics:
        assert d.line >= 1 and d.column >= 1
        assert d.path and d.message and d.file
        assert "Traceback" not in d.message


def load_or_error(loader: Any, data: Any) -> None:
    try:
        document = loader(data, "fuzz.yaml")
    except LoadError as error:
        d = error.diagnostic
        assert d.rule == "load" and d.message and d.line >= 1 and d.column >= 1
        return
    assert isinstance(document.data, dict)
    assert_clean(validate_documents([document]))


@FUZZ
@given(st.binary(max_size=400))
def test_random_bytes_load_cleanly_or_fail_cleanly(data: bytes):
    load_or_error(load_bytes, data)


@FUZZ
@given(st.text(YAML_ALPHABET, max_size=300))
def test_random_yaml_like_text_loads_cleanly_or_fails_cleanly(text: str):
    load_or_error(load_text, text)


@FUZZ
@given(st.text(st.characters(codec=None, exclude_categories=()), max_size=200))
def test_random_unicode_text_loads_cleanly_or_fails_cleanly(text: str):
    load_or_error(load_text, text)


@st.composite
def corrupted_example_texts(draw: st.DrawFn) -> str:
    """An example bundle's text with a few characters deleted, inserted or replaced."""
    text = dump(example(draw(st.sampled_from(["platform", "fraud", "rag"]))))
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["delete", "insert", "replace"]))
        fragment = draw(st.text(YAML_ALPHABET, min_size=1, max_size=4))
        if action == "delete":
            text = text[:position] + text[position + len(fragment) :]
        elif action == "insert":
            text = text[:position] + fragment + text[position:]
        else:
            text = text[:position] + fragment + text[position + len(fragment) :]
    return text


@FUZZ
@given(corrupted_example_texts())
def test_corrupted_example_text_gives_a_clean_error_or_is_valid(text: str):
    load_or_error(load_text, text)


# Values of every kind, including ones no field accepts.
ANY_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**15), 10**15) | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3),
    max_leaves=8,
)


@st.composite
def mutated_bundle_sets(draw: st.DrawFn) -> list[dict[str, Any]]:
    """The example bundle set with keys deleted, values replaced and keys added, anywhere."""
    documents = [example(name) for name in ("platform", "fraud", "rag")]
    for _ in range(draw(st.integers(1, 5))):
        document = draw(st.sampled_from(documents))
        candidates = paths_of(document)
        if not candidates:
            continue
        path = draw(st.sampled_from(candidates))
        parent: Any = document
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["delete", "replace", "replace", "add"]))
        if action == "delete":
            del parent[path[-1]]
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=12))] = draw(ANY_VALUE)
        else:
            parent[path[-1]] = copy.deepcopy(draw(ANY_VALUE))
    return documents


@FUZZ
@given(mutated_bundle_sets())
def test_mutated_example_bundles_give_clean_errors_or_are_valid(documents: list[dict[str, Any]]):
    loaded = []
    for i, document in enumerate(documents):
        try:
            loaded.append(load_text(dump(document), f"{i}.yaml"))
        except LoadError:
            continue  # e.g. a float nan key; the loader's own fuzzing covers it
    result = validate_documents(loaded)
    assert_clean(result)
    if result.valid:
        # Whatever is valid resolves completely: every project has every platform environment.
        for project in result.projects.values():
            assert set(project.environments) == set(project.platform.environments)
