"""The project's deployment pattern (the Big Book of MLOps): which environments train, and where
an environment that does not train gets its models from.

- `deploy-code` (the default): code is promoted; every environment trains its own models on its
  own data (prod trains on prod data).
- `deploy-models`: the model is trained once, in the dev-tier environment, and the *artifact* is
  promoted. Staging- and prod-tier environments run no training or fine-tuning pipeline; their
  model-deployment pipeline first imports the champion of the environment one tier below (staging
  from dev, prod from staging, or from dev when there is no staging) as its candidate, then runs
  the same compliance checks, comparison, approval and promotion as in dev.

One module, asked by the resolve step (which pipelines an environment has), the rules, the
pipelines and the access table (who may read the lower environment's models), so that none of them
can disagree about the pattern.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .bundle.model import ProjectSpecBase
    from .bundle.resolved import PlatformEnvironment, Project, ProjectEnvironment

DEPLOY_MODELS = "deploy-models"
# Pipeline types that produce a model: under deploy-models they exist in the dev tier only.
TRAINING_TYPES: tuple[str, ...] = ("training", "fine-tuning")
TIERS: tuple[str, ...] = ("dev", "staging", "prod")


def trains(pattern: str, tier: str) -> bool:
    """Whether an environment of `tier` trains its own models."""
    return pattern != DEPLOY_MODELS or tier == "dev"


def imports_models(pattern: str, tier: str) -> bool:
    """Whether an environment of `tier` receives its models from a lower environment."""
    return not trains(pattern, tier)


def source_tier(tier: str, present: Iterable[str]) -> str | None:
    """The tier an environment of `tier` promotes from: the highest tier below it that the
    platform has (staging from dev; prod from staging, or from dev without a staging tier)."""
    have = set(present)
    below = [t for t in TIERS[: TIERS.index(tier)] if t in have]
    return below[-1] if below else None


def source_environments(environments: Mapping[str, PlatformEnvironment], tier: str) -> list[str]:
    """The platform's environments of the tier an environment of `tier` promotes from (the
    rules require exactly one wherever a model is imported)."""
    wanted = source_tier(tier, (e.tier for e in environments.values()))
    return [name for name, e in environments.items() if e.tier == wanted]


def has_model_deployment(spec: ProjectSpecBase) -> bool:
    """Whether `spec` has a model-deployment pipeline (the model CD)."""
    return any(p.type == "model-deployment" for p in spec.pipelines.values())


def imports(env: ProjectEnvironment) -> bool:
    """Whether `env`'s model-deployment pipeline imports its candidate from a lower environment."""
    return imports_models(env.spec.deployment_pattern, env.tier) and has_model_deployment(env.spec)


def promotion_source(project: Project, env: ProjectEnvironment) -> ProjectEnvironment | None:
    """The environment whose champion `env` imports, or None where `env` trains its own."""
    if not imports(env):
        return None
    found = source_environments(project.platform.environments, env.tier)
    return project.environments.get(found[0]) if len(found) == 1 else None


def importers_of(project: Project, source: ProjectEnvironment) -> list[ProjectEnvironment]:
    """The environments that import `source`'s champion (each reads its models, nothing else)."""
    return [
        env
        for env in project.environments.values()
        if env.name != source.name
        and (found := promotion_source(project, env)) is not None
        and found.name == source.name
    ]
