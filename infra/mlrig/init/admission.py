"""What the platform bundle must gain before a new project deploys: its admission entry
(`spec.tenancy.projects.<name>`: its repository, the principals it may name, its prod
approvers), in the platform team's own file.

`mlrig init project` writes it into the platform bundle with a comment-preserving round trip
(ruamel.yaml), so the team's pull request carries the one platform-owned change a platform
reviewer must approve.
"""

from __future__ import annotations

import io
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from .project import ProjectAnswers


class AdmissionConflict(Exception):
    """The platform already admits a project of that name, differently."""


def admission_entry(answers: ProjectAnswers) -> dict[str, Any]:
    entry: dict[str, Any] = {"repository": answers.repository}
    principals = [*answers.data_scientists, *answers.ml_engineers]
    if principals:
        entry["principals"] = list(dict.fromkeys(principals))
    entry["prodApprovers"] = list(answers.prod_approvers or answers.owners)
    return entry


def platform_admission(answers: ProjectAnswers) -> str:
    """The YAML to add under the platform bundle's `spec:` (merged into an existing
    `tenancy.projects` mapping), indented as it appears there."""
    snippet = yaml.safe_dump(
        {"tenancy": {"projects": {answers.name: admission_entry(answers)}}},
        sort_keys=False,
        default_flow_style=False,
        width=1000,
    )
    return "".join(f"  {line}\n" for line in snippet.splitlines())


def _round_trip() -> YAML:
    editor = YAML(typ="rt")
    editor.preserve_quotes = True
    editor.width = 1000
    editor.indent(mapping=2, sequence=4, offset=2)
    return editor


def _flow(values: list[str]) -> CommentedSeq:
    seq = CommentedSeq(values)
    seq.fa.set_flow_style()
    return seq


def admit(platform_text: str, answers: ProjectAnswers) -> str:
    """The platform bundle's text with the project admitted under `spec.tenancy.projects`, every
    other line (comments, order, quoting) as it was. Unchanged when the same admission exists;
    AdmissionConflict when a different one does (the platform team decides, not init)."""
    editor = _round_trip()
    document = editor.load(platform_text)
    spec = document["spec"]
    tenancy = spec.get("tenancy")
    if tenancy is None:
        tenancy = CommentedMap()
        spec.insert(list(spec).index("environments") if "environments" in spec else len(spec), "tenancy", tenancy)
    projects = tenancy.get("projects")
    if projects is None:
        projects = CommentedMap()
        tenancy["projects"] = projects
    wanted = admission_entry(answers)
    existing = projects.get(answers.name)
    if existing is not None:
        if {k: (list(v) if isinstance(v, list) else v) for k, v in existing.items()} == wanted:
            return platform_text
        raise AdmissionConflict(
            f"the platform already admits a project '{answers.name}' with other values; the platform team "
            "changes admissions by hand"
        )
    entry = CommentedMap()
    for key, value in wanted.items():
        entry[key] = _flow(value) if isinstance(value, list) else value
    projects[answers.name] = entry
    out = io.StringIO()
    editor.dump(document, out)
    return out.getvalue()
