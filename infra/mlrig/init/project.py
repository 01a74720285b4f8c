"""A team's Project bundle, from one of three templates derived from the shipped examples:

- `tabular`: the fraud-detection example (features, GPU training, model CD, batch and online
  inference with a canary, monitoring that retrains);
- `llm`: the rag-assistant example (vector database, fine-tuning, vLLM serving, LLM gateway,
  feedback);
- `vision`: GPU training, nightly batch inference on GPUs, a GPU detection endpoint.

Per-environment overrides follow the platform's tiers (its dev-tier and prod-tier environments,
whatever they are called).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..bundle.resolved import Platform
from .templates import render

TEMPLATES = ("tabular", "llm", "vision")


@dataclass(frozen=True)
class ProjectAnswers:
    name: str
    platform: str
    repository: str
    template: str = "tabular"
    team: str = ""
    owners: tuple[str, ...] = ()
    cost_center: str | None = None
    data_scientists: tuple[str, ...] = ()
    ml_engineers: tuple[str, ...] = ()
    prod_approvers: tuple[str, ...] = ()
    dev_environment: str | None = None
    prod_environment: str | None = None

    @property
    def package(self) -> str:
        """The Python package of the team's application: the project name as an identifier."""
        return python_package(self.name)


def python_package(name: str) -> str:
    identifier = re.sub(r"[^0-9a-zA-Z_]", "_", name).lower()
    return identifier if identifier[:1].isalpha() else f"app_{identifier}"


def default_owners(repository: str, team: str) -> tuple[str, ...]:
    """`@<org>/<team>`: the GitHub team of the repository's organisation named like the team."""
    organization = repository.split("/", 1)[0]
    return (f"@{organization}/{team}",)


def tier_environments(platform: Platform) -> tuple[str | None, str | None]:
    """The platform's first dev-tier and first prod-tier environment, for the overrides."""
    dev = next((e.name for e in platform.environments.values() if e.tier == "dev"), None)
    prod = next((e.name for e in platform.environments.values() if e.tier == "prod"), None)
    return dev, prod


def project_bundle(answers: ProjectAnswers) -> str:
    if answers.template not in TEMPLATES:
        raise ValueError(f"unknown template {answers.template!r}; use one of {', '.join(TEMPLATES)}")
    return render(f"project/{answers.template}.yaml.j2", p=answers)
