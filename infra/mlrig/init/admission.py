"""What the platform bundle must gain before a new project deploys: its admission entry
(`spec.tenancy.projects.<name>`: its repository, the principals it may name, its prod
approvers), in the platform team's own file. `mlrig init project` prints it as a next step."""

from __future__ import annotations

import yaml

from .project import ProjectAnswers


def platform_admission(answers: ProjectAnswers) -> str:
    """The YAML to add under the platform bundle's `spec:` (merged into an existing
    `tenancy.projects` mapping), indented as it appears there."""
    entry: dict[str, object] = {"repository": answers.repository}
    principals = [*answers.data_scientists, *answers.ml_engineers]
    if principals:
        entry["principals"] = list(dict.fromkeys(principals))
    entry["prodApprovers"] = list(answers.prod_approvers or answers.owners)
    snippet = yaml.safe_dump(
        {"tenancy": {"projects": {answers.name: entry}}}, sort_keys=False, default_flow_style=False, width=1000
    )
    return "".join(f"  {line}\n" for line in snippet.splitlines())
