"""The published JSON Schema: documented field by field, identical to `mlrig schema`, and in
agreement with the typed model (checked with the reference implementation, jsonschema)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from mlrig.bundle.schema import bundle_schema, bundle_schema_text

from .helpers import BUNDLES, ROOT, example, file_names, minimal_platform, minimal_project, paths_of, validate

SCHEMA = bundle_schema()
VALIDATOR = Draft202012Validator(SCHEMA)


def properties(node: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any], bool]]:
    """(path, property schema, required) of every property in the schema."""
    if isinstance(node, dict):
        required = set(node.get("required", []))
        for name, prop in (node.get("properties") or {}).items():
            yield f"{path}.{name}", prop, name in required
        for key, value in node.items():
            if key != "properties":
                yield from properties(value, f"{path}/{key}")
            else:
                for name, prop in value.items():
                    yield from properties(prop, f"{path}.{name}")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from properties(item, f"{path}[{i}]")


ALL_PROPERTIES = list(properties(SCHEMA["$defs"]))
OVERRIDE = "Partial"  # override definitions: nothing has a default, an absent key inherits


def test_the_committed_schema_is_what_mlrig_schema_prints():
    committed = (ROOT / "schemas" / "bundle.schema.json").read_text(encoding="utf-8")
    assert committed == bundle_schema_text(), "run: .venv/bin/mlrig schema > schemas/bundle.schema.json"


def test_the_schema_is_a_valid_2020_12_schema():
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(SCHEMA)


def test_the_schema_has_a_few_hundred_documented_properties():
    assert len(ALL_PROPERTIES) > 150


def test_every_property_has_a_description_an_example_and_a_default_unless_required():
    undocumented = [p for p, prop, _ in ALL_PROPERTIES if not prop.get("description")]
    without_example = [p for p, prop, _ in ALL_PROPERTIES if not prop.get("examples")]
    # Override definitions (Partial*) have no defaults on purpose: an absent key inherits.
    without_default = [
        p
        for p, prop, required in ALL_PROPERTIES
        if not required and "default" not in prop and not p.startswith(f"/{OVERRIDE}")
    ]
    assert not undocumented, undocumented
    assert not without_example, without_example
    assert not without_default, without_default


def test_no_property_carries_an_auto_generated_title():
    titled = [p for p, prop, _ in ALL_PROPERTIES if "title" in prop]
    assert not titled, titled[:5]


def test_unknown_keys_are_rejected_everywhere():
    for name, definition in SCHEMA["$defs"].items():
        if definition.get("type") == "object" and "properties" in definition:
            assert definition.get("additionalProperties") is False, name


# --- the schema and the model agree ------------------------------------------------------------


def schema_accepts(document: Any) -> bool:
    return VALIDATOR.is_valid(document)


def model_accepts(document: dict[str, Any], *context: dict[str, Any]) -> bool:
    """Whether the schema phase of the validator accepts the document (semantic rules aside)."""
    files = file_names((document, *context))
    result = validate(document, *context, files=files)
    return not [d for d in result.diagnostics if d.file == files[0] and d.rule in ("schema", "load")]


@pytest.mark.parametrize("name", ["platform", "fraud", "rag"])
def test_the_examples_are_valid_under_the_schema(name: str):
    errors = [e.message for e in VALIDATOR.iter_errors(example(name))]
    assert not errors, errors


@pytest.mark.parametrize("document", [minimal_platform(), minimal_project()], ids=["Platform", "Project"])
def test_bundles_with_only_the_required_fields_are_valid_under_the_schema(document: dict[str, Any]):
    assert schema_accepts(document)


@pytest.mark.parametrize(
    "document",
    [
        {},
        {"apiVersion": "mlrig/v1", "kind": "Project"},
        {
            "apiVersion": "mlrig/v2",
            "kind": "Project",
            "metadata": {"name": "a"},
            "spec": {"platform": "p", "repository": "a/b"},
        },
        {**minimal_project(), "extra": 1},
        {**minimal_platform(), "spec": {"environments": {}}},
        {**minimal_project(), "spec": {"platform": "acme-ml"}},
    ],
)
def test_documents_missing_required_fields_are_rejected_by_both(document: dict[str, Any]):
    assert not schema_accepts(document)
    assert not model_accepts(document, minimal_platform())


# Values a mutation may put anywhere: each type, edge numbers, and strings that match or nearly
# match the patterns in the schema. No floats with integral values and no trailing newlines:
# JSON Schema counts 1.0 as an integer and Python's `$` matches before a final newline, two
# known differences between JSON Schema and a strict model that bundles never meet.
VALUES = st.sampled_from(
    [
        None,
        True,
        False,
        0,
        1,
        -1,
        7,
        100,
        101,
        5000,
        0.5,
        1.5,
        "",
        "x",
        "dev",
        "prod",
        "Bad_Name",
        "spot",
        "canary",
        "training",
        "us-east-1",
        "10.10.0.0/16",
        "111111111111",
        "@acme/team",
        "acme/repo",
        "4Gi",
        "500m",
        "0 3 * * 0",
        [],
        ["x"],
        [1],
        {},
        {"name": "x"},
        {"enabled": True},
    ]
)


@st.composite
def mutated_bundles(draw: st.DrawFn) -> dict[str, Any]:
    document = example(draw(st.sampled_from(["platform", "fraud", "rag"])))
    is_project = document["kind"] == "Project"
    for _ in range(draw(st.integers(1, 3))):
        candidates = [
            p for p in paths_of(document) if not (is_project and p[:2] == ("spec", "environments") and len(p) > 2)
        ]
        if not candidates:
            break
        path = draw(st.sampled_from(candidates))
        parent: Any = document
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["replace", "delete", "add-key"]))
        if action == "delete":
            del parent[path[-1]]
        elif action == "add-key" and isinstance(parent, dict):
            # a copy: VALUES holds shared objects, and one put twice could later be put inside itself
            parent[draw(st.sampled_from(["extra", "nmae", "min", "enabled"]))] = copy.deepcopy(draw(VALUES))
        else:
            parent[path[-1]] = copy.deepcopy(draw(VALUES))
    return document


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_bundles())
def test_the_schema_and_the_model_accept_and_reject_the_same_mutated_bundles(document: dict[str, Any]):
    # Overrides are left alone here: an override is checked merged over its base (stricter than
    # the schema's partial view of it), see the next test.
    context = [example("platform")] if document.get("kind") == "Project" else []
    assert schema_accepts(document) == model_accepts(document, *context), json.dumps(document)[:2000]


@st.composite
def mutated_overrides(draw: st.DrawFn) -> dict[str, Any]:
    document = example(draw(st.sampled_from(["fraud", "rag"])))
    overrides = document["spec"]["environments"]
    path = draw(st.sampled_from(paths_of(overrides)))
    parent: Any = overrides
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = copy.deepcopy(draw(VALUES))
    return document


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_overrides())
def test_an_override_the_schema_rejects_is_rejected_by_the_model_too(document: dict[str, Any]):
    if not schema_accepts(document):
        assert not model_accepts(document, example("platform")), json.dumps(document["spec"]["environments"])


def test_the_schema_checks_what_an_override_holds():
    project = minimal_project(environments={"prod": {"compute": {"pools": [{"name": "gpu", "capacity": "reserved"}]}}})
    assert not schema_accepts(project)
    project["spec"]["environments"]["prod"] = {"registries": ["app"], "compute": {"pools": [{"name": "gpu", "max": 9}]}}
    assert schema_accepts(project)
    project["spec"]["environments"]["prod"] = {"platform": "other"}
    assert not schema_accepts(project)


def test_check_jsonschema_accepts_the_example_bundle_files_and_rejects_broken_ones(tmp_path):
    """What an editor or a CI job sees: the published schema applied to the YAML files."""
    import subprocess
    import sys
    from pathlib import Path

    checker = Path(sys.executable).parent / "check-jsonschema"
    schema = ROOT / "schemas" / "bundle.schema.json"
    examples = sorted(str(p) for p in BUNDLES.glob("*.yaml"))
    ok = subprocess.run(
        [str(checker), "--schemafile", str(schema), *examples], capture_output=True, text=True, timeout=120
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    broken = example("fraud")
    broken["spec"]["environments"]["prod"]["compute"]["pools"][0]["capacity"] = "reserved"
    (tmp_path / "fraud.yaml").write_text(json.dumps(broken))
    bad = subprocess.run(
        [str(checker), "--schemafile", str(schema), str(tmp_path / "fraud.yaml")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 1
    assert "spec.environments.prod.compute.pools[0].capacity" in bad.stdout
