"""The generated bundle reference is current and documents every field of the schema."""

from __future__ import annotations

from mlrig.bundle.reference import field_docs, render_reference_markdown

from .helpers import ROOT


def test_the_committed_bundle_reference_is_current():
    committed = (ROOT / "docs" / "bundle-reference.md").read_text(encoding="utf-8")
    assert committed == render_reference_markdown(), (
        "regenerate: .venv/bin/python -c 'from mlrig.bundle.reference import render_reference_markdown as r; "
        'open("docs/bundle-reference.md", "w").write(r())\''
    )


def test_the_reference_lists_the_fields_of_the_design_sketch_with_their_types_and_defaults():
    project = {d.path.strip("`"): d for d in field_docs("Project")}
    platform = {d.path.strip("`"): d for d in field_docs("Platform")}
    assert platform["spec.isolation"].type == "`account` \\| `cluster` \\| `namespace`"
    assert platform["spec.isolation"].default == '`"cluster"`'
    assert platform["spec.environments.<environment>.region"].default == "**required**"
    assert project["spec.compute.pools[].capacity"].type == "`spot` \\| `on-demand`"
    assert project["spec.pipelines.<pipeline>.schedule"].default == "`null`"
    assert project["spec.serving.endpoints[].rollout.percent"].type == "integer, 0–100"
    assert project["spec.storage.stagingRetentionDays"].default == "`14`"
    assert project["spec.llm.gateway.limits.<provider>.monthlyBudgetUsd"].example == "`500.0`"
    assert project["spec.platform"].default == project["spec.repository"].default == "**required**"


def test_every_documented_field_has_a_description_and_an_example():
    for kind in ("Platform", "Project"):
        for doc in field_docs(kind):
            assert doc.description and doc.example, doc.path


def test_a_range_that_excludes_its_lower_end_says_so():
    """`stagingDataFraction: 0` is refused (more than 0, at most 1): the reference said 0–1."""
    project = {d.path.strip("`"): d for d in field_docs("Project")}
    assert project["spec.pipelines.<pipeline>.stagingDataFraction"].type == "number, > 0 and ≤ 1"
